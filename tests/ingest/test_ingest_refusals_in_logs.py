"""Every raw file that arrives is visible somewhere: a corrupt, truncated, refused or
absurd frame is in the log staff read, and in its proposal's log when its header names
a proposal (never in another proposal's), each with its reason."""

from __future__ import annotations

import os
import time

from ingest_helpers import raw_bytes, write_raw
from sqlalchemy import select

from gsp_extension.api.logs import visible_entries
from gsp_extension.ingest.watcher import RawWatcher
from gsp_extension.security import resolve_caller
from gsp_extension.store.accounts import create_user
from gsp_extension.store.models import File
from gsp_extension.store.proposals import create_proposal

MINE, THEIRS = "SOAR2020B-008", "SOAR2021A-001"


def _messages(db, username):
    with db.session() as s:
        caller = resolve_caller(s, {"name": username, "kind": "user"}, ())
        return [e.message for e in visible_entries(s, caller, limit=500)]


def _ingest(db, data):
    watcher = RawWatcher(db, data / "raw", mode="poll", settle_seconds=0, give_up_seconds=0)
    watcher.initial_scan()
    time.sleep(0.05)  # settled (0 s), and past the give-up time of incomplete files
    watcher.process_ready()
    return watcher


def test_bad_raw_frames_reach_staff_and_their_proposal_with_the_reason(db, tmp_path):
    with db.transaction() as s:
        pi, other_pi = (
            create_user(s, "pia", email="pia@x.org"),
            create_user(s, "oto", email="o@x.org"),
        )
        create_user(s, "staff", email="staff@x.org", is_staff=True)
        create_proposal(s, MINE, pi=pi)
        create_proposal(s, THEIRS, pi=other_pi)
    night = tmp_path / "data" / "raw" / "20201126"
    # truncated: the header names the proposal, the data stop short
    whole = raw_bytes(shape=(100, 200), PROPID=MINE)
    night.mkdir(parents=True)
    (night / "0001_truncated.fits").write_bytes(whole[: len(whole) // 2])
    write_raw(night / "0002_absurd.fits", GAIN=-1.0, PROPID=MINE)
    write_raw(night / "0003_theirs_absurd.fits", RDNOISE=-3.0, PROPID=THEIRS)
    (night / "0004_junk.fits").write_bytes(b"junk" * 1000)  # no proposal can be read
    outside = tmp_path / "elsewhere.fits"
    outside.write_bytes(raw_bytes(PROPID=MINE))
    os.symlink(outside, night / "0005_link_out.fits")
    _ingest(db, tmp_path / "data")

    staff = "\n".join(_messages(db, "staff"))
    for name, reason in [
        ("0001_truncated.fits", "incomplete or invalid FITS file"),
        ("0002_absurd.fits", "GAIN=-1.0: the gain must be a positive number"),
        ("0003_theirs_absurd.fits", "RDNOISE=-3.0: the read noise cannot be negative"),
        ("0004_junk.fits", "not a FITS file"),
        ("0005_link_out.fits", "not taken"),
    ]:
        line = next((m for m in staff.splitlines() if name in m), None)
        assert line is not None, f"{name} is missing from the staff's log:\n{staff}"
        assert reason in line, (name, line)
    mine = "\n".join(_messages(db, "pia"))
    assert "0001_truncated.fits" in mine and "0002_absurd.fits" in mine
    assert "0003_theirs_absurd.fits" not in mine  # another proposal's file never shows
    theirs = "\n".join(_messages(db, "oto"))
    assert "0003_theirs_absurd.fits" in theirs and "0002_absurd.fits" not in theirs


def _damaged(data: bytes, start: int, card: bytes) -> bytes:
    """``data`` with the 80 bytes at ``start`` replaced by ``card`` padded with NULs (a
    header damaged on disk, as in tests/reliability/test_live_crash.py)."""
    out = bytearray(data)
    out[start : start + 80] = card + b"\x00" * (80 - len(card))
    return bytes(out)


def test_nul_bytes_in_a_header_neither_keep_a_file_out_nor_stop_the_watcher(db, tmp_path):
    """PostgreSQL refuses NUL in JSON and text: such a card once failed the whole batch
    and, through the watcher's end, stopped the live service (issue 15, item 8)."""
    with db.transaction() as s:
        pi = create_user(s, "pia", email="pia@x.org")
        create_proposal(s, MINE, pi=pi)
    night = tmp_path / "data" / "raw" / "20201126"
    night.mkdir(parents=True)
    whole = raw_bytes(PROPID=MINE)
    at = whole.index(b"OBJECT  =")
    (night / "0001_nul_comment.fits").write_bytes(
        _damaged(whole, at, whole[at : at + 40] + b"/ damaged")
    )
    (night / "0002_nul_naxis.fits").write_bytes(
        _damaged(whole, 80, b"NAXIS1  = 'not a number' / broken card")
    )
    write_raw(night / "0003_fine.fits", PROPID=MINE, OBJECT="after")
    watcher = _ingest(db, tmp_path / "data")

    assert not watcher.totals.errors
    with db.session() as s:
        rows = {f.file_name: f for f in s.scalars(select(File))}
        assert sorted(rows) == ["0001_nul_comment.fits", "0002_nul_naxis.fits", "0003_fine.fits"]
        readable, broken = rows["0001_nul_comment.fits"], rows["0002_nul_naxis.fits"]
        # a damaged comment does not make a readable frame unusable
        assert readable.status == "classified" and readable.object == "HgArNe"
        comment = next(c for k, _v, c in readable.header if k == "OBJECT")
        assert comment.startswith("damaged\ufffd") and "\x00" not in comment
        # the unreadable one keeps its proposal and night, so its PI is told
        assert broken.status == "rejected" and "'not a number'" in broken.status_reason
        assert (broken.proposal_id, str(broken.date)) == (MINE, "2020-11-26")
        assert not any("\x00" in str(part) for card in broken.header for part in card)
    assert "0002_nul_naxis.fits" in "\n".join(_messages(db, "pia"))
