"""What to do automatically: after new raw files, and after a job finished.

- a bias or flat frame: (re)build that night's masters of that kind;
- a science, standard or arc frame: reduce it with its proposal's current settings;
- new masters for a night: reduce that night's frames again (a better calibration);
- a wavelength-calibrated spectrum: flux-calibrate it (when its proposal's settings say
  so); a new sensitivity (a standard arrived): flux-calibrate that night's spectra again.

Jobs are queued at automatic priority (0; manual actions come first). A product already
being made by a *running* job is marked to be made again when that job ends, so a flat
arriving during a master build is not left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gsp_extension.store.errors import DuplicateJob, InvalidState
from gsp_extension.store.jobs import enqueue
from gsp_extension.store.models import File, Job
from gsp_extension.store.proposals import get_proposal_by_soar_id
from gsp_extension.store.settings import get_settings
from gsp_extension.vocabulary import ACTIVE_JOB_STATES, FileStatus, JobKind, JobState
from pipeline.vocabulary import DataType, FrameRole

from .handlers import MASTER_INPUT_STATUSES

AUTOMATIC_PRIORITY = 0
_REDUCIBLE = {FrameRole.SCIENCE, FrameRole.STANDARD, FrameRole.ARC}
_SPECTRA_SOURCES = (FrameRole.SCIENCE, FrameRole.STANDARD)
#: The master each calibration role makes.
_MASTER_KIND = {FrameRole.BIAS: JobKind.MASTER_BIAS, FrameRole.FLAT: JobKind.MASTER_FLAT}


def role_of(file: File) -> FrameRole:
    """The classifier's role of a registered raw file, from its stored header."""
    from pipeline.classify import classify

    header: dict[str, Any] = {}
    for keyword, value, _comment in file.header or []:
        header.setdefault(keyword, value)
    return FrameRole(classify(header).role)


def _queue(session: Session, kind: str, key: str, **kwargs: Any) -> Job | None:
    for _ in range(5):
        try:
            return enqueue(session, kind, key, priority=AUTOMATIC_PRIORITY, **kwargs)
        except DuplicateJob as dup:
            # Lock the holder so it cannot finish unseen between our look and our mark.
            active = session.get(Job, dup.job_id, with_for_update=True, populate_existing=True)
            if active is None or active.state not in ACTIVE_JOB_STATES:
                continue  # it just ended: queue ours
            if active.state == JobState.RUNNING:
                active.params = {**(active.params or {}), "again": True}
                session.flush()
            # A queued holder reads the database when it starts: it will see our input.
            return None
    return None


def _reduce(session: Session, file: File) -> Job | None:
    proposal = get_proposal_by_soar_id(session, file.proposal_id) if file.proposal_id else None
    settings_id = get_settings(session, proposal.id).id if proposal is not None else None
    return _queue(
        session,
        JobKind.REDUCE,
        f"reduce:{file.id}:settings={settings_id}",
        file_id=file.id,
        proposal_id=proposal.id if proposal is not None else None,
        settings_id=settings_id,
        params={"file_id": file.id, "settings_id": settings_id},
    )


def _extract(session: Session, reduced: File) -> Job | None:
    proposal = (
        get_proposal_by_soar_id(session, reduced.proposal_id) if reduced.proposal_id else None
    )
    settings_id = get_settings(session, proposal.id).id if proposal is not None else None
    return _queue(
        session,
        JobKind.EXTRACT,
        f"extract:{reduced.id}:settings={settings_id}:lamp=auto",
        file_id=reduced.id,
        proposal_id=proposal.id if proposal is not None else None,
        settings_id=settings_id,
        params={"file_id": reduced.id, "settings_id": settings_id, "lamp_id": None},
    )


def _flux_enabled(session: Session, file: File) -> tuple[bool, int | None, int | None]:
    """Whether a frame's proposal flux-calibrates (its settings), with the ids to queue."""
    from gsp_extension.store.settings import flux_settings_values

    proposal = get_proposal_by_soar_id(session, file.proposal_id) if file.proposal_id else None
    if proposal is None:
        return True, None, None  # unowned frames: SOAR's defaults (flux calibration on)
    row = get_settings(session, proposal.id)
    return bool(flux_settings_values(row)["flux_calibration"]), proposal.id, row.id


def _flux(session: Session, reduced: File, *, refresh: bool = False) -> Job | None:
    enabled, proposal_id, settings_id = _flux_enabled(session, reduced)
    if not enabled:
        return None
    return _queue(
        session,
        JobKind.CALIBRATE_FLUX,
        f"calibrate_flux:{reduced.id}:standard=auto",
        file_id=reduced.id,
        proposal_id=proposal_id,
        settings_id=settings_id,
        params={"file_id": reduced.id, "standard_id": None, "refresh": refresh},
    )


