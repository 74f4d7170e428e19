"""Every raw file that arrives is visible somewhere: a corrupt, truncated, refused or
absurd frame is in the log staff read, and in its proposal's log when its header names
a proposal (never in another proposal's), each with its reason."""

from __future__ import annotations

import os
import time

from ingest_helpers import raw_bytes, write_raw

from gsp_extension.api.logs import visible_entries
from gsp_extension.ingest.watcher import RawWatcher
from gsp_extension.security import resolve_caller
from gsp_extension.store.accounts import create_user
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
