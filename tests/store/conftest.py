"""Fixtures for the app database tests: a migrated database on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from gsp_extension.store import Database
from gsp_extension.store.accounts import create_user
from gsp_extension.store.proposals import create_proposal
from tests.migrated import migrate


@pytest.fixture
def db(db_url, request):
    """A :class:`Database` on a freshly migrated schema (both backends)."""
    migrate(db_url, request)  # tests/migrated.py: a copy of one upgrade per session
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def people(db):
    """Users and two proposals: PI ``pia`` with collaborator ``cola`` on SOAR2020B-008,
    PI ``pib`` on SOAR2021A-004, an ``outsider``, a ``staff`` user and an inactive user."""
    with db.transaction() as s:
        users = {
            name: create_user(s, name, email=f"{name}@example.org", **extra)
            for name, extra in [
                ("pia", {}),
                ("cola", {}),
                ("pib", {}),
                ("outsider", {}),
                ("staff", {"is_staff": True}),
                ("gone", {"is_active": False}),
            ]
        }
        a = create_proposal(
            s,
            "SOAR2020B-008",
            semester="2020B",
            title="A",
            pi=users["pia"],
            collaborators=[users["cola"], users["gone"]],
        )
        b = create_proposal(s, "SOAR2021A-004", semester="2021A", title="B", pi=users["pib"])
    return {"users": users, "a": a, "b": b}
