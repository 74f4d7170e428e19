"""Where job work runs: a dask.distributed cluster, or a thread pool (tests, tiny sites)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from .work import ExecutorUnavailable, InfrastructureError

log = logging.getLogger(__name__)


class Executor(Protocol):
    """Runs a picklable function with arguments somewhere and awaits its result."""

    async def start(self) -> None: ...

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    async def close(self) -> None: ...

    @property
    def connected(self) -> bool:
        """Whether work can be submitted now (the engine claims no job otherwise)."""
        ...

    def workers(self) -> int | None:
        """Workers ready to run jobs (``None`` when unknown)."""
        ...


class ThreadExecutor:
    """Runs work in threads of this process (no isolation; for tests and small setups)."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="gsp-job")
        self._workers = workers

    async def start(self) -> None:
        return None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.wrap_future(self._pool.submit(fn, *args))

    async def close(self) -> None:
        self._pool.shutdown(wait=True)

    @property
    def connected(self) -> bool:
        return True

    def workers(self) -> int | None:
        return self._workers


#: What every dask worker loads when it joins, so that the first job of a night does
#: not pay for it: modules (the science stack, astropy I/O) and ``module:function``
#: calls that fill the process's caches (the lamp library of the wavelength solver).
WARM_UP = (
    "gsp_extension.engine.handlers",
    "pipeline.classify",
    "pipeline.night",
    "pipeline.spectroscopy.chain",
    "pipeline.wavelength.calibrate",
    "astropy.io.fits",
    "ccdproc",
    "pipeline.lamps:library",
    # what a night's jobs still imported on their first use after the rest (found by
    # listing a worker's modules before and after a night): the optics model and its
    # parameters (the arc's first guess), the lines table of a calibrated product
    "pipeline.optics.model:packaged_parameters",
    "pipeline.optics",
    "pipeline.wavelength.line_table",
    "gsp_extension.ingest.compressed",
    # the flux step (scipy.interpolate and the tables): measured 1.3 s idle, 8.7 s on
    # the first flux job of a loaded machine (benchmarks/bench_live.py --flux)
    "gsp_extension.engine.flux",
    "pipeline.fluxcal.night_stage",
    "pipeline.fluxcal.extinction:extinction_curve",
    "pipeline.fluxcal.standards:catalogue",
)


def warm_up(items: tuple[str, ...] = WARM_UP) -> list[str]:
    """Import modules and call ``module:function`` items, keeping going past failures.

    Run on every worker at start (:meth:`DaskExecutor.start`): loading the science
    stack costs seconds, which would otherwise land on the first frame's latency.

    Parameters
    ----------
    items : tuple of str
        ``"module"`` to import, or ``"module:function"`` to import and then call the
        function with no arguments (to fill a cache). Default :data:`WARM_UP`.

    Returns
    -------
    list of str
        The items whose import or call raised, in the given order; empty when all
        worked. A failure only costs time later, so it is reported, not raised.
    """
    import importlib

    failed = []
    for item in items:
        name, _, function = item.partition(":")
        try:
            module = importlib.import_module(name)
            if function:
                getattr(module, function)()
        except Exception:  # noqa: BLE001 - a failed warm-up only costs time later
            failed.append(item)
    return failed


#: What the service's own requests import on first use, loaded off the request path as
#: it starts (:func:`warm_up_in_background`): the first ``GET api/files/<id>/standards/``
#: (the standard chooser of a spectrum's first click) imported the flux-calibration
#: stack there (``pipeline.fluxcal.apply`` and ``.sensitivity``: scipy, the standards'
#: tables; ~1 s of CPU idle, seconds under load), on the service's event loop.
SERVICE_WARM_UP = (
    "pipeline.fluxcal.apply",
    "pipeline.fluxcal.sensitivity",
)


