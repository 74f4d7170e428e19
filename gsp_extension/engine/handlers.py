"""One handler per job kind: ``prepare`` (engine side) and ``execute`` (worker side).

``prepare(session, job, data_root)`` reads the database and returns the inputs a worker
needs; it raises :class:`~gsp_extension.store.errors.StoreError` when the job cannot run
(the job then fails with that message). ``execute(request)`` is a module-level function
(dask pickles it by name) that reads and writes files only and returns a
:class:`~gsp_extension.engine.work.WorkResult`.

Job kinds and parameters follow the contract in :mod:`gsp_extension.api.actions`. Kinds
without a handler here stay queued (the engine claims only kinds it can run).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gsp_extension.security.access import AccessPolicy
from gsp_extension.store.errors import InvalidState, NotFound
from gsp_extension.store.files import get_file
from gsp_extension.store.models import File, Job
from gsp_extension.store.proposals import get_proposal_by_soar_id
from gsp_extension.store.settings import DEFAULT_SETTINGS, get_settings, settings_values
from gsp_extension.vocabulary import FileStatus, JobKind
from pipeline.vocabulary import (
    ARC_OBSTYPES,
    DataType,
    FrameRole,
    StepOutcome,
    data_type_from_rlevel,
    is_arc,
)

from .arcs import automatic_arcs, science_frame
from .calibrations import masters_for, night_master_bias_paths
from .work import Outdated, ProductOut, WorkRequest, WorkResult

#: Raw files of a night that a master build reads again (any that were classified).
MASTER_INPUT_STATUSES = (
    FileStatus.CLASSIFIED,
    FileStatus.PROCESSING,
    FileStatus.PROCESSED,
    FileStatus.FAILED,
)


@dataclass(frozen=True)
class Handler:
    """How to run one job kind."""

    kind: JobKind
    prepare: Callable[[Session, Job, str], dict[str, Any]]
    execute: Callable[[WorkRequest], WorkResult]


class HandlerRegistry:
    """The job kinds an engine can run."""

    def __init__(self, handlers: Iterable[Handler] = ()) -> None:
        self._handlers = {h.kind: h for h in handlers}

    def add(self, handler: Handler) -> None:
        self._handlers[handler.kind] = handler

    def get(self, kind: str) -> Handler | None:
        return self._handlers.get(kind)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)


def products_dir(data_root: str | os.PathLike[str], night: dt.date | None) -> Path:
    """Locate ``GSP_DATA_ROOT/products/<YYYYMMDD>/`` of a night (``undated`` without a date).

    Parameters
    ----------
    data_root : str or os.PathLike
        The data root.
    night : datetime.date or None
        The night (the ``date`` of its files); ``None`` for files without one.

    Returns
    -------
    pathlib.Path
        The folder (not created here).
    """
    name = night.strftime("%Y%m%d") if night is not None else "undated"
    return Path(data_root) / "products" / name


def job_file(session: Session, job: Job) -> File:
    """The file a job works on (its ``file_id``, or the one its parameters name).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The database session.
    job : Job
        The job.

    Returns
    -------
    File
        The job's file.

    Raises
    ------
    InvalidState
        When the job names no file, or its file no longer exists.
    """
    file_id = job.file_id or (job.params or {}).get("file_id")
    if file_id is None:
        raise InvalidState(f"job {job.id} ({job.kind}) names no file")
    try:
        return get_file(session, int(file_id))
    except NotFound:
        raise InvalidState(f"job {job.id}: file {file_id} no longer exists") from None


def _current_input(session: Session, job: Job) -> File:
    """The job's file, refused as :class:`Outdated` when a newer version replaced it."""
    file = job_file(session, job)
    if file.superseded_at is not None and DataType(file.data_type).is_product:
        raise Outdated(
            f"{file.file_name} (file {file.id}) was replaced by a newer product before "
            f"this {job.kind} started; the newer one is processed instead"
        )
    return file


