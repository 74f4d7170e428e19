"""The local dask workers run below the web's CPU priority.

On the machine that also runs the hub, the users' servers and their page kernels (two
cores at the observatory), the job engine's workers compete with the people using the
pages. Their bursts are seconds of CPU: each worker imports the science stack when the
cluster starts (:data:`~gsp_extension.engine.executors.WARM_UP`) and each job reduces a
frame. A login while they ran waited for them: the first login after a start, which met
both workers still importing and the night's first jobs, took ~5 s instead of ~3.5 s
(``benchmarks/bench_cold_login.py --stream``). A frame's processing can wait a fraction
of a second for a page; a person waiting for a page notices. So each worker of the
service's ``LocalCluster`` lowers its own priority as it starts
(:class:`LowerPriority`, a dask worker plugin): with nothing else to run it gets the
whole CPU as before, and it yields it when a login or a page needs it.
"""

from __future__ import annotations

import logging
import os

from distributed.diagnostics.plugin import WorkerPlugin

log = logging.getLogger(__name__)


def lower_priority(increment: int) -> int:
    """Raise the niceness of every thread of this process by ``increment`` (at most 19).

    Linux keeps a niceness per thread, and a thread starts with its creator's: each
    existing thread is lowered, and those started later by them inherit it.

    Parameters
    ----------
    increment : int
        How much lower (0 leaves it).

    Returns
    -------
    int
        The niceness of the calling thread afterwards.
    """
    try:
        threads = [int(t) for t in os.listdir("/proc/self/task")]
    except OSError:  # not Linux: the process's own niceness
        threads = [0]
    for tid in threads:
        try:
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, current + increment))
        except OSError as exc:  # a thread that ended meanwhile, or a refusal: it runs on
            log.debug("gsp: thread %s keeps its priority: %s", tid, exc)
    return os.getpriority(os.PRIO_PROCESS, 0)


class LowerPriority(WorkerPlugin):
    """Dask worker plugin: the worker lowers its priority by ``increment`` as it starts
    (:func:`lower_priority`), before it runs anything. It never fails the worker's
    start: a refusal leaves the worker at its priority."""

    name = "gsp-lower-priority"

    def __init__(self, increment: int) -> None:
        self.increment = increment

    def setup(self, worker=None) -> None:
        """Lower the worker process's priority (called by dask in the worker)."""
        try:
            lower_priority(self.increment)
        except Exception as exc:  # noqa: BLE001 - a worker at full priority still works
            log.warning("gsp: the dask worker keeps its CPU priority: %r", exc)
