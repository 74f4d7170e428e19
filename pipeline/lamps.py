"""The Goodman reference lamp library (``pipeline/data/lamps``).

Each template is a calibrated 1-D comparison-lamp spectrum, unbinned (mostly 4060 px,
the trimmed detector width), with its wavelength model in the header (``GSP_FUNC``,
``GSP_ORDR``, ``GSP_Cnnn``: a Chebyshev series on the 0-based unbinned pixel index,
default domain) and its line list (``GSP_Pnnn`` pixel / ``GSP_Annn`` Å pairs, often
stored as strings; pairs with Å == 0 are unused). Data from goodman_pipeline 3.1.0,
BSD-3-Clause (``data/lamps/LICENSE.goodman_pipeline``).

The stored models are fits with errors (0.3-1.1 px RMS against NIST, up to 3.5 px at
the ends). ``python -m pipeline.wavelength.refit_library`` refitted each lamp once
against NIST air wavelengths of the lines in its own flux and wrote the corrected model
beside the original (``GSP_RORD``/``GSP_Rnnn``, same convention, with ``GSP_RRMS``,
``GSP_RNLN`` and HISTORY provenance). :class:`LampTemplate` keeps both and uses the
corrected one.

This module only reads and looks up templates; matching arcs to them is the
wavelength-calibration stage's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
from numpy.polynomial import chebyshev

from pipeline.instrument import binned_pixel_centres

#: Header keys of the lamps on the Goodman calibration unit and what each lamp contains.
LAMP_KEYWORDS: dict[str, str] = {
    "LAMP_HGA": "HgAr",
    "LAMP_NE": "Ne",
    "LAMP_AR": "Ar",
    "LAMP_FE": "FeHeAr",
    "LAMP_CU": "CuHeAr",
}
#: Continuum lamps (flats), not comparison lamps.
CONTINUUM_LAMP_KEYWORDS = ("LAMP_QUA", "LAMP_BUL", "LAMP_DOM")

_ELEMENT = re.compile(r"[A-Z][a-z]?")


def lamp_dir() -> Path:
    """Locate the folder of the packaged lamp library.

    Returns
    -------
    pathlib.Path
        ``pipeline/data/lamps`` of the installed package (goodman_pipeline's
        ``goodman_comp_*.fits`` templates).
    """
    return Path(str(resources.files("pipeline") / "data" / "lamps"))


def normalize_mode(value: str | None) -> str:
    """Spell a WAVMODE canonically: ``"400 M2"``, ``"400_m2"`` -> ``"400_M2"``.

    Parameters
    ----------
    value : str or None
        The WAVMODE as written.

    Returns
    -------
    str
        Upper case, runs of spaces and underscores made one underscore; ``""`` for
        ``None``.
    """
    if value is None:
        return ""
    return re.sub(r"[\s_]+", "_", str(value).strip()).upper()


def elements(lamp_name: str) -> frozenset[str]:
    """List the elements named in a lamp name: ``"HgArNe"`` -> ``{"Hg", "Ar", "Ne"}``.

    Parameters
    ----------
    lamp_name : str
        A lamp name as the library or LAMP_* cards spell it (``None`` is empty).

    Returns
    -------
    frozenset of str
        Element symbols (capitalised, as in the name).
    """
    return frozenset(_ELEMENT.findall(lamp_name or ""))


def _is_true(value) -> bool:
    return str(value).strip().upper() in {"TRUE", "T", "1", "ON", "YES"}


def lamps_on(header) -> frozenset[str]:
    """Elements of the comparison lamps switched on in a header's ``LAMP_*`` keywords.

    Returns an empty set when no comparison lamp keyword says TRUE (for instance arcs
    from before the ``LAMP_*`` keywords existed); callers then fall back to the mode.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A raw arc header.

    Returns
    -------
    frozenset of str
        Element symbols of the lamps whose ``LAMP_*`` card is true.
    """
    found: set[str] = set()
    for key, lamp in LAMP_KEYWORDS.items():
        if key in header and _is_true(header[key]):
            found |= elements(lamp)
    return frozenset(found)


def cosmic_cleaned(header) -> bool:
    """Whether a reduced arc's header records cosmic-ray cleaning of the arc itself.

    goodman pipeline 1.0b2 (2017-2018) cleaned comparison lamps as it cleaned science
    frames and wrote the method to ``GSP_COSM`` (``DCR``); the library lamps it reduced
    hold bright lines with replaced pixels (one-pixel edges and notches, identical in
    two exposures of one bulb), those reduced with ``GSP_COSM = none`` do not
    (:func:`pipeline.wavelength.altered_lines.altered_lines`). This pipeline does not clean
    arcs (``GSP_COSM = none``), a raw arc has no such card: neither is cleaned. A
    ``HISTORY = 'dcr ...'`` card of the older, linearised arcs is not read: they were
    resampled after the cleaning, which spreads a replaced pixel over its neighbours.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        The arc's header.

    Returns
    -------
    bool
        True when ``GSP_COSM`` names a method (anything but empty or ``none``).
    """
    method = str(header.get("GSP_COSM", "") or "").strip().lower()
    return method not in ("", "none")


@dataclass(frozen=True)
class LampTemplate:
    """One reference lamp of the library."""

    file_name: str
    lamp: str
    mode: str
    grating: str
    filter2: str
    flux: np.ndarray = field(repr=False)
    library_coefficients: np.ndarray = field(repr=False)
    line_pixels: np.ndarray = field(repr=False)
    line_wavelengths: np.ndarray = field(repr=False)
    corrected_coefficients: np.ndarray | None = field(default=None, repr=False)
    corrected_rms_pixel: float | None = None
    corrected_lines: int | None = None
    #: Unbinned pixels of the outermost NIST lines the corrected model was fitted to
    #: (``GSP_RPLO``, ``GSP_RPHI``): beyond them it is an extrapolation.
    corrected_pixels: tuple[float, float] | None = None
    #: For an HgArNe lamp whose corrected model is its HgAr bulb's solution, where its
    #: Ne bulb's lines lie against it (``GSP_RNBO``, ``GSP_RNBS``: offset px, slope px
    #: per half detector); ``None`` otherwise.
    ne_bulb: tuple[float, float] | None = None
    #: Whether the lamp's reduction cleaned it of cosmic rays (``GSP_COSM``, see
    #: :func:`cosmic_cleaned`): its bright lines may hold replaced pixels.
    cosmic_cleaned: bool = False

    @property
    def coefficients(self) -> np.ndarray:
        """The model in use: the NIST-corrected one when the file has it."""
        if self.corrected_coefficients is not None:
            return self.corrected_coefficients
        return self.library_coefficients

    @property
    def corrected(self) -> bool:
        """Whether the NIST-corrected model is in use."""
        return self.corrected_coefficients is not None

    @property
    def path(self) -> Path:
        return lamp_dir() / self.file_name

    @property
    def elements(self) -> frozenset[str]:
        return elements(self.lamp)

    @property
    def npix(self) -> int:
        return int(self.flux.size)

    def wavelength(self, unbinned_pixel) -> np.ndarray:
        """Wavelength (Å) at unbinned pixel coordinates (0-based, may be fractional).

        The NIST-corrected model when present, else the library's stored one.
        """
        return chebyshev.chebval(np.asarray(unbinned_pixel, dtype=float), self.coefficients)

    def library_wavelength(self, unbinned_pixel) -> np.ndarray:
        """Wavelength (Å) from the library's original stored model (``GSP_Cnnn``)."""
        return chebyshev.chebval(np.asarray(unbinned_pixel, dtype=float), self.library_coefficients)

    def binned_wavelength(self, binning: int, n: int | None = None) -> np.ndarray:
        """Wavelength (Å) at the centres of binned pixels ``0 .. n-1``.

        Evaluates the unbinned model at ``b*j + (b-1)/2``; scaling the coefficients
        instead (as goodman_pipeline does) biases binned solutions by ~0.5 Å.
        """
        n = self.npix // binning if n is None else n
        return self.wavelength(binned_pixel_centres(binning, n))


