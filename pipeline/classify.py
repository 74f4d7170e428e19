"""Classify one Goodman file from its header alone.

:func:`classify` takes a header (or a path) and returns a :class:`Classification`:
the observing technique, the frame's role in a night, the keys that decide which
calibrations fit it, and a ``status`` that is ``"ok"`` or says why the file cannot be
used. It never raises on a readable header; :func:`classify_path` also turns unreadable
files (not FITS, truncated) into a status, so one bad file never stops a night.

Contract (others rely on it)
----------------------------
``Classification`` is a frozen dataclass with, at least:

- ``technique``: ``"Spectroscopy"`` or ``"Imaging"``;
- ``role``: ``"bias"``, ``"flat"``, ``"arc"``, ``"science"``, ``"standard"`` or ``"other"``
  (focus, acquisition, dark, anything unknown); ``engineering`` says why a FOCUS or
  acquisition frame is one (registered, never reduced as science);
- ``status``: ``"ok"`` or a reason (``"cannot classify: missing OBSRA"``,
  ``"cannot classify: GAIN=0 is not a gain: ..."``, ``"cannot read: not a FITS file"``);
- readout keys ``instconf`` (= ``camera``), ``gain``, ``rdnoise``, ``roi``, ``ccdsum``,
  ``binning`` as (columns, rows);
- optics keys ``grating`` (canonical, ``400_SYZY``), ``cam_targ``, ``grt_targ``,
  ``filter``, ``filter2``, ``slit``, ``wavmode`` (normalised, or ``"unknown"``), and for
  the optics model ``lines_per_mm``, ``grating_angle`` (GRT_ANG, else GRT_TARG) and
  ``camera_angle`` (CAM_ANG, else CAM_TARG); the raw ``grating_raw``/``wavmode_raw``;
- ``lamps`` (elements) and ``lamp_names``/``lamp_source`` (``LAMP_*`` or ``OBJECT``);
- ``decisions``: every header value that had to be interpreted, in words;
- ``obstype``, ``object``, ``date_obs``, ``saturation``, ``proposal_id``;
- ``rlevel``: 0 for raw files, ``60 + data_type`` for products of this pipeline;
- ``readout_key`` (master bias grouping) and ``optics_key`` (added to ``readout_key`` for
  master flats), tuples of normalized, case-folded values.

The spelling rules (OBSTYPE, GRATING, WAVMODE, lamps, camera, slit, angles, binning)
live in :mod:`pipeline.header_normalization`, one place for each rule. An ``OBJECT``
frame named like a spectrophotometric standard of the flux library (``LTT 3218``,
``EG 274``...), or pointed (OBSRA/OBSDEC) within 30" of one, is a ``standard``
(:func:`pipeline.fluxcal.standards.find_standard`).

Which keywords each role needs (a missing one gives ``cannot classify: missing KEY``):
every role needs OBSTYPE, GAIN, RDNOISE, DATE-OBS and the binning (CCDSUM, ROI, or a
full-readout width); spectroscopic flats, arcs and science frames also need GRATING and
SLIT; science and standards need OBSRA and OBSDEC (the archive record and target
identity need them).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from pipeline.header_normalization import (
    OBSTYPE_ROLE,
    ROLE_OBSTYPE,
    normalize_header,
    standard_star_names,  # noqa: F401 - re-exported: callers ask classify for it
)
from pipeline.instrument import DIGITAL_SATURATION_ADU, half_well_level, saturation_level
from pipeline.reduction.geometry import full_width
from pipeline.vocabulary import FrameRole, Technique

TECHNIQUES = tuple(Technique)
ROLES = tuple(FrameRole)

# The spelling rules live in pipeline.header_normalization (one place for each rule);
# these names stay importable from here for the API layer.
_OBSTYPE_ROLE = OBSTYPE_ROLE
_ROLE_OBSTYPE = ROLE_OBSTYPE


@dataclass(frozen=True)
class Classification:
    """What one file is, for calibration and reduction. See the module docstring."""

    path: str
    file_name: str
    status: str = "ok"
    technique: str = ""
    role: str = "other"
    obstype: str = ""
    obstype_raw: str = ""
    object: str = ""
    instconf: str = ""
    gain: float | None = None
    rdnoise: float | None = None
    roi: str = ""
    ccdsum: str = ""
    binning: tuple[int, int] = (1, 1)
    grating: str = ""
    cam_targ: float | None = None
    grt_targ: float | None = None
    filter: str = ""
    filter2: str = ""
    slit: str = ""
    wavmode: str = ""
    date_obs: datetime | None = None
    exptime: float | None = None
    obsra: str = ""
    obsdec: str = ""
    proposal_id: str = ""
    saturation: int = DIGITAL_SATURATION_ADU
    # goodman_pipeline's half full well: the flat check's level, not a pixel's saturation.
    half_well: int = DIGITAL_SATURATION_ADU
    trimsec: str = ""
    shape: tuple[int, int] | None = None
    lamps: frozenset[str] = frozenset()
    rlevel: int = 0
    warnings: tuple[str, ...] = field(default=())
    # Normalised optics values (pipeline.header_normalization), for the optics model.
    lines_per_mm: float | None = None
    grating_angle: float | None = None
    camera_angle: float | None = None
    grating_raw: str = ""
    wavmode_raw: str = ""
    slit_width: float | None = None
    lamp_names: tuple[str, ...] = ()
    lamp_source: str = ""
    #: Why the frame is an engineering frame (focus sequence, acquisition), else "".
    engineering: str = ""
    #: Every header value the normaliser had to interpret, in words.
    decisions: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def readout_key(self) -> tuple:
        """Frames with equal readout keys can share a master bias."""
        return (
            self.instconf.upper(),
            self.gain,
            self.rdnoise,
            self.roi.upper(),
            self.binning,
        )

    @property
    def optics_key(self) -> tuple:
        """With :attr:`readout_key`, frames with equal optics keys can share a flat."""
        if self.technique == "Imaging":
            return ("Imaging", self.filter.upper(), self.filter2.upper())
        # No WAVMODE: it is a label of the grating and angles below, often empty,
        # "Custom" or wrong in real headers; the optics decide which flat fits.
        return (
            "Spectroscopy",
            self.grating.upper(),
            self.cam_targ,
            self.grt_targ,
            self.filter.upper(),
            self.filter2.upper(),
            self.slit.upper(),
        )

    @property
    def flat_key(self) -> tuple:
        return self.readout_key + self.optics_key

    @property
    def camera(self) -> str:
        return self.instconf or "UNKNOWN"

    def describe(self) -> str:
        """One line for logs and tables."""
        if not self.ok:
            return f"{self.file_name}: {self.status}"
        return f"{self.file_name}: {self.technique} {self.role} ({self.obstype_raw})"


def normalize_name(value) -> str:
    """Canonical spelling of a filter/grating/slit value.

    ``"<NO FILTER>"`` -> ``"NO_FILTER"``, ``" GG 455 "`` -> ``"GG_455"``; case is kept
    (keys compare case-folded).

    Parameters
    ----------
    value : object
        A header value (``None`` allowed).

    Returns
    -------
    str
        ``""`` for ``None``.
    """
    if value is None:
        return ""
    text = str(value).strip().strip("<>").strip()
    return re.sub(r"[\s\-]+", "_", text)


def _float(value) -> float | None:
    try:
        return float(str(value).strip())
    except (TypeError, ValueError):
        return None


def _angle(value) -> float | None:
    number = _float(value)
    # Rounded so that 11.6 and 11.600000001 group together; targets are set to 0.1 deg.
    return None if number is None else round(number, 2)


def _rlevel(header) -> int:
    """``RLEVEL`` of a pipeline product (61 master, 62 reduced...); 0 for raw data."""
    if "GSP_FNAM" not in header:
        return 0  # instrument files may carry RLEVEL = 0 or archive values; raw is raw
    try:
        return int(header.get("RLEVEL", 0) or 0)
    except (TypeError, ValueError):
        return 0


def observation_start(header) -> datetime | None:
    """When an exposure started (``DATE-OBS``, else ``DATE``), naive UTC, or ``None``.

    Parameters
    ----------
    header : mapping
        A FITS header or a mapping of its cards.

    Returns
    -------
    datetime or None
    """
    return _parse_date(header)


def _parse_date(header) -> datetime | None:
    for key in ("DATE-OBS", "DATE"):
        text = str(header.get(key, "") or "").strip()
        if not text:
            continue
        for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
            try:
                return datetime.strptime(text, fmt)
            except ValueError:
                continue
    return None


def _technique(header, grating: str, wavmode: str, obstype: str) -> str:
    roi = str(header.get("ROI", "") or "").strip().lower()
    if wavmode.upper() == "IMAGING" or roi.startswith("imag"):
        return "Imaging"
    if roi.startswith("spec"):
        return "Spectroscopy"
    # Before 2019 the OBSTYPE of a target said the technique.
    if obstype == "SPECTRUM":
        return "Spectroscopy"
    if obstype == "EXPOSE":
        return "Imaging"
    if grating.upper() in {"", "NO_GRATING"}:
        return "Imaging"
    return "Spectroscopy"


def _required(role: str, technique: str) -> tuple[str, ...]:
    keys = ["OBSTYPE", "GAIN", "RDNOISE", "DATE-OBS"]
    if role in {"flat", "arc", "science", "standard"} and technique == "Spectroscopy":
        keys += ["GRATING", "SLIT"]
    if role in {"science", "standard"}:
        keys += ["OBSRA", "OBSDEC"]
    return tuple(keys)


def _saturation(gain, rdnoise, camera) -> tuple[float, float, list[str]]:
    """The readout mode's saturation level and half full well (ADU), and any warning
    about the mode."""
    if gain is None or rdnoise is None or not gain > 0:
        return DIGITAL_SATURATION_ADU, DIGITAL_SATURATION_ADU, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        level = saturation_level(gain, rdnoise, camera or None)
    half = half_well_level(gain, rdnoise, camera or None)
    return level, half, [str(w.message) for w in caught]


def _binning_from_width(width: int, decisions: list[str]) -> tuple[int, int] | None:
    """No CCDSUM and no binning in ROI: a full-width readout says its column binning
    (the decision is recorded)."""
    match = [b for b in range(1, 9) if full_width(b) == width]
    if not match:
        return None
    decisions.append(
        f"binning {match[0]}x{match[0]} assumed from the width {width} (a full "
        f"readout at column binning {match[0]}; no CCDSUM): write CCDSUM to be sure"
    )
    return (match[0], match[0])


def _status(header, norm, role: str, technique: str, binning) -> str:
    """``"ok"``, or ``"cannot classify: ..."`` naming what is missing or wrong."""
    missing = [
        k for k in _required(role, technique) if k not in header or not str(header[k]).strip()
    ]
    if missing:
        return f"cannot classify: missing {', '.join(missing)}"
    if norm.problems:
        return f"cannot classify: {'; '.join(norm.problems)}"
    if norm.gain is None or norm.rdnoise is None:
        return f"cannot classify: GAIN={header.get('GAIN')!r} RDNOISE={header.get('RDNOISE')!r} are not numbers"
    if binning is None:
        return (
            "cannot classify: missing CCDSUM (and no binning in ROI, and the width is not a "
            "full readout): write CCDSUM, e.g. '2 2'"
        )
    if _parse_date(header) is None:
        return f"cannot classify: DATE-OBS={header.get('DATE-OBS')!r} is not an ISO date"
    return "ok"


def classify(header_or_path, path: str | Path | None = None) -> Classification:
    """Classify a file from its primary header.

    Parameters
    ----------
    header_or_path : astropy.io.fits.Header, mapping, str or Path
        The primary header, or a path (then :func:`classify_path` is used).
    path : str or Path, optional
        File the header came from, recorded in the result.

    Returns
    -------
    Classification
        Never raises for a readable header; problems are in ``status``.
    """
    if isinstance(header_or_path, str | Path):
        return classify_path(header_or_path)
    header = header_or_path
    path = str(path or "")
    file_name = Path(path).name if path else ""
    norm = normalize_header(header)
    obstype_raw = norm.obstype_raw
    obj = str(header.get("OBJECT", "") or "").strip()
    grating = norm.grating if norm.grating_raw else ""
    wavmode = norm.wavmode
    technique = _technique(header, grating, wavmode, obstype_raw.upper().replace(" ", ""))
    role = norm.role
    obstype = norm.obstype
    binning = norm.binning
    gain, rdnoise = norm.gain, norm.rdnoise
    instconf = norm.camera

    saturation, half_well, notes = _saturation(gain, rdnoise, instconf)
    shape = None
    if _float(header.get("NAXIS1")) and _float(header.get("NAXIS2")):
        shape = (int(header["NAXIS2"]), int(header["NAXIS1"]))
    decisions = list(norm.decisions)
    if binning is None and not norm.problems and shape is not None:
        binning = _binning_from_width(shape[1], decisions)

    status = _status(header, norm, role, technique, binning)
    return Classification(
        path=path,
        file_name=file_name,
        status=status,
        technique=technique,
        role=role,
        obstype=obstype,
        obstype_raw=obstype_raw,
        object=obj,
        instconf=instconf,
        gain=gain,
        rdnoise=rdnoise,
        roi=str(header.get("ROI", "") or "").strip(),
        ccdsum=" ".join(str(b) for b in binning) if binning else "",
        binning=binning or (1, 1),
        grating=grating,
        cam_targ=_angle(header.get("CAM_TARG")),
        grt_targ=_angle(header.get("GRT_TARG")),
        filter=normalize_name(header.get("FILTER")),
        filter2=normalize_name(header.get("FILTER2")),
        slit=normalize_name(header.get("SLIT")),
        wavmode=wavmode,
        date_obs=_parse_date(header),
        exptime=_float(header.get("EXPTIME")),
        obsra=str(header.get("OBSRA", "") or "").strip(),
        obsdec=str(header.get("OBSDEC", "") or "").strip(),
        proposal_id=str(header.get("PROPID", "") or "").strip(),
        saturation=saturation,
        half_well=half_well,
        trimsec=str(header.get("TRIMSEC", "") or "").strip(),
        shape=shape,
        lamps=norm.lamps,
        rlevel=_rlevel(header),
        warnings=tuple(notes),
        lines_per_mm=norm.lines_per_mm,
        grating_angle=norm.grating_angle,
        camera_angle=norm.camera_angle,
        grating_raw=norm.grating_raw,
        wavmode_raw=norm.wavmode_raw,
        slit_width=norm.slit_width,
        lamp_names=norm.lamp_names,
        lamp_source=norm.lamp_source,
        engineering=norm.engineering,
        decisions=tuple(decisions),
    )


def read_primary_header(path: str | Path):
    """Primary header of a FITS file; raises ``OSError``/``ValueError`` when unreadable.

    A file whose data are shorter than its header promises (truncated copy) is refused
    here rather than when its pixels are read.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    astropy.io.fits.Header
    """
    import os

    from astropy.io import fits

    path = Path(path)
    with open(path, "rb") as fh:
        start = fh.read(30)
    if not start.startswith(b"SIMPLE  ="):
        raise ValueError("not a FITS file (no SIMPLE card at the start)")
    with warnings.catch_warnings():
        # astropy warns and then raises on corrupt files; the exception is what we report.
        warnings.simplefilter("ignore")
        with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
            hdu = hdul[0]
            header = hdu.header.copy()
            expected = hdu._data_offset + hdu._data_size
    if os.path.getsize(path) < expected:
        raise ValueError(
            f"truncated FITS file: {os.path.getsize(path)} bytes, header needs {expected}"
        )
    return header


def classify_path(path: str | Path) -> Classification:
    """Classify a file on disk; unreadable files get a status instead of an exception.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Classification
        Its ``status`` says ``"cannot read: ..."`` when the file is unreadable.
    """
    path = Path(path)
    try:
        header = read_primary_header(path)
    except Exception as exc:  # noqa: BLE001 - any read failure becomes this file's status
        return Classification(
            path=str(path), file_name=path.name, status=f"cannot read: {_reason(exc)}"
        )
    return classify(header, path=path)


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0][:200]
