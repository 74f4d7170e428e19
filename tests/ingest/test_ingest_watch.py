"""Files that land while the service runs are taken once they are complete."""

from __future__ import annotations

import asyncio
import os

import pytest
from ingest_helpers import raw_bytes, write_raw
from sqlalchemy import select

from gsp_extension.ingest.complete import CompletenessTracker
from gsp_extension.ingest.watcher import RawWatcher
from gsp_extension.store.models import File


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_file_is_ready_only_when_stable_and_complete(tmp_path):
    clock = Clock()
    tracker = CompletenessTracker(settle_seconds=2, give_up_seconds=60, clock=clock)
    whole = raw_bytes(shape=(100, 200))
    path = tmp_path / "a.fits"
    path.write_bytes(whole[:5000])
    tracker.touch(path)
    clock.now = 1
    assert tracker.check() == ([], [])  # not settled yet
    clock.now = 3
    assert tracker.check() == ([], [])  # settled but incomplete: wait
    with open(path, "ab") as fh:  # the writer goes on
        fh.write(whole[5000:])
    clock.now = 4
    assert tracker.check() == ([], [])  # changed: settling starts again
    clock.now = 5.5
    assert tracker.check() == ([], [])
    clock.now = 6.5
    assert tracker.check() == ([str(path)], [])
    assert tracker.pending == []


def test_a_stable_file_that_never_becomes_fits_is_given_up(tmp_path):
    clock = Clock()
    tracker = CompletenessTracker(settle_seconds=1, give_up_seconds=10, clock=clock)
    path = tmp_path / "junk.fits"
    path.write_bytes(b"junk" * 100)
    tracker.touch(path)
    clock.now = 5
    assert tracker.check() == ([], [])
    clock.now = 11
    ready, given_up = tracker.check()
    assert ready == [] and given_up == [
        (str(path), "not a FITS file (no SIMPLE card at the start)")
    ]


def test_a_file_deleted_before_completion_is_forgotten(tmp_path):
    tracker = CompletenessTracker(settle_seconds=0)
    path = tmp_path / "a.fits"
    path.write_bytes(b"SIMPLE  =")
    tracker.touch(path)
    path.unlink()
    assert tracker.check() == ([], []) and tracker.pending == []


async def _until(predicate, timeout=20.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.1)
    return False


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["native", "poll"])
async def test_watcher_registers_a_file_written_in_pieces_once(db, tmp_path, mode):
    raw = tmp_path / "raw"
    write_raw(raw / "old" / "0001.fits", seed=1)  # landed while the service was down
    (raw / "20201126").mkdir(parents=True)
    seen = []
    watcher = RawWatcher(
        db,
        raw,
        mode=mode,
        settle_seconds=0.5,
        poll_seconds=0.2,
        tick_seconds=0.1,
        on_registered=seen.append,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))

    def names():
        with db.session() as s:
            return sorted(s.scalars(select(File.file_name)))

    try:
        assert await _until(lambda: names() == ["0001.fits"])
        whole = raw_bytes(shape=(200, 300), seed=2)
        target = raw / "20201126" / "0002.fits"
        with open(target, "wb") as fh:
            for start in range(0, len(whole), 30000):
                fh.write(whole[start : start + 30000])
                fh.flush()
                await asyncio.sleep(0.15)
        assert await _until(lambda: names() == ["0001.fits", "0002.fits"])
        await asyncio.sleep(1.0)  # later events for the same file change nothing
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    import hashlib

    with db.session() as s:
        rows = s.scalars(select(File)).all()
    assert len(rows) == 2
    second = next(r for r in rows if r.file_name == "0002.fits")
    assert second.checksum == hashlib.sha256(whole).hexdigest() and second.version == 1
    assert sum(c.new for c in seen) == 2


def test_restart_rechecks_only_new_or_changed_files(db, tmp_path):
    raw = tmp_path / "raw"
    a = write_raw(raw / "a.fits", seed=1)
    write_raw(raw / "b.fits", seed=2)
    watcher = RawWatcher(db, raw, mode="poll", settle_seconds=0)
    assert watcher.initial_scan() == 2
    assert watcher.process_ready().new == 2
    restarted = RawWatcher(db, raw, mode="poll", settle_seconds=0)
    write_raw(raw / "c.fits", seed=3)
    a.write_bytes(raw_bytes(shape=(60, 100), seed=9))  # rewritten, different size
    assert restarted.initial_scan() == 2
    counts = restarted.process_ready()
    assert (counts.new, counts.new_versions) == (1, 1)
    assert os.path.exists(a)
