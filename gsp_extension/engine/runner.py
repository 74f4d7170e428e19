"""The job engine loop: requeue at start, claim, execute on the executor, complete.

The database is the truth: a job is claimed (``running``) in one transaction, its work
runs on the executor (dask), and its products are registered in the same transaction
that marks it done. A crash anywhere leaves the job ``running``; the next start puts it
back in the queue. Transient errors (files busy, a worker lost) retry with backoff;
any other error ends the job ``failed`` with the error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import logging
import os
import socket
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from gsp_extension.store import Database
from gsp_extension.store.activity import log_event
from gsp_extension.store.errors import StoreError
from gsp_extension.store.files import set_file_status
from gsp_extension.store.jobs import (
    claim_next,
    fail_job,
    finish_job,
    get_job,
    job_record,
    release_job,
    requeue_running,
)
from gsp_extension.store.models import Job
from gsp_extension.store.types import utcnow
from gsp_extension.vocabulary import FileStatus, JobKind, JobState
from pipeline.products import STORAGE_ERRNOS as PIPELINE_STORAGE_ERRNOS

from .arc_repair import repair_foreign_arcs
from .events import EventBus, InProcessEventBus
from .executors import Executor
from .fencing import (
    attempts_root,
    discard,
    discard_all,
    new_token,
    private_inputs,
    publish,
    sweep_attempts,
    writable,
)
from .handlers import HandlerRegistry, default_registry
from .planner import plan_after_job, plan_for_new_files, plan_recent
from .products import complete_job, sweep_orphans, sweep_superseded
from .reconcile import reconcile
from .work import Outdated, TransientError, WorkRequest, WorkResult

log = logging.getLogger(__name__)

#: Exception class names (dask/distributed, tornado) that mean "the worker went away".
TRANSIENT_NAMES = {"KilledWorker", "CommClosedError", "StreamClosedError", "FutureCancelledError"}


#: OS errors that say "not now" rather than "never": a busy or locked file, an interrupted
#: call, a stale network-file handle, no file descriptor free for the moment.
TRANSIENT_ERRNOS = frozenset(
    {
        errno.EAGAIN,
        errno.EBUSY,
        errno.EINTR,
        errno.ETIMEDOUT,
        errno.ESTALE,
        errno.ENOLCK,
        errno.ETXTBSY,
        errno.EMFILE,
        errno.ENFILE,
    }
)


#: OS errors of the storage rather than of a file: permissions taken away, a full or
#: read-only disk, an I/O error, a stale network-file handle. The storage comes back (an
#: operator fixes it); the job then runs as it would have.
STORAGE_ERRNOS = PIPELINE_STORAGE_ERRNOS  # one list: the pipeline re-raises these

#: Exception class names of the database connection lost (SQLAlchemy, psycopg, sqlite3).
DATABASE_LOST = frozenset({"OperationalError", "InterfaceError"})


def causes(exc: BaseException) -> list[BaseException]:
    """List ``exc`` and the exceptions it was raised from (``__cause__``, else ``__context__``).

    The pipeline wraps an ``OSError`` in a ``RuntimeError`` that names the frame: the
    storage error under it decides whether the job is worth retrying.

    Parameters
    ----------
    exc : BaseException
        The exception a job raised.

    Returns
    -------
    list of BaseException
        ``exc`` first, then each cause in turn (a suppressed context ends the chain; at
        most 20, a loop is cut).
    """
    chain: list[BaseException] = []
    while exc is not None and exc not in chain and len(chain) < 20:
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return chain


def infrastructure_fault(exc: BaseException) -> str | None:
    """Tell which part of the infrastructure ``exc`` blames, if any.

    Such a job is queued again without spending an attempt, for as long as it takes.

    Parameters
    ----------
    exc : BaseException
        The exception a job raised.

    Returns
    -------
    str or None
        ``"scheduler"``, ``"storage"`` or ``"database"`` (looking through the whole
        :func:`causes` chain); ``None`` when the job failed by itself.
    """
    from .executors import CONNECTION_LOST
    from .work import ExecutorUnavailable, InfrastructureError

    for cause in causes(exc):
        if isinstance(cause, ExecutorUnavailable) or type(cause).__name__ in CONNECTION_LOST:
            return "scheduler"
        if isinstance(cause, InfrastructureError):
            return getattr(cause, "fault", None) or "scheduler"
        if isinstance(cause, OSError) and cause.errno in STORAGE_ERRNOS:
            return "storage"
        if type(cause).__name__ in DATABASE_LOST and "sql" in type(cause).__module__.lower():
            return "database"
        if type(cause).__module__.startswith("psycopg") and "Connection" in type(cause).__name__:
            return "database"
    return None


def is_transient(exc: BaseException) -> bool:
    """Whether a failure is worth retrying.

    An ``OSError`` is transient only for the errnos of :data:`TRANSIENT_ERRNOS` (and for
    its subclasses that mean "try again": blocking, interrupted, timed out, connection).
    astropy raises a bare ``OSError`` for a corrupt FITS file, which no retry can mend.
    Infrastructure faults (:func:`infrastructure_fault`), also under a wrapping
    exception, are transient.

    Parameters
    ----------
    exc : BaseException
        The exception a job raised.

    Returns
    -------
    bool
        True when a retry may succeed.
    """
    if infrastructure_fault(exc) is not None:
        return True
    if isinstance(exc, TransientError | TimeoutError | ConnectionError):
        return True
    if isinstance(exc, BlockingIOError | InterruptedError):
        return True
    if isinstance(exc, OSError):
        return exc.errno in TRANSIENT_ERRNOS
    return type(exc).__name__ in TRANSIENT_NAMES


#: Tries at the transaction that registers a job's products, when the database breaks
#: a lock conflict between two completing jobs (PostgreSQL deadlock detection).
COMPLETE_ATTEMPTS = 4

#: SQLSTATEs of a transaction rolled back for a conflict with another: retry it whole.
_LOCK_CONFLICTS = {"40P01", "40001"}  # deadlock_detected, serialization_failure


def is_lock_conflict(exc: BaseException) -> bool:
    """Tell whether ``exc`` is the database refusing a transaction for a concurrent one.

    Parameters
    ----------
    exc : BaseException
        An exception from a transaction (SQLAlchemy's, wrapping the driver's).

    Returns
    -------
    bool
        True for SQLSTATE 40P01 (deadlock detected) or 40001 (serialization failure): the
        transaction may be retried whole.
    """
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _LOCK_CONFLICTS


def _warn(session: Any, text: str, event: str) -> None:
    """A warning for the service's log and the staff's (no file, no proposal)."""
    log.warning("gsp: %s", text)
    log_event(session, text, level="WARNING", event=event, flush=False)


@dataclass
class EngineHealth:
    """What the engine knows about itself, for ``GET api/health/`` and the periodic log.

    Attributes
    ----------
    fault : str or None
        The part of the infrastructure failing now (``"scheduler"``, ``"storage"``,
        ``"database"``), ``None`` when all is well.
    fault_since : datetime or None
        When it started failing (UTC).
    fault_error : str or None
        The last error it gave.
    last_product_at : datetime or None
        When a job last completed (UTC).
    """

    started_at: dt.datetime = field(default_factory=utcnow)
    fault: str | None = None
    fault_since: dt.datetime | None = None
    fault_error: str | None = None
    last_product_at: dt.datetime | None = None
    faults: int = 0


@dataclass(frozen=True)
class _Claimed:
    job_id: int
    request: WorkRequest


class JobEngine:
    """Runs queued jobs until stopped.

    Parameters
    ----------
    db : Database
    data_root : path-like
        ``GSP_DATA_ROOT``.
    executor : Executor
        :class:`~gsp_extension.engine.executors.DaskExecutor` in the service.
    registry : HandlerRegistry, optional
        Job kinds this engine runs (default: :func:`default_registry`).
    bus : EventBus, optional
        Receives ``job.*`` events (default: a new in-process bus).
    slots : int
        Jobs in flight at once (match the executor's workers).
    poll_seconds : float
        How often the queue is looked at when idle.
    plan : bool
        Queue follow-up work automatically (:mod:`~gsp_extension.engine.planner`).
    retry_base_delay, retry_max_delay : float
        Backoff of transient failures, seconds: ``base * 2**(attempt-1)``, capped.
    catch_up_hours : float
        At start, raw files registered this recently but never planned (a crash between
        registering and planning) are planned.
    drain_seconds : float
        At stop, how long jobs in flight may take to finish before they are abandoned
        (still ``running`` in the database: the next start queues them again).
    fault_base_delay, fault_max_delay : float
        Backoff while the infrastructure fails (scheduler, storage, database), seconds:
        no job is claimed meanwhile; doubled at each new failure, capped. The jobs it
        interrupted are queued again without spending an attempt.
    reconcile_seconds : float
        How often raw files left ``processing`` with no job behind them are settled
        (:func:`~.reconcile.reconcile`; also at start).
    sweep_seconds : float
        How often attempt folders of attempts not in flight are removed
        (:func:`~.fencing.sweep_attempts`: an abandoned task may write after the start).
    probe_seconds : float
        While the storage fails, how often the folder that failed is tried: once it is
        writable again (after the probe saw it fail), jobs resume at once instead of
        waiting out the backoff.
    """

    def __init__(
        self,
        db: Database,
        data_root: str | os.PathLike[str],
        executor: Executor,
        *,
        registry: HandlerRegistry | None = None,
        bus: EventBus | None = None,
        worker: str | None = None,
        slots: int = 2,
        poll_seconds: float = 1.0,
        plan: bool = True,
        retry_base_delay: float = 5.0,
        retry_max_delay: float = 600.0,
        catch_up_hours: float = 24.0,
        drain_seconds: float = 30.0,
        fault_base_delay: float = 2.0,
        fault_max_delay: float = 60.0,
        reconcile_seconds: float = 60.0,
        sweep_seconds: float = 10.0,
        probe_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.data_root = os.fspath(data_root)
        self.executor = executor
        self.registry = registry or default_registry()
        self.bus: EventBus = bus or InProcessEventBus()
        self.worker = worker or f"engine@{socket.gethostname()}:{os.getpid()}"
        self.slots = slots
        self.poll_seconds = poll_seconds
        self.plan = plan
        self.catch_up_hours = catch_up_hours
        self.drain_seconds = drain_seconds
        self.retry_delays = (
            dt.timedelta(seconds=retry_base_delay),
            dt.timedelta(seconds=retry_max_delay),
        )
        self.fault_delays = (fault_base_delay, fault_max_delay)
        self.reconcile_seconds = reconcile_seconds
        self.sweep_seconds = sweep_seconds
        self.probe_seconds = probe_seconds
        self.health = EngineHealth()
        #: Tokens of this engine's attempts in flight (their folders are not swept).
        self._in_flight_attempts: set[str] = set()
        self._next_sweep = 0.0
        #: The folder a storage fault was met in, and whether the probe saw it fail.
        self._storage_probe: str | None = None
        self._probe_failed = False
        self._next_probe = 0.0
        self._fault_streak = 0
        self._pause_until = 0.0
        self._stopping = False
        self._abandoned: list[tuple[int, str]] = []
        #: Set while this engine does not hold the engine lock: no job is claimed.
        self.suspended = False
        self._wake = asyncio.Event()

    # --- hooks ------------------------------------------------------------------------------

    def wake(self) -> None:
        """Look at the queue now (call after queuing a job in this process)."""
        self._wake.set()

    def files_registered(self, file_ids: list[int]) -> list[int]:
        """Plan work for newly registered raw files (the watcher's hook); returns job ids."""
        if not self.plan or not file_ids:
            return []
        with self.db.transaction() as session:
            jobs = plan_for_new_files(session, file_ids)
            records = [job_record(j) for j in jobs]
        for record in records:
            self.bus.publish("job.queued", record)
        self._wake.set()
        return [r["id"] for r in records]

    # --- synchronous steps (worker threads) -------------------------------------------------

    def requeue_at_start(self) -> list[dict[str, Any]]:
        """Queue again the jobs a crash left running, and plan files a crash left unplanned.

        Product files that such a job wrote without registering them are taken out of
        ``products/`` (:func:`~.products.sweep_orphans`), and the files of replaced
        products moved to ``superseded/`` (:func:`~.products.sweep_superseded`): this
        engine is the only one running jobs on this database, and none runs yet. Spectra
        calibrated with another proposal's arc by an older version are calibrated again
        (:func:`~.arc_repair.repair_foreign_arcs`).
        """
        with self.db.transaction() as session:
            abandoned = [
                (j.id, j.attempt_token)
                for j in session.scalars(select(Job).where(Job.state == JobState.RUNNING))
                if j.attempt_token
            ]
            jobs = requeue_running(session)
            interrupted = {j.id for j in jobs}
            # What abandoned attempts wrote was never published: dropped whole.
            discard_all(self.data_root)
            sweep_orphans(session, self.data_root)
            sweep_superseded(session, self.data_root)
            jobs += self._repair_arcs(session)
            if self.plan:
                since = utcnow() - dt.timedelta(hours=self.catch_up_hours)
                jobs += plan_recent(session, since)
            jobs += self._reconcile(session)
            for job in jobs:
                if job.id not in interrupted:
                    continue  # newly planned, not interrupted
                log_event(
                    session,
                    f"{job.kind} job {job.id} was interrupted (service restart): "
                    + ("queued again" if job.state == JobState.QUEUED else job.error or "failed"),
                    level="WARNING",
                    event="job.requeued" if job.state == JobState.QUEUED else "job.failed",
                    job=job,
                    flush=False,
                )
            records = [job_record(j) for j in jobs]
        for record in records:
            self.bus.publish(f"job.{record['state']}", record)
        self._abandoned = abandoned
        return records

    def _reconcile(self, session: Any) -> list:
        out = reconcile(session)
        if out.failed or out.released or out.replanned:
            text = (
                f"raw files left processing with no job: {len(out.failed)} marked failed "
                f"(their job had failed), {len(out.released)} back to classified, "
                f"{len(out.replanned)} planned again"
            )
            _warn(session, text, "files.reconciled")
        return out.jobs

    def _repair_arcs(self, session: Any) -> list:
        out = repair_foreign_arcs(session)
        if out.redacted:
            # no file name here: this entry is staff's, the proposals' own say which
            text = (
                f"{len(out.redacted)} spectra named an arc of another proposal in GSP_LAMP "
                f"(name withheld): {len(out.requeued)} frames calibrated again, "
                f"{len(out.withdrawn)} spectra withdrawn (no arc of their own)"
            )
            _warn(session, text, "files.arcs_withheld")
        return out.jobs

    def reconcile_now(self) -> list[dict[str, Any]]:
        """Settle stranded ``processing`` files now (run periodically); queued job records."""
        with self.db.transaction() as session:
            records = [job_record(j) for j in self._reconcile(session)]
        for record in records:
            self.bus.publish("job.queued", record)
        return records

    def claim(self) -> _Claimed | None:
        """Claim the next job this engine can run and prepare its work request."""
        failed = skipped = None
        with self.db.transaction() as session:
            job = claim_next(session, self.worker, kinds=self.registry.kinds)
            if job is None:
                return None
            job.attempt_token = token = new_token()
            handler = self.registry.get(job.kind)
            assert handler is not None  # claim_next only returns registered kinds
            try:
                with session.begin_nested():
                    inputs = handler.prepare(session, job, self.data_root)
            except Outdated as exc:
                finish_job(session, job, worker=self.worker)
                log_event(
                    session,
                    f"{job.kind} job {job.id} not needed: {exc}",
                    event="job.done",
                    job=job,
                )
                skipped = job_record(job)
            except StoreError as exc:
                fail_job(session, job, str(exc), transient=False, worker=self.worker)
                log_event(
                    session,
                    f"{job.kind} job {job.id} cannot run: {exc}",
                    level="ERROR",
                    event="job.failed",
                    job=job,
                )
                failed = job_record(job)
            else:
                record = job_record(job)
                request = WorkRequest(
                    job.id,
                    job.kind,
                    dict(job.params or {}),
                    self.data_root,
                    private_inputs(self.data_root, token, inputs),
                    attempt=token,
                )
        if failed is not None or skipped is not None:
            self.bus.publish(*(("job.failed", failed) if failed else ("job.done", skipped)))
            return _Claimed(-1, WorkRequest(-1, "", {}, self.data_root))
        self.bus.publish("job.running", record)
        log.info("gsp: %s job %s claimed", record["kind"], record["id"])
        return _Claimed(record["id"], request)

    def complete(self, claimed: _Claimed, result: WorkResult) -> dict[str, Any]:
        """Publish and register what the attempt made, if it still owns the job."""
        token = claimed.request.attempt
        with self.db.transaction() as session:
            job = get_job(session, claimed.job_id)
            session.refresh(job, with_for_update=True)
            if (
                job.state != JobState.RUNNING
                or job.worker != self.worker
                or job.attempt_token != token
            ):
                # Taken back meanwhile (a restart, another engine): this attempt is stale;
                # what it made is never published nor registered.
                log.warning(
                    "gsp: job %s attempt %s is stale (the job is %s, attempt %s): "
                    "its products are dropped",
                    job.id,
                    token,
                    job.state,
                    job.attempt_token,
                )
                return job_record(job)
            result = publish(self.data_root, token, result)
            products = complete_job(session, job, claimed.request, result, worker=self.worker)
            followups = (
                plan_after_job(session, job, products, carried=result.carried) if self.plan else []
            )
            record = job_record(job)
            queued = [job_record(j) for j in followups]
        self.bus.publish("job.done", record)
        log.info("gsp: %s job %s done (%d product(s))", record["kind"], record["id"], len(products))
        for q in queued:
            self.bus.publish("job.queued", q)
        return record

    # --- infrastructure faults -----------------------------------------------------------

    def note_fault(self, fault: str, error: str) -> float:
        """Record that ``fault`` (scheduler, storage, database) failed; returns the pause.

        The first failure of a streak is logged as an alert; claiming pauses with
        backoff until the pause ends (then one job probes whether it is back).
        """
        base, cap = self.fault_delays
        self._fault_streak += 1
        delay = min(cap, base * 2 ** (self._fault_streak - 1))
        self._pause_until = time.monotonic() + delay
        self._alert(fault, error)
        return delay

    def _alert(self, fault: str, error: str) -> None:
        health = self.health
        if health.fault != fault:
            health.fault, health.fault_since = fault, utcnow()
            health.faults += 1
            log.warning(
                "gsp ALERT: %s unavailable: %s; jobs wait, and those it interrupted are "
                "queued again without spending an attempt, until it is back",
                fault,
                error,
            )
        health.fault_error = error

    def note_ok(self) -> None:
        """A job went through: whatever failed is back."""
        health = self.health
        if health.fault is not None:
            down = (utcnow() - health.fault_since).total_seconds() if health.fault_since else 0
            log.warning("gsp: %s is back after %.0f s; processing resumed", health.fault, down)
        health.fault = health.fault_since = health.fault_error = None
        self._fault_streak = 0
        self._pause_until = 0.0
        self._storage_probe, self._probe_failed = None, False

    def ready(self) -> bool:
        """Whether jobs may be claimed now (executor connected, no fault pause)."""
        if self.suspended:
            return False
        if not getattr(self.executor, "connected", True):
            if not getattr(self.executor, "starting", False):  # a start is no outage
                self._alert("scheduler", "no dask scheduler connected")
            return False
        if self.health.fault == "scheduler":
            self.note_ok()  # connected again: no need to wait out the backoff
        return time.monotonic() >= self._pause_until

    def release(self, claimed: _Claimed, fault: str, text: str) -> dict[str, Any]:
        """Queue a job again that the infrastructure (``fault``) interrupted."""
        delay = self.note_fault(fault, text)
        with self.db.transaction() as session:
            job = get_job(session, claimed.job_id)
            session.refresh(job, with_for_update=True)
            if job.state != JobState.RUNNING or job.worker != self.worker:
                return job_record(job)
            release_job(
                session,
                job,
                f"{fault} unavailable: {text}",
                run_after=utcnow() + dt.timedelta(seconds=delay),
                worker=self.worker,
            )
            log_event(
                session,
                f"{job.kind} job {job.id} interrupted ({fault} unavailable), queued again "
                f"without spending an attempt: {text}",
                level="WARNING",
                event="job.requeued",
                job=job,
            )
            record = job_record(job)
        self.bus.publish("job.queued", record)
        return record

    def fail(self, claimed: _Claimed, exc: BaseException) -> dict[str, Any]:
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        fault = infrastructure_fault(exc)
        if fault is not None:
            root = causes(exc)[-1]
            if root is not exc:  # the wrapped error says what failed: a full disk...
                text += f" (from {type(root).__name__}: {root})"
            if fault == "storage":
                self._storage_probe = self._failed_folder(exc)
            return self.release(claimed, fault, text)
        transient = is_transient(exc)
        with self.db.transaction() as session:
            job = get_job(session, claimed.job_id)
            session.refresh(job, with_for_update=True)
            if job.state != JobState.RUNNING or job.worker != self.worker:
                return job_record(job)  # taken back meanwhile (requeued by a restart)
            fail_job(
                session,
                job,
                text,
                transient=transient,
                worker=self.worker,
                base_delay=self.retry_delays[0],
                max_delay=self.retry_delays[1],
            )
            retry = job.state == JobState.QUEUED
            subject = get_job(session, job.id).file
            if not retry and job.kind == JobKind.REDUCE and subject is not None:
                set_file_status(session, subject, FileStatus.FAILED, f"{job.kind}: {text}"[:2000])
            log_event(
                session,
                f"{job.kind} job {job.id} "
                + (
                    f"will retry (attempt {job.attempts} of {job.max_attempts}): "
                    if retry
                    else "failed: "
                )
                + text,
                level="WARNING" if retry else "ERROR",
                event="job.retry" if retry else "job.failed",
                file=subject,
                job=job,
            )
            record = job_record(job)
        self.bus.publish(
            "job.queued" if record["state"] == JobState.QUEUED else "job.failed", record
        )
        return record

    def _failed_folder(self, exc: BaseException) -> str:
        """Where a storage error was met: its file name, else the attempts' folder."""
        for cause in causes(exc):
            if isinstance(cause, OSError) and cause.errno in STORAGE_ERRNOS:
                name = cause.filename2 or cause.filename
                if name:
                    return os.fsdecode(name)
        return str(attempts_root(self.data_root))

    def storage_back(self) -> int:
        """The storage works again: end the pause and let the jobs it sent back run now.

        Returns how many queued jobs were waiting out their backoff for it.
        """
        with self.db.transaction() as session:
            waiting = list(
                session.scalars(
                    select(Job).where(
                        Job.state == JobState.QUEUED,
                        Job.run_after.is_not(None),
                        Job.error.like("storage unavailable:%"),
                    )
                )
            )
            for job in waiting:
                job.run_after = None
        self.note_ok()
        return len(waiting)

    async def _probe_storage(self) -> None:
        """While the storage fails, try the folder that failed; resume once it works."""
        probe = self._storage_probe
        if self.health.fault != "storage" or probe is None:
            return
        if time.monotonic() < self._next_probe:
            return
        self._next_probe = time.monotonic() + self.probe_seconds
        if not await asyncio.to_thread(writable, probe):
            self._probe_failed = True
            return
        if not self._probe_failed:
            # Never seen failing: the fault is not one this probe can see (one bad file,
            # a full quota elsewhere); the backoff decides.
            return
        try:
            count = await asyncio.to_thread(self.storage_back)
        except Exception as exc:  # noqa: BLE001 - the backoff resumes the jobs anyway
            log.warning("gsp: storage is back, but its jobs could not be resumed: %r", exc)
            return
        log.info("gsp: %s is writable again: %d job(s) resumed", probe, count)
        self._wake.set()

    async def _sweep_attempts(self) -> None:
        """Remove attempt folders that no attempt of this engine owns (when due)."""
        if self.suspended or time.monotonic() < self._next_sweep:
            return  # without the engine lock, another engine's attempts may be running
        self._next_sweep = time.monotonic() + self.sweep_seconds
        keep = set(self._in_flight_attempts)
        removed = await asyncio.to_thread(sweep_attempts, self.data_root, keep)
        if removed:
            log.info("gsp: removed %d abandoned attempt folder(s)", len(removed))

    # --- the loop ---------------------------------------------------------------------------

    async def _until_recorded(self, fn: Any, *args: Any) -> Any:
        """Call ``fn`` in a thread; while the database is away, wait and call it again.

        The work is done; only recording it waits (a job left ``running`` when the
        engine stops meanwhile is queued again at the next start).
        """
        while True:
            try:
                return await asyncio.to_thread(fn, *args)
            except Exception as exc:
                if self._stopping or infrastructure_fault(exc) != "database":
                    raise
                delay = self.note_fault("database", f"{type(exc).__name__}: {exc}")
                await asyncio.sleep(delay)

    async def _execute(self, claimed: _Claimed) -> None:
        try:
            await self._execute_attempt(claimed)
        finally:
            # Published files were moved out already; anything left was not published.
            await asyncio.to_thread(discard, self.data_root, claimed.request.attempt)
            self._in_flight_attempts.discard(claimed.request.attempt)

    async def _execute_attempt(self, claimed: _Claimed) -> None:
        handler = self.registry.get(claimed.request.kind)
        try:
            result = await self.executor.run(handler.execute, claimed.request)
            if not isinstance(result, WorkResult):
                raise TypeError(f"handler {claimed.request.kind} returned {type(result).__name__}")
        except asyncio.CancelledError:
            raise  # shutting down: the job stays running and is requeued at the next start
        except BaseException as exc:  # noqa: BLE001 - every failure is recorded on the job
            await self._until_recorded(self.fail, claimed, exc)
            return
        conflicts = 0
        while True:
            try:
                await self._until_recorded(self.complete, claimed, result)
                self.health.last_product_at = utcnow()
                self.note_ok()
                return
            except Exception as exc:  # noqa: BLE001 - e.g. a product that cannot be read back
                conflicts += 1
                if conflicts < COMPLETE_ATTEMPTS and is_lock_conflict(exc):
                    # Rolled back whole: completing again is safe, and the work is kept.
                    log.info("completing job %s: %s; again", claimed.job_id, exc.orig)
                    await asyncio.sleep(0.05 * conflicts)
                    continue
                log.exception("completing job %s failed", claimed.job_id)
                await self._until_recorded(self.fail, claimed, exc)
                return

    async def _cancel_abandoned(self) -> None:
        """Cancel the previous run's tasks on a shared scheduler (once connected)."""
        abandoned, self._abandoned = self._abandoned, []
        cancel = getattr(self.executor, "cancel_attempts", None)
        if cancel is None:
            return
        try:
            count = await cancel(abandoned)
        except Exception as exc:  # noqa: BLE001 - fencing keeps their output out anyway
            log.warning("gsp: could not cancel the previous run's tasks: %s", exc)
            return
        if count:
            log.info("gsp: cancelled %d task(s) the previous run left on the scheduler", count)

    async def _claim(self) -> _Claimed | None:
        """The next job, or ``None`` (also when the database is away: then a pause)."""
        try:
            return await asyncio.to_thread(self.claim)
        except Exception as exc:
            fault = infrastructure_fault(exc)
            if fault is None:
                log.exception("gsp: claiming a job failed; trying again later")
                fault = "database"
            self.note_fault(fault, f"{type(exc).__name__}: {exc}")
            return None

    async def _requeue_at_start(self, stop: asyncio.Event) -> None:
        """Requeue the previous run's jobs, waiting out a database or storage that is away."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.requeue_at_start)
                return
            except Exception as exc:
                fault = infrastructure_fault(exc)
                if fault is None:
                    raise
                # The database, or products/ (the sweeps move files) on a storage fault.
                delay = self.note_fault(fault, f"{type(exc).__name__}: {exc}")
                await asyncio.wait([asyncio.create_task(stop.wait())], timeout=delay)

    async def _housekeeping(self, next_reconcile: float) -> float:
        """Reconcile files when due and cancel abandoned tasks; the next reconcile time."""
        if time.monotonic() >= next_reconcile:
            next_reconcile = time.monotonic() + self.reconcile_seconds
            try:
                await asyncio.to_thread(self.reconcile_now)
            except Exception as exc:  # noqa: BLE001 - tried again next period
                log.warning("gsp: reconciling files failed: %r", exc)
        if self._abandoned and getattr(self.executor, "connected", False):
            await self._cancel_abandoned()
        await self._probe_storage()
        try:
            await self._sweep_attempts()
        except Exception as exc:  # noqa: BLE001 - swept again next period
            log.warning("gsp: sweeping attempt folders failed: %r", exc)
        return next_reconcile

    async def _start_ready_jobs(self, in_flight: set[asyncio.Task]) -> None:
        """Claim and start jobs while slots are free and the engine is ready."""
        while len(in_flight) < self.slots and self.ready():
            claimed = await self._claim()
            if claimed is None:
                return
            if claimed.job_id < 0:
                continue  # refused at prepare; already recorded
            self._in_flight_attempts.add(claimed.request.attempt)
            task = asyncio.create_task(self._execute(claimed))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)

    async def _wait_for_work(self, stop: asyncio.Event, in_flight: set[asyncio.Task]) -> None:
        """Sleep until stopped, woken, a job ends, or the poll period passes."""
        self._wake.clear()
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
        await asyncio.wait(
            set(waiters) | in_flight, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for w in waiters:
            w.cancel()

    async def _drain(self, in_flight: set[asyncio.Task]) -> None:
        """Let jobs in flight finish for a while; the rest stay "running" and are queued
        again at the next start (a lost worker could otherwise hang here)."""
        if not in_flight:
            return
        _done, pending = await asyncio.wait(in_flight, timeout=self.drain_seconds)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Run until ``stop`` is set; jobs in flight then finish (or are requeued later)."""
        stop = stop or asyncio.Event()
        self._stopping = False
        await self._requeue_at_start(stop)
        in_flight: set[asyncio.Task] = set()
        next_reconcile = time.monotonic() + self.reconcile_seconds
        try:
            while not stop.is_set():
                next_reconcile = await self._housekeeping(next_reconcile)
                await self._start_ready_jobs(in_flight)
                await self._wait_for_work(stop, in_flight)
        finally:
            self._stopping = True
            await self._drain(in_flight)
