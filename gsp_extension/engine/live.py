"""Everything that makes the service live, started and stopped together.

The service extension creates one :class:`LiveServices` and calls :meth:`start` once its
event loop runs and :meth:`stop` at shutdown::

    live = LiveServices(db, data_root, scheduler_address=None)
    await live.start()      # takes the engine lock (or waits as a standby), then starts
                            # dask, the engine (which requeues crashed jobs), the watcher
    ...
    await live.stop()
"""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from gsp_extension.ingest.register import IngestCounts
from gsp_extension.ingest.watcher import RawWatcher
from gsp_extension.store import Database

from .events import EventBus, InProcessEventBus
from .executors import WARM_UP, DaskExecutor, Executor, warm_up
from .health import disk_free, health_report, log_line, write_heartbeat
from .instance_lock import EngineLock
from .runner import JobEngine

log = logging.getLogger(__name__)

#: What a hot standby imports while it waits (in a thread): the modules the engine's own
#: steps use (a job's prepare looks masters and arcs up, completing it classifies
#: products), which its first claim after a takeover would otherwise import (6-7 s on a
#: loaded machine, benchmarks/bench_restart.py). Not done by an engine that starts at
#: once: imported beside the LocalCluster's start, they slowed it by as much
#: (the import holds the GIL the cluster's handshakes need), a wash at best.
ENGINE_WARM_UP = (
    "pipeline.classify",
    "pipeline.calibrations.masters",
    "pipeline.calibrations.selection",
    "pipeline.reduction.frame",
    "pipeline.wavelength.arc_match",
    "pipeline.fluxcal.sensitivity",
    "pipeline.fluxcal.apply",
    "pipeline.fluxcal.night_stage",
)


