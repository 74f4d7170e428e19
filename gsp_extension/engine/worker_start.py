"""A local dask worker's start and end: warm before its first job, gone as soon as closed.

**Start.** Each worker of the service's LocalCluster loads the science stack and fills
its caches (:data:`~.executors.WARM_UP`: astropy, ccdproc, scipy, specutils, the
pipeline, the lamp library; ~2.3 s of CPU) as it starts, in :class:`WorkerStart`'s
``setup``, which dask runs before the worker registers with the scheduler: no job is
ever given to a cold worker, and the cluster counts as started once its workers are
warm. Then, and only then, the worker lowers its CPU priority
(:mod:`~.worker_priority`).

The order matters on a loaded machine. The warm-up used to run after the worker had
registered and lowered itself to niceness 10 in a scheduling group of its own; beside
two busy user processes such a group gets a tenth of a core, and the night's first
frame, which waited for the imports, took ~25 s to ~90 s to its first product against
a few seconds once warm (``benchmarks/bench_first_job.py --load 2``). Warming at
``warm_up_nice`` (0 by default: in the service's own session, so that both workers'
imports weigh as one scheduling group beside the users' sessions, not as two) takes
seconds, once, at the service's start; later jobs keep yielding to the users.

**End.** A closed worker's process used to spend 1.5 s (idle) to over 4 s (niceness 10
on a loaded machine) in the interpreter's teardown of those ~1,800 modules, after the
worker itself had closed; the nanny waits 4 s and then kills it, so every stop of the
service took that long and logged "Worker process still alive after 4.0 seconds,
killing". A worker closed on purpose has nothing left to write (its last job was
reported, the engine drained its jobs first): it leaves at once
(:meth:`WorkerStart.teardown` arms it; any other way out keeps the normal exit).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys

from distributed.diagnostics.plugin import WorkerPlugin

from .worker_priority import lower_priority, own_scheduling_group

log = logging.getLogger(__name__)


def _exit_now() -> None:
    """End the process at once with status 0, its streams flushed (an ``atexit`` hook)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - a closed stream: nothing left to flush
            pass
    os._exit(0)


def _lower(increment: int) -> None:
    """Move to a scheduling group ``increment`` nicer and lower every thread by as much."""
    if increment <= 0:
        return
    try:
        own_scheduling_group(increment)
        lower_priority(increment)
    except Exception as exc:  # noqa: BLE001 - a worker at full priority still works
        log.warning("gsp: the dask worker keeps its CPU priority: %r", exc)


class WorkerStart(WorkerPlugin):
    """Dask worker plugin of the LocalCluster: warm up, then lower the priority; at
    close, exit without the interpreter's teardown.

    Parameters
    ----------
    preload : tuple of str
        What :func:`~.executors.warm_up` loads before the worker takes a job (empty:
        nothing; a job then imports what it needs).
    nice : int
        The worker's niceness increment once warm (its own scheduling group's too).
    warm_up_nice : int
        Its niceness increment while it warms up (at most ``nice``). 0 keeps it in the
        service's session and priority until it is warm.
    """

    name = "gsp-worker-start"

    def __init__(self, preload: tuple[str, ...], nice: int, warm_up_nice: int = 0) -> None:
        self.preload = tuple(preload)
        self.nice = nice
        self.warm_up_nice = max(0, min(warm_up_nice, nice))

    async def setup(self, worker=None) -> None:
        """Warm up (in a thread: the worker's event loop keeps answering its nanny),
        then lower the priority; dask registers the worker only afterwards."""
        _lower(self.warm_up_nice)
        if self.preload:
            from .executors import warm_up

            failed = await asyncio.to_thread(warm_up, self.preload)
            if failed:  # only costs time on the first job that needs them
                log.warning("gsp: the dask worker could not preload %s", ", ".join(failed))
        # A session leader already (warmed at a lowered priority): only the group's
        # niceness and the threads' change.
        _lower_further(self.nice, self.warm_up_nice)

    def teardown(self, worker=None) -> None:
        """Called as the worker closes: once it has, its process leaves at once."""
        atexit.register(_exit_now)


def _lower_further(nice: int, already: int) -> None:
    if nice <= already:
        return
    if already > 0:  # its own group exists: renice it, then the threads by the rest
        try:
            own_scheduling_group(nice)
            lower_priority(nice - already)
        except Exception as exc:  # noqa: BLE001 - a worker at full priority still works
            log.warning("gsp: the dask worker keeps its CPU priority: %r", exc)
        return
    _lower(nice)
