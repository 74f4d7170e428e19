"""The fast paths of the hot listing give the same answers as the plain ones.

The listing builds its statements once per shape and may take the caller's proposals
from the caller cache; reads on PostgreSQL run without BEGIN/COMMIT; pooled
connections are pinged only after idling; replies are written by orjson. Each is
checked here against the slow path it replaces, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time

import pytest
from sqlalchemy import select, text

from gsp_extension.api.access_log import log_request
from gsp_extension.api.base import caller_cache_for, dump_json
from gsp_extension.api.queries import list_files
from gsp_extension.api.schemas import FileListQuery
from gsp_extension.security import AccessPolicy, Caller, CallerCache, resolve_caller
from gsp_extension.store import Database, File, PermissionDenied
from gsp_extension.store.accounts import create_user, get_user_by_username
from gsp_extension.store.files import list_files_query, register_file
from gsp_extension.store.proposals import (
    add_collaborator,
    create_proposal,
    get_proposal_by_soar_id,
)
from tests.migrated import migrate

NAMES = ("pi", "co", "other", "nobody", "staff", "gone")


@pytest.fixture
def world(db_url, request):
    migrate(db_url, request)
    db = Database(db_url)
    with db.transaction() as s:
        users = {n: create_user(s, n, email=f"{n}@x.org") for n in ("pi", "co", "other", "nobody")}
        users["staff"] = create_user(s, "staff", email="staff@x.org", is_staff=True)
        users["gone"] = create_user(s, "gone", email="gone@x.org", is_active=False)
        create_proposal(s, "P1", pi=users["pi"], collaborators=[users["co"]])
        create_proposal(s, "P2", pi=users["other"])
        n, parent = 0, None
        for propid, data_type, count in (("P1", 0, 4), ("P1", 2, 2), ("P2", 0, 3), (None, 1, 2)):
            for _ in range(count):
                n += 1
                fields = {"date": f"2020-11-{10 + n:02d}"}
                if propid:
                    fields["proposal_id"] = propid
                row = register_file(
                    s,
                    f"/d/{data_type}/{n}.fits",
                    checksum=f"{n:064x}",
                    size=1,
                    data_type=data_type,
                    parent=parent if data_type == 2 else None,
                    fields=fields,
                ).file
                parent = parent or row
    yield db
    db.dispose()


def _store_ids(session, caller: Caller, data_type, proposal_id) -> list[int]:
    """The listing as the plain path sees it: the store's query under the policy's
    general rule, with the caller's proposals read from the database (the reference)."""
    fresh = dataclasses.replace(caller, proposal_ids=None)
    q = list_files_query(session, data_type=data_type, proposal_id=proposal_id)
    return [f.id for f in session.scalars(q.where(AccessPolicy(session, fresh).files()))]


@pytest.mark.parametrize("cached", [False, True], ids=["fresh", "cached"])
def test_listing_matches_the_store_query_for_every_caller(world, cached):
    callers = CallerCache(60.0)
    shapes = [(dt_, p) for dt_ in (None, 0, 1, 2) for p in (None, "P1", "P2", "P9")]
    checked = 0
    for name in (*NAMES, "gsp-instrument"):
        kind = "service" if name == "gsp-instrument" else "user"
        model = {"name": name, "kind": kind}
        with world.session() as s:
            try:
                if cached:
                    callers.resolve(s, model, {"gsp-instrument"})  # fill
                    caller = callers.resolve(s, model, {"gsp-instrument"})
                else:
                    caller = resolve_caller(s, model, {"gsp-instrument"})
            except PermissionDenied:
                assert name == "gone"
                continue
            for data_type, proposal_id in shapes:
                q = FileListQuery(data_type=data_type, proposal_id=proposal_id, page_size=2)
                expected = _store_ids(s, caller, data_type, proposal_id)
                got, page = [], 1
                while True:
                    q = q.model_copy(update={"page": page})
                    result = list_files(s, caller, q, page_size=2, bound=3)
                    got += [r["id"] for r in result.rows]
                    if not result.has_next:
                        break
                    page += 1
                assert got == expected, (name, data_type, proposal_id)
                if len(expected) <= 3:
                    assert (result.count, result.estimated) == (len(expected), False)
                else:
                    assert result.estimated and result.count >= 4
                checked += len(expected)
    assert checked > 0


def test_extra_filters_apply_to_the_shared_statement(world):
    with world.session() as s:
        caller = resolve_caller(s, {"name": "pi", "kind": "user"}, ())
        plain = list_files(s, caller, FileListQuery(data_type=0), page_size=100, bound=100)
        dated = list_files(
            s, caller, FileListQuery(data_type=0, date="2020-11-12"), page_size=100, bound=100
        )
        again = list_files(s, caller, FileListQuery(data_type=0), page_size=100, bound=100)
    assert len(plain.rows) == 4
    assert [r["date"] for r in dated.rows] == ["2020-11-12"]
    # The filter did not stick to the statement kept for the plain shape.
    assert [r["id"] for r in again.rows] == [r["id"] for r in plain.rows]


def _caller(cache: CallerCache, db: Database, name: str) -> Caller:
    with db.session() as s:
        caller = cache.resolve(s, {"name": name, "kind": "user"}, ())
        # The cached account is a live instance of this session, not a shared one.
        assert caller.user in s
        return caller


def test_caller_cache_sees_changes_committed_in_this_process_at_once(world):
    cache = CallerCache(3600.0)
    assert _caller(cache, world, "nobody").proposal_ids == frozenset()
    with world.transaction() as s:
        add_collaborator(s, get_proposal_by_soar_id(s, "P2"), get_user_by_username(s, "nobody"))
    assert _caller(cache, world, "nobody").proposal_ids == frozenset({"P2"})
    with world.transaction() as s:
        get_user_by_username(s, "nobody").is_active = False
    with pytest.raises(PermissionDenied, match="deactivated"):
        _caller(cache, world, "nobody")


