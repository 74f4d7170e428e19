"""Fixtures for engine tests: a migrated database and a data root."""

from __future__ import annotations

import pytest

from gsp_extension.store import Database, upgrade_database


@pytest.fixture
def db(db_url):
    upgrade_database(db_url)
    database = Database(db_url)
    yield database
    database.dispose()
