"""The pipeline's words, defined once: data types, frame roles, techniques, step outcomes.

Every other module (the service, the job engine, the Voilà apps through the client)
imports these instead of spelling bare ints and strings. The enums are ``IntEnum`` /
``StrEnum``, so their members compare equal to the ints and strings already stored in
the database and sent by the API (``DataType.REDUCED == 2``, ``FrameRole.ARC == "arc"``):
adopting them changes no schema and no API field.

This module imports nothing but the standard library, so that the lightest user (the
REST client in a notebook) can import it.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

__all__ = [
    "ARC_OBSTYPES",
    "OBSTYPE_ROLES",
    "DataType",
    "FrameRole",
    "StepOutcome",
    "Technique",
    "data_type_from_rlevel",
    "frame_role",
    "is_arc",
    "rlevel",
]


class DataType(IntEnum):
    """The seed's ``data_type`` codes (DESIGN.md §4)."""

    RAW = 0
    MASTER_CALIBRATION = 1
    REDUCED = 2
    EXTRACTED = 3
    WAVELENGTH_CALIBRATED = 4
    FLUX_CALIBRATED = 5

    @property
    def description(self) -> str:
        """How a sentence names a file of this type (``"a master calibration"``)."""
        return _DESCRIPTIONS[self]

    @property
    def is_product(self) -> bool:
        """Whether files of this type are made by the pipeline (everything but raw)."""
        return self is not DataType.RAW


_DESCRIPTIONS = {
    DataType.RAW: "raw",
    DataType.MASTER_CALIBRATION: "a master calibration",
    DataType.REDUCED: "reduced",
    DataType.EXTRACTED: "an extracted 1D spectrum",
    DataType.WAVELENGTH_CALIBRATED: "wavelength calibrated",
    DataType.FLUX_CALIBRATED: "flux calibrated",
}

# The LCO archive convention goodman_pipeline adopted: RLEVEL = 60 + data_type.
_RLEVEL_BASE = 60


def rlevel(data_type: int) -> int:
    """The ``RLEVEL`` header value of a product of ``data_type``.

    Parameters
    ----------
    data_type : int or DataType
        A product's data type (1-5); raw files carry no pipeline RLEVEL.

    Returns
    -------
    int
        ``60 + data_type`` (61 masters, 62 reduced, 63 extracted, 64 wavelength
        calibrated, 65 flux calibrated).

    Raises
    ------
    ValueError
        When ``data_type`` is not a product's data type.
    """
    kind = DataType(int(data_type))
    if not kind.is_product:
        raise ValueError(
            "raw files (data_type 0) have no pipeline RLEVEL; give a product's data_type 1-5"
        )
    return _RLEVEL_BASE + kind


def data_type_from_rlevel(value: object) -> DataType | None:
    """The data type a product's ``RLEVEL`` card says, or ``None`` if it says none.

    Parameters
    ----------
    value : object
        The card's value as read (an int, a numeric string, ``None``...).

    Returns
    -------
    DataType or None
        ``None`` for a missing, non-numeric or non-pipeline RLEVEL (raw files, archive
        values).
    """
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    candidate = number - _RLEVEL_BASE
    if candidate in DataType._value2member_map_ and DataType(candidate).is_product:
        return DataType(candidate)
    return None


class FrameRole(StrEnum):
    """A frame's role in a night (:mod:`pipeline.classify`)."""

    BIAS = "bias"
    FLAT = "flat"
    ARC = "arc"
    SCIENCE = "science"
    STANDARD = "standard"
    OTHER = "other"


class Technique(StrEnum):
    """Observing technique, spelled as the API's ``technique`` field."""

    SPECTROSCOPY = "Spectroscopy"
    IMAGING = "Imaging"


#: OBSTYPE spellings (current and pre-2019) and the role each names. A science OBJECT
#: may still turn out a ``standard`` by its name (:func:`pipeline.classify.classify`).
OBSTYPE_ROLES: dict[str, FrameRole] = {
    "BIAS": FrameRole.BIAS,
    "ZERO": FrameRole.BIAS,
    "FLAT": FrameRole.FLAT,
    "LAMPFLAT": FrameRole.FLAT,
    "SKYFLAT": FrameRole.FLAT,
    "DOMEFLAT": FrameRole.FLAT,
    "QUARTZ": FrameRole.FLAT,
    "COMP": FrameRole.ARC,
    "ARC": FrameRole.ARC,
    "LAMP": FrameRole.ARC,
    "OBJECT": FrameRole.SCIENCE,
    "SPECTRUM": FrameRole.SCIENCE,
    "EXPOSE": FrameRole.SCIENCE,
    "STANDARD": FrameRole.STANDARD,
}

#: Every OBSTYPE spelling of a comparison lamp (for API filters by OBSTYPE).
ARC_OBSTYPES: tuple[str, ...] = tuple(k for k, v in OBSTYPE_ROLES.items() if v is FrameRole.ARC)


def frame_role(obstype: str | None) -> FrameRole:
    """The role an OBSTYPE names (``OTHER`` when unknown or missing).

    Parameters
    ----------
    obstype : str or None
        The header's OBSTYPE, any case, surrounding blanks allowed.

    Returns
    -------
    FrameRole
    """
    return OBSTYPE_ROLES.get((obstype or "").strip().upper(), FrameRole.OTHER)


def is_arc(obstype: str | None) -> bool:
    """Whether an OBSTYPE is a comparison lamp (``ARC``, ``COMP`` or ``LAMP``): the one arc test.

    Parameters
    ----------
    obstype : str or None
        The header's (or the file record's) OBSTYPE.

    Returns
    -------
    bool
    """
    return frame_role(obstype) is FrameRole.ARC


class StepOutcome(StrEnum):
    """What became of one input at one step of the pipeline.

    The values are the strings :mod:`pipeline.night` and :mod:`pipeline.spectroscopy`
    results carry in ``status``, so ``result.status == StepOutcome.FAILED`` holds for both.
    """

    #: A raw frame reduced to a product.
    REDUCED = "reduced"
    #: A calibration frame combined into a master.
    CALIBRATION = "calibration"
    #: A spectroscopic product written.
    WRITTEN = "written"
    #: Not usable (a reason says why); not an error of the software.
    SKIPPED = "skipped"
    #: An unexpected error while processing an input that should have worked.
    FAILED = "failed"