def settings_for_job(session: Session, job: Job, file: File | None) -> tuple[int | None, dict]:
    """The reduction settings a job runs with.

    The job's own settings when it names some; else those of the file's proposal; else
    the defaults.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The database session.
    job : Job
        The job.
    file : File or None
        The file the job works on, whose proposal's settings apply.

    Returns
    -------
    settings_id : int or None
        The settings' row, None for the defaults.
    values : dict
        The settings' values.

    Raises
    ------
    InvalidState
        When the job names settings that no longer exist.
    """
    settings_id = job.settings_id or (job.params or {}).get("settings_id")
    if settings_id is not None:
        from gsp_extension.store.models import ReductionSettings

        row = session.get(ReductionSettings, int(settings_id))
        if row is None:
            raise InvalidState(f"job {job.id}: settings {settings_id} no longer exist")
        return row.id, settings_values(row)
    proposal = (
        get_proposal_by_soar_id(session, file.proposal_id)
        if file is not None and file.proposal_id
        else None
    )
    if proposal is None:
        return None, dict(DEFAULT_SETTINGS)
    row = get_settings(session, proposal.id)
    return row.id, settings_values(row)


def _data_type_of(path: str | Path, default: DataType) -> DataType:
    """A product's data type from its ``RLEVEL`` card (``default`` when it says none)."""
    from astropy.io import fits

    try:
        card = fits.getheader(path).get("RLEVEL")
    except OSError:
        return default  # not readable here: the engine reads it again when registering
    return data_type_from_rlevel(card) or default


def _readable(path: str, out_dir: Path) -> str:
    """A path the pipeline can read: ``path``, or a plain copy of a compressed raw file
    (``.fits.gz``, ``.fits.fz``) in the attempt's private folder (never published)."""
    from gsp_extension.ingest.compressed import is_compressed, write_plain

    if not is_compressed(path):
        return path
    return str(write_plain(path, out_dir / ".plain"))


# --- classify ---------------------------------------------------------------------------


def prepare_classify(session: Session, job: Job, data_root: str) -> dict[str, Any]:
    """Gather the inputs of a classify job: the file's id and path.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The engine's session (read only here).
    job : Job
        The claimed job.
    data_root : str
        The data root (``GSP_DATA_ROOT``): products go under its ``products/``.

    Returns
    -------
    dict of str to object
        ``file_id`` and ``path``.

    Raises
    ------
    InvalidState
        The job names no file, or the file no longer exists.
    """
    file = job_file(session, job)
    return {"file_id": file.id, "path": file.full_path}


def execute_classify(request: WorkRequest) -> WorkResult:
    """Read the header again and refresh the record (fields, status).

    Parameters
    ----------
    request : WorkRequest
        The job's kind and the inputs its ``prepare_*`` gathered (run on a worker: no
        database).

    Returns
    -------
    WorkResult
        No product; the file's new seed fields and its status (``classified``, or
        ``rejected`` with the reason).
    """
    from gsp_extension.ingest.scan import scan_file

    scanned = scan_file(request.inputs["path"])
    status = FileStatus.CLASSIFIED if scanned.usable else FileStatus.REJECTED
    return WorkResult(
        file_updates={
            request.inputs["file_id"]: {
                "fields": scanned.fields,
                "status": status,
                "status_reason": scanned.status_reason,
            }
        },
        notes=[f"{Path(scanned.path).name}: {scanned.technique} {scanned.role} ({status})"],
    )


# --- reduce -----------------------------------------------------------------------------


