"""Drawing images and spectra with matplotlib: static PNG, or a zoom-and-pan canvas.

Images: display limits by zscale (or given), a colormap and a stretch, saturated pixels
painted red. Spectra: flux against wavelength (or pixel) with a ±1σ band.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .fitsdata import ImageData, SpectrumData

if TYPE_CHECKING:  # matplotlib is imported when a plot is drawn, not with the page
    from matplotlib.figure import Figure

#: Figure colours per theme (face, text).
FIGURE_COLOURS = {
    "dark": ("#455a64", "#eceff1", "#80cbc4"),
    "light": ("#ffffff", "#212121", "#00695c"),
}


@dataclass(frozen=True)
class ViewOptions:
    """What the advanced visualization panel controls."""

    colormap: str = "gray"
    stretch: str = "linear"
    vmin: float | None = None
    vmax: float | None = None
    show_saturated: bool = True
    show_title: bool = True
    theme: str = "dark"
    xmin: float | None = None
    xmax: float | None = None


def downsample(data: np.ndarray, max_pixels: tuple[int, int]) -> np.ndarray:
    """Block-averaged copy no larger than ``max_pixels`` (rows, columns) for display.

    A screen shows no more pixels than the axes have; drawing the full frame only
    costs time (a 2071 x 948 frame takes seconds to draw and compress).
    """
    fy = max(1, int(np.ceil(data.shape[0] / max_pixels[0])))
    fx = max(1, int(np.ceil(data.shape[1] / max_pixels[1])))
    if fy == 1 and fx == 1:
        return data
    ny, nx = data.shape[0] // fy * fy, data.shape[1] // fx * fx
    blocks = data[:ny, :nx].reshape(ny // fy, fy, nx // fx, fx)
    return blocks.mean(axis=(1, 3))


def zscale_limits(data: np.ndarray) -> tuple[float, float]:
    """zscale display limits of the finite pixels (IRAF's algorithm, via astropy)."""
    from astropy.visualization import ZScaleInterval

    flat = np.ravel(data)
    # zscale looks at a sample anyway (1000 points); a strided subset saves the pass
    # over millions of pixels that finding the finite ones would cost.
    flat = flat[:: max(1, flat.size // 200_000)]
    finite = flat[np.isfinite(flat)]
    if finite.size == 0:
        return 0.0, 1.0
    low, high = ZScaleInterval().get_limits(finite)
    if not high > low:
        high = low + 1.0
    return float(low), float(high)


def _stretch(name: str):
    from astropy.visualization import AsinhStretch, LinearStretch, LogStretch, SqrtStretch

    table = {"linear": LinearStretch, "sqrt": SqrtStretch, "log": LogStretch, "asinh": AsinhStretch}
    if name not in table:
        raise ValueError(f"stretch {name!r} is not one of {sorted(table)}")
    return table[name]()


def saturated_mask(image: ImageData) -> np.ndarray | None:
    """Pixels at or above the saturation level, or None when the level is unknown."""
    if not image.saturation:
        return None
    return np.asarray(image.data >= image.saturation)


def title_of(header) -> str:
    parts = [str(header.get("OBSTYPE", "") or ""), str(header.get("OBJECT", "") or "")]
    first = " ".join(p for p in parts if p)
    second = str(header.get("PROPID", "") or "")
    return f"{first}\n{second}" if second else first


def _style(fig: Figure, ax, theme: str) -> None:
    face, text, _ = FIGURE_COLOURS[theme]
    fig.patch.set_facecolor(face)
    ax.set_facecolor(face)
    for spine in ax.spines.values():
        spine.set_color(text)
    ax.tick_params(colors=text)
    ax.xaxis.label.set_color(text)
    ax.yaxis.label.set_color(text)
    ax.title.set_color(text)


def flux_label(unit: str) -> str:
    """The flux axis' label: ``F_λ (erg s⁻¹ cm⁻² Å⁻¹)`` for a flux-calibrated spectrum
    (data_type 5, ``BUNIT`` a flux density per Å), else ``Flux (<unit>)`` (ADU, e-...)."""
    from astropy import units as u

    try:
        if u.Unit(unit).is_equivalent(u.erg / u.s / u.cm**2 / u.AA):
            scale = u.Unit(unit).to(u.erg / u.s / u.cm**2 / u.AA)
            factor = "" if scale == 1 else f"{scale:g} "
            return f"F$_\\lambda$ ({factor}erg s$^{{-1}}$ cm$^{{-2}}$ Å$^{{-1}}$)"
    except ValueError:  # a unit astropy does not know is shown as written
        pass
    return f"Flux ({unit})"


def image_unit(header) -> str:
    """The pixel values' unit (``BUNIT``; raw Goodman frames have none: ADU)."""
    from astropy import units as u

    raw = str(header.get("BUNIT", "") or "").strip()
    if not raw:
        return "ADU"
    try:
        return u.Unit(raw).to_string()
    except ValueError:  # a unit astropy does not know is still worth showing as written
        return raw


def _colour_bar_axis(cbar, unit: str, colour: str) -> None:
    """Labelled with the unit; few, compact ticks, so that none overlaps another."""
    from matplotlib.ticker import FormatStrFormatter, MaxNLocator

    cbar.ax.yaxis.set_major_locator(MaxNLocator(nbins=6, min_n_ticks=3))
    cbar.ax.yaxis.set_major_formatter(FormatStrFormatter("%.4g"))
    cbar.ax.tick_params(colors=colour, labelsize=8)
    cbar.set_label(unit, color=colour, fontsize=9)


def draw_image(
    fig: Figure, image: ImageData, opts: ViewOptions, max_pixels: tuple[int, int] | None = None
) -> dict:
    """Draw ``image`` on ``fig``; returns what was used (limits, saturated count).

    ``max_pixels`` (rows, columns) block-averages the frame for display; saturated
    pixels are marked on the block that holds them, so none disappears.
    """
    from astropy.visualization import ImageNormalize

    ax = fig.add_subplot(1, 1, 1)
    low, high = zscale_limits(image.data)
    vmin = low if opts.vmin is None else opts.vmin
    vmax = high if opts.vmax is None else opts.vmax
    if not vmax > vmin:
        raise ValueError(f"display limits must have max > min, got min={vmin:g} max={vmax:g}")
    norm = ImageNormalize(vmin=vmin, vmax=vmax, stretch=_stretch(opts.stretch), clip=True)
    ny, nx = image.data.shape
    extent = (-0.5, nx - 0.5, -0.5, ny - 0.5)
    data = downsample(image.data, max_pixels) if max_pixels else image.data
    shown = ax.imshow(
        data,
        origin="lower",
        cmap=opts.colormap,
        norm=norm,
        interpolation="nearest",
        aspect="auto",
        extent=extent,
    )
    nsat = 0
    mask = saturated_mask(image) if opts.show_saturated else None
    if mask is not None and mask.any():
        nsat = int(mask.sum())
        if max_pixels:
            mask = downsample(mask.astype(float), max_pixels) > 0
        overlay = np.zeros((*mask.shape, 4))
        overlay[mask] = (1.0, 0.0, 0.0, 1.0)
        ax.imshow(overlay, origin="lower", interpolation="nearest", aspect="auto", extent=extent)
    cbar = fig.colorbar(shown, ax=ax, fraction=0.04, pad=0.02)
    _, text, _ = FIGURE_COLOURS[opts.theme]
    _colour_bar_axis(cbar, image_unit(image.header), text)
    ax.set_xlabel("x (pixel)")
    ax.set_ylabel("y (pixel)")
    if opts.xmin is not None or opts.xmax is not None:
        ax.set_xlim(opts.xmin, opts.xmax)
    if opts.show_title:
        extra = f"  ({nsat} saturated px)" if nsat else ""
        ax.set_title(title_of(image.header) + extra, fontsize=10)
    _style(fig, ax, opts.theme)
    return {"vmin": vmin, "vmax": vmax, "saturated": nsat}


def draw_spectrum(fig: Figure, spec: SpectrumData, opts: ViewOptions) -> dict:
    """Draw ``spec`` on ``fig``: flux, a ±1σ band when known, masked points left out."""
    ax = fig.add_subplot(1, 1, 1)
    _, _, line = FIGURE_COLOURS[opts.theme]
    flux = np.array(spec.flux, dtype=float)
    if spec.mask is not None and spec.mask.shape == flux.shape:
        flux[spec.mask] = np.nan
    if spec.uncertainty is not None:
        ax.fill_between(
            spec.x,
            flux - spec.uncertainty,
            flux + spec.uncertainty,
            color=line,
            alpha=0.3,
            linewidth=0,
            label="±1σ",
        )
    ax.plot(spec.x, flux, color=line, lw=0.9, label="flux")
    ax.set_xlabel(spec.x_label)
    ax.set_ylabel(flux_label(spec.flux_unit))
    if opts.xmin is not None or opts.xmax is not None:
        ax.set_xlim(opts.xmin, opts.xmax)
    if opts.vmin is not None or opts.vmax is not None:
        ax.set_ylim(opts.vmin, opts.vmax)
    if opts.show_title:
        ax.set_title(title_of(spec.header), fontsize=10)
    _style(fig, ax, opts.theme)
    return {"points": int(np.isfinite(flux).sum())}


def draw(
    fig: Figure,
    loaded: ImageData | SpectrumData,
    opts: ViewOptions,
    max_pixels: tuple[int, int] | None = None,
) -> dict:
    if isinstance(loaded, ImageData):
        return draw_image(fig, loaded, opts, max_pixels)
    return draw_spectrum(fig, loaded, opts)


def render_png(
    loaded: ImageData | SpectrumData, opts: ViewOptions, width: int = 900, height: int = 520
) -> bytes:
    """A static PNG of an image or a spectrum."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    draw(fig, loaded, opts, max_pixels=(height, width))
    fig.tight_layout()
    out = io.BytesIO()
    # Fast compression: the PNG goes over a local websocket once, size matters less.
    fig.savefig(out, format="png", facecolor=fig.get_facecolor(), pil_kwargs={"compress_level": 1})
    return out.getvalue()


def interactive_canvas(
    loaded: ImageData | SpectrumData, opts: ViewOptions, width: int = 900, height: int = 520
):
    """An ipympl canvas (zoom and pan with the toolbar), or None when ipympl is missing.

    The caller closes the figure (``canvas.figure``) when replacing it.
    """
    try:
        from ipympl.backend_nbagg import Canvas, FigureManager
    except ImportError:
        return None
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi)
    canvas = Canvas(fig)
    FigureManager(canvas, 0)
    canvas.header_visible = False
    canvas.toolbar_position = "left"
    # Always shown (ipympl fades it in on hover only): zoom and pan are found at once.
    canvas.toolbar_visible = True
    # The size it was drawn at: a resize by the page right after display raced the first
    # frames (a half-redrawn canvas that ignored the mouse until redrawn again).
    canvas.resizable = False
    # Twice the screen resolution: zooming in by 2 still shows every block.
    draw(fig, loaded, opts, max_pixels=(2 * height, 2 * width))
    fig.tight_layout()
    return canvas
