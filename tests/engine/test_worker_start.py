"""The service's LocalCluster workers: warm before their first job, at their lowered
priority only once warm, and gone as soon as they are closed. A real cluster each."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from gsp_extension.engine.executors import WARM_UP, DaskExecutor


def _state() -> dict:
    """What a worker has loaded, and its priorities (run in the worker)."""
    import sys

    from pipeline import lamps

    group = Path("/proc/self/autogroup")
    fields = group.read_text().split() if group.exists() else []
    return {
        "science": [
            m for m in ("astropy.io.fits", "ccdproc", "pipeline.optics.model") if m in sys.modules
        ],
        "lamps_read": lamps.library.cache_info().currsize,
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "group_nice": int(fields[-1]) if fields else None,
        "leader": os.getsid(0) == os.getpid(),
    }


@pytest.mark.asyncio
async def test_a_local_worker_is_warm_when_the_cluster_is_up_and_lowered_only_then():
    """The night's first frame met workers still importing the science stack, at
    niceness 10 in a scheduling group of their own (a tenth of a core beside two busy
    kernels: 25-90 s to its first product). A worker now loads it before it registers,
    so a started cluster has warm workers only; then it takes its lowered priority."""
    executor = DaskExecutor(n_workers=1, worker_nice=10, preload=WARM_UP)
    await executor.start()
    try:
        assert executor.connected
        (state,) = (await executor.client.run(_state)).values()
        assert state["science"] == ["astropy.io.fits", "ccdproc", "pipeline.optics.model"], state
        assert state["lamps_read"] == 1, state  # the lamp library is in memory
        assert state["nice"] == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10), state
        if Path("/proc/self/autogroup").exists():
            assert state["leader"] and state["group_nice"] == 10, state
    finally:
        await executor.close()


def _slow_teardown() -> None:
    """Stand in for the teardown of ~1,800 modules on a loaded machine (seconds)."""
    import atexit
    import time

    atexit.register(time.sleep, 30)


@pytest.mark.asyncio
async def test_a_closed_worker_leaves_without_the_interpreters_teardown(caplog):
    """A warm worker's process spent 1.5 s (idle) to over 4 s (loaded, nice) tearing
    its interpreter down after the worker had closed; the nanny killed it after 4 s,
    at every stop of the service. A worker closed on purpose now exits at once."""
    caplog.set_level(logging.INFO, logger="distributed.nanny")
    executor = DaskExecutor(n_workers=1, worker_nice=0, preload=())
    await executor.start()
    try:
        await executor.client.run(_slow_teardown)
    finally:
        await asyncio.wait_for(executor.close(), 60)
    said = caplog.text
    # the nanny logs a worker's exit only when it was not 0
    assert "still alive after" not in said and "Worker process" not in said, said
