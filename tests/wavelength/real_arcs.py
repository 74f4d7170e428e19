"""Real Goodman arcs of ``tests/data/real`` and the wavelengths other tools gave them.

- ``goodman_focus/sp_400m1.fits``: a raw Red-camera 400 M1 HgArNe arc (prescan in
  columns 0-49); the 1-D arc is the median of central rows over columns 50:4110 (the
  trimmed 4060-px width of the library), made here rather than by the reduction code.
- ``iraf_solutions/*.fits``: 1-D arcs with IRAF ``identify`` solutions in their WCS
  (linear, log-linear, or ``multispec`` Chebyshev/Legendre/cubic/linear spline),
  evaluated here from the WCS keywords (IRAF's ``onedspec`` definitions).
- ``pypeit_templates/soar_goodman_blue_400_SYZY.fits``: PypeIt's wavelength per pixel
  of a Blue-camera 400 M1 arc at 2x2, in vacuum; converted to air with the IAU
  standard (Morton 2000) formula, ``specutils.utils.wcs_utils.vac_to_air`` with
  ``method="Morton2000"``.
- ``pypeit_templates/soar_goodman_red_400_SYZY.fits``: the same for PypeIt's Red-camera
  400 template at 2x2, which is two real HgArNe arcs spliced at 6800 Å (vacuum) by
  PypeIt's ``templ_soar_goodman.py``: binned pixels 0-1901 are a 400 M1 arc
  (3022-6798 Å), 1902-3025 the red end of a 400 M2 arc (6800-9005 Å) on another pixel
  grid (the dispersion jumps by 1 % there), so the whole is no detector's arc.
- ``goodman_pipeline_history/*.fits``: 1-D arcs from goodman_pipeline's git history
  (see ``README.md`` there): IRAF-linearised arcs, whose linear WCS is that team's
  solution, and one goodman 1.0b2 arc with its Chebyshev ``GSP_C*`` solution; read
  here the way a user's file is read (:func:`as_read`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits

REAL = Path(__file__).resolve().parents[1] / "data" / "real"


def sp_400m1() -> tuple[np.ndarray, fits.Header]:
    """The 1-D HgArNe arc of ``sp_400m1.fits`` (4060 px, bias removed) and its header."""
    with fits.open(REAL / "goodman_focus" / "sp_400m1.fits", memmap=False) as hdul:
        data = np.asarray(hdul[0].data, float)
        header = hdul[0].header.copy()
    bias = float(np.median(data[:, 5:45]))
    return np.median(data[150:250, 50:4110], axis=0) - bias, header


def _multispec_params(header) -> list[float]:
    text = "".join(
        str(header[k]).ljust(68) if len(str(header[k])) < 68 else str(header[k])
        for k in sorted(k for k in header if k.startswith("WAT2_"))
    )
    spec = re.search(r'spec1\s*=\s*"([^"]*)"', text)
    if spec is None:
        raise ValueError("no spec1 in WAT2 cards")
    return [float(v) for v in spec.group(1).split()]


def iraf_wavelength(header, n: int) -> np.ndarray:
    """Å at pixels ``0..n-1`` from an IRAF 1-D dispersion solution in ``header``."""
    p = np.arange(1, n + 1, dtype=float)  # IRAF physical pixels are 1-based
    ctype = str(header.get("CTYPE1", "")).strip().upper()
    if ctype.startswith("LINEAR"):
        w = header["CRVAL1"] + header.get("CD1_1", header.get("CDELT1")) * (
            p - header.get("CRPIX1", 1.0)
        )
        return 10**w if int(header.get("DC-FLAG", 0)) == 1 else w
    if not ctype.startswith("MULTISPE"):
        raise ValueError(f"unknown CTYPE1 {ctype!r}")
    v = _multispec_params(header)
    # ap beam dtype w1 dw nw z aplow aphigh | weight zeropoint ftype ...
    z = v[6]
    zero, ftype = v[10], int(v[11])
    rest = v[12:]
    if ftype in (1, 2):
        order, pmin, pmax = int(rest[0]), rest[1], rest[2]
        c = np.array(rest[3 : 3 + order])
        x = (2 * p - (pmax + pmin)) / (pmax - pmin)
        if ftype == 1:
            w = np.polynomial.chebyshev.chebval(x, c)
        else:
            w = np.polynomial.legendre.legval(x, c)
    elif ftype in (3, 4):
        npieces, pmin, pmax = int(rest[0]), rest[1], rest[2]
        c = np.array(rest[3:])
        s = (p - pmin) / (pmax - pmin) * npieces
        j = np.clip(np.floor(s).astype(int), 0, npieces - 1)
        a = (j + 1) - s
        b = s - j
        if ftype == 3:
            w = (
                c[j] * a**3
                + c[j + 1] * (1 + 3 * a * (1 + a * b))
                + c[j + 2] * (1 + 3 * b * (1 + a * b))
                + c[j + 3] * b**3
            )
        else:
            w = c[j] * a + c[j + 1] * b
    else:
        raise ValueError(f"unknown IRAF function type {ftype}")
    return (zero + w) / (1 + z)


def iraf_arc(name: str) -> tuple[np.ndarray, np.ndarray, fits.Header]:
    """(flux, IRAF wavelength per pixel, header) of one ``iraf_solutions`` file."""
    with fits.open(REAL / "iraf_solutions" / name, memmap=False) as hdul:
        flux = np.asarray(hdul[0].data, float)
        header = hdul[0].header.copy()
    return flux, iraf_wavelength(header, flux.size), header


def vac_to_air_morton(wave_vac: np.ndarray) -> np.ndarray:
    """Air wavelengths (Å) of vacuum ones, Morton (2000), the IAU standard."""
    import astropy.units as u
    from specutils.utils.wcs_utils import vac_to_air

    return vac_to_air(np.asarray(wave_vac, float) * u.AA, method="Morton2000").to_value(u.AA)


def _pypeit_template(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(flux, PypeIt's wavelength converted to air) of one of PypeIt's templates."""
    with fits.open(REAL / "pypeit_templates" / name) as hdul:
        table = hdul[1].data
        wave = np.asarray(table["wave"], float)
        flux = np.asarray(table["flux"], float)
    return flux, vac_to_air_morton(wave)


