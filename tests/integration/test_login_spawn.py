"""The login that starts the user's server (hub/login.py) when that start is slow or fails.

The session's real hub (the project's config, forkserver included), which runs with an
overlay (login_overlay.py: a ``pre_spawn_hook``) that changes the spawns of two test users
only: ``lslow``'s spawn sleeps before its server starts (longer than the login waits),
``lfail``'s server command does not exist (the spawn fails at once). ``lquick``'s server
starts as in production.
"""

from __future__ import annotations

import json
import re
import time

import pytest
import requests
from login_overlay import MISSING_CMD, SLOW_S, WAIT_S

from gsp_extension.store import Database
from gsp_extension.store.accounts import create_user, set_password_hash
from hub.passwords import PasswordHasher

pytestmark = pytest.mark.slow

PASSWORD = "a login that starts servers 7"
XSRF = re.compile(r'name="_xsrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def hub(realhub):
    """The session's hub (it runs with login_overlay.py) and the three test users."""
    # Cheap argon2 parameters: the hash carries them, so verifying it is cheap too.
    hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    db = Database(realhub.database_url)
    try:
        with db.transaction() as s:
            for name in ("lslow", "lfail", "lquick"):
                user = create_user(s, name, email=f"{name}@example.org")
                set_password_hash(s, user, hasher.hash(PASSWORD))
    finally:
        db.dispose()
    _wait_for_log(realhub, "gsp forkserver: ready on", 120)
    yield realhub
    # The servers these logins started are of no later test's concern.
    for name in ("lslow", "lquick"):
        realhub.hub_api("DELETE", f"/users/{name}/server")


def _wait_for_log(hub, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in hub.log_path.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise AssertionError(f"no {text!r} in the hub's log within {timeout} s:\n{hub.log_tail()}")


def login(hub, username: str) -> tuple[requests.Session, requests.Response, float]:
    """Log in through the hub's form; returns the session, the answer and its seconds."""
    session = requests.Session()
    page = session.get(f"{hub.url}/hub/login", timeout=30)
    form = {"username": username, "password": PASSWORD, "_xsrf": XSRF.search(page.text)[1]}
    t0 = time.monotonic()
    r = session.post(f"{hub.url}/hub/login", data=form, allow_redirects=False, timeout=60)
    return session, r, time.monotonic() - t0


def own_model(session, hub) -> dict:
    """The logged-in user's hub model (with its servers), as their session reads it."""
    r = session.get(f"{hub.url}/hub/api/user", timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def wait_until_ready(session, hub, name: str, timeout: float = 60) -> list[dict]:
    """Read the server's progress events as the progress page does, until ready."""
    url = f"{hub.url}/hub/api/users/{name}/server/progress"
    events = []
    with session.get(url, stream=True, timeout=timeout) as r:
        assert r.status_code == 200, r.text
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("data:"):
                events.append(json.loads(line[len("data:") :]))
                if events[-1].get("ready") or events[-1].get("failed"):
                    break
    return events


def test_a_server_still_starting_when_the_wait_ends_is_reached_through_the_progress_page(hub):
    session, r, took = login(hub, "lslow")
    # The login answered once its wait was over, with the server still starting.
    assert r.status_code == 302, (r.status_code, r.text[-500:])
    # Not before the wait was over, and well before the server could be up; the pending
    # model below is the check that does not depend on the machine's load.
    assert WAIT_S - 0.5 < took < SLOW_S - 1, took
    assert r.headers["Location"].endswith("/user/lslow/"), r.headers["Location"]
    model = own_model(session, hub)
    assert model["pending"] == "spawn" and not model["servers"].get("", {}).get("ready"), model
    # The browser follows the redirect: the server has no route yet, so the hub sends it
    # to the progress page, which waits for the server's events.
    page = session.get(f"{hub.url}/user/lslow/", timeout=30)
    assert page.status_code == 200 and "/hub/spawn-pending/lslow" in page.url, page.url
    events = wait_until_ready(session, hub, "lslow")
    assert events and events[-1].get("ready"), events
    # Reloaded, the progress page sends it on to the server, which answers.
    page = session.get(f"{hub.url}/hub/spawn-pending/lslow", timeout=60)
    assert page.status_code == 200 and "/user/lslow/" in page.url, page.url
    assert "/hub/" not in page.url.split("/user/lslow/")[1], page.url
    assert "lslow's server still starting after" in hub.log_path.read_text(errors="replace")


def test_a_spawn_failing_at_login_leaves_the_user_logged_in_and_sent_to_the_spawn_page(hub):
    session, r, took = login(hub, "lfail")
    assert r.status_code == 302, (r.status_code, r.text[-500:])
    assert r.headers["Location"].endswith("/hub/spawn"), r.headers["Location"]
    assert took < WAIT_S, took  # a failed start ends the wait
    # Logged in: the hub knows the session's user.
    me = own_model(session, hub)
    assert me["name"] == "lfail" and not me["servers"], me
    log = hub.log_path.read_text(errors="replace")
    assert "lfail's server did not start at login" in log, hub.log_tail()
    # The spawn page tries again (a second start of the command), and says it failed.
    page = session.get(f"{hub.url}/hub/spawn", timeout=60)
    assert page.status_code == 500, (page.status_code, page.url)
    assert "error starting server lfail" in page.text, page.text[-800:]
    assert hub.log_path.read_text(errors="replace").count(f"Spawning {MISSING_CMD}") == 2
    # A later login starts the server again: JupyterHub keeps the failed spawn around
    # (spawner._failed), which must not make the login skip the start.
    _, r, _ = login(hub, "lfail")
    assert r.status_code == 302 and r.headers["Location"].endswith("/hub/spawn"), r.headers
    assert hub.log_path.read_text(errors="replace").count(f"Spawning {MISSING_CMD}") == 3


def test_a_login_while_the_server_runs_starts_no_other(hub):
    session, r, _ = login(hub, "lquick")
    assert r.status_code == 302 and r.headers["Location"].endswith("/user/lquick/"), r.headers
    first = own_model(session, hub)["servers"][""]
    assert first["ready"], first
    starts = hub.log_path.read_text(errors="replace").count("lquick's server forked")
    session, r, _ = login(hub, "lquick")
    assert r.status_code == 302 and r.headers["Location"].endswith("/user/lquick/"), r.headers
    again = own_model(session, hub)["servers"][""]
    assert again["started"] == first["started"] and again["ready"], (first, again)
    assert hub.log_path.read_text(errors="replace").count("lquick's server forked") == starts
    assert starts == 1, starts