def _float(value) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        return 0.0


#: Elements of the Goodman comparison lamps.
_LAMP_ELEMENTS = frozenset({"Hg", "Ar", "Ne", "Fe", "He", "Cu"})


def _lamp_name(header, path: Path) -> str:
    """The lamp of a library file: OBJECT, unless OBJECT names a star (a few files,
    e.g. ``Gaia24asr`` in ``goodman_comp_1200_CaNIR_OG570_HgArNe.fits``); then the
    lamp that ends the file name."""
    name = str(header.get("OBJECT", "")).strip()
    if name and elements(name) and elements(name) <= _LAMP_ELEMENTS:
        return name
    return path.stem.rsplit("_", 1)[-1]


def read_template(path: str | Path) -> LampTemplate:
    """Read one library file into a :class:`LampTemplate`.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``goodman_comp_*.fits`` file: the lamp spectrum in the primary HDU, its
        Chebyshev solution in ``GSP_Cnnn`` and its lines in ``GSP_Pnnn`` (pixel) /
        ``GSP_Annn`` (Å) cards.

    Returns
    -------
    LampTemplate
        The flux, the library solution (and the corrected one when ``GSP_RORD`` is
        there, else ``None``), and the catalogued lines sorted by pixel.

    Raises
    ------
    ValueError
        The solution is not a Chebyshev1D.
    """
    from astropy.io import fits

    path = Path(path)
    with fits.open(path, memmap=False) as hdul:
        header = hdul[0].header
        flux = np.asarray(hdul[0].data, dtype=float)
    if str(header.get("GSP_FUNC", "")).strip() != "Chebyshev1D":
        raise ValueError(f"{path.name}: GSP_FUNC {header.get('GSP_FUNC')!r} is not Chebyshev1D")
    order = int(header["GSP_ORDR"])
    coefficients = np.array([float(header[f"GSP_C{i:03d}"]) for i in range(order + 1)])
    corrected = None
    if "GSP_RORD" in header:
        r_order = int(header["GSP_RORD"])
        corrected = np.array([float(header[f"GSP_R{i:03d}"]) for i in range(r_order + 1)])
    pixels, waves = [], []
    i = 0
    while f"GSP_P{i:03d}" in header or f"GSP_P{i + 1:03d}" in header:
        p, a = header.get(f"GSP_P{i:03d}"), header.get(f"GSP_A{i:03d}")
        if p is not None and a is not None and _float(a) > 0:
            pixels.append(_float(p))
            waves.append(_float(a))
        i += 1
    order_idx = np.argsort(pixels)
    return LampTemplate(
        file_name=path.name,
        lamp=_lamp_name(header, path),
        mode=normalize_mode(header.get("WAVMODE")),
        grating=str(header.get("GRATING", "")).strip(),
        filter2=str(header.get("FILTER2", "")).strip(),
        flux=flux,
        library_coefficients=coefficients,
        line_pixels=np.asarray(pixels)[order_idx],
        line_wavelengths=np.asarray(waves)[order_idx],
        corrected_coefficients=corrected,
        corrected_rms_pixel=float(header["GSP_RRMS"]) if "GSP_RRMS" in header else None,
        corrected_lines=int(header["GSP_RNLN"]) if "GSP_RNLN" in header else None,
        corrected_pixels=(
            (float(header["GSP_RPLO"]), float(header["GSP_RPHI"]))
            if corrected is not None and "GSP_RPLO" in header and "GSP_RPHI" in header
            else None
        ),
        ne_bulb=(
            (float(header["GSP_RNBO"]), float(header["GSP_RNBS"]))
            if corrected is not None and "GSP_RNBO" in header and "GSP_RNBS" in header
            else None
        ),
        cosmic_cleaned=cosmic_cleaned(header),
    )


