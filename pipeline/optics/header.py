"""The optics of a frame from its FITS header (GRATING, angles, FILTER2, camera)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from pipeline.optics.model import DispersionModel, OpticsError, dispersion_model

_DENSITY = re.compile(r"(?<!\d)(\d{3,4})(?!\d)")


def lines_per_mm(grating) -> float | None:
    """Groove density named in a GRATING value, or ``None`` (``<NO GRATING>``, empty).

    ``400_SYZY``, ``SYZY_400``, ``SYZY_600-OLD``, ``KOSI_600``, ``1200_RALC_BLUE`` all
    name their lines per mm.
    """
    m = _DENSITY.search(str(grating or ""))
    return float(m.group(1)) if m else None


def _angle(header, measured: str, target: str) -> float | None:
    for key in (measured, target):
        try:
            v = float(header.get(key))
        except (TypeError, ValueError):
            continue
        if math.isfinite(v):
            return v
    return None


def camera_of(header) -> str | None:
    """``"Red"`` or ``"Blue"`` from INSTCONF, else INSTRUME (``ghts_red``), else ``None``."""
    for key in ("INSTCONF", "INSTRUME"):
        value = str(header.get(key, "")).lower()
        for cam in ("Red", "Blue"):
            if cam.lower() in value:
                return cam
    return None


@dataclass(frozen=True)
class HeaderOptics:
    """What a header says about the optics."""

    lines_per_mm: float
    grating_angle: float
    camera_angle: float
    camera: str | None
    filter2: str | None
    grating: str | None = None


def header_optics(header) -> HeaderOptics:
    """Read the optics of a frame.

    Raises
    ------
    OpticsError
        Naming the missing or unreadable card and what a spectroscopic frame would hold.
    """
    grating = header.get("GRATING")
    lpm = lines_per_mm(grating)
    if lpm is None:
        raise OpticsError(
            f"GRATING {grating!r} names no groove density; a spectroscopic frame has e.g. "
            "'930_SYZY' or 'SYZY_400'"
        )
    grt = _angle(header, "GRT_ANG", "GRT_TARG")
    if grt is None:
        raise OpticsError("no grating angle: GRT_ANG and GRT_TARG are missing or not numbers")
    cam = _angle(header, "CAM_ANG", "CAM_TARG")
    if cam is None:
        raise OpticsError("no camera angle: CAM_ANG and CAM_TARG are missing or not numbers")
    filter2 = str(header.get("FILTER2", "")).strip() or None
    return HeaderOptics(lpm, grt, cam, camera_of(header), filter2, str(grating).strip())


def dispersion_model_from_header(header, *, strict: bool = False) -> DispersionModel | None:
    """The expected dispersion relation of a frame, from its header.

    Parameters
    ----------
    header : mapping
        A FITS header (or any mapping with ``.get``).
    strict : bool
        With ``False`` (default) a header without usable optics (imaging, no GRATING,
        missing angles) returns ``None`` and raises nothing; with ``True`` it raises
        :class:`OpticsError` saying which card is missing or wrong.

    Returns
    -------
    DispersionModel or None
    """
    try:
        o = header_optics(header)
        return dispersion_model(
            o.lines_per_mm, o.grating_angle, o.camera_angle, o.camera, o.filter2, grating=o.grating
        )
    except OpticsError:
        if strict:
            raise
        return None
