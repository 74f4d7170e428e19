"""Engines and sessions for the app database (SQLite by default, PostgreSQL by URL)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

#: How long a SQLite connection waits for another writer before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000

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


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for the app database.

    Parameters
    ----------
    url : str
        ``sqlite:///path/to/gsp.sqlite`` or ``postgresql+psycopg://user@host/db``.
        A bare ``postgresql://`` URL is given the psycopg (v3) driver.
    **kwargs
        Passed on to :func:`sqlalchemy.create_engine`.

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
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)
    raise ValueError(
        f"unsupported database URL {parsed.render_as_string(hide_password=True)!r}: use "
        "sqlite:///<file> or postgresql+psycopg://<user>@<host>/<database>"
    )


class Database:
    """An engine and its session factories: the handle other parts hold.

    Use :meth:`session` for reads and short writes, :meth:`transaction` for a
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

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction, committed at the end of the block."""
        with self._sessions.begin() as session:
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
    """The app database URL: ``GSP_DATABASE_URL``, else the SQLite file in ``GSP_DATA_ROOT``.

    Raises
    ------
    ValueError
        When neither variable is set.
    """
    environ = os.environ if environ is None else environ
    if environ.get("GSP_DATABASE_URL"):
        return environ["GSP_DATABASE_URL"]
    if environ.get("GSP_DATA_ROOT"):
        return f"sqlite:///{Path(environ['GSP_DATA_ROOT']).resolve() / 'gsp.sqlite'}"
    raise ValueError(
        "no database configured: set GSP_DATABASE_URL (e.g. postgresql+psycopg://user@host/gsp) "
        "or GSP_DATA_ROOT (the SQLite file gsp.sqlite is kept there)"
    )
