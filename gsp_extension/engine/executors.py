"""Where job work runs: a dask.distributed cluster, or a thread pool (tests, tiny sites)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Executor(Protocol):
    """Runs a picklable function with arguments somewhere and awaits its result."""

    async def start(self) -> None: ...

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    async def close(self) -> None: ...


class ThreadExecutor:
    """Runs work in threads of this process (no isolation; for tests and small setups)."""

    def __init__(self, workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="gsp-job")

    async def start(self) -> None:
        return None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.wrap_future(self._pool.submit(fn, *args))

    async def close(self) -> None:
        self._pool.shutdown(wait=True)


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
)


def warm_up(items: tuple[str, ...] = WARM_UP) -> list[str]:
    """Import modules and call ``module:function`` items; returns those that failed.

    Run on every worker at start (:meth:`DaskExecutor.start`): loading the science
    stack costs seconds, which would otherwise land on the first frame's latency.
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


class DaskExecutor:
    """Runs work on dask.distributed: a LocalCluster by default, a remote scheduler when
    ``scheduler_address`` is given (``tcp://host:8786``).

    Parameters
    ----------
    scheduler_address : str, optional
    n_workers : int
        Worker processes of the LocalCluster (default 2).
    threads_per_worker : int
        1 by default: the science code is CPU-bound and not all of it releases the GIL.
    """

    def __init__(
        self,
        scheduler_address: str | None = None,
        *,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        processes: bool = True,
    ) -> None:
        self.scheduler_address = scheduler_address
        self.n_workers = n_workers
        self.threads_per_worker = threads_per_worker
        self.processes = processes
        self.cluster: Any = None
        self.client: Any = None
        self._warming: asyncio.Task | None = None

    async def start(self) -> None:
        from distributed import Client, LocalCluster

        if self.scheduler_address:
            self.client = await Client(self.scheduler_address, asynchronous=True)
        else:
            self.cluster = await LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=self.threads_per_worker,
                processes=self.processes,
                dashboard_address=None,
                asynchronous=True,
            )
            self.client = await Client(self.cluster, asynchronous=True)
        # In the background: start() returns as soon as the cluster is up (the service
        # answers meanwhile). Workers that join later load things on their first job.
        self._warming = asyncio.create_task(self._warm_up())

    async def _warm_up(self) -> None:
        try:
            failed = await self.client.run(warm_up)
        except Exception as exc:  # noqa: BLE001 - a failed warm-up only costs time
            log.warning("dask workers could not be warmed up: %s", exc)
            return
        for worker, items in failed.items():
            if items:
                log.warning("dask worker %s could not preload %s", worker, ", ".join(items))

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.client is None:
            raise RuntimeError("DaskExecutor.run before start(): call `await executor.start()`")
        # pure=False: the same request twice is two runs (a retry must really run again).
        future = self.client.submit(fn, *args, pure=False, retries=0)
        return await future

    async def close(self) -> None:
        if self._warming is not None:
            self._warming.cancel()
            await asyncio.gather(self._warming, return_exceptions=True)
            self._warming = None
        if self.client is not None:
            await self.client.close()
            self.client = None
        if self.cluster is not None:
            await self.cluster.close()
            self.cluster = None