def _change_elsewhere(db_url: str, sql: str) -> None:
    """A write by another process: no ORM session of this one sees it."""
    other = Database(db_url)
    try:
        with other.engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        other.dispose()


def test_caller_cache_forgets_changes_made_elsewhere_within_its_ttl(world):
    ttl = 0.5
    cache = CallerCache(ttl)
    assert _caller(cache, world, "co").proposal_ids == frozenset({"P1"})
    assert _caller(cache, world, "pi").user.is_staff is False
    # A Core write with no ORM objects: like the CLI or the hub's account pages.
    _change_elsewhere(world.url, "DELETE FROM proposal_collaborators")
    _change_elsewhere(world.url, "UPDATE users SET is_active = false WHERE username = 'pi'")
    changed = time.monotonic()
    # Within the bound the cache may still answer, and answers what it knew.
    caller = _caller(cache, world, "co")
    if time.monotonic() - changed < ttl:
        assert caller.proposal_ids == frozenset({"P1"})
    time.sleep(ttl + 0.05)
    assert _caller(cache, world, "co").proposal_ids == frozenset()
    with pytest.raises(PermissionDenied, match="deactivated"):
        _caller(cache, world, "pi")


def test_caller_cache_off_and_refusals_are_never_cached(world):
    off = CallerCache(0)
    with world.session() as s:
        first = off.resolve(s, {"name": "pi", "kind": "user"}, ())
    with world.session() as s:
        assert off.resolve(s, {"name": "pi", "kind": "user"}, ()).user is not first.user
    cache = CallerCache(3600.0)
    with pytest.raises(PermissionDenied, match="no GSP Live account"):
        _caller(cache, world, "latecomer")
    with world.transaction() as s:
        create_user(s, "latecomer", email="late@x.org")
    assert _caller(cache, world, "latecomer").user.username == "latecomer"


def test_reader_sessions_see_each_commit_and_hold_no_transaction(world):
    postgresql = world.engine.dialect.name == "postgresql"
    with world.reader() as s:
        assert s.scalar(select(File.object).where(File.id == 1)) is None
        _change_elsewhere(world.url, "UPDATE files SET object = 'seen' WHERE id = 1")
        seen = s.scalar(select(File.object).where(File.id == 1))
        if postgresql:
            # Autocommit: each statement sees the latest commit; no BEGIN was sent.
            assert seen == "seen"
            status = s.connection().connection.dbapi_connection.pgconn.transaction_status
            assert status == 0  # IDLE
        else:
            assert seen is None  # SQLite: reader() is session(), one snapshot
    with world.session() as s:
        s.scalar(select(File.id).limit(1))
        if postgresql:
            status = s.connection().connection.dbapi_connection.pgconn.transaction_status
            assert status != 0  # plain sessions keep their snapshot transaction


def test_idle_postgresql_connection_is_replaced_when_the_server_cut_it(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite connections are files, not server sessions")
    db = Database(db_url, ping_after_idle=0.2)
    try:
        with db.engine.connect() as conn:
            first_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        # Used again at once: the same connection, not pinged (no extra round trip).
        with db.engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == first_pid
        _change_elsewhere(db_url, f"SELECT pg_terminate_backend({first_pid})")
        time.sleep(0.3)
        with db.engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert pid != first_pid
    finally:
        db.dispose()


@pytest.mark.parametrize(
    "data",
    [
        {"count": 3, "results": [{"id": 1, "name": "ñandú ✓", "x": 1.5, "ok": True, "n": None}]},
        {1: "int keys become strings", "nested": [[], {}]},
        {"big": 2**70},
    ],
)
def test_dump_json_writes_what_json_dumps_writes(data):
    assert json.loads(dump_json(data)) == json.loads(json.dumps(data))


class _Request:
    def __init__(self, seconds: float):
        self.seconds = seconds
        self.method, self.uri, self.remote_ip, self.headers = "GET", "/x?token=s", "1.2.3.4", {}

    def request_time(self) -> float:
        return self.seconds


class _App:
    log_level = logging.INFO


class _Handler:
    def __init__(self, status: int, seconds: float = 0.001, app=None):
        self.status, self.request, self.current_user = status, _Request(seconds), None
        self._headers = {}
        self.settings = {"serverapp": app or _App()}

    def get_status(self) -> int:
        return self.status


def test_access_log_skips_fast_successes_only(caplog):
    caplog.set_level(logging.INFO, logger="tornado.access")
    log_request(_Handler(200))
    assert caplog.records == []
    log_request(_Handler(200, seconds=2.0))
    log_request(_Handler(404))
    log_request(_Handler(500))
    levels = [r.levelno for r in caplog.records if "GET /x" in r.getMessage()]
    assert levels == [logging.INFO, logging.WARNING, logging.ERROR]
    # A server run with log_level DEBUG logs every request.
    caplog.clear()
    debug = _App()
    debug.log_level = "DEBUG"
    log_request(_Handler(200, app=debug))
    assert any("200 GET /x" in r.getMessage() for r in caplog.records)


def test_only_reads_of_safe_requests_use_the_caller_cache():
    cache = CallerCache(60.0)
    for method in ("GET", "HEAD", "OPTIONS"):
        assert caller_cache_for(method, False, cache) is cache
        assert caller_cache_for(method, True, cache) is None
    # The planning reads of a change decide on a fresh account too.
    for method in ("POST", "PUT", "DELETE", "PATCH", None):
        assert caller_cache_for(method, False, cache) is None
    assert caller_cache_for("GET", False, None) is None
