"""The job queue: one active job per product, claims, retries with backoff, requeue."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import select
from store_helpers import digest

from gsp_extension.store.errors import DuplicateJob, InvalidState
from gsp_extension.store.files import register_file
from gsp_extension.store.jobs import (
    backoff_delay,
    claim_next,
    enqueue,
    fail_job,
    finish_job,
    get_job,
    requeue_running,
)
from gsp_extension.store.models import File, Job

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def test_same_product_key_is_refused_while_queued_or_running(db):
    with db.transaction() as s:
        first = enqueue(s, "reduce", "reduce:1")
    with db.transaction() as s, pytest.raises(DuplicateJob) as info:
        enqueue(s, "reduce", "reduce:1")
    assert info.value.job_id == first.id
    with db.transaction() as s:
        claim_next(s, "w1", now=T0)
    with db.transaction() as s, pytest.raises(DuplicateJob):
        enqueue(s, "reduce", "reduce:1")
    with db.transaction() as s:
        finish_job(s, get_job(s, first.id), now=T0)
    with db.transaction() as s:  # done: the product may be made again (e.g. new settings)
        assert enqueue(s, "reduce", "reduce:1").id != first.id


def test_the_database_itself_refuses_a_second_active_job(db):
    """Even code that skips the check cannot insert a duplicate (partial unique index)."""
    from sqlalchemy.exc import IntegrityError

    with db.transaction() as s:
        s.add(Job(kind="reduce", product_key="k", state="queued"))
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(Job(kind="reduce", product_key="k", state="running"))
    with db.transaction() as s:  # finished jobs do not hold the key
        s.add(Job(kind="reduce", product_key="k", state="done"))
        s.add(Job(kind="reduce", product_key="k", state="failed"))


def test_a_refused_enqueue_keeps_the_rest_of_the_transaction(db):
    with db.transaction() as s:
        enqueue(s, "reduce", "a")
        with pytest.raises(DuplicateJob):
            enqueue(s, "reduce", "a")
        enqueue(s, "extract", "b")
    with db.session() as s:
        assert sorted(j.product_key for j in s.scalars(select(Job))) == ["a", "b"]


def test_claims_take_priority_then_age_and_count_attempts(db):
    with db.transaction() as s:
        low = enqueue(s, "reduce", "low")
        high = enqueue(s, "reduce", "high", priority=10)
        later = enqueue(s, "extract", "later", run_after=T0 + dt.timedelta(hours=1))
    with db.transaction() as s:
        job = claim_next(s, "w1", now=T0)
        assert (job.id, job.state, job.attempts, job.worker) == (high.id, "running", 1, "w1")
        assert job.started_at == T0
    with db.transaction() as s:
        assert claim_next(s, "w1", now=T0).id == low.id
    with db.transaction() as s:
        assert claim_next(s, "w1", now=T0) is None  # "later" is not due yet
        assert claim_next(s, "w1", kinds=["reduce"], now=T0 + dt.timedelta(hours=2)) is None
        assert claim_next(s, "w1", now=T0 + dt.timedelta(hours=2)).id == later.id


def test_transient_failures_retry_with_backoff_then_fail(db):
    with db.transaction() as s:
        job_id = enqueue(s, "reduce", "r", max_attempts=3).id
    now = T0
    for attempt in (1, 2):
        with db.transaction() as s:
            job = claim_next(s, "w", now=now)
            assert job.attempts == attempt
            fail_job(s, job, "disk busy", transient=True, now=now)
            assert job.state == "queued"
            assert job.run_after == now + backoff_delay(attempt)
            assert claim_next(s, "w", now=now) is None  # waits out the backoff
        now = now + backoff_delay(attempt)
    with db.transaction() as s:
        job = claim_next(s, "w", now=now)
        fail_job(s, job, "disk busy", transient=True, now=now)
    with db.session() as s:
        job = s.get(Job, job_id)
        assert (job.state, job.attempts, job.error) == ("failed", 3, "disk busy")
        assert job.finished_at == now


def test_permanent_failure_ends_at_once(db):
    with db.transaction() as s:
        enqueue(s, "reduce", "r", max_attempts=5)
    with db.transaction() as s:
        job = claim_next(s, "w", now=T0)
        fail_job(s, job, "no overscan section in header", transient=False, now=T0)
        assert (job.state, job.attempts) == ("failed", 1)
        with pytest.raises(InvalidState, match="is failed, not running"):
            finish_job(s, job)


def test_backoff_grows_and_is_capped():
    assert backoff_delay(1) == dt.timedelta(seconds=5)
    assert backoff_delay(3) == dt.timedelta(seconds=20)
    assert backoff_delay(30) == dt.timedelta(minutes=10)


def test_jobs_left_running_by_a_crash_are_queued_again(db):
    with db.transaction() as s:
        enqueue(s, "reduce", "a")
        enqueue(s, "reduce", "b", max_attempts=1)
        enqueue(s, "reduce", "c")
    with db.transaction() as s:
        a = claim_next(s, "dead-worker", now=T0)
        b = claim_next(s, "dead-worker", now=T0)
    # the process dies here; at the next start:
    with db.transaction() as s:
        changed = requeue_running(s)
    assert {j.id for j in changed} == {a.id, b.id}
    with db.session() as s:
        a, b = s.get(Job, a.id), s.get(Job, b.id)
        assert (a.state, a.worker, a.started_at) == ("queued", None, None)
        # a crash spends no attempt, even of a job with a single one
        assert (b.state, b.attempts, b.interruptions) == ("queued", 0, 1)
    with db.transaction() as s:
        job = claim_next(s, "new-worker", now=T0)
        assert (job.id, job.attempts) == (a.id, 1)
        # the old worker may not finish a job taken back from it
        with pytest.raises(InvalidState, match="held by worker 'new-worker'"):
            finish_job(s, job, worker="dead-worker")


def test_a_job_that_crashes_its_process_every_time_ends_failed(db):
    with db.transaction() as s:
        job_id = enqueue(s, "reduce", "a", max_attempts=3).id
    for n in range(1, 4):
        with db.transaction() as s:
            assert claim_next(s, "w", now=T0).id == job_id
        with db.transaction() as s:
            requeue_running(s, max_interruptions=3)
        with db.session() as s:
            job = s.get(Job, job_id)
            assert (job.attempts, job.interruptions) == (0, n)
    assert job.state == "failed" and "interrupted 3 times by a crash" in job.error


def test_product_is_registered_in_the_same_transaction_that_completes_the_job(db):
    with db.transaction() as s:
        raw = register_file(s, "/raw/a.fits", checksum=digest("a"), size=1).file
        job_id = enqueue(s, "reduce", f"reduce:{raw.id}", file_id=raw.id).id
    with db.transaction() as s:
        job = claim_next(s, "w", now=T0)
    # a crash between registering and finishing leaves neither
    with pytest.raises(RuntimeError), db.transaction() as s:
        product = register_file(
            s,
            "/p/cfzst_a.fits",
            checksum=digest("p"),
            size=1,
            data_type=2,
            parent=s.get(File, raw.id),
        ).file
        raise RuntimeError("power cut")
    with db.session() as s:
        assert s.get(Job, job_id).state == "running"
        assert s.scalar(select(File).where(File.full_path == "/p/cfzst_a.fits")) is None
    with db.transaction() as s:
        product = register_file(
            s,
            "/p/cfzst_a.fits",
            checksum=digest("p"),
            size=1,
            data_type=2,
            parent=s.get(File, raw.id),
        ).file
        job = finish_job(s, get_job(s, job_id), product=product, worker="w", now=T0)
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job.state == "done" and job.product_file.file_name == "cfzst_a.fits"


def test_concurrent_workers_never_claim_the_same_job(db):
    n_jobs, n_workers = 30, 4
    with db.transaction() as s:
        for i in range(n_jobs):
            enqueue(s, "reduce", f"k{i}")
    claimed: dict[str, list[int]] = {f"w{i}": [] for i in range(n_workers)}
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_workers)

    def work(name: str) -> None:
        try:
            barrier.wait()
            while True:
                with db.transaction() as s:
                    job = claim_next(s, name)
                    if job is None:
                        return
                    claimed[name].append(job.id)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(name,)) for name in claimed]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    all_ids = [i for ids in claimed.values() for i in ids]
    assert len(all_ids) == len(set(all_ids)) == n_jobs
    with db.session() as s:
        jobs = s.scalars(select(Job)).all()
        assert all(j.state == "running" and j.attempts == 1 for j in jobs)
        assert {j.worker for j in jobs} <= set(claimed)
