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


def test_a_short_file_that_cannot_become_fits_is_given_up_once_settled(tmp_path):
    """Its first bytes already say it is not FITS: no wait for give_up_seconds."""
    clock = Clock()
    tracker = CompletenessTracker(settle_seconds=1, give_up_seconds=600, clock=clock)
    path = tmp_path / "junk.fits"
    path.write_bytes(b"junk" * 100)
    empty = tmp_path / "empty.fits"  # nothing written yet: it may still become FITS
    empty.write_bytes(b"")
    prefix = tmp_path / "prefix.fits"  # the start of a SIMPLE card: still being written
    prefix.write_bytes(b"SIMPL")
    for p in (path, empty, prefix):
        tracker.touch(p)
    clock.now = 0.5
    assert tracker.check() == ([], [])  # not settled yet
    clock.now = 1.5
    ready, given_up = tracker.check()
    assert ready == [] and given_up == [
        (str(path), "not a FITS file (no SIMPLE card at the start)")
    ]
    clock.now = 601
    assert sorted(p for p, _ in tracker.check()[1]) == sorted([str(empty), str(prefix)])


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


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["native", "poll"])
async def test_links_out_of_the_data_root_dangling_links_and_folders_get_a_status_once(
    db, tmp_path, tmp_path_factory, mode
):
    from gsp_extension.store.models import LogEntry

    root = tmp_path / "data"
    raw = root / "raw" / "20261121"
    raw.mkdir(parents=True)
    outside = tmp_path_factory.mktemp("elsewhere") / "secret.fits"
    write_raw(outside, seed=3)
    inside = root / "staging" / "kept.fits"
    write_raw(inside, seed=4)
    (raw / "0001.fits").symlink_to(outside)  # leads out of the data root
    (raw / "0002.fits").symlink_to(root / "nowhere.fits")  # dangling
    (raw / "0003.fits").mkdir()  # a folder named like a FITS file
    write_raw(raw / "0003.fits" / "hidden_inside.fits", seed=5)
    (raw / "0004.fits").symlink_to(inside)  # a link within the data root is fine
    write_raw(raw / "0005.fits", seed=6)
    watcher = RawWatcher(db, root / "raw", mode=mode, settle_seconds=0.2, poll_seconds=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))

    def names():
        with db.session() as s:
            return sorted(s.scalars(select(File.file_name)))

    try:
        assert await _until(lambda: names() == ["0004.fits", "0005.fits"])
        (raw / "0006.fits").symlink_to(outside)  # one arriving while it runs
        new = str(raw / "0006.fits")
        assert await _until(lambda: new in watcher.refused, timeout=10)
        await asyncio.sleep(1.5)  # several walks: each refusal is reported once
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    assert names() == ["0004.fits", "0005.fits"]
    refused = {os.path.basename(p): r for p, r in watcher.refused.items()}
    assert set(refused) == {"0001.fits", "0002.fits", "0003.fits", "0006.fits"}
    assert "outside the data root" in refused["0001.fits"]
    assert "dangling" in refused["0002.fits"] and "directory" in refused["0003.fits"]
    with db.session() as s:
        messages = list(s.scalars(select(LogEntry.message).where(LogEntry.event == "file.refused")))
    assert sorted(m.split(" ")[0] for m in messages) == [
        "0001.fits",
        "0002.fits",
        "0003.fits",
        "0006.fits",
    ]


@pytest.mark.asyncio
async def test_a_failing_tick_or_the_watchers_end_never_sets_the_services_stop(db, tmp_path):
    """The stop event is the whole service's (engine, heartbeat): watchfiles sets the
    event it is given when cancelled, and an error once ended the watcher, so a bad file
    stopped the live service while its process lived on (issue 15, item 8)."""
    raw = tmp_path / "raw"
    (raw / "20201126").mkdir(parents=True)
    calls = []

    def on_registered(counts):
        calls.append(counts.registered_ids)
        if len(calls) == 1:
            raise RuntimeError("the planner failed on this batch")

    watcher = RawWatcher(
        db, raw, mode="native", settle_seconds=0.1, tick_seconds=0.05, on_registered=on_registered
    )
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        write_raw(raw / "20201126" / "0001.fits", seed=1)
        assert await _until(lambda: len(calls) == 1)
        write_raw(raw / "20201126" / "0002.fits", seed=2)
        assert await _until(lambda: len(calls) == 2), "the watcher died with the first error"
        assert not task.done() and not stop.is_set()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert not stop.is_set(), "cancelling the watcher set the service's stop event"


def _registered_names(db):
    with db.session() as s:
        return sorted(s.scalars(select(File.file_name)))


@pytest.mark.asyncio
async def test_a_night_folder_moved_in_whole_is_registered_without_a_tree_walk(db, tmp_path):
    """inotify reports the folder, not the files it brought: they waited for the
    safety-net walk (a minute in the service; never in native mode)."""
    raw = tmp_path / "raw"
    raw.mkdir()
    staged = tmp_path / "staging" / "20201127"
    write_raw(staged / "0001.fits", seed=1)
    write_raw(staged / "deeper" / "0002.fits", seed=2)
    watcher = RawWatcher(db, raw, mode="native", settle_seconds=0.1, tick_seconds=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        await asyncio.sleep(1.5)  # the watch is set
        os.rename(staged, raw / "20201127")
        assert await _until(lambda: _registered_names(db) == ["0001.fits", "0002.fits"], 8), (
            _registered_names(db)
        )
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


class _DropsAfterScan(RawWatcher):
    """A file lands right after the initial scan, before the native watch exists (the
    service's start: the watch began seconds after the scan under load)."""

    def initial_scan(self) -> int:
        followed = super().initial_scan()
        write_raw(self.raw_root / "20201128" / "0003.fits", seed=3)
        return followed


@pytest.mark.asyncio
async def test_a_file_that_lands_while_the_watch_starts_is_registered_at_once(db, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    watcher = _DropsAfterScan(db, raw, mode="native", settle_seconds=0.1, tick_seconds=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    try:
        assert await _until(lambda: _registered_names(db) == ["0003.fits"], 8)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_catch_up_seconds_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="catch_up_seconds must be > 0"):
        RawWatcher(None, tmp_path, catch_up_seconds=0)
