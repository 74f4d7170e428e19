"""The live service survives ``kill -9`` and bad input: real processes, real dask, no mocks.

``gsp live`` runs as a subprocess (its own session) with a LocalCluster of one worker
process on a temporary data root, with SQLite and with PostgreSQL. A simulated 2x2 night is streamed into
``raw/``; the whole process group is killed with SIGKILL while a reduction or extraction
runs; the service is started again and must finish the night with every raw file
registered once, every product made once, no file without its row and no row without
its file, and no job left running. After the restart, a file written slowly, a truncated
FITS file, a file that is not FITS and one with a corrupted header are dropped in: the
slow one is taken whole, the others are registered as unusable with their reason, and
the watcher goes on to register the last good frame.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from gsp_extension.store import Database
from gsp_extension.store.models import File, Job

pytestmark = pytest.mark.timeout(300)

NIGHT = "20261121"


def _frames():
    """The night's frames as FITS bytes, in observing order (2x2, noise-free)."""
    from pipeline.simulate import NightConfig, iter_night

    cfg = NightConfig(n_bias=2, n_flats=2, n_arcs=1, n_science=2, noise=False, seed=11)
    return [(frame.name, frame.fits_bytes()) for frame in iter_night(cfg)]


def _drop(folder: Path, name: str, data: bytes) -> Path:
    """Write whole under a hidden name, then rename into place (as the instrument does)."""
    tmp = folder / f".{name}.partial"
    tmp.write_bytes(data)
    os.replace(tmp, folder / name)
    return folder / name