@cache
def library() -> tuple[LampTemplate, ...]:
    """Read every template of the packaged library (once per process).

    Returns
    -------
    tuple of LampTemplate
        The templates, in file-name order.
    """
    return tuple(read_template(p) for p in sorted(lamp_dir().glob("goodman_comp_*.fits")))


def modes() -> tuple[str, ...]:
    """List the WAVMODEs the library covers.

    Returns
    -------
    tuple of str
        Canonical mode names (``"400_M2"``...), sorted.
    """
    return tuple(sorted({t.mode for t in library()}))


def templates_for_mode(mode: str) -> tuple[LampTemplate, ...]:
    """Select the templates of one WAVMODE (spelling variants accepted).

    Parameters
    ----------
    mode : str
        A WAVMODE in any spelling (``"400 m2"``).

    Returns
    -------
    tuple of LampTemplate
        The mode's templates (one per lamp); empty for a mode the library lacks.
    """
    wanted = normalize_mode(mode)
    return tuple(t for t in library() if t.mode == wanted)


def find_template(mode: str, lamp_elements: frozenset[str] | set[str] | None = None):
    """Choose the best template for a mode and a set of lamp elements.

    An exact element match wins; otherwise the template sharing the most elements with
    the arc (fewest extra ones on ties). With no elements known, the template with the
    most catalogued lines is taken.

    Parameters
    ----------
    mode : str
        The arc's WAVMODE, any spelling.
    lamp_elements : set of str or None
        Elements of the arc's lamps (``{"Hg", "Ar", "Ne"}``); ``None`` or empty when
        unknown.

    Returns
    -------
    LampTemplate or None
        The template; ``None`` when the mode has none, or none shares an element with the
        arc's lamps.
    """
    candidates = templates_for_mode(mode)
    if not candidates:
        return None
    if lamp_elements:
        wanted = frozenset(lamp_elements)

        def score(t: LampTemplate):
            return (t.elements == wanted, len(t.elements & wanted), -len(t.elements - wanted))

        best = max(candidates, key=score)
        return best if best.elements & wanted else None
    return max(candidates, key=lambda t: t.line_pixels.size)
