"""Alembic environment for the app database.

Run programmatically by :func:`gsp_extension.store.migrate.upgrade_database` (which
passes an open connection in ``config.attributes["connection"]``), or from a shell with
``alembic -c gsp_extension/alembic.ini upgrade head`` and ``GSP_DATABASE_URL`` set.
"""

from __future__ import annotations

from alembic import context

from gsp_extension import environment
from gsp_extension.store.engine import make_engine
from gsp_extension.store.models import Base

config = context.config
target_metadata = Base.metadata


def _render_item(type_: str, obj, autogen_context):
    # Render our timestamp type as the plain column type it stands for, so revisions do
    # not import application code that may change later.
    from gsp_extension.store.types import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode recreates tables instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=False,
        render_item=_render_item,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or environment.text("GSP_DATABASE_URL")
    if not url:
        raise RuntimeError(
            "no database URL: set GSP_DATABASE_URL or sqlalchemy.url in the Alembic config"
        )
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; run them on a database")
run_migrations_online()