def _start(root: Path, url: str, log: Path) -> subprocess.Popen:
    gsp = Path(sys.executable).with_name("gsp")
    env = {k: v for k, v in os.environ.items() if k != "GSP_DATABASE_URL"}
    env["GSP_DATA_ROOT"] = str(root)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(gsp), "live", "--data-root", str(root), "--db", url, "--workers", "1"]
            + ["--settle", "0.3", "--give-up", "4"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill_group(proc: subprocess.Popen) -> None:
    if _group_alive(proc.pid):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    while _group_alive(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _group_alive(proc.pid), "a process of the killed service survived (dask worker?)"


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen, log: Path, state=str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(
                f"gsp live exited ({proc.returncode}) waiting for {what}:\n{log.read_text()[-3000:]}"
            )
        time.sleep(0.05)
    pytest.fail(
        f"timed out after {timeout} s waiting for {what}:\n{log.read_text()[-3000:]}\n{state()}"
    )


def _slow_write(path: Path, data: bytes, seconds: float, chunks: int, log: list) -> None:
    size = -(-len(data) // chunks)
    with open(path, "wb") as fh:
        for k in range(chunks):
            fh.write(data[k * size : (k + 1) * size])
            fh.flush()
            time.sleep(seconds / chunks)
    log.append(time.time())


def _renamed_copy(data: bytes, suffix: str) -> bytes:
    """The same frame as another exposure (new OBJECT), so it is a distinct raw file."""
    from astropy.io import fits

    with fits.open(io.BytesIO(data)) as hdul:
        hdul[0].header["OBJECT"] = f"{hdul[0].header['OBJECT']}-{suffix}"
        out = io.BytesIO()
        hdul.writeto(out)
    return out.getvalue()


def test_kill_9_in_a_job_then_restart_loses_and_duplicates_nothing(tmp_path, db_url):
    root = tmp_path / "data"
    raw = root / "raw" / NIGHT
    raw.mkdir(parents=True)
    log = tmp_path / "live.log"
    frames = _frames()
    science = [(n, d) for n, d in frames if "AT2026" in n and not n.endswith("_comp.fits")]
    assert len(science) == 2, [n for n, _ in frames]
    held_back = science[-1]  # dropped last, after the bad files
    first_wave = [f for f in frames if f is not held_back]

    proc = _start(root, db_url, log)
    db = None
    try:
        for name, data in first_wave:
            _drop(raw, name, data)
            time.sleep(0.1)
        _wait(lambda: "job engine started" in log.read_text(), 60, "the start", proc, log)
        db = Database(db_url)

        def running_job():
            with db.session() as s:
                return s.scalar(
                    select(Job).where(Job.state == "running", Job.kind.in_(("reduce", "extract")))
                )

        _wait(running_job, 120, "a reduction or extraction to run", proc, log)
        _kill_group(proc)
        with db.session() as s:
            victims = {j.id: j.kind for j in s.scalars(select(Job).where(Job.state == "running"))}
        assert victims, "every job finished before the kill"

        proc = _start(root, db_url, log)
        # Bad input, and a frame written slowly, after the restart.
        (raw / "0090_not_fits.fits").write_bytes(b"this is a log file, not FITS\n" * 200)
        (raw / "0091_tiny.fits").write_bytes(b"oops")
        good = science[0][1]
        (raw / "0092_truncated.fits").write_bytes(good[: len(good) // 2])
        broken = bytearray(good)
        broken[80:160] = b"NAXIS1  = 'not a number' / broken card" + b"\x00" * 42
        (raw / "0093_corrupted.fits").write_bytes(bytes(broken))
        slow_data = _renamed_copy(good, "slow")
        slow_done: list[float] = []
        writer = threading.Thread(
            target=_slow_write,
            args=(raw / "0094_slow.fits", slow_data, 3.0, 8, slow_done),
        )
        writer.start()
        writer.join()
        _drop(raw, *held_back)
        n_raw = len(frames) + 5

        def finished():
            with db.session() as s:
                raws = s.scalar(select(Job.id).limit(1)) is not None and len(
                    s.scalars(select(File.id).where(File.data_type == 0)).all()
                )
                states = set(s.scalars(select(Job.state)))
                # science spectra only: each arc used has a calibrated product too
                calibrated = s.scalars(
                    select(File.original_file_id).where(
                        File.data_type == 4,
                        File.superseded_at.is_(None),
                        File.file_name.contains("_target_"),
                    )
                ).all()
            return raws == n_raw and states <= {"done", "failed"} and len(set(calibrated)) == 3

        def state():
            with db.session() as s:
                files = [
                    (f.id, f.file_name, f.data_type, f.status, f.superseded_at is None)
                    for f in s.scalars(select(File))
                ]
                jobs = [(j.id, j.kind, j.state, j.error) for j in s.scalars(select(Job))]
            return "\n".join(map(str, files + jobs))

        _wait(finished, 150, "the night to be finished after the restart", proc, log, state)
        # Nothing more arrives once the work is done.
        time.sleep(1.0)
        assert finished()
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        _kill_group(proc)
        if db is not None:
            db.dispose()

    db = Database(db_url)
    try:
        with db.session() as s:
            files = s.scalars(select(File)).all()
            jobs = s.scalars(select(Job)).all()
            # --- jobs: all done; the killed one ran again -----------------------------
            assert {j.state for j in jobs} == {"done"}, [(j.kind, j.state, j.error) for j in jobs]
            for job in (j for j in jobs if j.id in victims):
                # ran again, and the crash spent none of its attempts
                assert (job.attempts, job.interruptions) == (1, 1), (job.kind, job.attempts)
            # --- fencing: no attempt's private folder left behind ----------------------
            assert not list((root / "products" / ".attempts").glob("*/*"))
            # --- raw files: each registered exactly once -------------------------------
            raw_rows = [f for f in files if f.data_type == 0]
            on_disk = sorted(str(p) for p in raw.iterdir() if not p.name.startswith("."))
            assert sorted(f.full_path for f in raw_rows) == on_disk
            by_name = {f.file_name: f for f in raw_rows}
            slow = by_name["0094_slow.fits"]
            assert slow.checksum == hashlib.sha256(slow_data).hexdigest()  # read whole
            assert slow.status == "processed" and slow.version == 1
            assert slow.created.timestamp() >= slow_done[0] - 1.0
            for name, words in [
                ("0090_not_fits.fits", "not a FITS file"),
                ("0091_tiny.fits", ""),
                ("0092_truncated.fits", "bytes of"),
                ("0093_corrupted.fits", ""),
            ]:
                row = by_name[name]
                assert row.status == "rejected" and row.status_reason, (name, row.status)
                assert words in row.status_reason, (name, row.status_reason)
            # --- products: each made once, rows and files agree -------------------------
            products = [f for f in files if f.data_type > 0 and f.deleted_at is None]
            for f in products:
                assert Path(f.full_path).is_file(), f"row {f.id} has no file {f.full_path}"
            # The same bytes may be made again from a newer parent (an arc's calibrated
            # spectrum, rewritten after the arc was re-reduced): a new version, the old
            # one superseded. Registered twice from one parent is a duplicate.
            versions = Counter((f.full_path, f.checksum, f.parent_file_id) for f in products)
            assert max(versions.values()) == 1, "one product registered twice"
            current = [f for f in products if f.superseded_at is None]
            paths = Counter(f.full_path for f in current)
            assert max(paths.values()) == 1, "two current rows for one product file"
            keys = Counter((f.parent_file_id, f.data_type, f.file_name) for f in current)
            assert max(keys.values()) == 1
            registered = {f.full_path for f in products}
            product_files = [p for p in (root / "products").rglob("*") if p.is_file()]
            orphans = [str(p) for p in product_files if str(p) not in registered]
            assert not orphans, f"product files without a row: {orphans}"
            # current products come from current products only (no stale chain revived)
            for f in current:
                parent = f.parent_file
                assert parent.data_type == 0 or parent.superseded_at is None, f.file_name
            # calibrated spectra of every science frame (the slow copy included)
            calibrated = [f for f in current if f.data_type == 4 and "_target_" in f.file_name]
            assert len({f.original_file_id for f in calibrated}) == 3
    finally:
        db.dispose()