def pypeit_blue_400() -> tuple[np.ndarray, np.ndarray]:
    """(flux, PypeIt air wavelength per binned pixel) of the Blue 400 2x2 arc."""
    return _pypeit_template("soar_goodman_blue_400_SYZY.fits")


#: First binned pixel of the 400 M2 arc in PypeIt's Red 400 template (its splice).
PYPEIT_RED_SPLICE = 1902


def pypeit_red_400() -> tuple[np.ndarray, np.ndarray]:
    """(flux, PypeIt air wavelength per binned pixel) of the spliced Red 400 2x2 template."""
    return _pypeit_template("soar_goodman_red_400_SYZY.fits")


def pypeit_red_400_m2_on_detector(npix: int = 2030) -> tuple[np.ndarray, np.ndarray]:
    """(flux, PypeIt air wavelength) of the template's 400 M2 part on a 2x2 detector row.

    Where the part lay on its detector is not recorded: it is put where the library's
    400 M2 lamp has 6800 Å, the splice wavelength of PypeIt's build script (one number
    of the build, not PypeIt's solution per pixel); elsewhere the flux is 0 and the
    wavelength NaN.
    """
    from pipeline.wavelength import select_template

    flux, wave = pypeit_red_400()
    flux, wave = flux[PYPEIT_RED_SPLICE:], wave[PYPEIT_RED_SPLICE:]
    lamp = select_template("400_M2", "HgArNe")
    j = np.arange(lamp.npix, dtype=float)
    start = int(round((np.interp(6800.0, lamp.wavelength(j), j) - 0.5) / 2))
    n = min(flux.size, npix - start)
    placed_flux = np.zeros(npix)
    placed_wave = np.full(npix, np.nan)
    placed_flux[start : start + n] = flux[:n]
    placed_wave[start : start + n] = wave[:n]
    return placed_flux, placed_wave


