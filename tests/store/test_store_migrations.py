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


def test_0005_fills_the_observation_order_of_files_registered_before_it(db_url):
    """Raw frames and masters get DATE-OBS and the frame number from their stored header
    and name; products those of their original, so old nights list in observed order."""
    import json

    upgrade_database(db_url, "0004")
    engine = make_engine(db_url)
    columns = (
        "id, created, last_modified, original_file_id, parent_file_id, file_name, "
        "directory_name, full_path, checksum, size, data_type, version, status, normalized, "
        "header"
    )
    rows = [
        (1, 1, 1, "0042_target.fits", 0, [["DATE-OBS", "2020-11-27T02:10:00.500", ""]]),
        (2, 1, 1, "cfzst_0042_target.fits", 2, None),
        (3, 3, 3, "master_bias_RED_2x2.fits", 1, [["DATE", "2020-11-26", ""]]),
        (4, 4, 4, "0007_no_date.fits", 0, [["OBJECT", "x", ""]]),
    ]
    try:
        with engine.begin() as conn:
            for file_id, _original, _parent, name, data_type, header in rows:
                conn.execute(
                    text(
                        f"INSERT INTO files ({columns}) VALUES (:id, :now, :now, NULL, NULL, "
                        ":name, '/d', :path, :sum, 1, :dt, 1, 'processed', false, :header)"
                    ),
                    {
                        "id": file_id,
                        "now": "2020-11-27 03:00:00",
                        "name": name,
                        "path": f"/d/{name}",
                        "sum": f"{file_id:064x}",
                        "dt": data_type,
                        "header": json.dumps(header) if header is not None else None,
                    },
                )
            for file_id, original, parent, *_ in rows:  # lineage once every row exists
                conn.execute(
                    text(
                        "UPDATE files SET original_file_id = :o, parent_file_id = :p WHERE id = :i"
                    ),
                    {"o": original, "p": parent, "i": file_id},
                )
        upgrade_database(db_url)
        from gsp_extension.store import Database, File

        db = Database(db_url)
        try:
            with db.session() as s:
                got = {
                    f.id: (f.date_obs.isoformat() if f.date_obs else None, f.frame_number)
                    for f in s.query(File)
                }
        finally:
            db.dispose()
        assert got == {
            1: ("2020-11-27T02:10:00.500000+00:00", 42),
            2: ("2020-11-27T02:10:00.500000+00:00", 42),
            3: ("2020-11-26T00:00:00+00:00", None),
            4: (None, 7),
        }
    finally:
        engine.dispose()
