"""Whether an arc was taken in the science frame's spectroscopic setup.

WAVMODE is a label written by hand or by the observing software (``400_M2``,
``400 m2``, ``Custom``, nothing at all), so two spellings of one setup must match and
two ``Custom`` setups with different angles must not. What fixes an arc's wavelengths
on the detector is the optics: the grating, its angle, the camera angle, the filter
(which lines pass) and the camera. Every value is read through
:func:`pipeline.header_normalization.normalize_header`, the one place where header
spellings are interpreted; the labels are compared only when a header has no angles.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.header_normalization import normalize_filter, normalize_header

#: Largest grating-angle difference (degrees) of an arc that can serve a science
#: frame: 0.05 deg moves a 400 l/mm spectrum by ~20 unbinned px, well inside the
#: offset the calibration searches (``MAX_SHIFT_UNBINNED``); measured GRT_ANG repeat
#: to a few thousandths of a degree.
GRATING_ANGLE_TOLERANCE_DEG = 0.05
#: ... and camera-angle difference: measured CAM_ANG scatter by up to ~0.04 deg
#: around the commanded value; the camera angle only moves the spectrum on the chip.
CAMERA_ANGLE_TOLERANCE_DEG = 0.1


@dataclass(frozen=True)
class SpectroscopicSetup:
    """The optics of one frame, in normalised spellings.

    Attributes
    ----------
    camera : str
        ``"Red"``, ``"Blue"`` or ``""`` (unknown).
    grating : str
        Canonical grating name (``400_SYZY``, ``600_SYZY_OLD``...), ``""`` if none.
    wavmode : str
        Normalised WAVMODE (``400_M2``, ``Custom``, ``unknown``...).
    grating_angle, camera_angle : float or None
        Degrees (measured, else commanded).
    filter2 : str
        Normalised FILTER2 (``NO_FILTER``, ``GG455``...), ``""`` when not written.
    """

    camera: str
    grating: str
    wavmode: str
    grating_angle: float | None
    camera_angle: float | None
    filter2: str

    def describe(self) -> str:
        """The setup in words, for refusal reasons."""
        parts = [
            f"{name} {value:g} deg"
            for name, value in (("GRT", self.grating_angle), ("CAM", self.camera_angle))
            if value is not None
        ]
        angles = ", ".join(parts) or "no angles"
        return f"{self.grating or '?'} {angles}, filter {self.filter2 or '?'} ({self.wavmode})"


def setup_of(header) -> SpectroscopicSetup:
    """Read the normalised spectroscopic setup of a (raw or reduced) frame's header.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        The frame's header.

    Returns
    -------
    SpectroscopicSetup
        Camera, grating (``""`` without one), WAVMODE (``"unknown"`` when unreadable),
        grating and camera angles in degrees (``None`` when absent) and FILTER2.
    """
    norm = normalize_header(header)
    grating = "" if norm.grating in {"", "NO_GRATING"} else norm.grating
    return SpectroscopicSetup(
        camera=norm.camera,
        grating=grating,
        wavmode=norm.wavmode,
        grating_angle=norm.grating_angle,
        camera_angle=norm.camera_angle,
        filter2=normalize_filter(header.get("FILTER2")),
    )


def setup_mismatch(science: SpectroscopicSetup, arc: SpectroscopicSetup) -> str:
    """Why an arc cannot calibrate a science frame, or ``""`` when it can.

    Camera, grating and filter must agree where both headers name them; then the
    grating angles within :data:`GRATING_ANGLE_TOLERANCE_DEG` (and the camera angles,
    where both have them, within :data:`CAMERA_ANGLE_TOLERANCE_DEG`). Without grating
    angles on either side, the normalised WAVMODEs must be equal, and known (an empty
    or unreadable WAVMODE says nothing).

    Parameters
    ----------
    science : SpectroscopicSetup
        The science frame's setup (:func:`setup_of`).
    arc : SpectroscopicSetup
        The arc's setup.

    Returns
    -------
    str
        ``""`` when the arc can calibrate the science frame, else why not, in words.
    """
    for what, s, a in (
        ("camera", science.camera, arc.camera),
        ("grating", science.grating, arc.grating),
        ("filter", science.filter2, arc.filter2),
    ):
        if s and a and s != a:
            return f"arc {what} {a}, science {what} {s}"
    if science.grating_angle is not None and arc.grating_angle is not None:
        return _angle_mismatch(science, arc)
    if "unknown" in (science.wavmode, arc.wavmode):
        return (
            f"cannot tell the arc's setup ({arc.describe()}) is the science's "
            f"({science.describe()}): write GRT_ANG and CAM_ANG, or a library WAVMODE, "
            "in both"
        )
    if science.wavmode != arc.wavmode:
        return f"arc of mode {arc.wavmode}, science is {science.wavmode}"
    return ""


def _angle_mismatch(science: SpectroscopicSetup, arc: SpectroscopicSetup) -> str:
    """Grating angles (and camera angles where both have them) within tolerance."""
    d_grt = abs(science.grating_angle - arc.grating_angle)
    d_cam = 0.0
    if science.camera_angle is not None and arc.camera_angle is not None:
        d_cam = abs(science.camera_angle - arc.camera_angle)
    if d_grt <= GRATING_ANGLE_TOLERANCE_DEG and d_cam <= CAMERA_ANGLE_TOLERANCE_DEG:
        return ""
    return (
        f"arc setup {arc.describe()} differs from the science's {science.describe()}: "
        f"angles must agree within {GRATING_ANGLE_TOLERANCE_DEG} deg (grating) and "
        f"{CAMERA_ANGLE_TOLERANCE_DEG} deg (camera)"
    )


__all__ = [
    "CAMERA_ANGLE_TOLERANCE_DEG",
    "GRATING_ANGLE_TOLERANCE_DEG",
    "SpectroscopicSetup",
    "setup_mismatch",
    "setup_of",
]
