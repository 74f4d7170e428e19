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
    """Folder of the packaged lamp library."""
    return Path(str(resources.files("pipeline") / "data" / "lamps"))


def normalize_mode(value: str | None) -> str:
    """Canonical spelling of a WAVMODE: ``"400 M2"``, ``"400_m2"`` -> ``"400_M2"``."""
    if value is None:
        return ""
    return re.sub(r"[\s_]+", "_", str(value).strip()).upper()


def elements(lamp_name: str) -> frozenset[str]:
    """Elements named in a lamp name: ``"HgArNe"`` -> ``{"Hg", "Ar", "Ne"}``."""
    return frozenset(_ELEMENT.findall(lamp_name or ""))


def _is_true(value) -> bool:
    return str(value).strip().upper() in {"TRUE", "T", "1", "ON", "YES"}


def lamps_on(header) -> frozenset[str]:
    """Elements of the comparison lamps switched on in a header's ``LAMP_*`` keywords.

    Returns an empty set when no comparison lamp keyword says TRUE (for instance arcs
    from before the ``LAMP_*`` keywords existed); callers then fall back to the mode.
    """
    found: set[str] = set()
    for key, lamp in LAMP_KEYWORDS.items():
        if key in header and _is_true(header[key]):
            found |= elements(lamp)
    return frozenset(found)


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
        return chebyshev.chebval(
            np.asarray(unbinned_pixel, dtype=float), self.library_coefficients
        )

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
    """Read one library file into a :class:`LampTemplate`."""
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
    )


@cache
def library() -> tuple[LampTemplate, ...]:
    """Every template of the packaged library (read once per process)."""
    return tuple(read_template(p) for p in sorted(lamp_dir().glob("goodman_comp_*.fits")))


def modes() -> tuple[str, ...]:
    """The WAVMODEs the library covers."""
    return tuple(sorted({t.mode for t in library()}))


def templates_for_mode(mode: str) -> tuple[LampTemplate, ...]:
    """Templates of one WAVMODE (spelling variants accepted)."""
    wanted = normalize_mode(mode)
    return tuple(t for t in library() if t.mode == wanted)


def find_template(mode: str, lamp_elements: frozenset[str] | set[str] | None = None):
    """The best template for a mode and a set of lamp elements, or ``None``.

    An exact element match wins; otherwise the template sharing the most elements with
    the arc (fewest extra ones on ties). With no elements known, the template with the
    most catalogued lines is taken.
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
