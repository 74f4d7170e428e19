"""Fixtures shared by the whole suite.

Database tests take the ``db_url`` fixture, which runs each test on SQLite and on
PostgreSQL. PostgreSQL is looked for at ``GSP_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); each test session gets its own
throw-away database there. When no server answers, PostgreSQL cases are skipped with the
reason printed, except under CI (``CI=true``), where a missing server is an error.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.postgres import throwaway_database

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def postgres_server_url():
    """URL of a fresh PostgreSQL database for this test session (dropped at the end)."""
    with throwaway_database("gsp_test") as url:
        yield url


@pytest.fixture(scope="session")
def postgres_migrated_template():
    """URL of a PostgreSQL database brought to head once for the session: the template
    that ``tests.migrated.migrate`` copies for each test (dropped at the end)."""
    from gsp_extension.store import upgrade_database

    with throwaway_database("gsp_template") as url:
        upgrade_database(url)
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A database URL for one test: a new SQLite file, or a clean PostgreSQL schema.

    For PostgreSQL every table of the previous test is dropped first, so each test
    starts from an empty database, as on SQLite.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gsp.sqlite'}"
    url = request.getfixturevalue("postgres_server_url")
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The steering repository's ``shared/`` folder (seeds and reference data)."""
    return SHARED


def pytest_collection_modifyitems(config, items):
    """Run the browser tests last.

    Playwright's sync API keeps an asyncio loop running in the main thread for as long
    as its session-scoped browser lives; any later test calling ``asyncio.run`` would
    then fail with "cannot be called from a running event loop".
    """

    def is_browser(item) -> bool:
        return item.nodeid.replace("\\", "/").startswith("tests/browser/")

    items.sort(key=is_browser)  # stable: keeps the order within each group
