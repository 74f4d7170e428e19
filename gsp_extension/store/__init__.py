"""The app database: models, engine, migrations and the domain layer.

Typical use::

    from gsp_extension.store import Database, upgrade_database
    upgrade_database(url)
    db = Database(url)
    with db.transaction() as session:
        reg = files.register_file(session, path, checksum=..., size=..., fields=...)

Domain functions live in one module per concern (``accounts``, ``proposals``,
``settings``, ``files``, ``jobs``, ``activity``, ``serialize``); they take an open
session and never commit, so callers compose them into one transaction.
"""

from .engine import Database, make_engine
from .errors import (
    AlreadyExists,
    DuplicateJob,
    InvalidState,
    InvalidValue,
    NotFound,
    PermissionDenied,
    StoreError,
)
from .migrate import upgrade_database
from .models import Base, Comment, File, Job, LogEntry, Proposal, ReductionSettings, User

__all__ = [
    "AlreadyExists",
    "Base",
    "Comment",
    "Database",
    "DuplicateJob",
    "File",
    "InvalidState",
    "InvalidValue",
    "Job",
    "LogEntry",
    "NotFound",
    "PermissionDenied",
    "Proposal",
    "ReductionSettings",
    "StoreError",
    "User",
    "make_engine",
    "upgrade_database",
]
