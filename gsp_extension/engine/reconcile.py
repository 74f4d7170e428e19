"""Nothing stays ``processing`` for ever: raw files whose state no live job explains.

A raw file is ``processing`` while a job that will settle it is queued or running: its
``reduce`` job, or its night's master build for a bias or a flat. A crash, a job that
gave up or a bug can leave a file ``processing`` with no such job. The reconciler (at
start and periodically) finds those files and:

- when the last job meant for it ended ``failed``, marks the file ``failed`` with that
  job's error (the reason users see; an action can run it again);
- when that job ended ``done`` without settling it, puts it back to ``classified`` with
  the reason (planning it again could loop);
- when no job was ever queued for it, puts it back to ``classified`` and plans it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gsp_extension.store.files import set_file_status
from gsp_extension.store.models import File, Job
from gsp_extension.vocabulary import ACTIVE_JOB_STATES, FileStatus, JobKind, JobState
from pipeline.vocabulary import DataType, FrameRole

from .planner import plan_for_new_files, role_of

_MASTER_KIND = {FrameRole.BIAS: JobKind.MASTER_BIAS, FrameRole.FLAT: JobKind.MASTER_FLAT}


@dataclass
class Reconciled:
    """What one pass changed: files marked failed, released, planned again; jobs queued."""

    failed: list[int] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    replanned: list[int] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)


def _last_job(session: Session, file: File, role: FrameRole) -> Job | None:
    if role in _MASTER_KIND:
        if file.date is None:
            return None
        key = f"{_MASTER_KIND[role]}:{file.date.isoformat()}"
        query = select(Job).where(Job.product_key == key)
    else:
        query = select(Job).where(Job.kind == JobKind.REDUCE, Job.file_id == file.id)
    return session.scalar(query.order_by(Job.id.desc()).limit(1))


def reconcile(session: Session, *, settle: dt.timedelta = dt.timedelta(0)) -> Reconciled:
    """Settle the raw files left ``processing`` with no queued or running job for them.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    settle : timedelta
        A file is left alone while its last job ended less than this long ago (its
        follow-up may be about to be queued by the engine that finished it).

    Returns
    -------
    Reconciled
        The ids of the files marked failed, released and planned again, and the jobs
        queued, in this pass.
    """
    out = Reconciled()
    files = session.scalars(
        select(File).where(
            File.data_type == DataType.RAW,
            File.status == FileStatus.PROCESSING,
            File.superseded_at.is_(None),
        )
    )
    now = dt.datetime.now(dt.UTC)
    for file in list(files):
        role = role_of(file)
        last = _last_job(session, file, role)
        if last is not None and last.state in ACTIVE_JOB_STATES:
            continue
        if last is not None and last.finished_at is not None:
            finished = last.finished_at
            if finished.tzinfo is None:
                finished = finished.replace(tzinfo=dt.UTC)
            if now - finished < settle:
                continue
        if last is not None and last.state == JobState.FAILED:
            reason = f"{last.kind} job {last.id} failed: {last.error or 'no reason given'}"
            set_file_status(session, file, FileStatus.FAILED, reason[:2000])
            out.failed.append(file.id)
            continue
        if last is not None:
            reason = f"{last.kind} job {last.id} ended {last.state} without settling this file"
            set_file_status(session, file, FileStatus.CLASSIFIED, reason)
            out.released.append(file.id)
            continue
        set_file_status(session, file, FileStatus.CLASSIFIED, None)
        out.replanned.append(file.id)
    if out.replanned:
        out.jobs = plan_for_new_files(session, out.replanned)
    return out
