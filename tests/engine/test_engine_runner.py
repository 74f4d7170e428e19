"""The job engine: runs queued jobs, records products with the job, retries, recovers."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import time
from pathlib import Path

import pytest
from astropy.io import fits
from engine_helpers import make_read_registry, make_registry, write_corrupt_fits, write_fits_atomic
from sqlalchemy import select

from gsp_extension.engine.events import InProcessEventBus
from gsp_extension.engine.executors import ThreadExecutor
from gsp_extension.engine.runner import JobEngine, is_transient
from gsp_extension.engine.work import TransientError
from gsp_extension.store.files import register_file
from gsp_extension.store.jobs import claim_next, enqueue
from gsp_extension.store.models import File, Job, LogEntry


def _raw(db, root: Path, name="0001.fits"):
    path = root / "raw" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    write_fits_atomic(path, 1)
    with db.transaction() as s:
        return register_file(
            s,
            path,
            checksum=hashlib.sha256(path.read_bytes()).hexdigest(),
            size=path.stat().st_size,
            fields={"proposal_id": "SOAR2020B-008"},
        ).file.id


async def _run_until(engine, predicate, timeout=20.0):
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while loop.time() < deadline:
            if await asyncio.to_thread(predicate):
                return True
            await asyncio.sleep(0.05)
        return False
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


@pytest.fixture
def store_engine(db, tmp_path):
    """Run an engine of the ``store`` job kind (engine_helpers) on a raw file, past its
    start's sweeps: ``async with store_engine(**engine_options) as (engine, store)``,
    where ``store()`` queues the file's store job (one attempt) and returns its id. The
    engine is stopped on leaving."""
    from engine_helpers import make_store_registry

    raw_id = _raw(db, tmp_path)

    @contextlib.asynccontextmanager
    async def running(**options):
        engine = JobEngine(
            db,
            tmp_path,
            ThreadExecutor(1),
            registry=make_store_registry(),
            poll_seconds=0.05,
            plan=False,
            **options,
        )

        def store() -> int:
            with db.transaction() as s:
                job_id = enqueue(s, "store", "store:1", file_id=raw_id, max_attempts=1).id
            engine.wake()
            return job_id

        stop = asyncio.Event()
        task = asyncio.create_task(engine.run(stop))
        try:
            await asyncio.sleep(0.5)  # after the start's sweep of unregistered products
            yield engine, store
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    return running


def _job(db, job_id):
    with db.session() as s:
        return s.get(Job, job_id)


def _engine(db, root, **kw):
    bus = InProcessEventBus()
    events = []
    bus.subscribe(lambda e: events.append((e.topic, e.payload["id"])), prefix="job.")
    engine = JobEngine(
        db,
        root,
        ThreadExecutor(2),
        registry=make_registry(),
        bus=bus,
        poll_seconds=0.05,
        plan=False,
        retry_base_delay=0.1,
        **kw,
    )
    return engine, events


@pytest.mark.asyncio
async def test_a_job_runs_and_its_product_is_registered_with_it(db, tmp_path):
    raw_id = _raw(db, tmp_path)
    with db.transaction() as s:
        job_id = enqueue(s, "copy", f"copy:{raw_id}", file_id=raw_id).id
        other = enqueue(s, "extract", "extract:1").id  # no handler: stays queued
    engine, events = _engine(db, tmp_path)
    assert await _run_until(engine, lambda: _job(db, job_id).state == "done")
    with db.session() as s:
        job = s.get(Job, job_id)
        product = job.product_file
        assert product.file_name == "cfzst_0001.fits" and product.data_type == 2
        assert (product.parent_file_id, product.original_file_id) == (raw_id, raw_id)
        assert product.proposal_id == "SOAR2020B-008" and product.status == "processed"
        assert s.get(Job, other).state == "queued"
        logged = set(s.scalars(select(LogEntry.event).where(LogEntry.job_id == job_id)))
        assert {"job.done", "file.product"} <= logged
    assert events == [("job.running", job_id), ("job.done", job_id)]


@pytest.mark.asyncio
async def test_transient_errors_retry_with_backoff(db, tmp_path):
    raw_id = _raw(db, tmp_path)
    with db.transaction() as s:
        job_id = enqueue(s, "copy", "copy:t", file_id=raw_id, params={"transient_failures": 2}).id
    engine, events = _engine(db, tmp_path)
    assert await _run_until(engine, lambda: _job(db, job_id).state == "done")
    job = _job(db, job_id)
    assert job.attempts == 3 and job.error is None
    assert [t for t, _ in events] == ["job.running", "job.queued"] * 2 + ["job.running", "job.done"]


@pytest.mark.asyncio
async def test_permanent_errors_fail_the_job_with_its_error(db, tmp_path):
    raw_id = _raw(db, tmp_path)
    with db.transaction() as s:
        job_id = enqueue(s, "copy", "copy:f", file_id=raw_id, params={"fail": True}).id
        gone = enqueue(s, "copy", "copy:gone", file_id=None).id
    engine, _ = _engine(db, tmp_path)
    assert await _run_until(
        engine, lambda: {_job(db, job_id).state, _job(db, gone).state} == {"failed"}
    )
    job = _job(db, job_id)
    assert job.attempts == 1 and "no usable overscan" in job.error
    with db.session() as s:
        assert s.scalar(select(File).where(File.data_type == 2)) is None  # nothing half-made
        levels = set(s.scalars(select(LogEntry.level).where(LogEntry.event == "job.failed")))
        assert levels == {"ERROR"}
    assert "names no file" in _job(db, gone).error  # refused at prepare


@pytest.mark.asyncio
async def test_jobs_left_running_by_a_crash_run_again_at_start(db, tmp_path):
    raw_id = _raw(db, tmp_path)
    with db.transaction() as s:
        job_id = enqueue(s, "copy", "copy:c", file_id=raw_id).id
    with db.transaction() as s:
        claim_next(s, "engine@crashed:1")  # then the process died
    engine, events = _engine(db, tmp_path)
    assert await _run_until(engine, lambda: _job(db, job_id).state == "done")
    job = _job(db, job_id)
    assert (job.attempts, job.interruptions) == (1, 1)  # the crash spent no attempt
    assert events[0] == ("job.queued", job_id)
    with db.session() as s:
        assert "job.requeued" in set(s.scalars(select(LogEntry.event)))


def test_transient_classification():
    assert is_transient(TransientError("x")) and is_transient(TimeoutError())
    assert is_transient(BlockingIOError()) and not is_transient(FileNotFoundError())
    assert not is_transient(ValueError("bad data"))

    class KilledWorker(Exception):
        pass

    assert is_transient(KilledWorker())


def test_a_corrupt_fits_file_is_not_transient(tmp_path):
    path = tmp_path / "corrupt.fits"
    write_corrupt_fits(path)
    with pytest.raises(OSError) as raised:
        fits.getdata(path)
    assert not is_transient(raised.value), raised.value
    # Busy or interrupted I/O stays worth retrying.
    assert is_transient(OSError(errno.EBUSY, "Device or resource busy"))
    assert is_transient(InterruptedError(errno.EINTR, "Interrupted system call"))


@pytest.mark.asyncio
async def test_a_job_on_a_corrupt_file_fails_at_once_without_retry(db, tmp_path):
    path = tmp_path / "raw" / "0002.fits"
    path.parent.mkdir(parents=True)
    write_corrupt_fits(path)
    with db.transaction() as s:
        file_id = register_file(s, path, checksum="0" * 64, size=path.stat().st_size).file.id
        job_id = enqueue(s, "read", f"read:{file_id}", file_id=file_id).id
    engine, _ = _engine(db, tmp_path)
    engine.registry = make_read_registry()
    assert await _run_until(engine, lambda: _job(db, job_id).state == "failed")
    job = _job(db, job_id)
    assert job.attempts == 1 and "OSError" in job.error, job.error


@pytest.mark.asyncio
async def test_stopping_does_not_wait_forever_for_a_stuck_job(db, tmp_path):
    raw_id = _raw(db, tmp_path)
    with db.transaction() as s:
        job_id = enqueue(s, "copy", "copy:slow", file_id=raw_id, params={"sleep": 3}).id
    engine, _ = _engine(db, tmp_path, drain_seconds=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    for _ in range(100):
        if _job(db, job_id).state == "running":
            break
        await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop.set()
    await asyncio.wait_for(task, 10)
    assert loop.time() - started < 2
    assert _job(db, job_id).state == "running"  # queued again at the next start


@pytest.mark.asyncio
async def test_jobs_that_cannot_run_fail_with_the_reason(db, tmp_path):
    raw_id = _raw(db, tmp_path)
    with db.transaction() as s:
        job_id = enqueue(s, "calibrate_wavelength", "cw:1", file_id=raw_id).id
    engine = JobEngine(db, tmp_path, ThreadExecutor(1), poll_seconds=0.05, plan=False)
    assert await _run_until(engine, lambda: _job(db, job_id).state == "failed")
    assert "does not come from a reduced frame" in _job(db, job_id).error


@pytest.mark.asyncio
async def test_a_job_whose_input_was_replaced_ends_without_reviving_it(db, tmp_path):
    """An extraction queued for a reduced frame that a better reduction replaced
    meanwhile is not run: the newer frame has its own job."""
    raw_id = _raw(db, tmp_path)
    old = tmp_path / "products" / "zt_0001.fits"
    old.parent.mkdir(parents=True)
    write_fits_atomic(old, 2, RLEVEL=62)
    with db.transaction() as s:
        reduced = register_file(
            s,
            old,
            checksum=hashlib.sha256(old.read_bytes()).hexdigest(),
            size=old.stat().st_size,
            data_type=2,
            parent=s.get(File, raw_id),
        ).file
        reduced.superseded_at = reduced.created  # a newer reduction replaced it
        job_id = enqueue(
            s, "extract", f"extract:{reduced.id}:settings=None:lamp=auto", file_id=reduced.id
        ).id
    engine = JobEngine(db, tmp_path, ThreadExecutor(1), poll_seconds=0.05, plan=False)
    assert await _run_until(engine, lambda: _job(db, job_id).state != "queued")
    await asyncio.sleep(0.2)
    job = _job(db, job_id)
    assert job.state == "done" and job.product_file_id is None and job.error is None
    with db.session() as s:
        assert s.scalars(select(File).where(File.data_type > 2)).all() == []
        messages = [e.message for e in s.scalars(select(LogEntry))]
    assert any("not needed" in m and "replaced by a newer product" in m for m in messages)


def test_product_files_without_a_row_are_taken_out_at_start(db, tmp_path):
    """A job killed between writing its files and registering them leaves no orphan."""
    raw_id = _raw(db, tmp_path)
    night = tmp_path / "products" / "20261121"
    night.mkdir(parents=True)
    kept = night / "cfzst_0001.fits"
    write_fits_atomic(kept, 2, RLEVEL=62)
    with db.transaction() as s:
        register_file(
            s,
            kept,
            checksum=hashlib.sha256(kept.read_bytes()).hexdigest(),
            size=kept.stat().st_size,
            data_type=2,
            parent=s.get(File, raw_id),
        )
    orphan = night / "zst_0001.fits"
    write_fits_atomic(orphan, 3, RLEVEL=62)
    partial = night / ".ecfzst_0001.fits.partial"
    partial.write_bytes(b"half a file")
    engine = JobEngine(db, tmp_path, ThreadExecutor(1), plan=False)
    engine.requeue_at_start()
    assert kept.is_file() and not orphan.exists() and not partial.exists()
    assert (tmp_path / "orphans" / "20261121" / "zst_0001.fits").is_file()
    with db.session() as s:
        messages = [e.message for e in s.scalars(select(LogEntry))]
    assert any("zst_0001.fits" in m and "without a row" in m for m in messages)
    engine.requeue_at_start()  # nothing more to take
    assert kept.is_file()


def test_lock_conflicts_are_told_from_other_database_errors(postgres_server_url):
    """A real PostgreSQL deadlock is a conflict (completing again is right); a broken
    constraint is not (it would fail again the same way)."""
    import threading

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    from gsp_extension.engine.runner import is_lock_conflict

    engine = create_engine(postgres_server_url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS lock_pair"))
        conn.execute(text("CREATE TABLE lock_pair (id int PRIMARY KEY)"))
        conn.execute(text("INSERT INTO lock_pair VALUES (1), (2)"))
    both_hold, errors = threading.Barrier(2), []

    def take(first, second):
        try:
            with engine.begin() as conn:
                conn.execute(text("SELECT 1 FROM lock_pair WHERE id = :i FOR UPDATE"), {"i": first})
                both_hold.wait(10)
                conn.execute(
                    text("SELECT 1 FROM lock_pair WHERE id = :i FOR UPDATE"), {"i": second}
                )
        except DBAPIError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=take, args=p) for p in ((1, 2), (2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert len(errors) == 1 and is_lock_conflict(errors[0]), errors
        with pytest.raises(DBAPIError) as duplicate, engine.begin() as conn:
            conn.execute(text("INSERT INTO lock_pair VALUES (1)"))
        assert not is_lock_conflict(duplicate.value)
        assert not is_lock_conflict(ValueError("not a database error"))
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE lock_pair"))
        engine.dispose()


@pytest.mark.asyncio
async def test_a_full_disk_is_waited_out_and_the_job_completes_once_it_is_back(
    db, tmp_path, caplog, store_engine
):
    """A real ENOSPC (the product path leads to /dev/full), wrapped in a RuntimeError."""
    import logging

    caplog.set_level(logging.WARNING, logger="gsp_extension")
    async with store_engine(fault_base_delay=0.1, fault_max_delay=0.3) as (engine, store):
        target = tmp_path / "products" / "0001.fits.dat"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to("/dev/full")
        job_id = store()
        for _ in range(200):
            await asyncio.sleep(0.05)
            if "No space left" in (_job(db, job_id).error or ""):
                break
        job = _job(db, job_id)
        assert job.state in ("queued", "running") and job.attempts <= 1, (job.state, job.error)
        assert "gsp ALERT: storage unavailable" in caplog.text
        target.unlink()  # the operator makes room
        for _ in range(200):
            await asyncio.sleep(0.05)
            if _job(db, job_id).state == "done":
                break
    job = _job(db, job_id)
    assert (job.state, job.attempts) == ("done", 1)  # a single attempt was enough
    assert engine.health.fault is None and "storage is back" in caplog.text
    with db.session() as s:
        assert s.get(File, job.file_id).status != "failed"  # the stored raw file
    assert target.stat().st_size == 65536


@pytest.mark.asyncio
async def test_unwritable_products_resume_once_writable_not_after_the_backoff(
    db, tmp_path, caplog, store_engine
):
    """products/ refusing writes for real (EPERM or EACCES): the engine probes the folder
    that failed and resumes as soon as it is writable, not after the fault's backoff
    (60 s here; the chaos benchmark waited 80 s after products/ came back)."""
    import logging

    from engine_helpers import unwritable

    caplog.set_level(logging.INFO, logger="gsp_extension")
    products = tmp_path / "products"
    products.mkdir()
    delays = {"fault_base_delay": 60.0, "fault_max_delay": 60.0, "probe_seconds": 0.1}
    async with store_engine(**delays) as (engine, store):
        with unwritable(products):
            job_id = store()
            for _ in range(200):
                await asyncio.sleep(0.05)
                if "storage unavailable" in (_job(db, job_id).error or ""):
                    break
            await asyncio.sleep(0.5)  # the probe finds products/ unwritable
            job = _job(db, job_id)
            assert (job.state, job.attempts) == ("queued", 0), (job.state, job.error)
            assert engine.health.fault == "storage"
        started = time.monotonic()
        while _job(db, job_id).state != "done" and time.monotonic() - started < 10:
            await asyncio.sleep(0.05)
    job = _job(db, job_id)
    assert (job.state, job.attempts) == ("done", 1), (job.state, job.error)
    assert "writable again: 1 job(s) resumed" in caplog.text
    assert engine.health.fault is None


def test_storage_errors_under_a_wrapping_error_are_infrastructure():
    from gsp_extension.engine.runner import infrastructure_fault

    for code in (errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EIO, errno.ESTALE):
        try:
            try:
                raise OSError(code, os.strerror(code))
            except OSError as exc:
                raise RuntimeError("frame.fits: step failed") from exc
        except RuntimeError as wrapped:
            assert infrastructure_fault(wrapped) == "storage"
            assert is_transient(wrapped)
    assert infrastructure_fault(RuntimeError("no usable overscan")) is None
    assert infrastructure_fault(OSError("Header missing END card.")) is None
