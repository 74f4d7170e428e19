"""Engines and sessions for the app database (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

#: How long a SQLite connection waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000

#: A pooled PostgreSQL connection idle this long (seconds) is tested before it is used.
PING_AFTER_IDLE_S = 10.0

# Execution option read by the SQLite "begin" hook: write transactions take the write
# lock up front (BEGIN IMMEDIATE), so that a read-then-write transaction never fails
# with SQLITE_BUSY when another connection wrote in between.
_IMMEDIATE = "gsp_sqlite_begin_immediate"


def _setup_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy (pysqlite's implicit BEGIN breaks
        # SAVEPOINT and starts transactions late); see the SQLAlchemy SQLite dialect docs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            # WAL makes NORMAL durable against application crashes; only a power cut
            # can lose the last transactions, never corrupt the file.
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get(_IMMEDIATE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _ping_idle_connections(engine: Engine, after: float) -> None:
    """Test a pooled connection at checkout only when it sat idle ``after`` seconds.

    ``pool_pre_ping`` tests every checkout: a round trip to the server per request,
    as much as the query itself. A connection that was in use a moment ago is alive;
    one that sat idle may have been cut (server restart, firewall), so it is pinged
    and, when dead, replaced before anyone uses it (SQLAlchemy's pessimistic
    disconnect handling through the "checkout" event).
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["gsp_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("gsp_idle_since")
        if since is None or time.monotonic() - since < after:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure means "use another connection"
            raise DisconnectionError(f"pooled connection is dead: {exc}") from exc


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for the app database.

    Parameters
    ----------
    url : str
        ``sqlite:///path/to/gsp.sqlite`` or ``postgresql+psycopg://user@host/db``.
        A bare ``postgresql://`` URL is given the psycopg (v3) driver.
    **kwargs
        Passed on to :func:`sqlalchemy.create_engine`, but ``ping_after_idle``
        (PostgreSQL): seconds of idleness after which a pooled connection is tested
        before use (default :data:`PING_AFTER_IDLE_S`; ``pool_pre_ping=True`` tests
        every checkout instead).

    Returns
    -------
    sqlalchemy.Engine
        On SQLite every connection is in WAL mode with foreign keys on and a busy
        timeout of :data:`SQLITE_BUSY_TIMEOUT_MS`; the parent folder of the file is created.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            raise ValueError(
                f"SQLite URL {url!r} has no file: the app database must be a file shared by "
                "processes (e.g. sqlite:////data/gsp.sqlite)"
            )
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {}).setdefault("check_same_thread", False)
        engine = create_engine(parsed, **kwargs)
        _setup_sqlite(engine)
        return engine
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        ping_after = kwargs.pop("ping_after_idle", PING_AFTER_IDLE_S)
        engine = create_engine(parsed, **kwargs)
        if not kwargs.get("pool_pre_ping"):
            _ping_idle_connections(engine, ping_after)
        return engine
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: use "
        "sqlite:///<file> or postgresql+psycopg://<user>@<host>/<database>"
    )


class Database:
    """An engine and its session factories: the handle other parts hold.

    Use :meth:`session` for reads and short writes, :meth:`reader` for a hot read that
    needs no snapshot, :meth:`transaction` for a
    read-then-write unit of work (on SQLite it takes the write lock first). Both commit
    when the block ends without error and roll back otherwise.

    Parameters
    ----------
    url : str
        Database URL, see :func:`make_engine`.
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writers = sessionmaker(
            self.engine.execution_options(**{_IMMEDIATE: True}), expire_on_commit=False
        )
        # Reads on PostgreSQL without BEGIN/COMMIT: two round trips fewer per request.
        self._readers = (
            sessionmaker(
                self.engine.execution_options(isolation_level="AUTOCOMMIT"),
                expire_on_commit=False,
            )
            if self.engine.dialect.name == "postgresql"
            else self._sessions
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction, committed at the end of the block."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reading only: each statement sees the database as it is then.

        On PostgreSQL it runs in autocommit (no BEGIN and COMMIT round trips), so two
        queries of one block may see different snapshots and nothing written in it is
        atomic: use it for reads whose queries need no common snapshot (a page and its
        count). On SQLite it is :meth:`session`.
        """
        with self._readers.begin() as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite), committed at the end."""
        with self._writers.begin() as session:
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """Give the app database URL: ``GSP_DATABASE_URL``, else the SQLite file in ``GSP_DATA_ROOT``.

    Parameters
    ----------
    environ : mapping of str to str or None
        The environment to read; ``None`` reads ``os.environ``.

    Returns
    -------
    str
        A SQLAlchemy URL (``postgresql+psycopg://...`` or ``sqlite:///<root>/gsp.sqlite``).

    Raises
    ------
    ValueError
        When neither variable is set.
    """
    # The default itself is computed in one place (gsp_extension.environment); commands
    # that must not fall back to ./gsp-data refuse when neither variable is set.
    from .. import environment

    if environment.text("GSP_DATABASE_URL", environ=environ) or environment.text(
        "GSP_DATA_ROOT", environ=environ
    ):
        return environment.database_url(environ)
    raise ValueError(
        "no database configured: set GSP_DATABASE_URL (e.g. postgresql+psycopg://user@host/gsp) "
        "or GSP_DATA_ROOT (the SQLite file gsp.sqlite is kept there)"
    )
