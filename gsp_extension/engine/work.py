"""What a job sends to a worker and what comes back: plain, picklable values.

Workers never touch the database: the engine prepares a :class:`WorkRequest` from the
rows, the worker reads and writes files only, and the engine records the
:class:`WorkResult` (products registered and job completed in one transaction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.vocabulary import DataType


class TransientError(Exception):
    """A failure worth retrying (a file busy, a worker lost); anything else is final."""


class InfrastructureError(TransientError):
    """The infrastructure failed, not the job: no scheduler, a lost worker connection,
    the database or the storage away. The job is queued again without spending one of its
    attempts, for as long as it takes (the file is never marked failed for it).
    """


class ExecutorUnavailable(InfrastructureError):
    """No executor to run work on right now (the dask scheduler is down or reconnecting)."""


class Outdated(Exception):
    """Raised by a ``prepare`` when the job's input was replaced meanwhile.

    The job ends ``done`` with no product and the reason in its log entry: the newer
    input has (or will have) its own job, so running this one would only bring an
    older result back to life.
    """


@dataclass(frozen=True)
class WorkRequest:
    """Everything a handler's ``execute`` needs.

    Attributes
    ----------
    job_id, kind : int, str
    params : dict
        The job's parameters.
    data_root : str
        ``GSP_DATA_ROOT``; raw files are under ``raw/``, products go to
        ``products/<YYYYMMDD>/``.
    inputs : dict
        What ``prepare`` looked up (paths, settings values, ...), kind-specific. Its
        ``out_dir`` is this attempt's private folder (``products/.attempts/<token>/...``);
        ``published_dir`` is where the engine moves the products once the attempt
        that owns the job completes.
    attempt : str
        The attempt's token (:mod:`~gsp_extension.engine.fencing`).
    """

    job_id: int
    kind: str
    params: dict[str, Any]
    data_root: str
    inputs: dict[str, Any] = field(default_factory=dict)
    attempt: str = ""


@dataclass(frozen=True)
class ProductOut:
    """A file a job wrote (atomically, at its final path).

    The parent is a registered file (``parent_file_id``), or another product of the same
    result (``parent_path``, e.g. an extracted spectrum made from the reduced frame).
    """

    path: str
    data_type: DataType
    parent_file_id: int | None = None
    parent_path: str | None = None
    normalized: bool = False
    quality: dict[str, Any] | None = None
    #: Why a step the job carried made nothing more of it (a spectrum with no
    #: compatible sensitivity: no data_type 5), for the product's status.
    status_reason: str | None = None


@dataclass
class WorkResult:
    """What a handler's ``execute`` made.

    Attributes
    ----------
    products : list of ProductOut
    file_updates : dict
        ``{file_id: {"fields": {...}, "status": ..., "status_reason": ...}}`` for inputs
        whose record changes (e.g. a re-classification).
    notes : list of str
        Messages for the job's log entry.
    carried : list of str
        Steps of the night's plan (:class:`pipeline.plan.Step` values) the job carried
        ahead of their own job kind for every product it made, whether or not they made
        something (an extraction with sensitivities at hand tried the flux step): the
        planner queues no job for them.
    """

    products: list[ProductOut] = field(default_factory=list)
    file_updates: dict[int, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)