def warm_up_in_background(items: tuple[str, ...] = SERVICE_WARM_UP) -> threading.Thread | None:
    """Run :func:`warm_up` in a daemon thread, started; ``None`` with nothing to load.

    For a process that serves requests (the gsp service), started as it starts: what its
    first requests would import is loaded before the first login can reach it, while
    the hub waits for the service and then for its forkserver's imports (seconds). A
    request that needs a module while the thread imports it waits for that import only,
    as it would have made it itself.

    The thread keeps the priority of the thread that serves. Lowered (tried: niceness
    10), it held the GIL and the import locks while the machine ran others first, so
    the serving thread waited behind it: the first login after a start, which met the
    import still running under load, took 8-9 s instead of ~4.5 s.

    Parameters
    ----------
    items : tuple of str
        As for :func:`warm_up`.

    Returns
    -------
    threading.Thread or None
        The thread, which logs the items that failed (they cost time later only).
    """
    if not items:
        return None

    def run() -> None:
        started = time.monotonic()
        failed = warm_up(items)
        if failed:
            log.warning("gsp: could not preload %s", ", ".join(failed))
        log.info("gsp: preloaded %s in %.1f s", ", ".join(items), time.monotonic() - started)

    thread = threading.Thread(target=run, name="gsp-warm-up", daemon=True)
    thread.start()
    return thread


async def warm_up_in_thread(items: tuple[str, ...] = WARM_UP) -> list[str]:
    """Run :func:`warm_up` in a thread of the worker, off its event loop.

    ``Client.run`` calls a plain function on the worker's event loop, which then answers
    nothing until it returns: a job that finished meanwhile (the first job after a
    restart, on a worker still loading the science stack) was reported only once the
    whole warm-up was over (``benchmarks/bench_restart.py``: 13-16 s from its claim).
    A coroutine function is awaited on the loop instead, which stays free.

    Parameters
    ----------
    items : tuple of str
        As for :func:`warm_up`.

    Returns
    -------
    list of str
        The items that failed, as :func:`warm_up` returns them.
    """
    return await asyncio.to_thread(warm_up, items)


#: Names of dask/distributed and tornado exceptions that mean the connection to the
#: scheduler or a worker went away, not that the job failed.
CONNECTION_LOST = frozenset(
    {"CommClosedError", "StreamClosedError", "FutureCancelledError", "ClosedClientError"}
)


def task_key(job_id: int, attempt: str) -> str:
    """Name the dask task of a job attempt.

    Parameters
    ----------
    job_id : int
        The job's id.
    attempt : str
        The attempt's token (:func:`~.fencing.new_token`).

    Returns
    -------
    str
        ``"gsp-job-<job_id>-<attempt>"``: unique per attempt, so a retried job never
        collides with its earlier task.
    """
    return f"gsp-job-{job_id}-{attempt}"


