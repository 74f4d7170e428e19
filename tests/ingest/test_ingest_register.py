"""Backfill and registration: once per content, versions, placeholders, nothing dropped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ingest_helpers import raw_bytes, write_raw
from sqlalchemy import func, select

from gsp_extension.ingest.backfill import backfill, find_files
from gsp_extension.store.models import File, LogEntry, Proposal


def _count(db, model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_backfill_registers_once_and_reruns_change_nothing(db, tmp_path):
    for i in range(5):
        write_raw(tmp_path / "raw" / "20201126" / f"{i:04d}_comp.fits", seed=i)
    (tmp_path / "raw" / "notes.txt").write_text("not data")
    (tmp_path / "raw" / ".hidden.fits").write_bytes(raw_bytes())
    first = backfill(db, [tmp_path / "raw"], workers=1)
    assert (first.files, first.counts.new, first.counts.unchanged) == (5, 5, 0)
    again = backfill(db, [tmp_path / "raw"], workers=1)
    assert (again.counts.new, again.counts.unchanged) == (0, 5)
    assert _count(db, File) == 5
    with db.session() as s:
        statuses = set(s.scalars(select(File.status)))
        assert statuses == {"classified"}
        events = list(s.scalars(select(LogEntry.event)))
        assert events.count("file.registered") == 5


def test_parallel_workers_give_the_same_result(db, tmp_path):
    for i in range(6):
        write_raw(tmp_path / f"{i}.fits", seed=i)
    report = backfill(db, [tmp_path], workers=2, batch_size=4)
    assert report.counts.new == 6 and not report.unreadable and not report.counts.errors
    with db.session() as s:
        checks = {
            os.path.basename(p): c for p, c in s.execute(select(File.full_path, File.checksum))
        }
    import hashlib

    assert checks == {
        f"{i}.fits": hashlib.sha256((tmp_path / f"{i}.fits").read_bytes()).hexdigest()
        for i in range(6)
    }


def test_a_rewritten_file_is_a_new_version(db, tmp_path):
    path = write_raw(tmp_path / "a.fits", seed=1)
    backfill(db, [path], workers=1)
    write_raw(path, seed=2)
    report = backfill(db, [path], workers=1)
    assert report.counts.new_versions == 1
    with db.session() as s:
        rows = s.scalars(select(File).order_by(File.version)).all()
        assert [r.version for r in rows] == [1, 2]
        assert rows[0].superseded_at is not None
        assert "file.new_version" in set(s.scalars(select(LogEntry.event)))


def test_unknown_proposal_becomes_a_placeholder_with_a_warning(db, tmp_path):
    backfill(db, [write_raw(tmp_path / "a.fits", PROPID="SOAR2031B-777")], workers=1)
    backfill(db, [write_raw(tmp_path / "b.fits", PROPID="SOAR2031B-777", seed=3)], workers=1)
    with db.session() as s:
        proposal = s.scalar(select(Proposal).where(Proposal.soar_id == "SOAR2031B-777"))
        assert proposal.placeholder
        warnings = s.scalars(select(LogEntry).where(LogEntry.event == "proposal.placeholder")).all()
        assert len(warnings) == 1 and warnings[0].proposal_id == proposal.id
        assert set(s.scalars(select(File.proposal_id))) == {"SOAR2031B-777"}


def test_unusable_files_are_registered_with_the_reason(db, tmp_path):
    write_raw(tmp_path / "nodate.fits", **{"DATE-OBS": None})
    (tmp_path / "junk.fits").write_bytes(b"x" * 3000)
    report = backfill(db, [tmp_path], workers=1)
    assert report.counts.unusable == 2
    with db.session() as s:
        rows = {r.file_name: r for r in s.scalars(select(File))}
        assert rows["nodate.fits"].status == "rejected"
        assert "missing DATE-OBS" in rows["nodate.fits"].status_reason
        assert rows["junk.fits"].status_reason.startswith("cannot read")
        levels = set(s.scalars(select(LogEntry.level).where(LogEntry.event == "file.rejected")))
        assert levels == {"WARNING"}


def test_find_files_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        find_files([tmp_path / "nope"])
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ValueError, match="not a FITS file name"):
        find_files([tmp_path / "x.txt"])


def test_cli_backfills_and_reports(tmp_path):
    for i in range(3):
        write_raw(tmp_path / "raw" / f"{i}.fits", seed=i)
    url = f"sqlite:///{tmp_path / 'gsp.sqlite'}"
    gsp = Path(sys.executable).parent / "gsp"
    args = [gsp, "ingest", str(tmp_path / "raw"), "--db", url, "--workers", "1", "--quiet"]
    first = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert "3 files" in first.stdout and "3 new" in first.stdout and "files/s" in first.stdout
    second = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert "3 already registered" in second.stdout
    bad = subprocess.run(
        [gsp, "ingest", str(tmp_path / "missing"), "--db", url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "does not exist" in bad.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("GSP_DATABASE_URL", "GSP_DATA_ROOT")}
    nodb = subprocess.run(
        [gsp, "ingest", str(tmp_path / "raw")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert nodb.returncode == 2 and "GSP_DATABASE_URL" in nodb.stderr