class LiveServices:
    """Raw-file watcher + job engine on dask, sharing one event bus.

    Parameters
    ----------
    db : Database
    data_root : path-like
        ``GSP_DATA_ROOT``; ``raw/`` under it is watched.
    scheduler_address : str, optional
        A dask scheduler to use; by default a LocalCluster of ``n_workers`` processes.
    n_workers : int
    worker_nice : int
        How much lower the CPU priority of the LocalCluster's workers is than this
        process's (:class:`~.executors.DaskExecutor`).
    worker_preload : bool
        Each dask worker loads the science stack (:data:`~.executors.WARM_UP`) before
        its first job (a LocalCluster's as it starts, :mod:`~.worker_start`).
    worker_warm_up_nice : int
        The LocalCluster workers' niceness increment while they load it.
    watch_mode : {"auto", "native", "poll"}
        See :class:`~gsp_extension.ingest.watcher.RawWatcher`.
    settle_seconds : float
        How long a raw file must be unchanged (and a complete FITS file) before it is
        taken. Short by default: completeness is checked against the header, so this
        only guards against writers that pause.
    give_up_seconds : float
        A file that stays incomplete this long is registered as unusable, with the reason.
    executor : Executor, optional
        Replaces dask (tests).
    bus : EventBus, optional
    heartbeat_seconds : float
        How often this process writes its heartbeat row (``GET api/health/``).
    health_log_seconds : float
        How often the health line is logged (0: never).
    single : bool
        Take the database's engine lock first (:class:`~.instance_lock.EngineLock`), so a
        second instance waits as a hot standby instead of running jobs twice.
    """

    def __init__(
        self,
        db: Database,
        data_root: str | os.PathLike[str],
        *,
        scheduler_address: str | None = None,
        n_workers: int = 2,
        worker_nice: int = 10,
        worker_preload: bool = True,
        worker_warm_up_nice: int = 0,
        watch_mode: str = "auto",
        settle_seconds: float = 0.3,
        give_up_seconds: float = 600.0,
        executor: Executor | None = None,
        bus: EventBus | None = None,
        single: bool = True,
        heartbeat_seconds: float = 5.0,
        health_log_seconds: float = 60.0,
    ) -> None:
        self.db = db
        self.data_root = os.fspath(data_root)
        self.heartbeat_seconds = heartbeat_seconds
        self.health_log_seconds = health_log_seconds
        self.bus = bus or InProcessEventBus()
        self.executor = executor or DaskExecutor(
            scheduler_address,
            n_workers=n_workers,
            worker_nice=worker_nice,
            preload=WARM_UP if worker_preload else (),
            worker_warm_up_nice=worker_warm_up_nice,
        )
        self.engine = JobEngine(db, data_root, self.executor, bus=self.bus, slots=n_workers)
        if isinstance(self.executor, DaskExecutor):
            self.executor.on_connected = self.engine.wake
        raw = Path(data_root) / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        self.watcher = RawWatcher(
            db,
            raw,
            mode=watch_mode,
            settle_seconds=settle_seconds,
            give_up_seconds=give_up_seconds,
            on_registered=self._registered,
            data_root=data_root,
        )
        self.lock = EngineLock(db.url) if single else None
        #: "starting", "standby" (another engine holds the lock), "running", "stopped".
        self.state = "starting"
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._main: asyncio.Task | None = None
        self._heart: asyncio.Task | None = None
        self._preload: asyncio.Task | None = None
        self._started = asyncio.Event()

    async def _registered(self, counts: IngestCounts) -> None:
        for file_id in counts.registered_ids:
            self.bus.publish("file.registered", {"id": file_id})
        await asyncio.to_thread(self.engine.files_registered, counts.registered_ids)

    async def start(self) -> None:
        """Start in the background: take the engine lock (waiting as a hot standby while
        another engine holds it), then dask, the engine (which first requeues crashed jobs)
        and the watcher. Returns at once; :attr:`state` says where it is."""
        self._main = asyncio.create_task(self._run(), name="gsp-live")
        self._main.add_done_callback(self._main_done)
        self._heart = asyncio.create_task(self._heartbeat(), name="gsp-heartbeat")

    @staticmethod
    async def _warm_up() -> None:
        failed = await asyncio.to_thread(warm_up, ENGINE_WARM_UP)
        if failed:  # only costs time on the first job that needs them
            log.warning("gsp: could not preload %s", ", ".join(failed))

    def heartbeat_values(self) -> dict:
        """What this process says about itself in its heartbeat row."""
        running = self.state == "running" and not self.engine.suspended
        health = self.engine.health
        connected = running and bool(getattr(self.executor, "connected", True))
        return {
            "state": "standby" if self.engine.suspended else self.state,
            "scheduler_connected": connected,
            "workers": self.executor.workers() if connected else None,
            "fault": health.fault if running else None,
            "fault_since": health.fault_since if running else None,
            "fault_error": health.fault_error if running else None,
            "last_product_at": health.last_product_at,
            "disk_free_bytes": disk_free(self.data_root),
            "started_at": health.started_at,
        }

    def _guard_lock(self) -> None:
        """Pause the engine while the engine lock is lost; resume once it is back."""
        if self.lock is None or self.state != "running":
            return
        if self.lock.check():
            return
        if not self.engine.suspended:
            self.engine.suspended = True
            log.error(
                "gsp: lost the engine lock (%s): no job is claimed until it is held again",
                self.lock.holder(),
            )
        try:
            got = self.lock.try_acquire()
        except Exception as exc:  # noqa: BLE001 - the database may be away: next beat
            log.warning("gsp: cannot take the engine lock again yet: %s", exc)
            return
        if got:
            self.engine.suspended = False
            log.warning("gsp: engine lock held again: claiming jobs again")

    def _beat(self, report: bool) -> str | None:
        self._guard_lock()
        values = self.heartbeat_values()
        with self.db.transaction() as session:
            write_heartbeat(session, self.engine.worker, values)
            return log_line(health_report(session, self.data_root)) if report else None

    async def _heartbeat(self) -> None:
        loop = asyncio.get_running_loop()
        next_log = loop.time() + min(self.health_log_seconds, 10.0)
        while not self._stop.is_set():
            report = self.health_log_seconds > 0 and loop.time() >= next_log
            try:
                line = await asyncio.to_thread(self._beat, report)
            except Exception as exc:  # noqa: BLE001 - the database may be away: next beat
                log.warning("gsp: heartbeat not written: %s", exc)
            else:
                if line is not None:
                    next_log = loop.time() + self.health_log_seconds
                    log.info("gsp %s", line)
            try:
                await asyncio.wait_for(self._stop.wait(), self.heartbeat_seconds)
            except TimeoutError:
                pass

    def _standby(self) -> None:
        self.state = "standby"
        if self._preload is None:  # idle time: the takeover's first claim is spared it
            self._preload = asyncio.create_task(self._warm_up(), name="gsp-warm-up")

    @staticmethod
    def _main_done(task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("gsp: live ingest and job engine failed to start: %r", task.exception())

    def _task_done(self, task: asyncio.Task) -> None:
        # Said at once: a task that dies while the process lives on would otherwise go
        # unnoticed until the stop (files no longer registered, or jobs no longer run).
        if not self._stop.is_set() and not task.cancelled():
            log.error("gsp: %s ended while the service runs: %r", task.get_name(), task.exception())

    async def wait_started(self, timeout: float | None = None) -> bool:
        """Wait until the engine runs (``False`` if not within ``timeout``)."""
        try:
            await asyncio.wait_for(self._started.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        if self.lock is not None:
            if not await self.lock.acquire(self._stop, on_standby=self._standby):
                return
        self.state = "starting"
        # The engine (its start: requeue the previous run's jobs, sweep, reconcile) and
        # the watcher do not need dask: they start beside it, not after (a LocalCluster
        # takes seconds to start). The engine claims a job once it is connected.
        starting = asyncio.create_task(self.executor.start(), name="gsp-executor-start")
        self._tasks = [
            asyncio.create_task(self.engine.run(self._stop), name="gsp-engine"),
            asyncio.create_task(self.watcher.run(self._stop), name="gsp-watcher"),
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_done)
        await starting
        self.state = "running"
        self._started.set()
        log.info("gsp: live ingest and job engine started (worker %s)", self.engine.worker)

    async def stop(self, timeout: float = 8.0) -> None:
        """Stop watching and claiming; let jobs in flight finish; close dask.

        Bounded by ``timeout`` seconds for the jobs and as much again for dask: the hub
        escalates to SIGKILL when a service takes longer to stop, which would orphan the
        dask worker processes. A job cut short stays "running" in the database and is
        queued again at the next start, as after a crash.
        """
        self._stop.set()
        if self._main is not None:
            try:
                await asyncio.wait_for(self._main, timeout)
            except Exception:  # noqa: BLE001 - logged by _main_done; stopping anyway
                pass
        done, pending = (
            await asyncio.wait(self._tasks, timeout=timeout) if self._tasks else ((), ())
        )
        for task in pending:
            log.warning("gsp: %s still busy after %.0f s; cancelled", task.get_name(), timeout)
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("gsp: live task ended with %r", task.exception())
        try:
            await asyncio.wait_for(self.executor.close(), timeout)
        except TimeoutError:
            log.warning("gsp: the job executor did not close within %.0f s", timeout)
        finally:
            if self.lock is not None:
                self.lock.release()  # a standby takes over
            self.state = "stopped"
            if self._heart is not None:
                await asyncio.gather(self._heart, return_exceptions=True)
                try:
                    await asyncio.to_thread(self._beat, False)  # says "stopped" at once
                except Exception as exc:  # noqa: BLE001 - goes stale by itself anyway
                    log.warning("gsp: last heartbeat not written: %s", exc)
            log.info("gsp: live ingest and job engine stopped")