def prepare_reduce(session: Session, job: Job, data_root: str) -> dict[str, Any]:
    """Gather the inputs of a reduce job: the raw file, its settings and masters from the database.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The engine's session (read only here).
    job : Job
        The claimed job.
    data_root : str
        The data root (``GSP_DATA_ROOT``): products go under its ``products/``.

    Returns
    -------
    dict of str to object
        ``file_id``, ``path``, ``settings_id`` and ``settings`` (the proposal's current
        version), ``out_dir`` (the night's products folder), ``raw_dir`` and ``masters``
        (the paths of the master bias and normalized flat chosen for the frame).

    Raises
    ------
    InvalidState
        The job names no file, the file is gone, or it is not raw data.
    """
    file = job_file(session, job)
    if file.data_type != DataType.RAW:
        raise InvalidState(f"file {file.id} ({file.file_name}) is not raw data; reduce raw files")
    settings_id, values = settings_for_job(session, job, file)
    return {
        "file_id": file.id,
        "path": file.full_path,
        "settings_id": settings_id,
        "settings": values,
        "out_dir": str(products_dir(data_root, file.date)),
        "raw_dir": str(Path(data_root) / "raw"),
        # Chosen here from the database's master rows (no product folder is scanned).
        "masters": masters_for(session, file),
    }