class DaskExecutor:
    """Runs work on dask.distributed: a LocalCluster by default, a remote scheduler when
    ``scheduler_address`` is given (``tcp://host:8786``).

    A remote scheduler is connected to in the background and reconnected to, with a new
    client and backoff, whenever it is lost, for as long as it takes: :meth:`start`
    returns at once, :attr:`connected` says whether work can be submitted, and
    :meth:`run` raises :class:`~.work.ExecutorUnavailable` (an infrastructure error: the
    job is queued again, not failed) while no scheduler answers.

    Parameters
    ----------
    scheduler_address : str, optional
    n_workers : int
        Worker processes of the LocalCluster (default 2).
    threads_per_worker : int
        1 by default: the science code is CPU-bound and not all of it releases the GIL.
    connect_timeout : float
        Seconds one connection attempt (and the client's own reconnection after a drop)
        may take before a new client is made.
    reconnect_base_delay, reconnect_max_delay : float
        Backoff between connection attempts, seconds: doubled after each failure, capped.
        The cap is short: each attempt already waits ``connect_timeout`` for the
        scheduler, and a scheduler back during the pause is only seen after it (the chaos
        benchmark measured up to 20 s between a scheduler's return and the reconnection
        with a 10 s cap).
    check_seconds : float
        How often a connected client's state is looked at.
    preload : tuple of str
        What each worker loads before its first job (:func:`warm_up`): a LocalCluster
        worker as it starts, before it registers
        (:class:`~gsp_extension.engine.worker_start.WorkerStart`); a remote
        scheduler's workers when a client connects.
    worker_grace_seconds : float
        LocalCluster only: how long a worker may be away from the scheduler while its
        nanny still claims to run it (a restart on a loaded machine) before it is
        replaced. A worker whose nanny gave up (closed or failed) is replaced at once.
    worker_nice : int
        LocalCluster only: how much lower than the service's the CPU priority of its
        worker processes is (their niceness above it; 0: the same), so that the web's
        processes on the same machine win the CPU from the jobs
        (:mod:`~gsp_extension.engine.worker_priority`).
    worker_warm_up_nice : int
        LocalCluster only: their niceness above the service's while they load
        ``preload`` at start (at most ``worker_nice``; 0: the service's priority and
        session, so that the first frame of a night finds them warm on a loaded machine).
    """

    def __init__(
        self,
        scheduler_address: str | None = None,
        *,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        processes: bool = True,
        connect_timeout: float = 10.0,
        reconnect_base_delay: float = 1.0,
        reconnect_max_delay: float = 2.0,
        check_seconds: float = 1.0,
        preload: tuple[str, ...] = WARM_UP,
        worker_grace_seconds: float = 60.0,
        worker_nice: int = 10,
        worker_warm_up_nice: int = 0,
    ) -> None:
        self.scheduler_address = scheduler_address
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.processes = processes
        self.connect_timeout = connect_timeout
        self.reconnect_delays = (reconnect_base_delay, reconnect_max_delay)
        self.check_seconds = check_seconds
        self.preload = preload
        self.worker_grace_seconds = worker_grace_seconds
        self.worker_nice = worker_nice
        self.worker_warm_up_nice = worker_warm_up_nice
        self.cluster: Any = None
        #: LocalCluster worker names not on the scheduler, with when they were first
        #: seen missing (a nanny's restart is given ``worker_grace_seconds``).
        self._absent_since: dict[Any, float] = {}
        #: Workers short of ``n_workers`` being started again (the "back" line is due).
        self._refilling = 0
        self._next_worker_name: int = n_workers
        self.client: Any = None
        self._warming: asyncio.Task | None = None
        self._supervisor: asyncio.Task | None = None
        #: Called (no arguments) each time a scheduler is (re)connected: the engine wakes.
        self.on_connected: Callable[[], None] | None = None
        #: True from :meth:`start` until the first connection or the first failed try:
        #: the engine starts beside it and raises no alert for the wait meanwhile.
        self.starting = True

    @property
    def connected(self) -> bool:
        return self.client is not None and self.client.status == "running"

    @property
    def _warm_after_connect(self) -> bool:
        """Whether workers are warmed through the client once connected: those of a
        remote scheduler and threads; the LocalCluster's processes warm as they start."""
        return bool(self.preload) and (bool(self.scheduler_address) or not self.processes)

    def workers(self) -> int | None:
        if not self.connected:
            return 0
        try:
            return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
        except Exception:  # noqa: BLE001 - a health figure, not worth failing for
            return None

    async def start(self) -> None:
        import distributed  # noqa: F401 - paid here (seconds), not in a first connection's timeout

        if self.scheduler_address:
            # A scheduler down at start is waited for (and says so), not a reason to exit.
            self._supervisor = asyncio.create_task(self._supervise(), name="gsp-dask")
            return
        try:
            await self._start_local()
        except Exception as exc:  # noqa: BLE001 - the supervisor tries again
            log.warning("gsp: the local dask cluster did not start: %r; trying again", exc)
            self.starting = False
            await self._close_local()
        # A worker that cannot come back (its nanny gave up, e.g. a restart too slow on
        # a loaded machine) leaves a cluster that runs nothing, for ever: rebuilt.
        self._supervisor = asyncio.create_task(self._supervise_local(), name="gsp-dask-local")

    async def _start_local(self) -> None:
        from distributed import Client, LocalCluster

        from .worker_start import WorkerStart

        # Worker processes only: threads of this process would lower the service's own
        # priority (and exit with it). They warm up before they register, so that
        # `await LocalCluster` returns once they are warm (worker_start's docstring).
        plugins = (
            (WorkerStart(self.preload, self.worker_nice, self.worker_warm_up_nice),)
            if self.processes
            else ()
        )
        self.cluster = await LocalCluster(
            n_workers=self.n_workers,
            threads_per_worker=self.threads_per_worker,
            processes=self.processes,
            dashboard_address=None,
            asynchronous=True,
            # the workers the supervisor starts again later get it too (cluster.new_spec)
            plugins=plugins,
        )
        self.client = await Client(self.cluster, asynchronous=True)
        log.info(
            "gsp: local dask cluster started (%d of %d workers registered)",
            len(self.cluster.scheduler_info.get("workers", {})),
            self.n_workers,
        )
        self._absent_since, self._refilling = {}, 0
        self._next_worker_name = self.n_workers  # LocalCluster names its workers 0..n-1
        self._connected()

    async def _close_local(self) -> None:
        await self._drop_client()
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            try:
                await asyncio.wait_for(cluster.close(), self.connect_timeout)
            except Exception as exc:  # noqa: BLE001 - abandoned anyway
                log.debug("closing the local dask cluster: %r", exc)

    def _local_cluster_broken(self) -> str | None:
        """Why the local cluster can run nothing any more (``None`` while it can)."""
        cluster = self.cluster
        if cluster is None or self.client is None:
            return "not started"
        if self.client.status not in ("running", "connecting", "newly-created"):
            return f"client {self.client.status}"
        closed = [
            name
            for name, worker in cluster.workers.items()
            if getattr(getattr(worker, "status", None), "name", "") in ("closed", "failed")
        ]
        if closed and len(closed) == len(cluster.workers):
            return f"every worker's nanny gave up ({', '.join(map(str, closed))})"
        return None

    def _missing_local_workers(self) -> dict[Any, str]:
        """LocalCluster workers lost for good: ``{name: why}``.

        A worker counts as lost when its nanny is closed or failed (it gave up restarting
        it), or when it has been away from the scheduler for ``worker_grace_seconds``
        while its nanny says it runs (a restart that raised leaves the nanny running with
        no process). A worker that is being started gets the same grace.
        """
        cluster = self.cluster
        present = {info.get("name") for info in cluster.scheduler_info.get("workers", {}).values()}
        now = time.monotonic()
        missing: dict[Any, str] = {}
        for name in list(cluster.worker_spec):
            if name in present:
                self._absent_since.pop(name, None)
                continue
            since = self._absent_since.setdefault(name, now)
            nanny = cluster.workers.get(name)
            status = getattr(getattr(nanny, "status", None), "name", "")
            if status in ("closed", "failed"):
                missing[name] = f"worker {name}: its nanny {status}"
            elif now - since >= self.worker_grace_seconds:
                missing[name] = f"worker {name}: away {now - since:.0f} s"
        return missing

    async def _refill_local(self) -> None:
        """Bring a LocalCluster that lost some of its workers back to ``n_workers``.

        The lost workers' specs are replaced by new ones under names never used before:
        distributed closes a lost worker's nanny by name once ``lost-worker-timeout``
        passes, which would otherwise close the new worker if it had the old name.
        """
        cluster = self.cluster
        missing = self._missing_local_workers()
        short = self.n_workers - len(cluster.worker_spec)
        if not missing and short <= 0:
            if self._refilling and len(cluster.scheduler_info.get("workers", {})) >= self.n_workers:
                log.info("gsp: the local dask cluster is back to its %d workers", self.n_workers)
                self._refilling = 0  # warm already: they warmed before they registered
            return
        running = len(cluster.worker_spec) - len(missing)
        log.warning(
            "gsp: the local dask cluster runs %d of its %d workers (%s); starting %d again",
            running,
            self.n_workers,
            "; ".join(missing.values()) or "fewer workers configured",
            self.n_workers - running,
        )
        for name in missing:
            cluster.worker_spec.pop(name, None)
            self._absent_since.pop(name, None)
            nanny = cluster.workers.pop(name, None)
            if nanny is not None and getattr(nanny.status, "name", "") not in ("closed", "failed"):
                try:  # a nanny stuck restarting: its process, if any, goes with it
                    await asyncio.wait_for(nanny.close(), self.connect_timeout)
                except Exception as exc:  # noqa: BLE001 - replaced anyway
                    log.debug("closing the nanny of lost worker %s: %r", name, exc)
        while len(cluster.worker_spec) < self.n_workers:
            cluster.worker_spec[self._next_worker_name] = cluster.new_spec
            self._next_worker_name += 1
        self._refilling = self.n_workers - running
        # scale() starts the workers whose spec has no worker (SpecCluster._correct_state).
        cluster.scale(self.n_workers)

    async def _supervise_local(self) -> None:
        """Rebuild the LocalCluster (backoff) whenever it can run nothing any more, and
        bring it back to ``n_workers`` when it lost only some of them."""
        base, cap = self.reconnect_delays
        delay = base
        while True:
            broken = self._local_cluster_broken()
            if broken is None:
                delay = base
                try:
                    await self._refill_local()
                except Exception as exc:  # noqa: BLE001 - looked at again next check
                    log.warning("gsp: could not restart lost dask workers: %r", exc)
                await asyncio.sleep(self.check_seconds)
                continue
            if broken != "not started":
                log.warning("gsp: the local dask cluster is lost (%s); starting another", broken)
            await self._close_local()
            try:
                await self._start_local()
            except Exception as exc:  # noqa: BLE001 - anything: wait and try again
                log.warning(
                    "gsp: the local dask cluster did not start: %r; trying again in %.0f s",
                    exc,
                    delay,
                )
                await self._close_local()
                await asyncio.sleep(delay)
                delay = min(cap, delay * 2)
                continue
            log.info("gsp: a new local dask cluster runs")

    def _connected(self) -> None:
        self.starting = False
        # In the background: start() returns as soon as the scheduler answers (the
        # service answers meanwhile). A remote scheduler's workers that join later load
        # things on their first job; a LocalCluster's warm before they register.
        if self._warm_after_connect:
            self._warming = asyncio.create_task(self._warm_up())
        if self.on_connected is not None:
            self.on_connected()

    async def _drop_client(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await asyncio.wait_for(client.close(), self.connect_timeout)
            except Exception as exc:  # noqa: BLE001 - the old client is abandoned anyway
                log.debug("closing the lost dask client: %r", exc)

    async def _supervise(self) -> None:
        from distributed import Client

        base, cap = self.reconnect_delays
        delay = base
        since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            if self.client is not None:
                if self.client.status in ("running", "connecting", "newly-created"):
                    # "connecting": the client retries by itself for connect_timeout.
                    await asyncio.sleep(self.check_seconds)
                    continue
                log.warning(
                    "gsp: lost the dask scheduler at %s (client %s); connecting again",
                    self.scheduler_address,
                    self.client.status,
                )
                await self._drop_client()
                since = loop.time()
            try:
                self.client = await Client(
                    self.scheduler_address, asynchronous=True, timeout=self.connect_timeout
                )
            except Exception as exc:  # noqa: BLE001 - anything: wait and try again
                self.starting = False
                since = since if since is not None else loop.time()
                log.warning(
                    "gsp: waiting for the dask scheduler at %s (down %.0f s: %s); "
                    "trying again in %.0f s",
                    self.scheduler_address,
                    loop.time() - since,
                    str(exc) or type(exc).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(cap, delay * 2)
                continue
            log.info(
                "gsp: connected to the dask scheduler at %s%s",
                self.scheduler_address,
                f" after {loop.time() - since:.0f} s without it" if since is not None else "",
            )
            delay, since = base, None
            self._connected()

    async def _warm_up(self) -> None:
        try:
            failed = await self.client.run(warm_up_in_thread, self.preload)
        except Exception as exc:  # noqa: BLE001 - a failed warm-up only costs time
            log.warning("dask workers could not be warmed up: %s", exc)
            return
        for worker, items in failed.items():
            if items:
                log.warning("dask worker %s could not preload %s", worker, ", ".join(items))

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.client is None and self._supervisor is None and self.cluster is None:
            raise RuntimeError("DaskExecutor.run before start(): call `await executor.start()`")
        if not self.connected:
            raise ExecutorUnavailable(f"no dask scheduler connected ({self._where()})")
        request = args[0] if args else None
        attempt = getattr(request, "attempt", "")
        try:
            # pure=False: the same request twice is two runs (a retry must really run again).
            # The key names the attempt, so a later engine can cancel it (cancel_attempts).
            key = task_key(request.job_id, attempt) if attempt else None
            future = self.client.submit(fn, *args, pure=False, retries=0, key=key)
            return await future
        except Exception as exc:
            if type(exc).__name__ in CONNECTION_LOST:
                raise InfrastructureError(
                    f"lost the dask scheduler while the job ran ({self._where()}): "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            raise

    async def cancel_attempts(self, attempts: list[tuple[int, str]]) -> int:
        """Cancel tasks of earlier attempts (``(job id, token)``) still on the scheduler.

        A ``gsp live`` killed while its tasks ran leaves them on a shared scheduler;
        fencing already keeps what they write out of ``products/``, this spares the
        workers' time. Returns how many keys were asked to be cancelled.
        """
        if not attempts or not self.connected:
            return 0
        from distributed import Future

        futures = [Future(task_key(job, token), self.client) for job, token in attempts]
        await self.client.cancel(futures, force=True, reason="abandoned by a restarted engine")
        return len(futures)

    def _where(self) -> str:
        return self.scheduler_address or "local cluster"

    async def close(self) -> None:
        for task in (self._supervisor, self._warming):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._supervisor = self._warming = None
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.cluster is not None:
            await self.cluster.close()
            self.cluster = None
