"""The live feed against the real service: a real hub, the gsp service's ``api/events/``
and the real :class:`gsp_extension.client.GSPClient`.

Events are written to the log table through the store, as the engine and ingest do from
their own processes; the service tails the table. A 1 s read timeout (the service's
keep-alive comes every 15 s) makes the stream drop again and again, so the resume path
(``after_id`` of the last event seen) runs for real.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from gsp_realhub import start_hub, stop_hub  # noqa: E402

from gsp_extension.client import GSPClient  # noqa: E402
from voila_apps.widgets.live import LiveFeed  # noqa: E402


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import create_user
    from gsp_extension.store.proposals import create_proposal

    hub = start_hub(tmp_path_factory.mktemp("gsp-live-feed"))
    try:
        db = Database(hub.database_url)
        with db.transaction() as s:
            alice = create_user(s, "alice", email="alice@example.org")
            carol = create_user(s, "carol", email="carol@example.org")
            create_proposal(s, "SOAR2020B-201", semester="2020B", title="Mine", pi=alice)
            create_proposal(s, "SOAR2020B-202", semester="2020B", title="Other", pi=carol)
        hub.db = db
        yield hub
        db.dispose()
    finally:
        stop_hub(hub)


def _log(db, soar_id: str, event: str) -> int:
    from gsp_extension.store.activity import log_event
    from gsp_extension.store.proposals import get_proposal_by_soar_id

    with db.transaction() as s:
        entry = log_event(
            s, f"{event} on {soar_id}", event=event, proposal=get_proposal_by_soar_id(s, soar_id)
        )
        return entry.id


def _newest(db) -> int:
    from sqlalchemy import func, select

    from gsp_extension.store import LogEntry

    with db.transaction() as s:
        return s.scalar(select(func.coalesce(func.max(LogEntry.id), 0)))


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_feed_gets_its_proposals_events_resumes_after_drops_and_stops(service):
    client = GSPClient(service.url + "/services/gsp/", service.token_for("alice"), timeout=10)
    got: list[dict] = []
    lock = threading.Lock()
    polls: list[float] = []

    def on_event(event: dict) -> None:
        with lock:
            got.append(event)

    feed = LiveFeed(
        client,
        on_event,
        lambda: polls.append(time.monotonic()),
        read_timeout=1.0,
        backoff=(0.1, 0.3),
        fallback=60.0,
    )
    # From now on, nothing is missed, whenever the connection is actually made.
    feed.last_id = _newest(service.db)
    feed.start()
    try:
        other = _log(service.db, "SOAR2020B-202", "test.other")
        mine = _log(service.db, "SOAR2020B-201", "test.mine")
        _wait(lambda: any(e["id"] == mine for e in got), 15, "alice's event")
        # the stream drops (read timeout) and is opened again after the last id
        _wait(lambda: feed.reconnects >= 2, 15, "two reconnections")
        assert polls, "a drop runs the polling fallback once"
        later = [_log(service.db, "SOAR2020B-201", "test.mine") for _ in range(3)]
        _wait(lambda: {e["id"] for e in got} >= set(later), 15, "events after the drops")
        ids = [e["id"] for e in got]
        assert ids == sorted(set(ids)), "each event once, in order"
        assert other not in ids, "another proposal's event reached alice"
        assert {e["event"] for e in got} == {"test.mine"}
    finally:
        feed.stop(wait=5)
    assert not feed.running
