"""The service's words, defined once: job kinds, job states, file statuses.

The pipeline's words (data types, frame roles, techniques, step outcomes) are in
:mod:`pipeline.vocabulary`; these are the ones only the service has. ``StrEnum`` members
compare equal to the strings stored in the database and sent by the API, so using them
changes no schema and no API field. Standard library and :mod:`pipeline.vocabulary` only:
the REST client imports it.
"""

from __future__ import annotations

from enum import StrEnum

from pipeline.vocabulary import DataType

__all__ = ["ACTIVE_JOB_STATES", "NEWEST_FIRST", "FileStatus", "JobKind", "JobState"]

#: ``?ordering=`` of a file listing, newest first: the newest night, and within a night
#: the observation order (DATE-OBS, then frame number), never the order files were
#: registered in (a catch-up batch after a restart). The API's default ordering, and
#: the data browser's "newest first".
NEWEST_FIRST = "-date,-date_obs,-frame_number,-id"


class JobKind(StrEnum):
    """What a job does (the contract in :mod:`gsp_extension.api.actions`)."""

    CLASSIFY = "classify"
    REDUCE = "reduce"
    MASTER_BIAS = "master_bias"
    MASTER_FLAT = "master_flat"
    EXTRACT = "extract"
    CALIBRATE_WAVELENGTH = "calibrate_wavelength"
    CALIBRATE_FLUX = "calibrate_flux"

    @property
    def label(self) -> str:
        """How a person names it (``"Calibrate wavelength"``)."""
        return _LABELS[self]

    @property
    def product_type(self) -> DataType | None:
        """The data type of what the job is asked for (its ``product_file_id``), or
        ``None`` for a kind that makes no product."""
        return _PRODUCT_TYPES.get(self)


_LABELS = {
    JobKind.CLASSIFY: "Classify",
    JobKind.REDUCE: "Reduce",
    JobKind.MASTER_BIAS: "Master bias",
    JobKind.MASTER_FLAT: "Master flat",
    JobKind.EXTRACT: "Extract",
    JobKind.CALIBRATE_WAVELENGTH: "Calibrate wavelength",
    JobKind.CALIBRATE_FLUX: "Calibrate flux",
}


#: A job may make other files on the way (an extraction also calibrates its arcs); its
#: product is the one of this type made from its own file.
_PRODUCT_TYPES = {
    JobKind.REDUCE: DataType.REDUCED,
    JobKind.MASTER_BIAS: DataType.MASTER_CALIBRATION,
    JobKind.MASTER_FLAT: DataType.MASTER_CALIBRATION,
    JobKind.EXTRACT: DataType.EXTRACTED,
    JobKind.CALIBRATE_WAVELENGTH: DataType.WAVELENGTH_CALIBRATED,
    JobKind.CALIBRATE_FLUX: DataType.FLUX_CALIBRATED,
}


class JobState(StrEnum):
    """Where a job is: queued -> running -> done or failed (or queued again to retry)."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED)


#: States of a job still to come (one per product key at a time).
ACTIVE_JOB_STATES = (JobState.QUEUED, JobState.RUNNING)


class FileStatus(StrEnum):
    """Where a registered file is in its processing."""

    REGISTERED = "registered"
    CLASSIFIED = "classified"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"
    REJECTED = "rejected"
