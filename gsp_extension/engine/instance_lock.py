"""One engine at a time per database: the others wait as hot standbys.

Two engines on one database would requeue each other's running jobs and sweep each
other's fresh products. The lock is held for the life of the process and released by
the operating system or the database server when it dies, however it dies:

- PostgreSQL: a session-level advisory lock on a connection of its own;
- SQLite: an ``fcntl`` lock on ``<database file>.engine.lock`` beside the database.

A second ``gsp live`` (or hub service) waits, says so, and takes over when the holder
dies, with a log line saying that too.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: The advisory lock's key (any fixed 64-bit number; this one spells "gsplive").
ADVISORY_KEY = 0x6773706C697665


def describe_self() -> str:
    """Name this process for a standby's log line (``host:pid``).

    Returns
    -------
    str
        The host name and process id, e.g. ``"gsp-0:4242"``.
    """
    return f"{socket.gethostname()}:{os.getpid()}"


class EngineLock:
    """The engine lock of the database at ``url``.

    Parameters
    ----------
    url : str
        The database URL (SQLAlchemy form), as given to :class:`~gsp_extension.store.Database`.
    poll_seconds : float
        How often a standby tries to take the lock.
    """

    def __init__(self, url: str, *, poll_seconds: float = 1.0) -> None:
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self.poll_seconds = poll_seconds
        self._fd: int | None = None
        self._conn: Any = None
        self._engine: Any = None
        self.held = False

    @property
    def postgres(self) -> bool:
        return self.url.get_backend_name() == "postgresql"

    @property
    def path(self) -> Path | None:
        """The lock file (SQLite), beside the database file."""
        if self.postgres:
            return None
        database = self.url.database
        if not database or database == ":memory:":
            return None  # a database of this process alone: nothing to share
        return Path(database).with_name(Path(database).name + ".engine.lock")

    # --- one try ----------------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take the lock if free; ``True`` when this process holds it."""
        if self.held:
            return True
        self.held = self._try_postgres() if self.postgres else self._try_file()
        return self.held

    def _try_file(self) -> bool:
        path = self.path
        if path is None:
            return True
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, describe_self().encode())
        self._fd = fd
        return True

    def _try_postgres(self) -> bool:
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        if self._engine is None:
            self._engine = create_engine(
                self.url,
                poolclass=NullPool,
                connect_args={"application_name": f"gsp engine {describe_self()}"},
            )
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY})
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def check(self) -> bool:
        """Whether this process still holds the lock (call periodically).

        A PostgreSQL session lock ends with its connection: a database restart or a
        dropped connection loses it, and a standby may then take over. This asks the
        server; a lock file held by this process cannot be lost.
        """
        if not self.held:
            return False
        if self._conn is None:
            return True
        from sqlalchemy import text

        try:
            held = self._conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND pid = pg_backend_pid() "
                    "AND (classid::bigint << 32 | objid::bigint) = :k"
                ),
                {"k": ADVISORY_KEY},
            )
        except Exception as exc:  # noqa: BLE001 - a lost connection is a lost lock
            log.error("gsp: the engine lock's database connection is lost: %s", exc)
            held = 0
        if not held:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            self._conn = None
            self.held = False
        return self.held

    def holder(self) -> str:
        """Who holds the lock, as far as can be told (for the standby's log line)."""
        try:
            if self.postgres:
                from sqlalchemy import text

                with self._engine.connect() as conn:
                    name = conn.scalar(
                        text(
                            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                            "AND (l.classid::bigint << 32 | l.objid::bigint) = :k"
                        ),
                        {"k": ADVISORY_KEY},
                    )
                return name or "another engine"
            path = self.path
            return f"gsp engine {path.read_text().strip()}" if path else "another engine"
        except Exception:  # noqa: BLE001 - only for a log line
            return "another engine"

    # --- waiting ----------------------------------------------------------------------------

    async def acquire(
        self,
        stop: asyncio.Event | None = None,
        *,
        on_standby: Callable[[], None] | None = None,
    ) -> bool:
        """Wait until this process holds the lock (``False`` if ``stop`` is set first).

        ``on_standby`` is called once when another process is found holding it.
        """
        waited = False
        while not (stop is not None and stop.is_set()):
            try:
                if await asyncio.to_thread(self.try_acquire):
                    if waited:
                        log.warning(
                            "gsp: the engine lock is free (its holder stopped or died): "
                            "this standby takes over as the engine (%s)",
                            describe_self(),
                        )
                    else:
                        log.info("gsp: engine lock taken (%s)", self._where())
                    return True
            except Exception as exc:  # noqa: BLE001 - the database may be away: wait
                log.warning(
                    "gsp: cannot reach the engine lock (%s): %s; waiting", self._where(), exc
                )
            else:
                if not waited:
                    if on_standby is not None:
                        on_standby()
                    holder = await asyncio.to_thread(self.holder)
                    log.warning(
                        "gsp: %s already runs the engine on this database (%s); "
                        "waiting as a hot standby, to take over when it stops",
                        holder,
                        self._where(),
                    )
            waited = True
            if stop is None:
                await asyncio.sleep(self.poll_seconds)
            else:
                try:
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)
                except TimeoutError:
                    pass
        return False

    def _where(self) -> str:
        if self.postgres:
            return f"PostgreSQL advisory lock {ADVISORY_KEY:#x}"
        return f"lock file {self.path}"

    def release(self) -> None:
        """Let a standby take over (also done by the system when this process dies)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            try:
                self._conn.close()  # a session lock ends with its session
            except Exception:  # noqa: BLE001 - the server drops it with the session anyway
                pass
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        self.held = False