def lines_window(solution, margin_px: float = 0.0) -> np.ndarray:
    """Boolean mask of the pixels between the solution's outermost used lines."""
    used = np.asarray(solution.lines["used"], bool)
    pix = np.asarray(solution.lines["pixel"], float)[used]
    j = np.arange(solution.npix)
    return (j >= pix.min() - margin_px) & (j <= pix.max() + margin_px)


def errors_px(solution, truth: np.ndarray, window: np.ndarray) -> tuple[float, float, float]:
    """RMS, worst and mean of (solution - truth) in binned px over ``window``."""
    disp = np.abs(np.gradient(truth))
    e = ((solution.wavelength() - truth) / disp)[window]
    return float(np.sqrt(np.mean(e**2))), float(np.abs(e).max()), float(e.mean())


class PerturbedGuess:
    """A deliberately wrong first guess: ``model`` moved by ``offset`` unbinned px with
    its dispersion off by ``scale`` (about the detector centre).

    It has only ``wavelength(unbinned_pixel)``, like the optics model: no template
    flux, so the calibration starts from NIST lines rendered through it.
    """

    def __init__(self, model, offset: float = 20.0, scale: float = 1.02, centre: float = 2029.5):
        self.model, self.offset, self.scale, self.centre = model, offset, scale, centre
        self.name = f"perturbed {getattr(model, 'file_name', 'model')}"

    def wavelength(self, unbinned_pixel):
        u = np.asarray(unbinned_pixel, float)
        return self.model.wavelength(self.centre + self.scale * (u - self.centre) + self.offset)


HISTORY = REAL / "goodman_pipeline_history"


@dataclass(frozen=True)
class HistoryArc:
    """One real arc of goodman_pipeline's history: its file and what reading it needs.

    ``linearised``: the flux was resampled onto a linear wavelength grid (IRAF
    ``dispcor``), so its header WCS is that team's solution and its pixels no longer
    carry the optics' curvature.
    """

    file: str
    folder: Path = HISTORY

    @property
    def path(self) -> Path:
        return self.folder / self.file

    @property
    def linearised(self) -> bool:
        return self.file.endswith("_linear.fits")


#: The distinct observations (README.md there says which duplicates were left out);
#: the 400 M1 HgArNe arc of 2017-12-18 is already in ``iraf_solutions``.
HISTORY_ARCS = tuple(
    HistoryArc(name)
    for name in (
        "goodman_comp_600KOSI_CuHeAr_2016-03-21_linear.fits",
        "goodman_comp_600KOSI_HgAr_2016-03-21_linear.fits",
        "goodman_comp_2100_Custom650nm_GG385_HgArNe_2017-09-18_linear.fits",
        "goodman_comp_400M2_GG455_HgArNe_2016-11-15_linear.fits",
        "goodman_comp_400M2_GG455_HgAr_2017-05-05_linear.fits",
        "goodman_comp_400M1_HgArNe_2017-07-20_linear.fits",
        "goodman_comp_400M1_HgAr_2017-05-05_linear.fits",
        "goodman_comp_1200M5_RED_GG455_HgArNe_2016-11-15_linear.fits",
        "goodman_comp_1200M2_CuHeAr_2017-06-10_linear.fits",
        "goodman_comp_1200M3_CuHeAr_2017-06-10T0338_linear.fits",
        "goodman_comp_1200M3_CuHeAr_2017-06-10T0414_linear.fits",
        "goodman_comp_600Mid_GG385_HgArNe_2017-12-22_cheb.fits",
    )
) + (HistoryArc("goodman_comp_400M1_HgArNe.fits", REAL / "iraf_solutions"),)


