"""The visualization area: the selected file drawn, and the advanced options panel.

Static mode shows a PNG (an ``Image`` widget); interactive mode an ipympl canvas whose
toolbar zooms and pans. The advanced panel sets display limits, colormap, stretch,
saturated pixels and title; its values apply to the file shown.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from dataclasses import replace
from typing import Any

import ipywidgets as w

from .errors import GSPError, error_html, log
from .fitsdata import FileCache, ImageData
from .plotting import ViewOptions, interactive_canvas, render_png
from .preferences import COLORMAPS, STRETCHES, Preferences


def _number(text: str, name: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number: leave it empty for automatic") from None


class AdvancedPanel(w.VBox):
    """Limits, colormap, stretch, saturated pixels, title."""

    def __init__(self, on_apply) -> None:
        self.on_apply = on_apply
        self.colormap = w.Dropdown(options=COLORMAPS, description="Colormap")
        self.stretch = w.Dropdown(options=STRETCHES, description="Stretch")
        self.vmin = w.Text(description="Min", placeholder="auto (zscale)")
        self.vmax = w.Text(description="Max", placeholder="auto (zscale)")
        self.xmin = w.Text(description="X min", placeholder="auto")
        self.xmax = w.Text(description="X max", placeholder="auto")
        self.show_saturated = w.Checkbox(description="Show saturated pixels", value=True)
        self.show_title = w.Checkbox(description="Show title", value=True)
        self.apply = w.Button(description="Apply", icon="check", _dom_classes=("mod-primary",))
        self.reset = w.Button(description="Reset limits", icon="undo")
        self.message = w.HTML()
        self.apply.on_click(lambda _: self._apply())
        self.reset.on_click(lambda _: self._reset())
        for box in (self.colormap, self.stretch, self.show_saturated, self.show_title):
            box.observe(lambda _: self._apply(), "value")
        super().__init__(
            [
                w.HBox([self.colormap, self.stretch]),
                w.HBox([self.vmin, self.vmax]),
                w.HBox([self.xmin, self.xmax]),
                w.HBox([self.show_saturated, self.show_title]),
                w.HBox([self.apply, self.reset]),
                self.message,
            ],
            layout=w.Layout(display="none", padding="8px"),
            _dom_classes=("gsp-advanced",),
        )

    def options(self, base: ViewOptions) -> ViewOptions:
        """The panel's values over ``base``. Raises ValueError for a bad number."""
        vmin = _number(self.vmin.value, "Min")
        vmax = _number(self.vmax.value, "Max")
        if vmin is not None and vmax is not None and not vmax > vmin:
            raise ValueError(f"Max ({vmax:g}) must be greater than Min ({vmin:g})")
        xmin = _number(self.xmin.value, "X min")
        xmax = _number(self.xmax.value, "X max")
        if xmin is not None and xmax is not None and not xmax > xmin:
            raise ValueError(f"X max ({xmax:g}) must be greater than X min ({xmin:g})")
        return replace(
            base,
            colormap=self.colormap.value,
            stretch=self.stretch.value,
            vmin=vmin,
            vmax=vmax,
            xmin=xmin,
            xmax=xmax,
            show_saturated=self.show_saturated.value,
            show_title=self.show_title.value,
        )

    def _apply(self) -> None:
        self.on_apply()

    def _reset(self) -> None:
        for t in (self.vmin, self.vmax, self.xmin, self.xmax):
            t.value = ""
        self.on_apply()


