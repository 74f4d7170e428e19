"""The optics of a frame from its FITS header (GRATING, angles, FILTER2, camera).

Every spelling rule (GRATING names, measured or target angles, the camera from
INSTCONF, INSTRUME or the readout mode) is :mod:`pipeline.header_normalization`'s:
this module only turns what it read into a dispersion model.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.header_normalization import normalize_grating, normalize_header
from pipeline.optics.model import DispersionModel, OpticsError, dispersion_model


def lines_per_mm(grating) -> float | None:
    """Read the groove density named in a GRATING value.

    ``400_SYZY``, ``SYZY_400``, ``SYZY_600-OLD``, ``KOSI_600``, ``1200_RALC_BLUE`` all
    name their lines per mm (:func:`pipeline.header_normalization.normalize_grating`).

    Parameters
    ----------
    grating : str or None
        The GRATING card as written.

    Returns
    -------
    float or None
        Lines per mm; ``None`` for ``<NO GRATING>``, an empty value or a name without one
        number.
    """
    return normalize_grating(str(grating or ""))[1]


def camera_of(header) -> str | None:
    """Tell the camera of a frame (INSTCONF, INSTRUME, readout mode).

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        The frame's header.

    Returns
    -------
    str or None
        ``"Red"`` or ``"Blue"``; ``None`` when no card says which.
    """
    return normalize_header(header).camera or None


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

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A spectroscopic frame's header (GRATING, GRT_ANG/GRT_TARG, CAM_ANG/CAM_TARG,
        FILTER2 and the camera's cards).

    Returns
    -------
    HeaderOptics
        Grooves per mm, grating and camera angles (deg), camera and FILTER2 (``None`` when
        unknown or empty) and the GRATING as written.

    Raises
    ------
    OpticsError
        Naming the missing or unreadable card and what a spectroscopic frame would hold.
    """
    norm = normalize_header(header)
    grating = header.get("GRATING")
    if norm.lines_per_mm is None:
        raise OpticsError(
            f"GRATING {grating!r} names no groove density; a spectroscopic frame has e.g. "
            "'930_SYZY' or 'SYZY_400'"
        )
    if norm.grating_angle is None:
        raise OpticsError("no grating angle: GRT_ANG and GRT_TARG are missing or not numbers")
    if norm.camera_angle is None:
        raise OpticsError("no camera angle: CAM_ANG and CAM_TARG are missing or not numbers")
    filter2 = str(header.get("FILTER2", "")).strip() or None
    return HeaderOptics(
        norm.lines_per_mm,
        norm.grating_angle,
        norm.camera_angle,
        norm.camera or None,
        filter2,
        str(grating).strip(),
    )


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
