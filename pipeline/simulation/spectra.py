"""1-D spectra as the detector sees them on the slit-centre row.

Each builder returns the spectrum tabulated on the layout's fine grid of binned column
coordinates (``Layout.fine_grid()``), in ADU collected by one binned pixel column
(summed over the rows a source covers, or per pixel row for slit-filling light),
before illumination, pixel response and noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from pipeline.lamps import LampTemplate
from pipeline.simulation.optics import Layout, add_gaussian_lines

#: Typical FWHM (unbinned px) of the library templates' lines.
TEMPLATE_FWHM_UNBINNED = 4.5
#: Rest air wavelengths (Å) of the science target's emission lines.
TARGET_LINES: dict[str, float] = {
    "[OII]3726": 3726.03,
    "[OII]3729": 3728.82,
    "Hgamma": 4340.47,
    "Hbeta": 4861.33,
    "[OIII]4959": 4958.91,
    "[OIII]5007": 5006.84,
    "[NII]6548": 6548.05,
    "Halpha": 6562.80,
    "[NII]6583": 6583.45,
    "[SII]6716": 6716.44,
    "[SII]6731": 6730.82,
    "[SIII]9069": 9068.6,
}
#: Relative line strengths (Halpha = 1).
TARGET_LINE_STRENGTH = {
    "[OII]3726": 0.5,
    "[OII]3729": 0.6,
    "Hgamma": 0.17,
    "Hbeta": 0.35,
    "[OIII]4959": 0.4,
    "[OIII]5007": 1.2,
    "[NII]6548": 0.12,
    "Halpha": 1.0,
    "[NII]6583": 0.35,
    "[SII]6716": 0.25,
    "[SII]6731": 0.2,
    "[SIII]9069": 0.15,
}
#: Night-sky emission lines (air Å) and relative strengths: airglow [OI], Na D,
#: city Hg, and the brighter OH bands of the red.
SKY_LINES: tuple[tuple[float, float], ...] = (
    (4358.34, 0.15),
    (5460.74, 0.2),
    (5577.34, 1.0),
    (5889.95, 0.25),
    (5895.92, 0.2),
    (6300.30, 0.6),
    (6363.78, 0.2),
    (6863.96, 0.3),
    (7316.28, 0.4),
    (7340.88, 0.4),
    (7571.75, 0.3),
    (7750.64, 0.5),
    (7794.11, 0.5),
    (7821.50, 0.4),
    (7913.71, 0.5),
    (7993.33, 0.6),
    (8344.60, 0.9),
    (8399.17, 0.8),
    (8430.17, 0.7),
    (8827.10, 1.2),
    (8885.85, 1.0),
    (8919.53, 0.6),
    (8943.40, 0.8),
    (8988.37, 0.9),
    (9375.96, 1.0),
    (9439.67, 1.1),
)


def filter_cut_on(filter_name: str) -> float | None:
    """Give the cut-on wavelength of a long-pass order-blocking filter (GG455 -> 4550 Å).

    Parameters
    ----------
    filter_name : str
        FILTER2 (``GG``, ``OG`` or ``RG`` followed by three digits in nm).

    Returns
    -------
    float or None
        The cut-on in Å; ``None`` for no filter or another kind.
    """
    name = (filter_name or "").upper()
    for prefix in ("GG", "OG", "RG"):
        if name.startswith(prefix) and name[2:5].isdigit():
            return 10.0 * float(name[2:5])
    return None


def throughput(wave, filter2: str = "") -> np.ndarray:
    """Model a smooth system throughput: grating x CCD bell, times a long-pass filter.

    Parameters
    ----------
    wave : float or array_like
        Wavelength(s) in Å.
    filter2 : str
        The order-blocking filter (``"GG455"``; ``""`` for none), see :func:`throughput`.

    Returns
    -------
    numpy.ndarray
        Throughput between 0 and 1, of the shape of ``wave``.
    """
    wave = np.asarray(wave, float)
    t = 0.08 + 0.92 * np.exp(-0.5 * ((wave - 6200.0) / 2300.0) ** 2)
    cut = filter_cut_on(filter2)
    if cut is not None:
        t = t / (1.0 + np.exp(-(wave - cut) / 40.0))
    return t


def blackbody(wave, temperature: float) -> np.ndarray:
    """Compute the Planck B_lambda shape (arbitrary units) at wavelengths in Å.

    Parameters
    ----------
    wave : float or array_like
        Wavelength(s) in Å.
    temperature : float
        Temperature in K.

    Returns
    -------
    numpy.ndarray
        ``1 / (lambda**5 (exp(hc / lambda k T) - 1))`` with lambda in cm: only its shape
        is meant (normalise it).
    """
    lam_cm = np.asarray(wave, float) * 1e-8
    x = np.clip(1.4387769 / (lam_cm * temperature), 1e-6, 700.0)
    return 1.0 / (lam_cm**5 * np.expm1(x))


def _dispersion(layout: Layout, template: LampTemplate, flexure: float, grid) -> np.ndarray:
    w = layout.wavelength(template, flexure, grid)
    return np.abs(np.gradient(w, grid))


def quartz_flat(layout, template, flexure, filter2, peak_adu) -> np.ndarray:
    """Draw the continuum of the quartz lamp x throughput, peaking at ``peak_adu``.

    Evaluated directly at the trimmed columns (a flat is smooth: no fine grid needed).

    Parameters
    ----------
    layout : Layout
        The frame's layout (fine grid, binning, line width).
    template : LampTemplate
        The setup's lamp template: its solution (the truth) maps columns to wavelengths.
    flexure : float
        Shift of the spectrum in unbinned pixels.
    filter2 : str
        The order-blocking filter (``"GG455"``; ``""`` for none), see :func:`throughput`.
    peak_adu : float
        The flat's maximum in ADU.

    Returns
    -------
    numpy.ndarray
        ADU at each trimmed column (a 3100 K blackbody through :func:`throughput`).
    """
    w = layout.wavelength(template, flexure)
    s = blackbody(w, 3100.0) * throughput(w, filter2)
    return peak_adu * s / s.max()


@dataclass(frozen=True)
class ArcLines:
    """Catalogued lines of an arc as placed on the detector (slit-centre row)."""

    wavelengths: np.ndarray
    columns: np.ndarray
    fluxes: np.ndarray
    peaks: np.ndarray
    isolated: np.ndarray
    template_pixels: np.ndarray


def _template_line_strengths(template: LampTemplate) -> np.ndarray:
    """Height above the local continuum of each catalogued line in the template."""
    f = template.flux
    out = []
    for p in template.line_pixels:
        i = int(round(p))
        lo, hi = max(i - 3, 0), min(i + 4, f.size)
        peak = f[lo:hi].max() if hi > lo else 0.0
        blo, bhi = max(i - 40, 0), min(i + 41, f.size)
        base = np.percentile(f[blo:bhi], 20) if bhi > blo else 0.0
        out.append(max(peak - base, 0.0))
    return np.asarray(out)


def _residual_flux(template: LampTemplate, half_width: int = 9) -> np.ndarray:
    """The template with its catalogued lines cut out (weak lines and continuum remain).

    The catalogued lines are synthesized separately at their exact true positions, so
    their template copies (possibly off by the template's fit residual) must not be
    resampled too.
    """
    f = template.flux.astype(float).copy()
    keep = np.ones(f.size, bool)
    for p in template.line_pixels:
        i = int(round(p))
        keep[max(i - half_width, 0) : i + half_width + 1] = False
    # the line may sit where the model puts its catalogued wavelength, not at GSP_P
    model_px = np.interp(
        template.line_wavelengths,
        template.wavelength(np.arange(f.size)),
        np.arange(f.size, dtype=float),
    )
    for p in model_px:
        i = int(round(p))
        keep[max(i - half_width, 0) : i + half_width + 1] = False
    idx = np.arange(f.size)
    if keep.sum() > 2:
        f[~keep] = np.interp(idx[~keep], idx[keep], f[keep])
    return f - np.percentile(f, 5)


def arc_spectrum(layout, template, flexure, peak_adu, isolation_fwhm=3.0):
    """Draw an arc on the slit-centre row, and its catalogued lines.

    The catalogued lines are pixel-integrated Gaussians centred where the true
    wavelength solution equals their catalogued wavelength; the rest of the template
    (weak uncatalogued lines, continuum) is resampled, broadened to the simulated line
    width and shifted by the flexure. The brightest catalogued line peaks at
    ``peak_adu`` per pixel.

    Parameters
    ----------
    layout : Layout
        The frame's layout (fine grid, binning, line width).
    template : LampTemplate
        The setup's lamp template: its solution (the truth) maps columns to wavelengths.
    flexure : float
        Shift of the spectrum in unbinned pixels.
    peak_adu : float
        Peak (ADU per binned pixel) of the brightest catalogued line.
    isolation_fwhm : float
        A line with a neighbour of more than 2 % of its flux within this many FWHM is not
        ``isolated``.

    Returns
    -------
    grid : numpy.ndarray
        The layout's fine grid (binned columns).
    spectrum : numpy.ndarray
        ADU per fine-grid bin.
    lines : ArcLines
        The catalogued lines on the detector: wavelength (Å), column (binned), flux, peak,
        isolation flag and template pixel.
    """
    grid = layout.fine_grid()
    b = layout.binning
    cols = layout.column_of_wavelength(template, flexure, template.line_wavelengths)
    strength = _template_line_strengths(template)
    sigma = layout.line_sigma
    # peak of a pixel-integrated Gaussian centred on a pixel, per unit flux
    peak_per_flux = math.erf(0.5 / (math.sqrt(2.0) * sigma))
    scale = peak_adu / (strength.max() * peak_per_flux) if strength.size else 0.0
    fluxes = strength * scale
    inside = (cols > -0.5) & (cols < layout.shape[1] - 0.5)

    spectrum = np.zeros_like(grid)
    add_gaussian_lines(grid, spectrum, cols, fluxes, sigma)

    # Weak lines and continuum: each binned pixel sums b unbinned template pixels.
    # keep residual features out of the catalogued lines' wings: +-3 FWHM
    resid = _residual_flux(template, int(math.ceil(3.0 * layout.line_fwhm_unbinned)) + 2)
    tmpl_sigma = TEMPLATE_FWHM_UNBINNED / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    extra = math.sqrt(max(layout.line_fwhm_unbinned**2 / 8.0 / math.log(2.0) - tmpl_sigma**2, 0))
    if extra > 0.3:
        resid = gaussian_filter1d(resid, extra)
    idx = np.arange(resid.size, dtype=float)
    weak = np.zeros_like(grid)
    for k in range(b):
        weak += np.interp(b * grid + k - flexure, idx, resid, left=0.0, right=0.0)
    # template units -> ADU: a catalogued template line of height H (FWHM ~4.5 px)
    # holds ~1.064*4.5*H template units and becomes a line of H*scale ADU
    spectrum += weak * scale / (1.0645 * TEMPLATE_FWHM_UNBINNED)

    min_sep = isolation_fwhm * layout.line_fwhm_unbinned / b
    isolated = np.ones(cols.size, bool)
    for i in range(cols.size):
        others = np.delete(cols, i)
        others_f = np.delete(fluxes, i)
        near = np.abs(others - cols[i]) < min_sep
        if np.any(near & (others_f > 0.02 * max(fluxes[i], 1e-12))):
            isolated[i] = False
    lines = ArcLines(
        wavelengths=template.line_wavelengths[inside],
        columns=cols[inside],
        fluxes=fluxes[inside],
        peaks=fluxes[inside] * peak_per_flux,
        isolated=isolated[inside],
        template_pixels=template.line_pixels[inside],
    )
    return grid, spectrum, lines


def sky_spectrum(layout, template, flexure, filter2, exptime):
    """Draw the night-sky continuum and emission lines per pixel row (slit-filling), in ADU.

    Parameters
    ----------
    layout : Layout
        The frame's layout (fine grid, binning, line width).
    template : LampTemplate
        The setup's lamp template: its solution (the truth) maps columns to wavelengths.
    flexure : float
        Shift of the spectrum in unbinned pixels.
    filter2 : str
        The order-blocking filter (``"GG455"``; ``""`` for none), see :func:`throughput`.
    exptime : float
        Exposure time in seconds.

    Returns
    -------
    grid : numpy.ndarray
        The layout's fine grid (binned columns).
    spectrum : numpy.ndarray
        ADU per fine-grid bin and per binned row.
    lines : list of tuple of (float, float)
        (wavelength in Å, binned column) of the sky lines that fall on the detector.
    """
    grid = layout.fine_grid()
    b = layout.binning
    w = layout.wavelength(template, flexure, grid)
    disp = _dispersion(layout, template, flexure, grid)
    # 4 ADU per unbinned row per Å in 600 s; a binned pixel spans b rows and disp Å
    cont = 4.0 * (exptime / 600.0) * b * disp * (1.0 + (w - 5000.0) / 8000.0)
    spectrum = np.clip(cont, 0.0, None) * throughput(w, filter2)
    lw = np.array([x[0] for x in SKY_LINES])
    ls = np.array([x[1] for x in SKY_LINES])
    cols = layout.column_of_wavelength(template, flexure, lw)
    on = (cols > -0.5) & (cols < layout.shape[1] - 0.5)
    fluxes = 600.0 * ls * (exptime / 600.0) * b * throughput(lw, filter2)
    add_gaussian_lines(grid, spectrum, cols[on], fluxes[on], layout.line_sigma)
    return grid, spectrum, list(zip(lw[on].tolist(), cols[on].tolist(), strict=True))


def target_spectrum(layout, template, flexure, filter2, exptime, redshift, brightness=1.0):
    """A point source's spectrum (ADU summed over its spatial profile) and its lines.

    Continuum: an 8000 K blackbody shape; emission lines of :data:`TARGET_LINES` at
    ``(1+z)`` times their rest wavelengths.

    Parameters
    ----------
    layout : Layout
        The frame's layout (fine grid, binning, line width).
    template : LampTemplate
        The setup's lamp template: its solution (the truth) maps columns to wavelengths.
    flexure : float
        Shift of the spectrum in unbinned pixels.
    filter2 : str
        The order-blocking filter (``"GG455"``; ``""`` for none), see :func:`throughput`.
    exptime : float
        Exposure time in seconds.
    redshift : float
        Redshift ``z`` of the emission lines.
    brightness : float
        Scale of the continuum and lines (1 for the reference target).

    Returns
    -------
    grid : numpy.ndarray
        The layout's fine grid (binned columns).
    spectrum : numpy.ndarray
        ADU per fine-grid bin.
    lines : list of dict
        The emission lines on the detector: ``name``, ``rest`` and ``observed`` (Å),
        ``column`` (binned) and ``flux_adu``.
    """
    grid = layout.fine_grid()
    w = layout.wavelength(template, flexure, grid)
    disp = _dispersion(layout, template, flexure, grid)
    bb = blackbody(w, 8000.0)
    bb = bb / blackbody(np.array([6000.0]), 8000.0)[0]
    spectrum = 600.0 * brightness * (exptime / 600.0) * disp * bb * throughput(w, filter2)
    names = list(TARGET_LINES)
    rest = np.array([TARGET_LINES[n] for n in names])
    obs = rest * (1.0 + redshift)
    cols = layout.column_of_wavelength(template, flexure, obs)
    on = (cols > -0.5) & (cols < layout.shape[1] - 0.5)
    strength = np.array([TARGET_LINE_STRENGTH[n] for n in names])
    fluxes = 40000.0 * brightness * strength * (exptime / 600.0) * throughput(obs, filter2)
    add_gaussian_lines(grid, spectrum, cols[on], fluxes[on], layout.line_sigma)
    lines = [
        {
            "name": n,
            "rest": float(r),
            "observed": float(o),
            "column": float(c),
            "flux_adu": float(f),
        }
        for n, r, o, c, f, k in zip(names, rest, obs, cols, fluxes, on, strict=True)
        if k
    ]
    return grid, spectrum, lines


# ---------------------------------------------------------------- standard stars


def fluxcal_dir() -> Path:
    """Locate the bundled standard-star tables (``pipeline/data/fluxcal/esofil``).

    Returns
    -------
    pathlib.Path
        The folder of ``f<star>.dat`` tables and ``esofil_info.txt``.
    """
    return Path(str(resources.files("pipeline") / "data" / "fluxcal" / "esofil"))


@dataclass(frozen=True)
class StandardStar:
    name: str
    file_name: str
    ra: str
    dec: str


@cache
def standard_stars() -> tuple[StandardStar, ...]:
    """List the stars of ``esofil_info.txt`` (commented lines skipped).

    Returns
    -------
    tuple of StandardStar
        Name, table file, RA and Dec (sexagesimal text) of each.
    """
    stars = []
    for line in (fluxcal_dir() / "esofil_info.txt").read_text().splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 4 and parts[0].endswith(".dat"):
            stars.append(StandardStar(parts[1], parts[0], parts[2], parts[3]))
    return tuple(stars)


@cache
def standard_table(file_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a standard star file's wavelength and flux columns (cached per file).

    Parameters
    ----------
    file_name : str
        A ``f<star>.dat`` file of :func:`fluxcal_dir`.

    Returns
    -------
    wavelength : numpy.ndarray
        In Å.
    flux : numpy.ndarray
        In 1e-16 erg/s/cm²/Å.
    """
    data = np.loadtxt(fluxcal_dir() / file_name, usecols=(0, 1))
    return data[:, 0], data[:, 1]


#: Simulated sensitivity zero point: ADU per second per Å, at the peak of
#: :func:`throughput`, for a source of 1 erg/s/cm²/Å above the atmosphere. Chosen so that
#: LTT 3218 (5.4e-14 erg/s/cm²/Å at 6000 Å) gives 8000 ADU per Å in 60 s.
SENSITIVITY_ADU = 8000.0 / 60.0 / 541.15e-16
#: Flux (erg/s/cm²/Å at 6000 Å) a standard of ``standard_exptime`` seconds is exposed for:
#: brighter stars get shorter exposures, as observers choose them.
REFERENCE_STANDARD_FLUX = 541.15e-16


def sensitivity_adu(wave, filter2: str = "") -> np.ndarray:
    """Give the simulated instrument's sensitivity: ``SENSITIVITY_ADU`` x :func:`throughput`.

    Parameters
    ----------
    wave : float or array_like
        Wavelength(s) in Å.
    filter2 : str
        The order-blocking filter (``"GG455"``; ``""`` for none), see :func:`throughput`.

    Returns
    -------
    numpy.ndarray
        ADU/s/Å per erg/s/cm²/Å above the atmosphere, of the shape of ``wave``.
    """
    return SENSITIVITY_ADU * throughput(wave, filter2)


def standard_flux(star: StandardStar, wave) -> np.ndarray:
    """Interpolate the star's tabulated flux at ``wave``, end values held beyond the table.

    Parameters
    ----------
    star : StandardStar
        The standard.
    wave : float or array_like
        Wavelength(s) in Å.

    Returns
    -------
    numpy.ndarray
        Flux in erg/s/cm²/Å, of the shape of ``wave``.
    """
    tw, tf = standard_table(star.file_name)
    return np.interp(np.asarray(wave, float), tw, tf) * 1e-16


def standard_exptime(star: StandardStar, reference_exptime: float) -> float:
    """Choose a standard's exposure time so it gets the counts of a reference star.

    Parameters
    ----------
    star : StandardStar
        The standard.
    reference_exptime : float
        Seconds a star of :data:`REFERENCE_STANDARD_FLUX` (at 6000 Å) would be exposed.

    Returns
    -------
    float
        Seconds, rounded to 1 ms (at least 1 ms): brighter stars get shorter exposures.
    """
    f6000 = float(standard_flux(star, [6000.0])[0])
    return max(round(reference_exptime * REFERENCE_STANDARD_FLUX / f6000, 3), 0.001)


def true_flux(flux_adu, wavelength, exptime, filter2, airmass) -> np.ndarray:
    """Invert the simulated instrument: the flux above the atmosphere of a recorded spectrum.

    Parameters
    ----------
    flux_adu : array_like
        ADU the source put in each column.
    wavelength : array_like
        True wavelength (Å) of each column (increasing or decreasing).
    exptime : float
        Exposure time in seconds.
    filter2 : str
        The order-blocking filter (``""`` for none).
    airmass : float
        Airmass of the exposure (CTIO extinction).

    Returns
    -------
    numpy.ndarray
        Flux in erg/s/cm²/Å above the atmosphere, per column.
    """
    from pipeline.fluxcal.extinction import extinction_factor

    w = np.asarray(wavelength, float)
    disp = np.abs(np.gradient(w))
    rate = np.asarray(flux_adu, float) / (exptime * disp)
    return rate / (sensitivity_adu(w, filter2) * extinction_factor(w, airmass))


def standard_spectrum(layout, template, flexure, filter2, exptime, star: StandardStar, airmass):
    """Draw a standard star's spectrum, summed over its spatial profile.

    Its tabulated flux goes through the atmosphere (CTIO extinction at ``airmass``) and
    the simulated sensitivity.

    Parameters
    ----------
    layout : Layout
        The frame's layout (fine grid, binning, line width).
    template : LampTemplate
        The setup's lamp template: its solution (the truth) maps columns to wavelengths.
    flexure : float
        Shift of the spectrum in unbinned pixels.
    filter2 : str
        The order-blocking filter (``"GG455"``; ``""`` for none), see :func:`throughput`.
    exptime : float
        Exposure time in seconds.
    star : StandardStar
        The standard.
    airmass : float
        Airmass of the exposure.

    Returns
    -------
    grid : numpy.ndarray
        The layout's fine grid (binned columns).
    spectrum : numpy.ndarray
        ADU per fine-grid bin.
    """
    from pipeline.fluxcal.extinction import extinction_factor

    grid = layout.fine_grid()
    w = layout.wavelength(template, flexure, grid)
    disp = _dispersion(layout, template, flexure, grid)
    f = standard_flux(star, w)
    spectrum = exptime * disp * f * sensitivity_adu(w, filter2) * extinction_factor(w, airmass)
    return grid, spectrum
