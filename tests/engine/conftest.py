"""Fixtures for engine tests: a migrated database and a data root."""

from __future__ import annotations

import pytest

from gsp_extension.store import Database
from tests.migrated import migrate


@pytest.fixture
def db(db_url, tmp_path_factory):
    migrate(db_url, tmp_path_factory)  # tests/migrated.py: a copy of one upgrade on SQLite
    database = Database(db_url)
    yield database
    database.dispose()
