"""A freshly migrated app database for one test, without running the migrations each time.

The ``db`` fixtures (tests/store, tests/ingest, tests/engine, tests/hub) and the api tests'
worlds gave every test its own database brought to head by ``alembic upgrade``
(``upgrade_database``): 0.15-0.2 s per SQLite test and 0.7-0.9 s per PostgreSQL test, a
few hundred times a run. The upgrade now runs once per session and backend, into a
template, and each test gets a copy of it: the same schema, revision row and sequences,
as made by the same code.

- SQLite: a template file, copied with SQLite's backup API.
- PostgreSQL: a template database, and the test's database (the session's, from the
  ``db_url`` fixture) is dropped and made again from it (``CREATE DATABASE ... TEMPLATE``,
  0.2 s), which also ends any connection a previous test left open.

The migration tests themselves (tests/store/test_store_migrations.py and the like) still
run ``upgrade_database`` on the empty database ``db_url`` gives.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gsp_extension.store import upgrade_database

SQLITE = "sqlite:///"

#: The session's migrated SQLite template, made on first use.
_template: list[Path] = []


def migrate(url: str, request: pytest.FixtureRequest) -> None:
    """Bring the new, empty database at ``url`` to head, as ``upgrade_database`` does.

    Parameters
    ----------
    url : str
        The test's database URL (``db_url``): a SQLite file not made yet, or the session's
        PostgreSQL database with an empty schema.
    request : pytest.FixtureRequest
        The calling fixture's request: the session's templates are fixtures.
    """
    if not url.startswith(SQLITE):
        _clone_postgres(url, request.getfixturevalue("postgres_migrated_template"))
        return
    if not _template:
        factory = request.getfixturevalue("tmp_path_factory")
        template = factory.mktemp("migrated") / "head.sqlite"
        upgrade_database(SQLITE + str(template))
        _template.append(template)
    source = sqlite3.connect(_template[0])
    target = sqlite3.connect(url.removeprefix(SQLITE))
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _clone_postgres(url: str, template_url: str) -> None:
    """Make the database of ``url`` again as a copy of the database of ``template_url``."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from tests.postgres import POSTGRES_ADMIN_URL

    name = make_url(url).database
    template = make_url(template_url).database
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    finally:
        admin.dispose()
