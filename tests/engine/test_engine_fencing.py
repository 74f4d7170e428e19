"""Fencing: an attempt writes only into its own folder; only the owner's is published."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import pytest
from engine_helpers import execute_night_product, make_night_registry, write_fits_atomic
from sqlalchemy import select

from gsp_extension.engine.executors import ThreadExecutor
from gsp_extension.engine.runner import JobEngine
from gsp_extension.store.files import register_file
from gsp_extension.store.jobs import enqueue, requeue_running
from gsp_extension.store.models import File, Job


def _raw(db, root: Path) -> int:
    path = root / "raw" / "0001.fits"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_fits_atomic(path, 1)
    with db.transaction() as s:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return register_file(s, path, checksum=digest, size=path.stat().st_size).file.id


def _engine(db, root, name):
    return JobEngine(
        db, root, ThreadExecutor(1), registry=make_night_registry(), worker=name, plan=False
    )


def test_a_stale_attempt_is_never_published_nor_registered(db, tmp_path):
    raw_id = _raw(db, tmp_path)
    with db.transaction() as s:
        job_id = enqueue(s, "night", "night:1", file_id=raw_id, params={"value": 7}).id
    published = tmp_path / "products" / "undated" / "cfzst_0001.fits"

    old = _engine(db, tmp_path, "engine@old:1")
    first = old.claim()
    assert first.request.inputs["published_dir"] == str(published.parent)
    private = Path(first.request.inputs["out_dir"])
    assert private.is_relative_to(tmp_path / "products" / ".attempts" / first.request.attempt)
    stale_result = execute_night_product(first.request)  # the task runs on...
    assert not published.exists()  # ...into its own folder only

    # The old engine is thought dead; a new one takes the job back and runs it.
    with db.transaction() as s:
        requeue_running(s)
    new = _engine(db, tmp_path, "engine@new:2")
    second = new.claim()
    assert second.job_id == job_id and second.request.attempt != first.request.attempt
    new.complete(second, execute_night_product(second.request))
    with db.session() as s:
        row = s.scalar(select(File).where(File.data_type == 2))
        assert row.full_path == str(published) and s.get(Job, job_id).state == "done"
        checksum = row.checksum

    # The abandoned attempt completes late, and its task writes once more: nothing of it
    # reaches products/ or the database.
    assert old.complete(first, stale_result)["state"] == "done"
    execute_night_product(first.request)
    assert hashlib.sha256(published.read_bytes()).hexdigest() == checksum
    with db.session() as s:
        assert s.scalar(select(File.id).where(File.data_type == 2, File.id != row.id)) is None
    # and the next start clears attempts' folders without sweeping the valid product
    new.requeue_at_start()
    assert not (tmp_path / "products" / ".attempts").exists()
    assert published.exists() and not (tmp_path / "orphans").exists()


async def _until(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.mark.asyncio
async def test_an_abandoned_attempt_writing_after_the_start_is_swept_not_a_live_one(db, tmp_path):
    """Cancelling a killed engine's task cannot stop it once it runs: it may write into
    its folder after the new engine's start (the chaos benchmark found one left at the
    end). The engine sweeps folders of attempts it does not run, never its own."""
    raw_id = _raw(db, tmp_path)
    with db.transaction() as s:
        job_id = enqueue(s, "night", "night:1", file_id=raw_id, params={"sleep": 1.5}).id
    engine = JobEngine(
        db,
        tmp_path,
        ThreadExecutor(1),
        registry=make_night_registry(),
        plan=False,
        poll_seconds=0.05,
        sweep_seconds=0.1,
    )
    attempts = tmp_path / "products" / ".attempts"
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    try:
        await _until(lambda: attempts.is_dir() and any(attempts.iterdir()), "the job writes")
        (live,) = list(attempts.iterdir())
        stale = attempts / "0123456789abcdef" / "undated" / "cfzst_0001.fits"
        stale.parent.mkdir(parents=True)
        write_fits_atomic(stale, 9)  # the abandoned task, after the start's discard_all
        await _until(lambda: not stale.parent.parent.exists(), "the stale folder is swept")
        with db.session() as s:
            assert s.get(Job, job_id).state == "running"
        assert live.is_dir()  # the attempt in flight keeps its folder
        await _until(lambda: not live.exists(), "the job completes")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
    with db.session() as s:
        assert s.get(Job, job_id).state == "done"
    assert (tmp_path / "products" / "undated" / "cfzst_0001.fits").exists()
    assert list(attempts.iterdir()) == []