class Viewer(w.VBox):
    """Draws one file at a time.

    Parameters
    ----------
    client : GSPClient-like
        For downloads (through :class:`FileCache`).
    prefs : Preferences
        Initial theme, colormap, mode and saturated marking.
    cache : FileCache, optional
    """

    def __init__(self, client: Any, prefs: Preferences, cache: FileCache | None = None) -> None:
        self.cache = cache or FileCache(client)
        self.record: dict | None = None
        self.loaded = None
        self.figure = None  # the interactive figure, closed when replaced
        self._canvas_box: w.Box | None = None  # what holds its canvas on the page
        self.last_info: dict = {}
        self.draws = 0  # plots drawn so far (the gsp-draw-<n> mark)
        # The PNGs drawn lately, by file version and options: going back to a file or
        # tab seen before shows it again without drawing it again (~0.1-0.2 s of CPU).
        self._pngs: OrderedDict[tuple, bytes] = OrderedDict()
        self.png_cache_size = 16
        self._setting = False  # preferences are being copied into the panel
        # Built when first opened (~20 widgets the page need not send before).
        self._panel: AdvancedPanel | None = None
        self.plot = w.Box(
            layout=w.Layout(justify_content="center", min_height="300px"),
            _dom_classes=("gsp-plot",),
        )
        self.image = w.Image(
            format="png", layout=w.Layout(max_width="100%"), _dom_classes=("gsp-plot-image",)
        )
        self.status = w.HTML()
        self.limits = w.HTML(_dom_classes=("gsp-limits-box",))
        self.modified = w.HTML(layout=w.Layout(align_self="flex-end"))
        super().__init__([self.plot, self.limits, self.status, self.modified])
        self.set_preferences(prefs, redraw=False)

    @property
    def panel(self) -> AdvancedPanel:
        """The advanced visualization panel (built on first use, hidden until toggled)."""
        if self._panel is None:
            self._panel = AdvancedPanel(self._panel_changed)
            self._copy_preferences()
            self.children = (*self.children, self._panel)
        return self._panel

    def set_preferences(self, prefs: Preferences, redraw: bool = True) -> None:
        self.prefs = prefs
        if self._panel is not None:
            self._copy_preferences()
        if redraw:
            self.redraw()

    def _copy_preferences(self) -> None:
        # The panel's own observers stay (removing all of a Dropdown's observers also
        # removed ipywidgets' value/index link: the colour map then did nothing);
        # they are only told to wait while the preferences are copied in.
        self._setting = True
        try:
            self._panel.colormap.value = self.prefs.colormap
            self._panel.show_saturated.value = self.prefs.show_saturated
        finally:
            self._setting = False

    def options(self) -> ViewOptions:
        """How the file shown is drawn: the preferences, then the panel's values once
        it is there. Raises ValueError for a bad number in the panel."""
        base = ViewOptions(
            theme=self.prefs.theme,
            colormap=self.prefs.colormap,
            show_saturated=self.prefs.show_saturated,
        )
        return base if self._panel is None else self._panel.options(base)

    def _panel_changed(self) -> None:
        if not self._setting:
            self.redraw()

    def toggle_advanced(self) -> None:
        self.panel.layout.display = "none" if self.panel.layout.display == "flex" else "flex"

    def show(self, record: dict) -> None:
        """Download (once) and draw ``record``."""
        self.record = record
        # The previous file's plot must not pass for this one's while it loads.
        for name in [c for c in self.plot._dom_classes if c.startswith("gsp-shows-")]:
            self.plot.remove_class(name)
        self.plot.remove_class("gsp-ready")
        self.plot.children = []
        self._close_figure()
        self.status.value = (
            f"<span class='gsp-muted'>Loading {html.escape(record['file_name'])}…</span>"
        )
        try:
            self.loaded = self.cache.get(record)
        # The download refused or cut, the file not written, or not an image or spectrum
        # that astropy reads (read_fits raises OSError/ValueError).
        except (GSPError, OSError, ValueError) as exc:
            self.loaded = None
            self.plot.children = []
            self.status.value = error_html(exc)
            return
        self.modified.value = f"<span class='gsp-muted'>Last Modified: {html.escape(str(record.get('last_modified', '')))}</span>"
        self.redraw()

    @property
    def kind(self) -> str | None:
        if self.loaded is None:
            return None
        return "image" if isinstance(self.loaded, ImageData) else "spectrum"

    def redraw(self) -> None:
        if self.loaded is None:
            return
        try:
            opts = self.options()
        except ValueError as exc:
            self.panel.message.value = f"<span class='gsp-error'>{html.escape(str(exc))}</span>"
            return
        if self._panel is not None:
            self._panel.message.value = ""
        self.plot.remove_class("gsp-ready")
        self._close_figure()
        self.limits.value = ""
        try:
            if self.prefs.plot_mode == "interactive":
                canvas = interactive_canvas(self.loaded, opts)
                if canvas is not None:
                    self.figure = canvas.figure
                    self._follow_limits(self.figure)
                    # ipympl's view never leaves the page by itself (its remove()
                    # does not call DOMWidgetView.remove): each switch added a
                    # canvas. Its own box does leave, taking the canvas with it.
                    self._canvas_box = w.Box(
                        [canvas], layout=w.Layout(width="auto"), _dom_classes=("gsp-canvas-box",)
                    )
                    self.plot.children = [self._canvas_box]
                    self.status.value = ""
                    self._ready()
                    return
            self.image.value = self._png(opts)
            self.plot.children = [self.image]
            self.status.value = ""
            self._ready()
        except ValueError as exc:
            self.status.value = f"<span class='gsp-error'>{html.escape(str(exc))}</span>"

    def _png(self, opts) -> bytes:
        """The static PNG of the file shown with ``opts`` (drawn once per version)."""
        key = (self.record["id"], self.record.get("last_modified"), opts)
        png = self._pngs.get(key)
        if png is None:
            png = render_png(self.loaded, opts)
            self._pngs[key] = png
            while len(self._pngs) > self.png_cache_size:
                self._pngs.popitem(last=False)
        else:
            self._pngs.move_to_end(key)
        return png

    def _follow_limits(self, figure) -> None:
        """Show the axes' current range under an interactive plot, updated as the user
        zooms and pans (and readable by tests in ``data-*`` attributes)."""
        if not figure.axes:
            return
        ax = figure.axes[0]

        def show(_=None) -> None:
            self.limits.value = limits_html(ax.get_xlim(), ax.get_ylim(), self.kind)

        ax.callbacks.connect("xlim_changed", show)
        ax.callbacks.connect("ylim_changed", show)
        show()

    def _ready(self) -> None:
        """Mark the plot drawn, of which file (``gsp-shows-<id>``) and which drawing of
        the page it is (``gsp-draw-<n>``, counted up): a page (or a test) that asked
        for another file knows a plot drawn since from one drawn before, even when both
        show the same file. One class update, so no step between is ever seen."""
        self.draws += 1
        marks = ("gsp-shows-", "gsp-draw-", "gsp-ready")
        kept = [c for c in self.plot._dom_classes if not c.startswith(marks)]
        self.plot._dom_classes = (
            *kept,
            f"gsp-shows-{int(self.record['id'])}",
            f"gsp-draw-{self.draws}",
            "gsp-ready",
        )

    def _close_figure(self) -> None:
        """Close the interactive figure shown (kernel side and page side), if any."""
        box, self._canvas_box = self._canvas_box, None
        if box is not None:
            if box in self.plot.children:
                self.plot.children = [c for c in self.plot.children if c is not box]
            box.close()
        if self.figure is not None:
            canvas = self.figure.canvas
            self.figure = None
            try:
                canvas.close()
            except Exception:  # noqa: BLE001 - a canvas whose comm is gone is closed already
                log.debug("closing the previous figure's canvas", exc_info=True)


def limits_html(xlim, ylim, kind: str | None) -> str:
    """The range shown: ``λ 5000.0 – 5800.0, flux 95.2 – 160`` (spectra) or pixels."""
    x0, x1 = (float(v) for v in xlim)
    y0, y1 = (float(v) for v in ylim)
    xname, yname = ("λ", "flux") if kind == "spectrum" else ("x", "y")
    data = f"data-xmin='{x0:.6g}' data-xmax='{x1:.6g}' data-ymin='{y0:.6g}' data-ymax='{y1:.6g}'"
    return (
        f"<span class='gsp-limits gsp-muted' {data}>Showing {xname} {x0:.6g} – {x1:.6g}, "
        f"{yname} {y0:.4g} – {y1:.4g} (zoom and pan with the toolbar)</span>"
    )
