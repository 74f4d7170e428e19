"""Fixtures for the hub tests: a migrated app database, cheap argon2 and an SMTP server."""

from __future__ import annotations

import pytest
from hub_testing import SMTPInbox, free_port

from gsp_extension.store import Database
from hub.passwords import PasswordHasher
from tests.migrated import migrate


@pytest.fixture
def fast_hasher():
    """argon2id with minimal costs: the same code path, a thousand times cheaper."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture
def db(db_url, request):
    """A :class:`Database` on a freshly migrated schema (SQLite and PostgreSQL)."""
    migrate(db_url, request)  # tests/migrated.py: a copy of one upgrade per session
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd, in its own thread) on a free loopback port.

    Yields ``(host, port, inbox)``.
    """
    from aiosmtpd.controller import Controller

    inbox = SMTPInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.hostname, controller.port, inbox
    finally:
        controller.stop()
