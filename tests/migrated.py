"""A freshly migrated app database for one test, without running the migrations each time.

The ``db`` fixtures of tests/store, tests/ingest and tests/engine gave every test its own
database brought to head by ``alembic upgrade`` (``upgrade_database``): 0.15-0.2 s per
SQLite test, a few hundred times a run. On SQLite the upgrade now runs once per session,
into a template file, and each test gets a copy of it (SQLite's backup API): the same
schema and revision row, as made by the same code. PostgreSQL keeps its upgrade per test
(the ``db_url`` fixture empties its schema before each test).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gsp_extension.store import upgrade_database

SQLITE = "sqlite:///"

#: The session's migrated SQLite template, made on first use.
_template: list[Path] = []


def migrate(url: str, tmp_path_factory) -> None:
    """Bring the new, empty database at ``url`` to head, as ``upgrade_database`` does.

    Parameters
    ----------
    url : str
        The test's database URL (``db_url``): a SQLite file not made yet, or a PostgreSQL
        database with an empty schema.
    tmp_path_factory : pytest.TempPathFactory
        Where the session's SQLite template is kept.
    """
    if not url.startswith(SQLITE):
        upgrade_database(url)
        return
    if not _template:
        template = tmp_path_factory.mktemp("migrated") / "head.sqlite"
        upgrade_database(SQLITE + str(template))
        _template.append(template)
    source = sqlite3.connect(_template[0])
    target = sqlite3.connect(url.removeprefix(SQLITE))
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
