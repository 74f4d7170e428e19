"""Automatic processing: which jobs new files and finished jobs lead to."""

from __future__ import annotations

import asyncio

import pytest
from engine_helpers import make_registry
from sqlalchemy import select

from gsp_extension.engine.events import InProcessEventBus
from gsp_extension.engine.executors import DaskExecutor
from gsp_extension.engine.planner import plan_after_job, plan_for_new_files
from gsp_extension.store.files import register_file
from gsp_extension.store.jobs import claim_next, finish_job
from gsp_extension.store.models import Job


def _raw(s, name, obstype, date="2026-11-21", **extra):
    header = [
        ["OBSTYPE", obstype, ""],
        ["GAIN", 1.48, ""],
        ["RDNOISE", 3.89, ""],
        ["DATE-OBS", f"{date}T23:00:00", ""],
        ["CCDSUM", "2 2", ""],
        ["GRATING", "400_SYZY", ""],
        ["SLIT", "1.0_LONG_SLIT", ""],
        ["OBSRA", "1:00:00", ""],
        ["OBSDEC", "-5:00:00", ""],
    ]
    import hashlib

    return register_file(
        s,
        f"/raw/{name}",
        checksum=hashlib.sha256(name.encode()).hexdigest(),
        size=1,
        header=header,
        status="classified",
        fields={"date": date, "proposal_id": "SOAR2026B-001", "obstype": obstype, **extra},
    ).file


def test_new_files_queue_masters_and_reductions_once(db):
    with db.transaction() as s:
        files = [
            _raw(s, "b1.fits", "BIAS"),
            _raw(s, "b2.fits", "BIAS"),
            _raw(s, "f1.fits", "FLAT"),
            _raw(s, "sci.fits", "OBJECT"),
            _raw(s, "arc.fits", "COMP"),
            _raw(s, "focus.fits", "FOCUS"),
        ]
        jobs = plan_for_new_files(s, [f.id for f in files])
        keys = sorted(j.product_key for j in jobs)
        settings_id = jobs[-1].settings_id
    assert keys == sorted(
        [
            "master_bias:2026-11-21",
            "master_flat:2026-11-21",
            f"reduce:{files[3].id}:settings={settings_id}",
            f"reduce:{files[4].id}:settings={settings_id}",
        ]
    )
    with db.transaction() as s:  # the same files again: nothing new
        assert plan_for_new_files(s, [f.id for f in files]) == []


def test_a_frame_arriving_during_a_master_build_triggers_a_rebuild(db):
    with db.transaction() as s:
        first = _raw(s, "b1.fits", "BIAS")
        plan_for_new_files(s, [first.id])
    with db.transaction() as s:
        running = claim_next(s, "w")
        second = _raw(s, "b2.fits", "BIAS")
        assert plan_for_new_files(s, [second.id]) == []  # already being made...
        assert s.get(Job, running.id).params["again"] is True  # ...so made again after
    with db.transaction() as s:
        job = s.get(Job, running.id)
        finish_job(s, job)
        followups = plan_after_job(s, job, products=[])
        assert [j.product_key for j in followups] == ["master_bias:2026-11-21"]
        assert "again" not in followups[0].params


def test_new_masters_queue_the_nights_reductions_again(db):
    with db.transaction() as s:
        sci = _raw(s, "sci.fits", "OBJECT")
        master = _raw(s, "master_bias.fits", "BIAS")  # stands for a product
        job = Job(
            kind="master_bias",
            product_key="master_bias:2026-11-21",
            state="done",
            params={"date": "2026-11-21"},
        )
        s.add(job)
        s.flush()
        keys = [j.product_key for j in plan_after_job(s, job, products=[master])]
    assert keys == [f"reduce:{sci.id}:settings={keys[0].rsplit('=', 1)[1]}"]


@pytest.mark.asyncio
async def test_dask_executor_runs_handlers(db, tmp_path):
    """The service's executor: a LocalCluster (threads here, to start fast)."""
    from engine_helpers import write_fits_atomic

    from gsp_extension.engine.runner import JobEngine
    from gsp_extension.store.jobs import enqueue

    path = tmp_path / "raw" / "a.fits"
    path.parent.mkdir(parents=True)
    write_fits_atomic(path, 1)
    with db.transaction() as s:
        raw = register_file(s, path, checksum="0" * 64, size=path.stat().st_size)
        job_id = enqueue(s, "copy", "copy:a", file_id=raw.file.id).id
    executor = DaskExecutor(n_workers=1, processes=False)
    await executor.start()
    try:
        assert await executor.run(sum, [1, 2, 3]) == 6
        engine = JobEngine(
            db,
            tmp_path,
            executor,
            registry=make_registry(),
            bus=InProcessEventBus(),
            poll_seconds=0.05,
            plan=False,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        for _ in range(400):
            with db.session() as s:
                if s.get(Job, job_id).state in ("done", "failed"):
                    break
            await asyncio.sleep(0.05)
        stop.set()
        await task
    finally:
        await executor.close()
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job.state == "done", job.error
        assert s.scalar(select(Job.product_file_id).where(Job.id == job_id)) is not None
