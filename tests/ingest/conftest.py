"""Fixtures for ingest tests: a migrated database and small synthetic raw files."""

from __future__ import annotations

import pytest

from gsp_extension.store import Database
from tests.migrated import migrate


@pytest.fixture
def db(db_url, request):
    migrate(db_url, request)  # tests/migrated.py: a copy of one upgrade per session
    database = Database(db_url)
    yield database
    database.dispose()
