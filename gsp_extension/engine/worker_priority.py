"""The local dask workers run below the web's CPU priority.

On the machine that also runs the hub, the users' servers and their page kernels (two
cores at the observatory), the job engine's workers compete with the people using the
pages. Their bursts are seconds of CPU: each worker imports the science stack when the
cluster starts (:data:`~gsp_extension.engine.executors.WARM_UP`) and each job reduces a
frame. A login while they ran waited for them: the first login after a start, which met
both workers still importing and the night's first jobs, took ~5 s instead of ~3.5 s
(``benchmarks/bench_cold_login.py --stream``). A frame's processing can wait a fraction
of a second for a page; a person waiting for a page notices. So each worker of the
service's ``LocalCluster`` lowers its own priority once it has warmed up
(:class:`~gsp_extension.engine.worker_start.WorkerStart`, a dask worker plugin): with
nothing else to run it gets the whole CPU as before, and it yields it when a login or a
page needs it.

A niceness only weighs against the processes of the same *scheduling group*, though:
with Linux's autogroups (``/proc/sys/kernel/sched_autogroup_enabled``, on by default
on desktops and many servers, on here), each session (``setsid``) is one group, and the
groups share the CPU evenly whatever the niceness inside them. The hub starts the gsp
service in a session of its own, and a worker inherited it: a worker at niceness 10 or
19 yielded to the service alone, and weighed as much as the user's server, its page
kernel (sessions of their own) or the browser. A streamed night's first login after a
start, which met both workers importing the science stack, took ~0.7 s longer than the
later ones (``benchmarks/bench_cold_login.py --stream``). So the worker also leaves the
service's session for one of its own, whose group it lowers by the same increment
(:func:`own_scheduling_group`): it then yields to the login's processes too.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

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


#: The scheduling group's niceness of this process (Linux with autogroups; sched(7)).
AUTOGROUP = Path("/proc/self/autogroup")


def own_scheduling_group(increment: int, autogroup: Path = AUTOGROUP) -> int | None:
    """Move this process to a CPU scheduling group of its own, niced by ``increment``.

    It leaves the session (and with it the scheduling group) it shares with its parent
    for one of its own, ``increment`` nicer (at most 19), and returns that niceness.

    Under Linux's autogroups the CPU is shared evenly between sessions first, and a
    niceness only weighs inside its session (see the module's docstring): a process in
    its parent's session, however nice, takes as much CPU from other sessions as the
    parent does. Its own session's group, niced, yields to every other one. The process
    loses nothing else: it has no controlling terminal, and dask stops its workers
    itself (not through their process group).

    Parameters
    ----------
    increment : int
        How much nicer the new group is than the niceness 0 of a new session's group
        (0: leaves the process where it is).
    autogroup : Path
        The process's autogroup file (a test passes another process's).

    Returns
    -------
    int or None
        The group's niceness, or ``None`` when there is no autogroup (not Linux, or
        autogroups compiled out): the thread niceness of :func:`lower_priority` is
        then what counts, against every process.
    """
    if increment <= 0 or not autogroup.exists():
        return None
    if os.getsid(0) != os.getpid():  # a session leader cannot make another session
        try:
            os.setsid()
        except OSError as exc:  # a process group leader: it keeps its group
            log.debug("gsp: the dask worker stays in its parent's session: %s", exc)
            return None
    nice = min(19, increment)
    try:
        autogroup.write_text(f"{nice}\n")
    except OSError as exc:  # refused (a limit): the session is its own group still
        log.debug("gsp: the dask worker's scheduling group keeps its niceness: %s", exc)
        return None
    return nice