def history_arc(arc: HistoryArc) -> tuple[np.ndarray, np.ndarray, fits.Header]:
    """(flux, that team's wavelength per pixel, header) of one history arc."""
    from numpy.polynomial import chebyshev

    from pipeline.wavelength.solution import solution_from_header

    with fits.open(arc.path, memmap=False) as hdul:
        flux = np.asarray(hdul[0].data, float).squeeze()
        header = hdul[0].header.copy()
    if "GSP_FUNC" in header:
        wave = chebyshev.chebval(np.arange(flux.size, dtype=float), solution_from_header(header))
    else:
        wave = iraf_wavelength(header, flux.size)
    return flux, wave, header


@dataclass(frozen=True)
class AsRead:
    """What the product reads from an arc's header to calibrate it (``gsp reduce``'s path)."""

    mode: str | None
    lamp_elements: frozenset
    binning: int
    first_guess: object
    note: str
    #: The header records cosmic-ray cleaning of the arc (``GSP_COSM``:
    #: :func:`pipeline.lamps.cosmic_cleaned`).
    cosmic_cleaned: bool = False


def as_read(header) -> AsRead:
    """Mode, lamps, binning and first guess of an arc, read as ``gsp reduce`` reads them.

    The header normalisation gives the lamps and the binning along the dispersion,
    :func:`pipeline.spectroscopy.wavelength_guess.choose_first_guess` the library lamp
    (WAVMODE, or the mode the grating angles match) or else the optics model.
    """
    from pipeline.header_normalization import normalize_header
    from pipeline.lamps import cosmic_cleaned
    from pipeline.spectroscopy.wavelength_guess import choose_first_guess

    norm = normalize_header(header)
    choice = choose_first_guess(header)
    if choice.problem:
        raise ValueError(choice.problem)
    binning = norm.binning[0] if norm.binning else 1
    return AsRead(
        choice.mode or None,
        norm.lamps,
        binning,
        choice.first_guess,
        choice.note,
        cosmic_cleaned(header),
    )


def calibrate_as_read(flux, header):
    """The arc calibrated from its header alone, as ``gsp reduce`` reads it (:func:`as_read`).

    Returns
    -------
    pipeline.wavelength.solution.WavelengthSolution
    """
    from pipeline.wavelength import calibrate_arc

    read = as_read(header)
    return calibrate_arc(
        flux,
        read.mode,
        read.lamp_elements,
        read.binning,
        first_guess=read.first_guess,
        cosmic_cleaned=read.cosmic_cleaned,
    )


class LinearisedGuess:
    """A first guess without the optics' curvature: ``model`` made linear in pixel.

    The straight line through ``model``'s wavelengths over the detector (least
    squares), for an arc resampled onto a linear wavelength grid; no template flux.
    It uses nothing of the arc's own solution.
    """

    def __init__(self, model, npix: int = 4060):
        j = np.arange(npix, dtype=float)
        self.coefficients = np.polyfit(j, model.wavelength(j), 1)
        self.name = f"linearised {getattr(model, 'file_name', 'model')}"

    def wavelength(self, unbinned_pixel):
        return np.polyval(self.coefficients, np.asarray(unbinned_pixel, float))


def theirs_vs_nist(solution, truth: np.ndarray) -> tuple[float, float]:
    """RMS and mean of (their wavelength - NIST) at our used lines, binned px."""
    used = np.asarray(solution.lines["used"], bool)
    pix = np.asarray(solution.lines["pixel"], float)[used]
    ref = np.asarray(solution.lines["reference_wavelength"], float)[used]
    j = np.arange(truth.size, dtype=float)
    e = (np.interp(pix, j, truth) - ref) / np.interp(pix, j, np.abs(np.gradient(truth)))
    return float(np.sqrt(np.mean(e**2))), float(e.mean())
