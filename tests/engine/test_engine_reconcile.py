"""Nothing stays ``processing`` for ever: crashes spend no attempt, stranded files settle."""

from __future__ import annotations

import asyncio

import pytest
from engine_helpers import make_registry
from sqlalchemy import select
from test_engine_planner import _raw

from gsp_extension.engine.executors import ThreadExecutor
from gsp_extension.engine.planner import plan_for_new_files
from gsp_extension.engine.reconcile import reconcile
from gsp_extension.engine.runner import JobEngine
from gsp_extension.store.jobs import claim_next, fail_job, requeue_running
from gsp_extension.store.models import File, Job, LogEntry


def _status(db, file_id):
    with db.session() as s:
        f = s.get(File, file_id)
        return f.status, f.status_reason


def test_files_whose_job_gave_up_are_failed_with_its_reason(db):
    """Three crashes during a master flat used to strand its flats ``processing``."""
    with db.transaction() as s:
        flats = [_raw(s, f"f{n}.fits", "FLAT").id for n in range(2)]
        (job,) = plan_for_new_files(s, flats)
        job_id = job.id
    for _ in range(3):
        with db.transaction() as s:
            assert claim_next(s, "engine@crashed:1").id == job_id
        with db.transaction() as s:
            requeue_running(s, max_interruptions=3)
    with db.session() as s:
        assert s.get(Job, job_id).state == "failed"
    assert _status(db, flats[0])[0] == "processing"  # stranded before the reconciler
    with db.transaction() as s:
        out = reconcile(s)
    assert sorted(out.failed) == sorted(flats) and out.jobs == []
    status, reason = _status(db, flats[0])
    assert status == "failed" and f"master_flat job {job_id} failed" in reason
    assert "interrupted 3 times" in reason
    with db.transaction() as s:  # settled: a second pass changes nothing
        again = reconcile(s)
    assert (again.failed, again.released, again.replanned) == ([], [], [])


def test_files_with_a_live_job_are_left_alone_and_files_with_none_are_planned(db):
    with db.transaction() as s:
        busy = _raw(s, "sci1.fits", "OBJECT").id
        lost = _raw(s, "sci2.fits", "OBJECT").id
        plan_for_new_files(s, [busy])
        s.get(File, lost).status = "processing"  # no job was ever queued for it
    with db.transaction() as s:
        out = reconcile(s)
        assert out.replanned == [lost] and [j.file_id for j in out.jobs] == [lost]
    assert _status(db, busy)[0] == "processing" and _status(db, lost)[0] == "processing"
    with db.transaction() as s:  # now both have a queued job: nothing to do
        assert reconcile(s).jobs == []


def test_a_reduce_that_failed_transiently_then_gave_up_fails_its_file(db):
    with db.transaction() as s:
        sci = _raw(s, "sci.fits", "OBJECT").id
        (job,) = plan_for_new_files(s, [sci])
        job.max_attempts = 1
    with db.transaction() as s:
        claimed = claim_next(s, "w")
        fail_job(s, claimed, "disk busy", transient=True)  # no attempt left: failed
    with db.transaction() as s:
        assert reconcile(s).failed == [sci]
    assert "disk busy" in _status(db, sci)[1]


async def _until(condition, what: str, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(condition):
        assert loop.time() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.05)


@pytest.mark.asyncio
async def test_the_engine_reconciles_at_start_and_periodically(db, tmp_path):
    with db.transaction() as s:
        sci = _raw(s, "sci.fits", "OBJECT").id
        s.get(File, sci).status = "processing"
    engine = JobEngine(
        db,
        tmp_path,
        ThreadExecutor(1),
        registry=make_registry(),  # no reduce handler: the job stays queued
        poll_seconds=0.05,
        plan=True,
        reconcile_seconds=0.2,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))

    def kinds():
        with db.session() as s:
            return [j.kind for j in s.scalars(select(Job).where(Job.file_id == sci))]

    def reconciled_twice():
        with db.session() as s:
            return list(s.scalars(select(LogEntry.event))).count("files.reconciled") >= 2

    try:
        # waited for, not slept on: a loaded machine may take seconds to start the engine
        await _until(lambda: kinds() == ["reduce"], "the start's reconciliation queues a reduce")
        with db.transaction() as s:  # stranded again while the engine runs
            s.get(Job, s.scalar(select(Job.id).where(Job.file_id == sci))).state = "done"
        await _until(reconciled_twice, "the periodic reconciliation finds it again")
        status, reason = _status(db, sci)
        assert status == "classified" and "ended done without settling" in reason
        with db.session() as s:
            events = list(s.scalars(select(LogEntry.event)))
        assert events.count("files.reconciled") == 2
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
