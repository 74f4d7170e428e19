"""One engine at a time: a second ``gsp live`` waits as a hot standby and takes over.

Real ``gsp live`` processes on one data root and database (SQLite and PostgreSQL). They
are pointed at a dask scheduler address where none listens, so no cluster is started:
what is tested is the lock, taken before anything else.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gsp_extension.store import upgrade_database

pytestmark = pytest.mark.timeout(120)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(root: Path, url: str, log: Path, scheduler: str) -> subprocess.Popen:
    gsp = Path(sys.executable).with_name("gsp")
    env = {k: v for k, v in os.environ.items() if k != "GSP_DATABASE_URL"}
    with open(log, "ab") as out:
        return subprocess.Popen(
            [str(gsp), "live", "--data-root", str(root), "--db", url, "--scheduler", scheduler],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )


def _wait_for(log: Path, text: str, proc: subprocess.Popen, timeout: float = 40) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and text in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    content = log.read_text(errors="replace") if log.exists() else ""
    raise AssertionError(f"{text!r} not logged (exit {proc.poll()}):\n{content[-3000:]}")


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def test_a_second_gsp_live_waits_as_standby_and_takes_over_when_the_first_dies(tmp_path, db_url):
    upgrade_database(db_url)
    scheduler = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first = _start(tmp_path, db_url, first_log, scheduler)
    second = None
    try:
        _wait_for(first_log, "engine lock taken", first)
        second = _start(tmp_path, db_url, second_log, scheduler)
        _wait_for(second_log, "waiting as a hot standby", second)
        text = second_log.read_text()
        assert f"gsp engine {socket.gethostname()}:{first.pid}" in text  # names the holder
        time.sleep(1.5)  # still waiting: it started nothing
        assert "job engine started" not in second_log.read_text()
        _kill(first)
        _wait_for(second_log, "this standby takes over as the engine", second)
        _wait_for(second_log, "job engine started", second)
        # the new holder now keeps a third one out
        third_log = tmp_path / "third.log"
        third = _start(tmp_path, db_url, third_log, scheduler)
        try:
            _wait_for(third_log, "waiting as a hot standby", third)
            assert f":{second.pid}" in third_log.read_text()
        finally:
            _kill(third)
    finally:
        _kill(first)
        if second is not None:
            _kill(second)


def test_a_lost_postgres_lock_is_noticed_and_taken_again(postgres_server_url):
    """A session lock ends with its connection (a database restart, a dropped link)."""
    from sqlalchemy import create_engine, text

    from gsp_extension.engine.instance_lock import EngineLock

    first, second = EngineLock(postgres_server_url), EngineLock(postgres_server_url)
    admin = create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    try:
        assert first.try_acquire() and first.check()
        assert not second.try_acquire()
        with admin.connect() as conn:  # the server drops the lock's connection
            killed = conn.scalar(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'gsp engine%' AND pid <> pg_backend_pid() "
                    "AND datname = current_database()"  # only this test's database
                )
            )
        assert killed
        assert first.check() is False and not first.held
        assert second.try_acquire()  # a standby takes over...
        assert not first.try_acquire()  # ...and the first one waits for it
        second.release()
        assert first.try_acquire() and first.check()
    finally:
        first.release()
        second.release()
        admin.dispose()
