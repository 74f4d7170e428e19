"""The migrated schema equals the models, and the engine is configured as promised."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from gsp_extension.store.engine import make_engine
from gsp_extension.store.migrate import current_revision, head_revision, upgrade_database
from gsp_extension.store.models import Base


def test_migrated_schema_equals_models(db_url):
    upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diffs = compare_metadata(context, Base.metadata)
        assert diffs == []
        assert set(inspect(engine).get_table_names()) >= set(Base.metadata.tables)
        assert current_revision(engine) == head_revision()
        # Alembic does not compare CHECK constraints; compare their names here.
        inspector = inspect(engine)
        for table in Base.metadata.sorted_tables:
            expected = {
                c.name for c in table.constraints if c.__class__.__name__ == "CheckConstraint"
            }
            found = {c["name"] for c in inspector.get_check_constraints(table.name)}
            assert found == expected, table.name
    finally:
        engine.dispose()


def test_upgrade_is_repeatable_and_downgrade_reverses(db_url):
    from alembic import command

    from gsp_extension.store.migrate import alembic_config

    upgrade_database(db_url)
    upgrade_database(db_url)  # a second start must be a no-op, not an error
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            config = alembic_config(db_url)
            config.attributes["connection"] = conn
            command.downgrade(config, "base")
        assert not set(inspect(engine).get_table_names()) & set(Base.metadata.tables)
        assert current_revision(engine) is None
    finally:
        engine.dispose()
    upgrade_database(db_url)


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'gsp.sqlite'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        engine.dispose()


def test_foreign_keys_are_enforced(db_url):
    upgrade_database(db_url)
    engine = make_engine(db_url)
    try:
        with pytest.raises(IntegrityError):
            with engine.begin() as conn:
                conn.execute(
                    text(
                        "INSERT INTO comments (file_id, text, created_at) "
                        "VALUES (12345, 'orphan', CURRENT_TIMESTAMP)"
                    )
                )
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "has no file"),
        ("sqlite:///:memory:", "has no file"),
        ("mysql://u@h/db", "unsupported database URL"),
    ],
)
def test_make_engine_refuses_unusable_urls(url, message):
    with pytest.raises(ValueError, match=message):
        make_engine(url)


def test_plain_postgresql_url_gets_psycopg3_driver():
    engine = make_engine("postgresql://postgres@127.0.0.1:1/none")
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()
