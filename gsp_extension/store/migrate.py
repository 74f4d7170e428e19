"""Schema migrations, run programmatically (no ``alembic.ini`` needed at run time)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from .engine import make_engine

SCRIPT_LOCATION = "gsp_extension:migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at this package's migrations.

    Parameters
    ----------
    url : str, optional
        Database URL; when given it is stored as ``sqlalchemy.url``.

    Returns
    -------
    alembic.config.Config
        The configuration (no ``alembic.ini`` file is read).
    """
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if url is not None:
        # ConfigParser interpolation would eat a '%' in a password.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    """Bring the database at ``url`` to ``revision`` (``alembic upgrade head``).

    Parameters
    ----------
    url : str
        Database URL (see :func:`gsp_extension.store.engine.make_engine`).
    revision : str
        Target revision, ``"head"`` by default.
    engine : sqlalchemy.Engine, optional
        An engine to reuse; by default one is made from ``url`` and disposed after.
    """
    own = engine is None
    engine = engine if engine is not None else make_engine(url)
    try:
        config = alembic_config(url)
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        if own:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """Read the revision the database is at.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        An engine on the database.

    Returns
    -------
    str or None
        The Alembic revision id, or ``None`` for an unmigrated database.
    """
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    """Give the newest revision shipped with the package.

    Returns
    -------
    str
        The Alembic head revision id.

    Raises
    ------
    RuntimeError
        No migrations are found (a broken installation).
    """
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {SCRIPT_LOCATION}")
    return head