def execute_reduce(request: WorkRequest) -> WorkResult:
    """Reduce one raw frame with the masters the engine chose (pipeline.night.reduce_frame).

    Parameters
    ----------
    request : WorkRequest
        The job's kind and the inputs its ``prepare_*`` gathered (run on a worker: no
        database).

    Returns
    -------
    WorkResult
        The reduced frame (its parent the raw file) and any further product of the
        reduction (parented by the first); none, with a note giving the reason, when the
        frame is skipped.

    Raises
    ------
    RuntimeError
        The reduction failed; the message names the file and the reason.
    """
    from pipeline.classify import classify_path
    from pipeline.night import CalibrationLibrary, reduce_frame
    from pipeline.settings import ReductionSettings

    inputs = request.inputs
    out_dir = Path(inputs["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    library = CalibrationLibrary()
    library.add_files(inputs["masters"].values())
    classification = classify_path(_readable(inputs["path"], out_dir))
    result = reduce_frame(
        classification,
        out_dir,
        library,
        ReductionSettings(**inputs["settings"]),
        raw_dirs=[inputs["raw_dir"]],
    )
    if result.status == StepOutcome.FAILED:
        raise RuntimeError(f"{result.file_name}: {result.reason}")
    if result.status != StepOutcome.REDUCED:
        return WorkResult(notes=[f"{result.file_name}: not reduced: {result.reason}"])
    products = []
    first = None
    for path in result.products:
        data_type = _data_type_of(path, DataType.REDUCED)
        products.append(
            ProductOut(
                path=str(path),
                data_type=data_type,
                parent_file_id=inputs["file_id"] if first is None else None,
                parent_path=first,
            )
        )
        first = first or str(path)
    notes = [f"{result.file_name}: reduced in {result.seconds:.1f} s"]
    if result.reason:
        notes.append(result.reason)
    return WorkResult(products=products, notes=notes)


# --- master calibrations ----------------------------------------------------------------


def _prepare_master(session: Session, job: Job, data_root: str) -> dict[str, Any]:
    raw_date = (job.params or {}).get("date")
    try:
        night = dt.date.fromisoformat(str(raw_date))
    except ValueError:
        raise InvalidState(f"job {job.id}: date {raw_date!r} is not YYYY-MM-DD") from None
    rows = list(
        session.execute(
            select(File.id, File.full_path).where(
                File.date == night,
                File.data_type == DataType.RAW,
                File.status.in_(MASTER_INPUT_STATUSES),
                File.superseded_at.is_(None),
            )
        )
    )
    return {
        "night": night.isoformat(),
        "paths": sorted(path for _, path in rows),
        "file_ids": {path: file_id for file_id, path in rows},
        # Masters serve every proposal of the night: built with the default settings.
        "settings": dict(DEFAULT_SETTINGS),
        "out_dir": str(products_dir(data_root, night)),
        "raw_dir": str(Path(data_root) / "raw"),
    }


def _execute_master(request: WorkRequest, kind: FrameRole) -> WorkResult:
    from pipeline.calibrations.build import build_master_bias, build_master_flat
    from pipeline.calibrations.selection import bias_groups, flat_groups
    from pipeline.classify import classify_path
    from pipeline.night import CalibrationLibrary
    from pipeline.settings import ReductionSettings

    inputs = request.inputs
    out_dir = Path(inputs["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = ReductionSettings(**inputs["settings"])
    # Compressed raw files are read through plain copies; statuses go to the originals.
    originals = {_readable(p, out_dir): p for p in inputs["paths"]}
    frames = [classify_path(p) for p in originals]
    result = WorkResult()
    if kind is FrameRole.BIAS:
        groups = bias_groups(frames)
    else:
        groups = flat_groups(frames)
        library = CalibrationLibrary()
        library.add_files(inputs.get("bias_masters", ()))
    if not groups:
        result.notes.append(f"no usable {kind} frames on {inputs['night']}")
    for group in groups.values():
        if kind is FrameRole.BIAS:
            build = build_master_bias(group, out_dir, settings, raw_dirs=[inputs["raw_dir"]])
        else:
            bias = None if settings.ignore_bias else library.select(group[0], "bias", None)
            build = build_master_flat(
                group, out_dir, settings, master_bias=bias, raw_dirs=[inputs["raw_dir"]]
            )
        result.notes += build.notes
        for path, outcome in build.outcomes.items():
            file_id = inputs["file_ids"].get(originals.get(str(path), str(path)))
            if file_id is not None:
                result.file_updates[file_id] = {
                    "status": FileStatus.PROCESSED if outcome.used else FileStatus.FAILED,
                    "status_reason": None if outcome.used else outcome.reason,
                }
        for path in build.products:
            result.products.append(
                ProductOut(
                    path=str(path),
                    data_type=DataType.MASTER_CALIBRATION,
                    normalized=Path(path).name.startswith("norm_"),
                )
            )
    return result


def prepare_master_bias(session: Session, job: Job, data_root: str) -> dict[str, Any]:
    """Gather the inputs of a master-bias job: the night's raw files and its folders.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The engine's session (read only here).
    job : Job
        The claimed job.
    data_root : str
        The data root (``GSP_DATA_ROOT``): products go under its ``products/``.

    Returns
    -------
    dict of str to object
        JSON-ready inputs: ``night`` (ISO date), the night's usable raw ``paths`` and their
        ``file_ids``, the default ``settings``, ``out_dir`` and ``raw_dir``.

    Raises
    ------
    InvalidState
        The job's ``date`` parameter is not ``YYYY-MM-DD``.
    """
    return _prepare_master(session, job, data_root)


def prepare_master_flat(session: Session, job: Job, data_root: str) -> dict[str, Any]:
    """Gather the inputs of a master-flat job: as for bias, plus the night's master biases.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The engine's session (read only here).
    job : Job
        The claimed job.
    data_root : str
        The data root (``GSP_DATA_ROOT``): products go under its ``products/``.

    Returns
    -------
    dict of str to object
        JSON-ready inputs: ``night`` (ISO date), the night's usable raw ``paths`` and their
        ``file_ids``, the default ``settings``, ``out_dir`` and ``raw_dir``.
        Also ``bias_masters``: the paths of the night's current master bias rows (the
        worker picks each flat group's by readout mode).

    Raises
    ------
    InvalidState
        The job's ``date`` parameter is not ``YYYY-MM-DD``.
    """
    inputs = _prepare_master(session, job, data_root)
    # Flats are bias-subtracted with the night's current master bias rows (no folder
    # is scanned; the worker picks each group's by readout mode).
    inputs["bias_masters"] = night_master_bias_paths(
        session, dt.date.fromisoformat(inputs["night"])
    )
    return inputs


def execute_master_bias(request: WorkRequest) -> WorkResult:
    """Combine the night's bias frames, one master per readout mode.

    Parameters
    ----------
    request : WorkRequest
        The job's kind and the inputs its ``prepare_*`` gathered (run on a worker: no
        database).

    Returns
    -------
    WorkResult
        The master biases written, one per readout mode and shape, with notes on groups
        skipped and why.
    """
    return _execute_master(request, FrameRole.BIAS)


def execute_master_flat(request: WorkRequest) -> WorkResult:
    """Combine the night's flats, one master (and its normalized flat) per setup.

    Parameters
    ----------
    request : WorkRequest
        The job's kind and the inputs its ``prepare_*`` gathered (run on a worker: no
        database).

    Returns
    -------
    WorkResult
        The master flats and their normalized flats written, with notes on the groups
        skipped and why.
    """
    return _execute_master(request, FrameRole.FLAT)


# --- extract (and wavelength-calibrate along the trace) ----------------------------------


def _has_calibrated_product(session: Session, arc: File) -> bool:
    """Whether a reduced arc has a current calibrated spectrum (``we...``, data_type 4)."""
    return (
        session.scalar(
            select(File.id)
            .where(
                File.parent_file_id == arc.id,
                File.data_type == DataType.WAVELENGTH_CALIBRATED,
                File.superseded_at.is_(None),
                File.deleted_at.is_(None),
            )
            .limit(1)
        )
        is not None
    )


def prepare_extract(session: Session, job: Job, data_root: str) -> dict[str, Any]:
    """Gather the inputs of an extract job: the reduced frame, its arcs and settings.

    Without a ``lamp_id`` in the job's params the arcs are the engine's automatic choice
    (:func:`~.arcs.automatic_arcs`, the one the lamp chooser lists); with one, the arcs
    that lamp stands for, if the frame's proposal may use them.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The engine's session (read only here).
    job : Job
        The claimed job.
    data_root : str
        The data root (``GSP_DATA_ROOT``): products go under its ``products/``.

    Returns
    -------
    dict of str to object
        ``file_id``, ``path``; ``arc_paths`` (the arcs to try, nearest in time first) and
        ``arc_ids`` (path to file id); ``flux`` (:func:`.flux.flux_inputs_for_extraction`'s
        answer: ``None`` when the flux job follows instead); ``arcs_calibrated`` (file
        names of arcs whose calibrated spectrum exists already, not written again);
        ``arcs_refused`` (``"<arc>: <why>"`` of the night's arcs of another setup);
        ``settings_id`` and ``settings``; ``out_dir`` (the night's products folder) and
        ``raw_dir``.

    Raises
    ------
    Outdated
        The job's file was replaced by a newer product before the job started.
    InvalidState
        The job names no file, the file is gone or is not a reduced frame (data_type 2),
        or the chosen lamp is gone, not an arc, not reduced, or another proposal's.
    """
    file = _current_input(session, job)
    if file.data_type != DataType.REDUCED:
        raise InvalidState(
            f"file {file.id} ({file.file_name}) is not a reduced frame (data_type 2); "
            "extract reduced science frames"
        )
    settings_id, values = settings_for_job(session, job, file)
    lamp_id = (job.params or {}).get("lamp_id")
    refused: list[str] = []
    if lamp_id is None:
        # the arcs the lamp chooser lists (GET api/files/<id>/lamps/): one function
        choice = automatic_arcs(session, file)
        arcs = choice.candidates
        refused = [f"{a.file_name}: {why}" for a, why in choice.refused]
    else:
        arcs = _chosen_arcs(session, int(lamp_id), file)
    from .flux import flux_inputs_for_extraction  # it builds on this module's helpers

    return {
        "file_id": file.id,
        "path": file.full_path,
        "arc_paths": [a.full_path for a in arcs],
        "arc_ids": {a.full_path: a.id for a in arcs},
        # with a sensitivity at hand, the plan's flux step is carried here too
        "flux": flux_inputs_for_extraction(session, file, settings_id),
        # each arc's calibrated spectrum is made once, by the first extraction using it
        # (it is extracted along that target's trace: another one would differ)
        "arcs_calibrated": [a.file_name for a in arcs if _has_calibrated_product(session, a)],
        "arcs_refused": refused,
        "settings_id": settings_id,
        "settings": values,
        "out_dir": str(products_dir(data_root, file.date)),
        "raw_dir": str(Path(data_root) / "raw"),
    }


def execute_extract(request: WorkRequest) -> WorkResult:
    """Extract every target and calibrate it in wavelength (pipeline.spectroscopy.chain).

    Parameters
    ----------
    request : WorkRequest
        The job's kind and the inputs :func:`prepare_extract` gathered (run on a worker:
        no database).

    Returns
    -------
    WorkResult
        Each target's extracted spectrum (data_type 3, parented by the reduced frame) and
        its wavelength-calibrated spectrum (4, parented by the extracted one); an arc's
        calibrated spectrum when one was made (parented by the reduced arc); the
        flux-calibrated spectra (5) when the inputs carry the flux step. Notes give the
        reason of every target or arc left without a product.

    Raises
    ------
    RuntimeError
        No product at all and at least one step failed; the message joins the notes.
    """
    from pipeline.settings import ReductionSettings
    from pipeline.spectroscopy.chain import process_science

    inputs = request.inputs
    out_dir = Path(inputs["out_dir"])
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = ReductionSettings(**inputs["settings"])
    results = process_science(
        inputs["path"],
        inputs["arc_paths"],
        settings,
        out_dir,
        raw_dirs=[inputs["raw_dir"]],
        arcs_written=set(inputs.get("arcs_calibrated", ())),
    )
    out = WorkResult()
    extracted: dict[int | None, str] = {}
    for r in sorted(results, key=lambda r: r.data_type):
        label = f"target {r.target}: " if r.target else ""
        if r.reason or r.status != StepOutcome.WRITTEN:
            out.notes.append(f"{label}{r.status}: {r.reason}".strip())
        if not r.file:
            continue
        if r.data_type == DataType.EXTRACTED:
            extracted[r.target] = r.file
            out.products.append(
                ProductOut(
                    r.file, DataType.EXTRACTED, parent_file_id=inputs["file_id"], quality=r.quality
                )
            )
        elif r.target is None:
            # a calibrated arc (wecfzst_<arc>): its parent is the reduced arc
            arc_id = (inputs.get("arc_ids") or {}).get(r.parent_path)
            out.products.append(
                ProductOut(
                    r.file,
                    r.data_type,
                    parent_file_id=arc_id if arc_id is not None else inputs["file_id"],
                    quality=r.quality,
                )
            )
        else:
            parent = extracted.get(r.target)
            out.products.append(
                ProductOut(
                    r.file,
                    DataType(r.data_type),
                    parent_file_id=None if parent else inputs["file_id"],
                    parent_path=parent,
                    quality=r.quality,
                )
            )
    if inputs.get("arcs_refused") and not any(
        p.data_type == DataType.WAVELENGTH_CALIBRATED for p in out.products
    ):
        # the night's arcs of another setup, said where none could calibrate the frame
        out.notes.append("arcs of another setup: " + "; ".join(inputs["arcs_refused"]))
    if not out.products and any(r.status == StepOutcome.FAILED for r in results):
        raise RuntimeError("; ".join(out.notes) or "extraction failed")
    if inputs.get("flux"):
        from .flux import flux_products_inline

        spectra = [
            p
            for p in out.products
            if p.data_type == DataType.WAVELENGTH_CALIBRATED and p.parent_path is not None
        ]
        fluxed = flux_products_inline(
            inputs["flux"], spectra, str(out_dir), settings, inputs["raw_dir"]
        )
        # a spectrum left without data_type 5 comes back with the reason as its status
        given = {p.path: p for p in fluxed.products}
        out.products = [given.pop(p.path, p) for p in out.products] + list(given.values())
        out.notes += fluxed.notes
        out.carried += fluxed.carried
    return out


def _arcs_for_lamp(session: Session, lamp: File) -> list[File]:
    """The reduced arc(s) a chosen lamp stands for.

    A reduced arc (data_type 2) is itself; a raw arc (0) stands for its current reduced
    product; an extracted arc spectrum (3) for the reduced arc it was extracted from.
    """
    if not is_arc(lamp.obstype):
        raise InvalidState(
            f"lamp {lamp.id} ({lamp.file_name}) is not a comparison lamp (OBSTYPE "
            f"{lamp.obstype!r}); choose a file whose OBSTYPE is {'/'.join(ARC_OBSTYPES)}"
        )
    if lamp.data_type == DataType.REDUCED:
        return [lamp]
    if lamp.data_type == DataType.EXTRACTED:
        if lamp.parent_file is None or lamp.parent_file.data_type != DataType.REDUCED:
            raise InvalidState(
                f"lamp {lamp.id} ({lamp.file_name}) has no reduced arc as parent; "
                "choose the reduced (data_type 2) or raw arc instead"
            )
        return [lamp.parent_file]
    if lamp.data_type == DataType.RAW:
        reduced = list(
            session.scalars(
                select(File)
                .where(
                    File.parent_file_id == lamp.id,
                    File.data_type == DataType.REDUCED,
                    File.superseded_at.is_(None),
                    File.deleted_at.is_(None),
                )
                .order_by(File.id.desc())
            )
        )
        if not reduced:
            raise InvalidState(
                f"lamp {lamp.id} ({lamp.file_name}) is not reduced yet; reduce it first "
                "(POST api/files/reduce/) and choose it again"
            )
        return reduced[:1]
    raise InvalidState(
        f"lamp {lamp.id} ({lamp.file_name}) has data_type {lamp.data_type}; choose a raw "
        "(0), reduced (2) or extracted (3) arc"
    )


def _chosen_arcs(session: Session, lamp_id: int, science: File) -> list[File]:
    """The reduced arc(s) a chosen lamp stands for, if they may calibrate ``science``'s
    proposal (:meth:`AccessPolicy.calibrations_for`, the rule Automatic follows: staff
    see every proposal's arcs, and another proposal's arc would put its file name, which
    carries its target, in this proposal's ``GSP_LAMP``)."""
    try:
        lamp = get_file(session, lamp_id)
    except NotFound:
        raise InvalidState(f"lamp {lamp_id} no longer exists") from None
    arcs = _arcs_for_lamp(session, lamp)
    allowed = set(
        session.scalars(
            select(File.id).where(
                File.id.in_([a.id for a in arcs]),
                AccessPolicy.calibrations_for(science.proposal_id),
            )
        )
    )
    if any(a.id not in allowed for a in arcs):
        raise InvalidState(
            f"lamp {lamp_id} belongs to another proposal: arcs of "
            f"{science.proposal_id or 'no proposal'} or of no proposal only"
        )
    return arcs


def prepare_calibrate_wavelength(session: Session, job: Job, data_root: str) -> dict[str, Any]:
    """Extraction and wavelength calibration again, of the reduced frame behind a spectrum.

    The job names an extracted (data_type 3) or calibrated (4) spectrum, or the reduced
    frame itself; its reduced science frame is extracted again and calibrated with the
    chosen lamp only (``lamp_id``), or with the night's arcs when no lamp is given. The
    new products replace the older ones of that frame (:mod:`.products`).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The engine's session (read only here).
    job : Job
        The claimed job.
    data_root : str
        The data root (``GSP_DATA_ROOT``): products go under its ``products/``.

    Returns
    -------
    dict of str to object
        ``file_id`` and ``path`` (the reduced science frame, not the job's spectrum),
        ``arc_paths``, ``lamp_id`` (``None`` for the automatic choice), ``flux``
        (:func:`.flux.flux_inputs_for_extraction`'s answer), ``settings_id`` and
        ``settings``, ``out_dir`` and ``raw_dir``: what :func:`execute_calibrate_wavelength`
        reads.

    Raises
    ------
    InvalidState
        The job names no file, the file is gone or does not come from a reduced science
        frame, no arc of the frame's setup was found (the message lists the arcs of other
        setups and asks for a ``lamp_id``), or the chosen lamp cannot be used.
    """
    file = job_file(session, job)
    reduced = science_frame(session, file)
    settings_id, values = settings_for_job(session, job, reduced)
    lamp_id = (job.params or {}).get("lamp_id")
    if lamp_id is None:
        choice = automatic_arcs(session, reduced)
        arcs = choice.candidates
        if not arcs:
            others = "; ".join(f"{a.file_name}: {why}" for a, why in choice.refused)
            raise InvalidState(
                f"no reduced arc of this setup on {reduced.date} for {reduced.file_name}"
                + (f" (arcs of another setup: {others})" if others else "")
                + "; choose a lamp with lamp_id"
            )
    else:
        arcs = _chosen_arcs(session, int(lamp_id), reduced)
    from .flux import flux_inputs_for_extraction

    return {
        "file_id": reduced.id,
        "path": reduced.full_path,
        "arc_paths": [a.full_path for a in arcs],
        "lamp_id": lamp_id,
        "flux": flux_inputs_for_extraction(session, reduced, settings_id),
        "settings_id": settings_id,
        "settings": values,
        "out_dir": str(products_dir(data_root, reduced.date)),
        "raw_dir": str(Path(data_root) / "raw"),
    }


def execute_calibrate_wavelength(request: WorkRequest) -> WorkResult:
    """Extract and calibrate with the chosen arcs; refuse clearly if none can be used.

    Parameters
    ----------
    request : WorkRequest
        The job's kind and the inputs its ``prepare_*`` gathered (run on a worker: no
        database).
        Besides the extraction's, ``arc_paths``: the arcs chosen.

    Returns
    -------
    WorkResult
        As :func:`execute_extract`, with at least one wavelength-calibrated spectrum.

    Raises
    ------
    RuntimeError
        No wavelength-calibrated spectrum could be made; the message names the arcs and
        the reasons.
    """
    result = execute_extract(request)
    if not any(p.data_type == DataType.WAVELENGTH_CALIBRATED for p in result.products):
        names = ", ".join(Path(p).name for p in request.inputs["arc_paths"])
        raise RuntimeError(
            f"no wavelength-calibrated spectrum could be made with {names}: "
            + ("; ".join(result.notes) or "no reason given")
        )
    return result


def default_registry() -> HandlerRegistry:
    """Register the kinds this version runs.

    They are classify, reduce, master_bias, master_flat, extract, calibrate_wavelength and
    calibrate_flux.

    Returns
    -------
    HandlerRegistry
        One :class:`Handler` (kind, prepare, execute) per job kind.
    """
    from . import flux  # it builds on this module's helpers

    return HandlerRegistry(
        [
            Handler(JobKind.CLASSIFY, prepare_classify, execute_classify),
            Handler(JobKind.REDUCE, prepare_reduce, execute_reduce),
            Handler(JobKind.MASTER_BIAS, prepare_master_bias, execute_master_bias),
            Handler(JobKind.MASTER_FLAT, prepare_master_flat, execute_master_flat),
            Handler(JobKind.EXTRACT, prepare_extract, execute_extract),
            Handler(
                JobKind.CALIBRATE_WAVELENGTH,
                prepare_calibrate_wavelength,
                execute_calibrate_wavelength,
            ),
            Handler(
                JobKind.CALIBRATE_FLUX, flux.prepare_calibrate_flux, flux.execute_calibrate_flux
            ),
        ]
    )
