"""The service's caller cache never lets access outlive its bound (real hub).

Read requests may reuse a caller's account and proposals for ``caller_cache_seconds``
(2 s by default). A change made through the service is seen by the next request; one
made by another process (here: this test writing the app database directly, as the
``gsp`` command line or the hub's account pages do) within the bound.

The tests run on the session's hub (``world`` of conftest.py): the accounts they remove
and deactivate and the proposal they change are their own (``cc*``, SOAR2031B-077), seen
by no other test. A hub of their own cost a start and a stop (~20 s) for nothing else.
"""

from __future__ import annotations

import time

import requests

from gsp_extension.store import Database
from gsp_extension.store.accounts import create_user, get_user_by_username
from gsp_extension.store.files import register_file
from gsp_extension.store.proposals import create_proposal

SOAR = "SOAR2031B-077"
BOUND_S = 2.0  # GSPExtensionApp.caller_cache_seconds' default


def _setup(world) -> int:
    db = Database(world.hub.database_url)
    try:
        with db.transaction() as s:
            users = {n: create_user(s, n, email=f"{n}@example.org") for n in ("ccpi", "ccco")}
            proposal = create_proposal(s, SOAR, pi=users["ccpi"], collaborators=[users["ccco"]])
            for n in range(3):
                register_file(
                    s,
                    f"/nowhere/raw/20311201/{n:04d}_cc.fits",
                    checksum=f"{n + 7700:064x}",
                    size=1,
                    data_type=0,
                    fields={"date": "2031-12-01", "proposal_id": SOAR},
                )
            return proposal.id
    finally:
        db.dispose()


def _listing(world, who: str) -> requests.Response:
    return requests.get(
        world.url("files/"),
        params={"data_type": 0, "proposal_id": SOAR},
        headers=world.headers(who),
        timeout=30,
    )


def test_removed_collaborator_and_deactivated_user_lose_access_within_the_bound(world):
    pid = _setup(world)
    # Both see the proposal's raw files, and are now cached as members.
    for who in ("ccco", "ccpi"):
        r = _listing(world, who)
        assert r.status_code == 200, r.text
        assert r.json()["count"] == 3
    # Removed through the service: the very next request no longer sees the files.
    r = requests.post(
        world.url(f"proposals/collaborators/{pid}/"),
        json={"email": "ccco@example.org", "action": "remove"},
        headers=world.headers("ccpi"),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    r = _listing(world, "ccco")
    assert r.status_code == 200 and r.json()["count"] == 0 and r.json()["results"] == []

    # Deactivated by another process: refused at most BOUND_S later.
    assert _listing(world, "ccpi").json()["count"] == 3
    db = Database(world.hub.database_url)
    try:
        with db.transaction() as s:
            get_user_by_username(s, "ccpi").is_active = False
    finally:
        db.dispose()
    changed = time.monotonic()
    while True:
        # Judged by when a request was sent, not when its answer came: a request sent
        # past the bound must be refused however slow the machine is, and one sent
        # before it may be served however long it takes.
        sent = time.monotonic() - changed
        r = _listing(world, "ccpi")
        if r.status_code == 403:
            break
        assert r.status_code == 200, r.text
        assert sent <= BOUND_S, f"a request sent {sent:.2f} s after deactivation was served"
        time.sleep(0.05)
    assert "deactivated" in r.json()["detail"]
    # Writes read the account afresh anyway: the deactivated PI changes nothing.
    r = requests.post(
        world.url(f"proposals/collaborators/{pid}/"),
        json={"email": "ccco@example.org", "action": "add"},
        headers=world.headers("ccpi"),
        timeout=30,
    )
    assert r.status_code == 403


def test_service_logs_failures_but_not_each_fast_success(world):
    """service_config.py installs gsp_extension.api.access_log.log_request."""
    marker = "logcheck-0b7d"
    db = Database(world.hub.database_url)
    try:
        with db.transaction() as s:
            create_user(s, "cclog", email="cclog@example.org")
    finally:
        db.dispose()
    ok = requests.get(
        world.url("files/"), params={"object": marker}, headers=world.headers("cclog"), timeout=30
    )
    refused = requests.get(world.url("files/"), params={"object": marker}, timeout=30)
    assert ok.status_code == 200 and refused.status_code == 401
    deadline = time.monotonic() + 10
    while True:
        lines = [x for x in world.hub.log_tail(2000).splitlines() if marker in x]
        if any(" 401 GET " in x for x in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert any(" 401 GET " in x for x in lines), lines
    assert not any(" 200 GET " in x for x in lines), lines
