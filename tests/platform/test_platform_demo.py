"""hub/demo.py: demo accounts (made once, passwords that log in) and the streamed night."""

from __future__ import annotations

import threading

import pytest

from gsp_extension.store import Database
from gsp_extension.store.accounts import get_user_by_username
from gsp_extension.store.proposals import get_proposal_by_soar_id, is_member
from hub.demo import (
    DEMO_ACCOUNTS,
    demo_interval,
    demo_proposal_ids,
    ensure_demo_accounts,
    stream_demo_night,
)
from hub.passwords import PasswordHasher, PasswordPolicy
from pipeline.simulate import NightConfig


def test_demo_accounts_made_once(db_url):
    created = ensure_demo_accounts(db_url, semester="2026B")
    assert [c.username for c in created] == [a.username for a in DEMO_ACCOUNTS]
    assert len({c.password for c in created}) == len(created)
    p1, p2 = demo_proposal_ids("2026B")
    db = Database(db_url)
    try:
        with db.session() as s:
            users = {c.username: get_user_by_username(s, c.username) for c in created}
            for cred in created:
                assert PasswordHasher().verify(users[cred.username].password_hash, cred.password)
                assert not PasswordPolicy().problems(cred.password, users[cred.username])
            first, second = get_proposal_by_soar_id(s, p1), get_proposal_by_soar_id(s, p2)
            assert first.pi.username == "demo-pi" and second.pi.username == "demo-pi2"
            assert is_member(s, users["demo-collab"], first)
            assert not is_member(s, users["demo-collab"], second)
            assert not is_member(s, users["demo-pi2"], first)
            assert users["demo-staff"].is_staff and not users["demo-staff"].is_superuser
            hashes = {u.username: u.password_hash for u in users.values()}
        # a second run keeps everything and shows no password
        assert ensure_demo_accounts(db_url, semester="2026B") == []
        with db.session() as s:
            for name, h in hashes.items():
                assert get_user_by_username(s, name).password_hash == h
    finally:
        db.dispose()


def test_demo_interval_switch():
    assert demo_interval({}) == 5.0
    assert demo_interval({"GSP_DEMO_INTERVAL": "0.25"}) == 0.25
    with pytest.raises(ValueError, match="GSP_DEMO_INTERVAL='fast'"):
        demo_interval({"GSP_DEMO_INTERVAL": "fast"})


def test_stream_writes_whole_frames_in_order_and_resumes(tmp_path):
    cfg = NightConfig(n_bias=2, n_flats=1, n_arcs=1, n_science=1, date="2026-11-21")
    night = tmp_path / "raw" / "20261121"
    stop = threading.Event()
    seen = []

    def stop_after_two(path, written):
        seen.append((path.name, written))
        if len(seen) == 2:
            stop.set()

    assert stream_demo_night(tmp_path / "raw", cfg, 0.0, stop, stop_after_two) == 2
    assert sorted(p.name for p in night.iterdir()) == [name for name, _ in seen]
    first_two = {p.name: p.stat().st_mtime_ns for p in night.iterdir()}
    # calibrations first: the bias frames
    assert all("bias" in name for name in first_two)

    assert stream_demo_night(tmp_path / "raw", cfg, 0.0, threading.Event()) == 3
    names = sorted(p.name for p in night.iterdir())
    assert len(names) == 5 and not list(night.glob(".*"))
    assert [n.split("_")[1] for n in names] == ["bias", "bias", "flat", "AT2026xyz", "AT2026xyz"]
    assert names[3].endswith("_comp.fits")  # the arc before the science frame
    # frames of the first run were not rewritten
    assert {n: (night / n).stat().st_mtime_ns for n in first_two} == first_two


def test_the_night_belongs_to_the_demo_pis_proposal():
    import datetime as dt

    from hub.demo import demo_night, night_semester

    for day in (dt.date(2027, 1, 31), dt.date(2027, 2, 1), dt.date(2026, 8, 1)):
        cfg = demo_night(day)
        assert cfg.proposal_id == demo_proposal_ids(night_semester(cfg))[0]
    assert demo_night(dt.date(2027, 1, 31)).proposal_id == "SOAR2026B-901"
