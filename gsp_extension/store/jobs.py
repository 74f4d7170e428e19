"""The job queue in the database: enqueue, claim, finish, fail with backoff, requeue.

The rows are the truth; executors (dask) only run what they claimed. A partial unique
index keeps one queued-or-running job per product key, so two processes can never make
the same product at once. Functions take an open session and do not commit, so a job can
be completed in the same transaction that registers its product.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import DuplicateJob, InvalidState, InvalidValue, NotFound
from .models import ACTIVE_JOB_STATES, File, Job
from .types import utcnow

#: Longest error text kept on a job (tracebacks can be huge).
MAX_ERROR_CHARS = 20_000


def backoff_delay(
    attempt: int,
    *,
    base: dt.timedelta = dt.timedelta(seconds=5),
    cap: dt.timedelta = dt.timedelta(minutes=10),
) -> dt.timedelta:
    """Compute the wait before retry ``attempt`` (1-based): ``base * 2**(attempt-1)``, capped.

    Parameters
    ----------
    attempt : int
        The retry's number, from 1.
    base : datetime.timedelta
        The first wait.
    cap : datetime.timedelta
        The longest wait.

    Returns
    -------
    datetime.timedelta
        The wait.

    Raises
    ------
    InvalidValue
        ``attempt`` below 1.
    """
    if attempt < 1:
        raise InvalidValue(f"attempt {attempt} must be >= 1")
    return min(cap, base * (2 ** (attempt - 1)))


def active_job(session: Session, product_key: str) -> Job | None:
    """Find the queued or running job holding ``product_key``.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    product_key : str
        The product's key (see :func:`enqueue`).

    Returns
    -------
    Job or None
        The job, or ``None`` when no queued or running job has that key.
    """
    return session.scalar(
        select(Job).where(Job.product_key == product_key, Job.state.in_(ACTIVE_JOB_STATES))
    )


def enqueue(
    session: Session,
    kind: str,
    product_key: str,
    *,
    file_id: int | None = None,
    proposal_id: int | None = None,
    settings_id: int | None = None,
    requested_by_id: int | None = None,
    params: Mapping[str, Any] | None = None,
    priority: int = 0,
    max_attempts: int = 3,
    run_after: dt.datetime | None = None,
) -> Job:
    """Queue a job to make the product named ``product_key``.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    kind : str
        What to run (``"reduce"``, ``"extract"``, ``"master_bias"``...).
    product_key : str
        Names the product (e.g. ``"reduce:1234:settings=7"``); equal keys mean the same
        product.
    file_id : int or None
        The file the job works on (``None`` for night-wide jobs such as masters).
    proposal_id : int or None
        The proposal the job belongs to (its members see it); ``None`` for shared work.
    settings_id : int or None
        The settings version the product is made with.
    requested_by_id : int or None
        The user who asked (``None`` for automatic jobs).
    params : mapping or None
        JSON-ready parameters of the job (a chosen lamp, a standard...).
    priority : int
        Higher runs first (manual actions before automatic ones).
    max_attempts : int
        Attempts before a transient failure becomes final (at least 1).
    run_after : datetime.datetime or None
        Not run before this time (UTC); ``None`` for as soon as possible.

    Returns
    -------
    Job
        The new job, ``queued``.

    Raises
    ------
    DuplicateJob
        When a job with this key is queued or running; ``.job_id`` names it.
    """
    if not kind or not product_key:
        raise InvalidValue("a job needs a kind and a product key, both non-empty")
    if max_attempts < 1:
        raise InvalidValue(f"max_attempts {max_attempts} must be >= 1")
    existing = active_job(session, product_key)
    if existing is not None:
        raise DuplicateJob(product_key, existing.id)
    job = Job(
        kind=kind,
        product_key=product_key,
        file_id=file_id,
        proposal_id=proposal_id,
        settings_id=settings_id,
        requested_by_id=requested_by_id,
        params=dict(params) if params is not None else None,
        priority=priority,
        max_attempts=max_attempts,
        run_after=run_after,
        state="queued",
    )
    try:
        with session.begin_nested():
            session.add(job)
    except IntegrityError:
        existing = active_job(session, product_key)
        if existing is None:
            raise
        raise DuplicateJob(product_key, existing.id) from None
    return job


def get_job(session: Session, job_id: int) -> Job:
    """Fetch the job with this id.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    job_id : int
        The job's id.

    Returns
    -------
    Job
        The job.

    Raises
    ------
    NotFound
        No job has this id.
    """
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id}")
    return job


def claim_next(
    session: Session,
    worker: str,
    *,
    kinds: Sequence[str] | None = None,
    now: dt.datetime | None = None,
) -> Job | None:
    """Take the next runnable job: highest priority, then oldest; ``None`` if none.

    The job becomes ``running``, its ``attempts`` grows by one. Safe when several
    workers claim at once: the state change is conditional, so one job goes to one worker.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    worker : str
        The claiming worker's name (recorded on the job).
    kinds : sequence of str or None
        Only jobs of these kinds; ``None`` or empty for any kind.
    now : datetime.datetime or None
        The current time, timezone-aware UTC; ``None`` means :func:`utcnow`.

    Returns
    -------
    Job or None
        The claimed job, now ``running``; ``None`` when nothing is runnable (or 20
        claims in a row were lost to other workers).
    """
    now = now or utcnow()
    postgres = session.get_bind().dialect.name == "postgresql"
    for _ in range(20):
        query = select(Job.id).where(
            Job.state == "queued", or_(Job.run_after.is_(None), Job.run_after <= now)
        )
        if kinds:
            query = query.where(Job.kind.in_(list(kinds)))
        query = query.order_by(Job.priority.desc(), Job.id).limit(1)
        if postgres:
            query = query.with_for_update(skip_locked=True)
        job_id = session.scalar(query)
        if job_id is None:
            return None
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == "queued")
            .values(
                state="running",
                worker=worker,
                started_at=now,
                finished_at=None,
                attempts=Job.attempts + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            return session.get(Job, job_id, populate_existing=True)
    return None


def _running(job: Job, worker: str | None) -> None:
    if job.state != "running":
        raise InvalidState(f"job {job.id} is {job.state}, not running; it cannot end now")
    if worker is not None and job.worker != worker:
        raise InvalidState(
            f"job {job.id} is held by worker {job.worker!r}, not {worker!r} (it was requeued)"
        )


def finish_job(
    session: Session,
    job: Job,
    *,
    product: File | None = None,
    worker: str | None = None,
    now: dt.datetime | None = None,
) -> Job:
    """Mark a running job done, recording its product.

    Register the product with :func:`gsp_extension.store.files.register_file` in the
    same session before calling this, so both commit together.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    job : Job
        The running job.
    product : File or None
        The product it made, recorded as ``product_file_id``; ``None`` when it made none.
    worker : str or None
        The worker that holds the job; when given, a job held by another worker (it was
        requeued) is refused. ``None`` skips that check.
    now : datetime.datetime or None
        The current time, timezone-aware UTC; ``None`` means :func:`utcnow`.

    Returns
    -------
    Job
        The job, ``done``.

    Raises
    ------
    InvalidState
        When the job is not running (or, given ``worker``, held by another worker).
    """
    _running(job, worker)
    job.state = "done"
    job.finished_at = now or utcnow()
    job.error = None
    if product is not None:
        session.flush()
        job.product_file_id = product.id
    session.flush()
    return job


def fail_job(
    session: Session,
    job: Job,
    error: str,
    *,
    transient: bool = False,
    worker: str | None = None,
    now: dt.datetime | None = None,
    base_delay: dt.timedelta = dt.timedelta(seconds=5),
    max_delay: dt.timedelta = dt.timedelta(minutes=10),
) -> Job:
    """Record a failure: a transient one is retried later, a permanent one is final.

    A transient error with attempts left puts the job back in the queue, runnable after
    :func:`backoff_delay`; otherwise the job ends ``failed`` with its error.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    job : Job
        The running job.
    error : str
        What went wrong (kept, cut to ``MAX_ERROR_CHARS``).
    transient : bool
        True when a retry may succeed (a lost connection), False for a permanent error.
    worker : str or None
        The worker that holds the job; when given, a job held by another worker (it was
        requeued) is refused. ``None`` skips that check.
    now : datetime.datetime or None
        The current time, timezone-aware UTC; ``None`` means :func:`utcnow`.
    base_delay, max_delay : datetime.timedelta
        First and longest wait before a retry (:func:`backoff_delay`).

    Returns
    -------
    Job
        The job, ``queued`` again with a ``run_after`` or ``failed``.

    Raises
    ------
    InvalidState
        When the job is not running.
    """
    _running(job, worker)
    now = now or utcnow()
    job.error = (error or "unknown error")[:MAX_ERROR_CHARS]
    job.worker = None
    if transient and job.attempts < job.max_attempts:
        job.state = "queued"
        job.run_after = now + backoff_delay(job.attempts, base=base_delay, cap=max_delay)
        job.started_at = None
    else:
        job.state = "failed"
        job.finished_at = now
    session.flush()
    return job


def release_job(
    session: Session,
    job: Job,
    reason: str,
    *,
    run_after: dt.datetime | None = None,
    worker: str | None = None,
) -> Job:
    """Put a running job back in the queue without spending an attempt.

    For a job that did not fail by itself: the scheduler, a worker, the database or the
    storage went away under it. ``reason`` is kept in ``error`` until it runs again.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    job : Job
        The running job.
    reason : str
        Why it was interrupted (kept in ``error``).
    run_after : datetime.datetime or None
        Not run again before this time (UTC); ``None`` for as soon as possible.
    worker : str or None
        The worker that holds the job; when given, a job held by another worker (it was
        requeued) is refused. ``None`` skips that check.

    Returns
    -------
    Job
        The job, ``queued``.

    Raises
    ------
    InvalidState
        When the job is not running (or, given ``worker``, held by another worker).
    """
    _running(job, worker)
    job.state = "queued"
    job.attempts = max(0, job.attempts - 1)
    job.error = (reason or "interrupted")[:MAX_ERROR_CHARS]
    job.worker = None
    job.started_at = None
    job.run_after = run_after
    session.flush()
    return job


#: Crashes of the engine a job may live through before it is taken for their cause.
MAX_INTERRUPTIONS = 5


def requeue_running(
    session: Session,
    *,
    worker: str | None = None,
    now: dt.datetime | None = None,
    max_interruptions: int = MAX_INTERRUPTIONS,
) -> list[Job]:
    """Put back in the queue the jobs left running by a crash (call at start).

    A crash is not the job's failure: the attempt it was on is given back, and the
    job's ``interruptions`` count grows instead. A job interrupted ``max_interruptions``
    times ends ``failed`` (it probably kills its process), so it cannot loop forever.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    worker : str, optional
        Only this worker's jobs (a worker restarting); all running jobs by default.
    now : datetime.datetime or None
        The current time, timezone-aware UTC; ``None`` means :func:`utcnow`.
    max_interruptions : int
        Interruptions after which a job ends ``failed``.

    Returns
    -------
    list of Job
        The jobs changed.
    """
    now = now or utcnow()
    query = select(Job).where(Job.state == "running")
    if worker is not None:
        query = query.where(Job.worker == worker)
    changed = list(session.scalars(query.with_for_update()))
    for job in changed:
        previous = job.worker
        job.worker = None
        job.started_at = None
        job.attempts = max(0, job.attempts - 1)
        job.interruptions = (job.interruptions or 0) + 1
        if job.interruptions >= max_interruptions:
            job.state = "failed"
            job.finished_at = now
            job.error = (
                f"interrupted {job.interruptions} times by a crash (last: worker "
                f"{previous!r}); giving up: it may be what kills its process"
            )
        else:
            job.state = "queued"
            job.run_after = None
    session.flush()
    return changed


def job_record(job: Job) -> dict[str, Any]:
    """Make a JSON-ready record of a job (for the API and the events).

    Parameters
    ----------
    job : Job
        The job.

    Returns
    -------
    dict of str to object
        Its fields, times as ISO 8601 text (``None`` when unset).
    """

    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "product_key": job.product_key,
        "file_id": job.file_id,
        "proposal_id": job.proposal_id,
        "settings_id": job.settings_id,
        "requested_by_id": job.requested_by_id,
        "params": job.params,
        "priority": job.priority,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "interruptions": job.interruptions,
        "error": job.error,
        "created_at": iso(job.created_at),
        "run_after": iso(job.run_after),
        "started_at": iso(job.started_at),
        "finished_at": iso(job.finished_at),
        "product_file_id": job.product_file_id,
    }
