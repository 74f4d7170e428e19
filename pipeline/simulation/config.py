"""What night to simulate: :class:`NightConfig` and its validation.

Every bad value raises :class:`SimulationConfigError` naming the field, the value and
the allowed values, so the CLI can print it and exit without writing anything.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pipeline import instrument, lamps

#: OBSTYPE conventions: "goodman" is what the instrument writes (as in the 2024 real
#: header: BIAS/FLAT/COMP/OBJECT), "lco" the LCO-style names some Goodman data carry
#: (BIAS/LAMPFLAT/ARC/SPECTRUM), "old" the spellings of older real files
#: (ZERO/LAMPFLAT/ARC/SPECTRUM); "mixed" alternates goodman and lco frame by frame.
OBSTYPE_CONVENTIONS = ("goodman", "lco", "old", "mixed")
#: Where arcs come from: "library" templates (flux and stored solution), or "physical"
#: truth: NIST lines at the optics model's relation perturbed by a smooth distortion.
ARC_SOURCES = ("library", "physical")

OBSTYPES: dict[str, dict[str, str]] = {
    "goodman": {
        "bias": "BIAS",
        "flat": "FLAT",
        "arc": "COMP",
        "science": "OBJECT",
        "standard": "OBJECT",
        "skyflat": "FLAT",
        "expose": "EXPOSE",
    },
    "lco": {
        "bias": "BIAS",
        "flat": "LAMPFLAT",
        "arc": "ARC",
        "science": "SPECTRUM",
        "standard": "SPECTRUM",
        "skyflat": "SKYFLAT",
        "expose": "EXPOSE",
    },
    "old": {
        "bias": "ZERO",
        "flat": "LAMPFLAT",
        "arc": "ARC",
        "science": "SPECTRUM",
        "standard": "SPECTRUM",
        "skyflat": "SKYFLAT",
        "expose": "EXPOSE",
    },
}

#: Default readout mode of each camera (``ReadoutMode.name``).
DEFAULT_READOUT = {"Red": "Red 344kHz ATTN3", "Blue": "Blue 100kHz ATTN2"}


class SimulationConfigError(ValueError):
    """A night configuration value that cannot be simulated."""


def readout_mode_names(camera: str | None = None) -> tuple[str, ...]:
    """Names of the readout modes (of one camera, or all).

    Parameters
    ----------
    camera : str, optional
        ``"Blue"`` or ``"Red"``; all modes when ``None``.

    Returns
    -------
    tuple of str
    """
    return tuple(m.name for m in instrument.READOUT_MODES if camera is None or m.camera == camera)


@dataclass(frozen=True)
class NightConfig:
    """One simulated Goodman night.

    Parameters
    ----------
    mode : str
        WAVMODE of the lamp library (``pipeline.lamps.modes()``), e.g. ``"400_M2"``.
    camera : str
        ``"Red"`` or ``"Blue"``.
    binning : int
        1, 2 or 3 (same along both axes).
    lamp : str or None
        Comparison lamp, e.g. ``"HgArNe"``; ``None`` takes the mode's template with the
        most catalogued lines. Must exist in the library for ``mode``.
    n_bias, n_flats, n_arcs, n_science, n_standards : int
        Frames of each kind. Arcs are all taken just before the science frames.
    imaging : bool
        Simulate an imaging night instead (ROI "Imaging <b>x<b>"): bias, sky flats and
        ``n_science`` EXPOSE frames of a star field; arcs and standards are not taken.
    flexure_px : float or sequence of float
        Shift of the spectrum along the dispersion axis, in UNBINNED pixels (a feature
        at unbinned template pixel ``p`` lands at unbinned ``p + flexure``). A sequence
        gives one value per arc/science/standard frame in observing order. Flats and
        bias use the first value.
    flexure_jitter_px : float
        Standard deviation (unbinned px) of an extra random shift drawn per frame.
    tilt : float
        Line tilt: a feature at column ``x`` on the slit-centre row is at
        ``x + tilt * (row - slit_centre_row)`` on other rows (binned px per binned row).
    readout : str or None
        Readout mode name (``"Red 344kHz ATTN3"``; the camera prefix is optional);
        ``None`` takes the camera's default.
    obstype_convention : str
        One of :data:`OBSTYPE_CONVENTIONS`.
    n_targets : int
        Point sources on each science frame (1 to 3).
    redshift : float
        Redshift of the science target's emission lines.
    slit_arcsec, seeing_arcsec : float
        Slit width (sets the line FWHM) and seeing FWHM (sets the trace FWHM).
    science_object : str
        OBJECT of the science frames (also used in file names).
    science_exptime, arc_exptime, flat_exptime, standard_exptime : float
        Exposure times (s).
    cosmic_rate : float
        Cosmic-ray events per second of exposure on a full frame.
    noise : bool
        ``False`` gives noise-free frames: no photon or read noise, no cosmic rays
        (bias structure, pixel response and 16-bit rounding stay).
    date : str
        Local date of the night's start (``YYYY-MM-DD``), as in file names.
    proposal_id : str
        PROPID of the science and standard frames (calibrations too).
    seed : int
        Seed of the single random generator of the night.
    arc_source : str
        One of :data:`ARC_SOURCES`. With ``"physical"`` the true wavelength relation
        of every frame (arcs, flats, sky, targets) is the optics model of the setup
        perturbed by a smooth distortion, and arcs hold the NIST lines of the lamp
        (see :mod:`pipeline.simulation.physical`); the library lamp gives intensities.
    truth_distortion_px : float
        Scale (unbinned px) of that distortion (``"physical"`` only).
    n_saturated_lines : int
        Brightest arc lines driven past saturation (``"physical"`` only).
    grating_angle, camera_angle : float or None
        Custom angles (degrees) with no library lamp: the arc is NIST lines at the
        optics model of these angles (needs ``arc_source="physical"``); the mode's
        library lamp still gives the grating, filter and line intensities.
    wavmode_card : str or None
        WAVMODE written in the headers (``"Custom"``, ``"400 m2"``, ``""``); ``None``
        writes the mode (``"Custom"`` with custom angles).
    lamp_keywords : bool
        ``False`` writes no LAMP_* cards (older files: the lamp only in OBJECT).
    roi_rows : int or None
        A custom ROI: this many UNBINNED chip rows centred on the slit centre (real
        ``Spectroscopic ZZ Ceti``: 400, i.e. 200 rows at 2x2); ``None``: the full
        spectroscopic ROI.
    roi_name : str or None
        ROI card of a custom ROI (default ``"user-defined"``).
    trimsec_card : str or None
        TRIMSEC written in the headers instead of the true one (real files often carry
        the unbinned full chip, ``[1:4142,1:400]``, whatever the binning).
    arc_serial_binning : int or None
        Binning along the dispersion of the arcs only (``1``: arcs at CCDSUM ``1 2``
        with a 2x2 night); ``None``: the night's binning.
    instrume_card : str or None
        INSTRUME written in the headers (real files: ``ghts_red``, ``Goodman Spectro``,
        ``Goodman Spectrograph``); ``None``: ``ghts_red`` / ``ghts_blue``.
    standard_airmass : float or None
        Observe the library standard whose airmass at its time is nearest this value
        (1 to 3), to test flux calibration across airmasses; ``None``: the standard
        nearest the meridian.
    """

    mode: str = "400_M2"
    camera: str = "Red"
    binning: int = 2
    lamp: str | None = None
    n_bias: int = 5
    n_flats: int = 5
    n_arcs: int = 2
    n_science: int = 2
    n_standards: int = 0
    imaging: bool = False
    flexure_px: float | Sequence[float] = 0.0
    flexure_jitter_px: float = 0.0
    tilt: float = 0.002
    readout: str | None = None
    obstype_convention: str = "goodman"
    n_targets: int = 1
    redshift: float = 0.02
    slit_arcsec: float = 1.0
    seeing_arcsec: float = 1.0
    science_object: str = "AT2026xyz"
    science_exptime: float = 600.0
    arc_exptime: float = 2.0
    flat_exptime: float = 5.0
    standard_exptime: float = 60.0
    cosmic_rate: float = 0.5
    noise: bool = True
    date: str = "2026-11-21"
    proposal_id: str = "SOAR2026B-001"
    seed: int = 0
    arc_source: str = "library"
    truth_distortion_px: float = 2.0
    n_saturated_lines: int = 3
    grating_angle: float | None = None
    camera_angle: float | None = None
    wavmode_card: str | None = None
    lamp_keywords: bool = True
    roi_rows: int | None = None
    roi_name: str | None = None
    trimsec_card: str | None = None
    arc_serial_binning: int | None = None
    instrume_card: str | None = None
    standard_airmass: float | None = None

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if not isinstance(d["flexure_px"], int | float):
            d["flexure_px"] = [float(v) for v in d["flexure_px"]]
        return d


def _fail(name: str, value, allowed) -> None:
    raise SimulationConfigError(f"{name} {value!r} is not supported; allowed: {allowed}")


def _is_count(value, low: int = 0, high: float = float("inf")) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _camera(cfg: NightConfig) -> str:
    camera = str(cfg.camera).strip().capitalize()
    if camera not in instrument.CAMERAS:
        _fail("camera", cfg.camera, ", ".join(instrument.CAMERAS))
    return camera


def _binning(cfg: NightConfig) -> int:
    try:
        binning = int(str(cfg.binning).strip())
    except ValueError:
        binning = None
    if binning not in instrument.BINNINGS:
        _fail("binning", cfg.binning, ", ".join(str(b) for b in instrument.BINNINGS))
    return binning


def _mode_and_lamp(cfg: NightConfig) -> tuple[str, str | None]:
    mode = lamps.normalize_mode(cfg.mode)
    if mode not in lamps.modes():
        _fail("mode", cfg.mode, ", ".join(lamps.modes()))
    lamp = cfg.lamp
    if lamp is not None and not cfg.imaging:
        names = {lamp_name(t): t for t in lamps.templates_for_mode(mode)}
        match = [n for n in names if n.lower() == str(lamp).strip().lower()]
        if not match:
            _fail(f"lamp (for mode {mode})", lamp, ", ".join(sorted(names)))
        lamp = match[0]
    return mode, lamp


def _validate_counts(cfg: NightConfig) -> None:
    for name in ("n_bias", "n_flats", "n_arcs", "n_science", "n_standards"):
        if not _is_count(getattr(cfg, name)):
            _fail(name, getattr(cfg, name), "an integer >= 0")
    if not 1 <= int(cfg.n_targets) <= 3:
        _fail("n_targets", cfg.n_targets, "1, 2 or 3")


def _validate_scene(cfg: NightConfig, camera: str) -> None:
    """Conventions, readout, date, object name, exposure, redshift, airmass."""
    if cfg.obstype_convention not in OBSTYPE_CONVENTIONS:
        _fail("obstype_convention", cfg.obstype_convention, ", ".join(OBSTYPE_CONVENTIONS))
    if cfg.readout is not None:
        find_readout(camera, cfg.readout)
    try:
        _dt.date.fromisoformat(str(cfg.date))
    except ValueError:
        _fail("date", cfg.date, "an ISO date YYYY-MM-DD")
    if not re.fullmatch(r"[A-Za-z0-9_.+\-]+", cfg.science_object.replace(" ", "_")):
        _fail("science_object", cfg.science_object, "letters, digits, _ . + -")
    for name in ("slit_arcsec", "seeing_arcsec", "science_exptime", "arc_exptime"):
        if not float(getattr(cfg, name)) > 0:
            _fail(name, getattr(cfg, name), "a number > 0")
    if not 0 <= float(cfg.redshift) < 5:
        _fail("redshift", cfg.redshift, "0 <= z < 5")
    if cfg.standard_airmass is not None and not 1.0 <= float(cfg.standard_airmass) <= 3.0:
        _fail("standard_airmass", cfg.standard_airmass, "a number from 1 to 3, or None")


def _validate_flexure(cfg: NightConfig) -> None:
    n_shifted = 0 if cfg.imaging else cfg.n_arcs + cfg.n_science + cfg.n_standards
    if not isinstance(cfg.flexure_px, int | float):
        values = list(cfg.flexure_px)
        if len(values) != n_shifted:
            raise SimulationConfigError(
                f"flexure_px has {len(values)} values; give one per arc/science/standard "
                f"frame ({n_shifted}) or a single number"
            )


def validate(cfg: NightConfig) -> NightConfig:
    """Check every field; return a copy with spellings normalized (mode, camera, lamp).

    Parameters
    ----------
    cfg : NightConfig

    Returns
    -------
    NightConfig

    Raises
    ------
    SimulationConfigError
        Naming the first bad field, its value and what would be right.
    """
    camera = _camera(cfg)
    binning = _binning(cfg)
    mode, lamp = _mode_and_lamp(cfg)
    _validate_counts(cfg)
    _validate_scene(cfg, camera)
    _validate_truth(cfg, camera)
    _validate_flexure(cfg)
    return dataclasses.replace(cfg, camera=camera, binning=binning, mode=mode, lamp=lamp)


def _validate_truth(cfg: NightConfig, camera: str) -> None:
    """The physical-truth fields: source, distortion, saturation, ROI, custom angles."""
    if cfg.arc_source not in ARC_SOURCES:
        _fail("arc_source", cfg.arc_source, ", ".join(ARC_SOURCES))
    if not 0 <= float(cfg.truth_distortion_px) <= 20:
        _fail("truth_distortion_px", cfg.truth_distortion_px, "0 .. 20 unbinned px")
    if not _is_count(cfg.n_saturated_lines, 0, 10):
        _fail("n_saturated_lines", cfg.n_saturated_lines, "an integer 0 .. 10")
    _validate_readout_geometry(cfg)
    _validate_custom_angles(cfg, camera)


def _validate_readout_geometry(cfg: NightConfig) -> None:
    if cfg.roi_rows is not None and not _is_count(cfg.roi_rows, 40, 1896):
        _fail("roi_rows", cfg.roi_rows, "an integer 40 .. 1896 (unbinned chip rows)")
    if cfg.arc_serial_binning is not None and cfg.arc_serial_binning not in instrument.BINNINGS:
        _fail(
            "arc_serial_binning",
            cfg.arc_serial_binning,
            ", ".join(str(b) for b in instrument.BINNINGS),
        )
    if cfg.imaging and (cfg.roi_rows is not None or cfg.arc_serial_binning is not None):
        raise SimulationConfigError(
            "roi_rows and arc_serial_binning are spectroscopic settings; an imaging night "
            "takes neither"
        )


def _validate_custom_angles(cfg: NightConfig, camera: str) -> None:
    custom = (cfg.grating_angle, cfg.camera_angle)
    if custom == (None, None):
        return
    if None in custom:
        raise SimulationConfigError(
            "grating_angle and camera_angle go together: give both (degrees) or neither"
        )
    if cfg.arc_source != "physical":
        _fail("arc_source (with custom angles)", cfg.arc_source, "physical")
    if cfg.imaging:
        raise SimulationConfigError("custom grating angles make no sense for an imaging night")
    from pipeline.optics import OpticsError, dispersion_model, lines_per_mm

    template = lamps.find_template(lamps.normalize_mode(cfg.mode))
    lpm = lines_per_mm(template.grating) if template is not None else None
    try:
        dispersion_model(lpm, cfg.grating_angle, cfg.camera_angle, camera)
    except OpticsError as exc:
        raise SimulationConfigError(f"custom angles: {exc}") from exc


def find_readout(camera: str, name: str | None) -> instrument.ReadoutMode:
    """The readout mode called ``name`` (camera prefix optional) of ``camera``.

    Parameters
    ----------
    camera : str
    name : str or None
        The mode's name; ``None`` for the camera's default.

    Returns
    -------
    pipeline.instrument.ReadoutMode

    Raises
    ------
    SimulationConfigError
        Naming the allowed modes when ``name`` is not one of ``camera``'s.
    """
    wanted = DEFAULT_READOUT[camera] if name is None else str(name).strip()
    for m in instrument.READOUT_MODES:
        if m.camera != camera:
            continue
        if wanted.lower() in {m.name.lower(), m.name.lower().split(" ", 1)[1]}:
            return m
    raise SimulationConfigError(
        f"readout {name!r} is not a mode of the {camera} camera; allowed: "
        + ", ".join(readout_mode_names(camera))
    )


def lamp_name(template: lamps.LampTemplate) -> str:
    """The comparison lamp of a template.

    A few library files carry a target name in OBJECT (e.g. ``Gaia24asr``); their file
    name ends with the lamp (``..._HgArNe.fits``), which is then used.

    Parameters
    ----------
    template : pipeline.lamps.LampTemplate

    Returns
    -------
    str
        E.g. ``"HgArNe"``.
    """
    known = {"Hg", "Ar", "Ne", "Fe", "He", "Cu"}
    name = template.lamp
    if name and lamps.elements(name) and lamps.elements(name) <= known:
        return name
    return template.file_name.rsplit("_", 1)[-1].removesuffix(".fits")
