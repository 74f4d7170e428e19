"""Health you can see: heartbeats, the queue, faults, and the line ``gsp live`` logs."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

import pytest

from gsp_extension.engine.executors import ThreadExecutor
from gsp_extension.engine.health import health_report, log_line, write_heartbeat
from gsp_extension.engine.live import LiveServices
from gsp_extension.store.jobs import enqueue
from gsp_extension.store.types import utcnow


def _report(db, root, **kw):
    with db.session() as s:
        return health_report(s, root, **kw)


async def _report_when(db, root, condition, timeout: float = 20.0) -> dict:
    """The first health report meeting ``condition``, or the last one after ``timeout``."""
    deadline = time.monotonic() + timeout
    report = _report(db, root)
    while not condition(report) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        report = _report(db, root)
    return report


def test_no_engine_means_stopped_and_a_stale_heartbeat_is_no_engine(db, tmp_path):
    report = _report(db, tmp_path)
    assert report["status"] == "stopped" and report["engine"] is None
    assert "no job engine is running" in report["problems"][0]
    assert report["disk_free_bytes"] > 0
    with db.transaction() as s:
        write_heartbeat(
            s, "engine@old:1", {"state": "running", "scheduler_connected": True, "workers": 2}
        )
    assert _report(db, tmp_path)["status"] == "ok"
    later = utcnow() + dt.timedelta(seconds=31)  # its process died 31 s ago
    assert _report(db, tmp_path, now=later)["status"] == "stopped"


def test_faults_and_lag_are_problems_in_words(db, tmp_path):
    since = utcnow()
    with db.transaction() as s:
        write_heartbeat(
            s,
            "engine@a:1",
            {
                "state": "running",
                "scheduler_connected": True,
                "workers": 1,
                "fault": "storage",
                "fault_since": since,
                "fault_error": "No space left on device",
            },
        )
        write_heartbeat(s, "engine@b:2", {"state": "standby", "scheduler_connected": False})
        enqueue(s, "reduce", "reduce:1", run_after=since - dt.timedelta(minutes=20))
    report = _report(db, tmp_path)
    assert report["status"] == "degraded"
    assert report["queue"] == {
        "queued": 1,
        "running": 0,
        "oldest_queued_seconds": pytest.approx(1200, abs=5),
    }
    text = " | ".join(report["problems"])
    assert "storage unavailable since" in text and "No space left" in text
    assert "processing lags" in text
    assert [e["name"] for e in report["standbys"]] == ["engine@b:2"]
    line = log_line(report)
    assert line.startswith("health degraded; scheduler connected; workers 1; queued 1")


@pytest.mark.asyncio
async def test_a_running_service_beats_logs_its_health_and_says_stopped_at_the_end(
    db, tmp_path, caplog
):
    caplog.set_level(logging.INFO, logger="gsp_extension")
    live = LiveServices(
        db,
        tmp_path,
        executor=ThreadExecutor(2),
        watch_mode="poll",
        heartbeat_seconds=0.1,
        health_log_seconds=0.3,
    )
    await live.start()
    try:
        assert await live.wait_started(20)
        # the heartbeat (every 0.1 s, in a thread) says "running" after the start; on a
        # loaded machine a beat can take long: wait for it rather than a fixed time
        report = await _report_when(db, tmp_path, lambda r: r["status"] == "ok")
        assert report["status"] == "ok", report["problems"]
        engine = report["engine"]
        assert (engine["name"], engine["scheduler_connected"], engine["workers"]) == (
            live.engine.worker,
            True,
            2,
        )
        deadline = time.monotonic() + 20
        while "gsp health ok; scheduler connected; workers 2" not in caplog.text:
            assert time.monotonic() < deadline, caplog.text[-2000:]
            await asyncio.sleep(0.1)
        live.engine.note_fault("database", "connection refused")
        report = await _report_when(
            db, tmp_path, lambda r: "database unavailable" in " ".join(r["problems"])
        )
        assert "database unavailable" in " ".join(report["problems"]), report
    finally:
        await live.stop()
    assert _report(db, tmp_path)["status"] == "stopped"