def _flux_followups(session: Session, job: Job, products: list[File]) -> list[Job | None]:
    """Flux calibration after a wavelength calibration; after a new sensitivity, the
    night's spectra it may calibrate are done again (those that need it, :mod:`.flux`)."""
    from .flux import reduced_frame_of, usable_frames_for_sensitivity

    if job.kind in (JobKind.EXTRACT, JobKind.CALIBRATE_WAVELENGTH):
        spectra = [
            p
            for p in products
            if p.data_type == DataType.WAVELENGTH_CALIBRATED
            and p.parent_file is not None
            and p.parent_file.data_type == DataType.EXTRACTED
        ]
        frames = {}
        for spectrum in spectra:
            try:
                frame = reduced_frame_of(session, spectrum)
            except InvalidState:
                continue  # no reduced frame behind it (registered by hand): nothing to do
            frames[frame.id] = frame
        return [_flux(session, f) for f in frames.values()]
    if job.kind == JobKind.CALIBRATE_FLUX:
        masters = [p for p in products if p.data_type == DataType.MASTER_CALIBRATION]
        return [
            _flux(session, frame, refresh=True)
            for master in masters
            for frame in usable_frames_for_sensitivity(session, master, job.file_id)
        ]
    return []


def _night_reduced_science(session: Session, arc: File) -> list[File]:
    if arc.date is None:
        return []
    rows = session.scalars(
        select(File).where(
            File.date == arc.date,
            File.data_type == DataType.REDUCED,
            File.superseded_at.is_(None),
            File.deleted_at.is_(None),
        )
    )
    return [
        f for f in rows if f.parent_file is not None and role_of(f.parent_file) in _SPECTRA_SOURCES
    ]


def plan_for_new_files(session: Session, file_ids: Iterable[int]) -> list[Job]:
    """Queue the work that new raw files make possible now.

    A file whose work is queued (or already under way) goes from ``classified`` to
    ``processing``; files with nothing to do (focus frames...) stay ``classified``.
    """
    queued: list[Job | None] = []
    for file in session.scalars(select(File).where(File.id.in_(list(file_ids)))):
        if (
            file.data_type != DataType.RAW
            or file.status != FileStatus.CLASSIFIED
            or file.superseded_at
        ):
            continue
        role = role_of(file)
        if role in _MASTER_KIND and file.date is not None:
            night = file.date.isoformat()
            kind = _MASTER_KIND[role]
            queued.append(_queue(session, kind, f"{kind}:{night}", params={"date": night}))
        elif role in _REDUCIBLE:
            queued.append(_reduce(session, file))
        else:
            continue
        file.status, file.status_reason = FileStatus.PROCESSING, None
    session.flush()
    return [j for j in queued if j is not None]


def plan_recent(session: Session, since: dt.datetime) -> list[Job]:
    """Catch up after a crash: plan raw files registered since ``since`` and never planned.

    Bounded in time on purpose: an archive registered with ``gsp ingest`` is not
    reduced wholesale at the next start.
    """
    ids = session.scalars(
        select(File.id).where(
            File.data_type == DataType.RAW,
            File.status == FileStatus.CLASSIFIED,
            File.superseded_at.is_(None),
            File.created >= since,
        )
    )
    return plan_for_new_files(session, list(ids))


def plan_after_job(session: Session, job: Job, products: list[File]) -> list[Job]:
    """Queue follow-ups of a finished job (a repeat it was asked for; re-reductions)."""
    queued: list[Job | None] = []
    params = dict(job.params or {})
    if params.pop("again", False):
        queued.append(
            _queue(
                session,
                job.kind,
                job.product_key,
                file_id=job.file_id,
                proposal_id=job.proposal_id,
                settings_id=job.settings_id,
                params=params,
            )
        )
    if job.kind == JobKind.REDUCE and products:
        reduced = [p for p in products if p.data_type == DataType.REDUCED]
        for product in reduced:
            role = role_of(product.parent_file) if product.parent_file is not None else None
            if role in _SPECTRA_SOURCES:
                queued.append(_extract(session, product))
            elif role is FrameRole.ARC:
                # A new arc is a better calibration for the night's spectra.
                queued += [_extract(session, f) for f in _night_reduced_science(session, product)]
    queued += _flux_followups(session, job, products)
    if job.kind in _MASTER_KIND.values() and products:
        night = dt.date.fromisoformat(params["date"])
        frames = session.scalars(
            select(File).where(
                File.date == night,
                File.data_type == DataType.RAW,
                File.status.in_(MASTER_INPUT_STATUSES),
                File.superseded_at.is_(None),
            )
        )
        queued += [_reduce(session, f) for f in frames if role_of(f) in _REDUCIBLE]
    return [j for j in queued if j is not None]
