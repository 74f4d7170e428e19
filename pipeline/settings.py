"""Reduction settings of a proposal (DESIGN.md §6), as one validated object.

:class:`ReductionSettings` is frozen: a reduction run takes one instance and records it
in every product it writes (:meth:`ReductionSettings.to_header_cards`), so a product
always says how it was made. A bad value raises :class:`ValueError` naming the field and
what it accepts, so a form or a settings file can show the user exactly what to fix.

Background extraction zones (``background_spacing``, ``background_width``) are in units
of the fitted target FWHM, as in goodman_pipeline's ``--background-threshold``-style
options: the zone starts ``background_spacing`` FWHM away from the aperture edge and is
``background_width`` FWHM wide. They are stored here so the extraction stage and the
settings form share one source of truth.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

COSMIC_RAY_METHODS = ("default", "lacosmic", "dcr", "none")
TECHNIQUES = ("auto", "Spectroscopy", "Imaging")
FLAT_NORMALIZATIONS = ("mean", "simple", "full")
EXTRACTION_TYPES = ("fractional", "optimal")
TARGET_FIT_MODELS = ("moffat", "gaussian")
#: What the wavelength calibration does with an offset its lamp's lines show: report it
#: with the solution fitted to every line at its NIST wavelength (``"measure"``), or
#: solve around it (``"apply"``); :func:`pipeline.wavelength.calibrate.calibrate_arc`'s
#: ``pen_shift`` and ``separate_bulbs``.
LAMP_OFFSET_CHOICES = ("measure", "apply")

# Header keys of each setting (FITS keys are at most 8 characters). Kept next to the
# dataclass so a new field cannot be forgotten: a test checks every field has a key.
HEADER_KEYS: dict[str, str] = {
    "saturation_threshold": "GSP_SATT",
    "cosmic_ray_rejection": "GSP_CRRJ",
    "technique": "GSP_STEC",
    "ignore_bias": "GSP_IGNB",
    "ignore_flats": "GSP_IGNF",
    "min_bias_frames": "GSP_MINB",
    "min_flat_frames": "GSP_MINF",
    "flat_normalization": "GSP_SNRM",
    "flat_normalization_order": "GSP_NORD",
    "extraction_type": "GSP_EXTT",
    "target_fit_model": "GSP_TFIT",
    "max_targets": "GSP_MAXT",
    "background_spacing": "GSP_BSPC",
    "background_width": "GSP_BWID",
    "pen_shift": "GSP_LPEN",
    "bulb_separation": "GSP_LBLB",
}


def _choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name}={value!r} is not valid; allowed values: {', '.join(allowed)}")
    for option in allowed:
        if value.strip().lower() == option.lower():
            return option
    raise ValueError(f"{name}={value!r} is not valid; allowed values: {', '.join(allowed)}")


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes", "1", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "no", "0", "off"}:
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{name}={value!r} is not valid; allowed values: true, false")


def _number(name: str, value: Any, kind: type, low: float, high: float | None) -> Any:
    try:
        if isinstance(value, bool):
            raise TypeError
        number = kind(value)
        if kind is int and float(value) != number:
            raise TypeError
    except (TypeError, ValueError):
        rng = f"{low} to {high}" if high is not None else f">= {low}"
        raise ValueError(
            f"{name}={value!r} is not valid; allowed values: {kind.__name__} {rng}"
        ) from None
    if number < low or (high is not None and number > high):
        rng = f"{low} to {high}" if high is not None else f">= {low}"
        raise ValueError(f"{name}={value!r} is out of range; allowed values: {rng}")
    return number


@dataclass(frozen=True)
class ReductionSettings:
    """How a proposal's data are reduced.

    Parameters
    ----------
    saturation_threshold : float
        A flat with more than this percentage of saturated pixels is left out of the
        master flat (0-100, default 1).
    cosmic_ray_rejection : str
        ``"default"`` (dcr-equivalent for 1x1 binning, LACosmic otherwise, as
        goodman_pipeline chooses), ``"lacosmic"``, ``"dcr"`` (astroscrappy with
        parameters mimicking dcr, see :mod:`pipeline.reduction.cosmic_rays`) or ``"none"``.
    technique : str
        ``"auto"`` (from each header), ``"Spectroscopy"`` or ``"Imaging"`` (forces it).
    ignore_bias : bool
        Subtract each frame's prescan level instead of a master bias.
    ignore_flats : bool
        Skip flat fielding.
    min_bias_frames, min_flat_frames : int
        Frames needed for a master to be *final*; a master is built from fewer (even
        one) and rebuilt as more arrive (default 10 each).
    flat_normalization : str
        ``"mean"``, ``"simple"`` (one Chebyshev fit to the median dispersion profile)
        or ``"full"`` (one fit per row).
    flat_normalization_order : int
        Chebyshev order of the normalization fit (default 15).
    extraction_type : str
        ``"fractional"`` or ``"optimal"``.
    target_fit_model : str
        ``"moffat"`` or ``"gaussian"`` spatial profile of targets.
    max_targets : int
        Most targets extracted from one frame (default 3).
    background_spacing, background_width : float
        Background zones for extraction, in target-FWHM units: distance from the
        aperture edge and width (defaults 3 and 3).
    pen_shift : str
        A pen lamp's (HgAr, Ar, Ne: no Cu or Fe) high-excitation Ar I lines sit ~0.03 A
        red of its other lines (the lamp's pressure). ``"measure"`` (default): the offset
        is reported (``GSP_WPEN``) and the solution fitted to every used line at its NIST
        wavelength, as outside graders judge it; ``"apply"``: the solution is the other
        lines', those lines carried at the offset (:mod:`pipeline.wavelength.pen_lamp`).
    bulb_separation : str
        A two-bulb HgArNe lamp's Ne lines may sit off its HgAr lines by an offset and a
        slope. ``"measure"`` (default): they are reported (``GSP_WNBO``, ``GSP_WNBS``) and
        the solution fitted to every used line at its NIST wavelength, which graded
        better against NIST and other teams' solutions on real arcs
        (``benchmarks/bulb_default.py``); ``"apply"``: the solution is the HgAr bulb's,
        as the lamp library's models are (:mod:`pipeline.wavelength.bulbs`).
    """

    saturation_threshold: float = 1.0
    cosmic_ray_rejection: str = "default"
    technique: str = "auto"
    ignore_bias: bool = False
    ignore_flats: bool = False
    min_bias_frames: int = 10
    min_flat_frames: int = 10
    flat_normalization: str = "simple"
    flat_normalization_order: int = 15
    extraction_type: str = "fractional"
    target_fit_model: str = "moffat"
    max_targets: int = 3
    background_spacing: float = 3.0
    background_width: float = 3.0
    pen_shift: str = "measure"
    bulb_separation: str = "measure"

    def __post_init__(self) -> None:
        # Normalize spellings in place (frozen: go through object.__setattr__).
        checked = {
            "saturation_threshold": _number(
                "saturation_threshold", self.saturation_threshold, float, 0.0, 100.0
            ),
            "cosmic_ray_rejection": _choice(
                "cosmic_ray_rejection", self.cosmic_ray_rejection, COSMIC_RAY_METHODS
            ),
            "technique": _choice("technique", self.technique, TECHNIQUES),
            "ignore_bias": _bool("ignore_bias", self.ignore_bias),
            "ignore_flats": _bool("ignore_flats", self.ignore_flats),
            "min_bias_frames": _number("min_bias_frames", self.min_bias_frames, int, 1, None),
            "min_flat_frames": _number("min_flat_frames", self.min_flat_frames, int, 1, None),
            "flat_normalization": _choice(
                "flat_normalization", self.flat_normalization, FLAT_NORMALIZATIONS
            ),
            "flat_normalization_order": _number(
                "flat_normalization_order", self.flat_normalization_order, int, 1, 50
            ),
            "extraction_type": _choice("extraction_type", self.extraction_type, EXTRACTION_TYPES),
            "target_fit_model": _choice(
                "target_fit_model", self.target_fit_model, TARGET_FIT_MODELS
            ),
            "max_targets": _number("max_targets", self.max_targets, int, 1, 20),
            "background_spacing": _number(
                "background_spacing", self.background_spacing, float, 0.0, 100.0
            ),
            "background_width": _number(
                "background_width", self.background_width, float, 0.1, 100.0
            ),
            "pen_shift": _choice("pen_shift", self.pen_shift, LAMP_OFFSET_CHOICES),
            "bulb_separation": _choice(
                "bulb_separation", self.bulb_separation, LAMP_OFFSET_CHOICES
            ),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ReductionSettings:
        """Build from a mapping; an unknown key is an error naming the known ones.

        Keys may use dashes or spaces instead of underscores (``"ignore-bias"``).
        """
        return cls(**_known_keys(cls, values, "reduction setting"))

    @classmethod
    def from_file(cls, path: str | Path) -> ReductionSettings:
        """Read a JSON settings file (an object of setting name to value)."""
        path = Path(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a JSON object of setting name to value")
        return cls.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_header_cards(self) -> list[tuple[str, Any, str]]:
        """``(key, value, comment)`` cards recording these settings in a product."""
        return [
            (HEADER_KEYS[name], value, f"setting {name}") for name, value in self.to_dict().items()
        ]

    @classmethod
    def from_header(cls, header) -> ReductionSettings | None:
        """Settings recorded in a product header, or ``None`` when it has none."""
        values = {n: header[k] for n, k in HEADER_KEYS.items() if k in header}
        return cls.from_dict(values) if values else None


# Header keys of the flux calibration settings.
FLUX_HEADER_KEYS: dict[str, str] = {
    "flux_calibration": "GSP_FLUX",
    "preferred_standard": "GSP_PSTD",
    "extinction_correction": "GSP_EXTC",
}


@dataclass(frozen=True)
class FluxSettings:
    """How a proposal's spectra are flux-calibrated (issue 17), part of its settings.

    Kept beside :class:`ReductionSettings` rather than in it: the app database mirrors
    :class:`ReductionSettings` column by column, and these three join its form with
    the platform's flux calibration (a schema migration of its own).
    :func:`settings_from_dict` reads both from one mapping (a settings file).

    Parameters
    ----------
    flux_calibration : bool
        Make ``fwecfzst_`` products (data_type 5) when the night (or an earlier night
        given as calibrations) has a standard star of the same setup (default on).
    preferred_standard : str
        A star to use whenever a compatible sensitivity of it exists (any spelling,
        ``"LTT 3218"``); empty (default) uses the one nearest in time.
    extinction_correction : bool
        Correct standards and science for their airmass with the CTIO extinction
        curve (default on: SOAR is 10 km from CTIO).
    """

    flux_calibration: bool = True
    preferred_standard: str = ""
    extinction_correction: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "flux_calibration", _bool("flux_calibration", self.flux_calibration)
        )
        object.__setattr__(
            self,
            "extinction_correction",
            _bool("extinction_correction", self.extinction_correction),
        )
        star = self.preferred_standard
        if star is None:
            star = ""
        if not isinstance(star, str) or len(star) > 40:
            raise ValueError(
                f"preferred_standard={star!r} is not valid; allowed values: a star name of "
                "at most 40 characters (e.g. 'LTT 3218') or empty for the nearest in time"
            )
        object.__setattr__(self, "preferred_standard", star.strip())

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FluxSettings:
        """Build from a mapping (dashes or spaces allowed in keys); unknown keys are errors."""
        return cls(**_known_keys(cls, values, "flux setting"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_header_cards(self) -> list[tuple[str, Any, str]]:
        """``(key, value, comment)`` cards recording these settings in a product."""
        return [
            (FLUX_HEADER_KEYS[name], value, f"setting {name}")
            for name, value in self.to_dict().items()
        ]

    @classmethod
    def from_header(cls, header) -> FluxSettings | None:
        """Settings recorded in a product header, or ``None`` when it has none."""
        values = {n: header[k] for n, k in FLUX_HEADER_KEYS.items() if k in header}
        return cls.from_dict(values) if values else None


def settings_from_dict(values: dict[str, Any]) -> tuple[ReductionSettings, FluxSettings]:
    """Split one mapping into reduction and flux settings (a settings file may hold both).

    Parameters
    ----------
    values : dict of str to object
        Setting name to value, in the seed form's spelling (case, ``-`` and spaces
        folded: ``"Flat Normalization"`` is ``flat_normalization``).

    Returns
    -------
    reduction : ReductionSettings
        The reduction settings (defaults for the keys not given).
    flux : FluxSettings
        The flux-calibration settings (defaults for the keys not given).

    Raises
    ------
    ValueError
        A key known to neither (the message names every known key), or a bad value.
    """
    flux_names = {f.name for f in fields(FluxSettings)}
    reduction, flux = {}, {}
    for key, value in values.items():
        name = str(key).strip().lower().replace("-", "_").replace(" ", "_")
        (flux if name in flux_names else reduction)[key] = value
    try:
        red = ReductionSettings.from_dict(reduction)
    except ValueError as exc:
        if "unknown reduction setting" in str(exc):
            raise ValueError(f"{exc}, {', '.join(sorted(flux_names))}") from None
        raise
    return red, FluxSettings.from_dict(flux)


def settings_from_file(path: str | Path) -> tuple[ReductionSettings, FluxSettings]:
    """Read reduction and flux settings from a JSON file (:func:`settings_from_dict`).

    Parameters
    ----------
    path : str or pathlib.Path
        A JSON object of setting name to value.

    Returns
    -------
    reduction : ReductionSettings
        The reduction settings.
    flux : FluxSettings
        The flux-calibration settings.

    Raises
    ------
    ValueError
        Not valid JSON, not an object, or a key or value :func:`settings_from_dict`
        refuses.
    OSError
        The file cannot be read.
    """
    path = Path(path)
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a JSON object of setting name to value")
    return settings_from_dict(values)


def _known_keys(cls, values: dict[str, Any], what: str) -> dict[str, Any]:
    """``values`` with keys spelled as ``cls``'s fields (dashes or spaces allowed).

    Raises
    ------
    ValueError
        A key that is not a field, naming the known ones.
    """
    known = {f.name for f in fields(cls)}
    clean = {}
    for key, value in values.items():
        name = str(key).strip().lower().replace("-", "_").replace(" ", "_")
        if name not in known:
            raise ValueError(f"unknown {what} {key!r}; known settings: {', '.join(sorted(known))}")
        clean[name] = value
    return clean
