"""Rows as the seed's API records (``../shared/seeds/api_examples.txt``).

Field names, order and JSON types follow the seed exactly: ``data_type`` and ``gain``
are strings, ``image_id`` an integer, ``normalized`` a boolean, ``date`` is
``"YYYY-MM-DD"`` and timestamps are ISO 8601 with a UTC offset.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, String, func, select, type_coerce
from sqlalchemy.orm import Session

from .models import File, Proposal, User

#: The seed's file record, in the seed's order (DESIGN.md §4).
SEED_FILE_FIELDS = (
    "id",
    "created",
    "last_modified",
    "original_file",
    "original_file_id",
    "parent_file",
    "parent_file_id",
    "file_name",
    "directory_name",
    "full_path",
    "obstype",
    "object",
    "filter",
    "filter_2",
    "grating",
    "slit",
    "cam_targ",
    "grt_targ",
    "obsra",
    "obsdec",
    "gain",
    "rdnoise",
    "roi",
    "wavmode",
    "proposal_id",
    "observation_id",
    "configuration_id",
    "block_id",
    "image_id",
    "date",
    "data_type",
    "normalized",
    "technique",
    "saturation_value",
)

#: The file record the API answers: the seed's fields, in the seed's order, then the
#: observation order listings sort by (issue 15), so a client can order or label frames
#: the way the service does: ``date_obs`` (``DATE-OBS`` as ISO 8601 UTC, null when the
#: header has none) and ``frame_number`` (the leading digits of a Goodman file name,
#: null when there are none). Products carry their raw frame's.
FILE_RECORD_FIELDS = (*SEED_FILE_FIELDS, "date_obs", "frame_number")

#: The seed's user record inside a proposal record.
SEED_USER_FIELDS = (
    "id",
    "username",
    "last_login",
    "first_name",
    "last_name",
    "email",
    "is_staff",
    "is_active",
    "date_joined",
)

#: The seed's proposal record (answer of the collaborators endpoint).
SEED_PROPOSAL_FIELDS = (
    "id",
    "soar_id",
    "semester",
    "title",
    "abstract",
    "user",
    "collaborators",
)


def _iso(value: dt.datetime | None, tz: dt.tzinfo) -> str | None:
    return None if value is None else value.astimezone(tz).isoformat()


# --- file records: one path, plain columns (benchmarks/bench_api.py: reading File objects
# and their parents through the ORM costs ~3x the service CPU per page of 100 and misses
# the 200 req/s target; this path meets it) ----------------------------------------------

# Table aliases for the lineage names; built once (building ORM aliases per request
# costs more than the query).
_ORIGINAL = File.__table__.alias("original_file")
_PARENT = File.__table__.alias("parent_file")
#: The files table joined to the original and parent it names.
LINEAGE_JOIN = File.__table__.outerjoin(
    _ORIGINAL, _ORIGINAL.c.id == File.__table__.c.original_file_id
).outerjoin(_PARENT, _PARENT.c.id == File.__table__.c.parent_file_id)
_LINEAGE = {
    "original_file": _ORIGINAL.c.file_name.label("original_file"),
    "parent_file": _PARENT.c.file_name.label("parent_file"),
}
_FIELD_INDEX = {name: i for i, name in enumerate(FILE_RECORD_FIELDS)}
_TIMESTAMP_INDEXES = (_FIELD_INDEX["created"], _FIELD_INDEX["last_modified"])
#: DATE-OBS is the instrument's UTC, whatever zone the service shows its own times in.
_DATE_OBS_INDEX = _FIELD_INDEX["date_obs"]
_DATE_INDEX = _FIELD_INDEX["date"]
_DATA_TYPE_INDEX = _FIELD_INDEX["data_type"]
_NORMALIZED_INDEX = _FIELD_INDEX["normalized"]


#: Columns SQLite stores as text: read raw and parsed by ``fromisoformat`` (in C), which
#: is several times cheaper than SQLAlchemy's regex-based SQLite date processing.
_SQLITE_TEXT_DATES = ("created", "last_modified", "date", "date_obs")

#: PostgreSQL writes the timestamps (in UTC) and the night as text in SQLite's layout, so
#: that both databases take :func:`record_from_row`'s string path: no datetime objects,
#: time-zone conversions and type-decorator calls per value.
_PG_TEXT_FORMATS = {
    "created": "YYYY-MM-DD HH24:MI:SS.US",
    "last_modified": "YYYY-MM-DD HH24:MI:SS.US",
    "date_obs": "YYYY-MM-DD HH24:MI:SS.US",
    "date": "YYYY-MM-DD",
}


@functools.cache
def record_columns(dialect: str) -> tuple[Any, ...]:
    """Build the record's columns (:data:`FILE_RECORD_FIELDS`, in order) for one kind of database.

    Select them from :data:`LINEAGE_JOIN`; built once per kind of database (cached).

    Parameters
    ----------
    dialect : str
        The SQLAlchemy dialect name: ``"sqlite"`` and ``"postgresql"`` read dates as text
        (the fast path of :func:`record_from_row`); any other reads them as stored.

    Returns
    -------
    tuple
        One column expression per record field, labelled with the field's name.
    """
    table = File.__table__

    def column(name: str):
        if name in _LINEAGE:
            return _LINEAGE[name]
        if dialect == "sqlite" and name in _SQLITE_TEXT_DATES:
            return type_coerce(table.c[name], String).label(name)
        if dialect == "postgresql" and name in _PG_TEXT_FORMATS:
            value = table.c[name]
            if name != "date":
                value = func.timezone("UTC", value)
            return func.to_char(value, _PG_TEXT_FORMATS[name]).label(name)
        return table.c[name]

    return tuple(column(name) for name in FILE_RECORD_FIELDS)


def file_records_query(where: Select, dialect: str = "") -> Select:
    """Turn a select on ``File`` into the file records of its rows, as plain columns.

    The columns are in the record's order (the seed's, then the observation order); :func:`record_from_row` makes each row a record.

    Parameters
    ----------
    where : sqlalchemy.Select
        A select whose FROM is ``File`` (its filters, order and limit are kept).
    dialect : str
        The dialect name, as for :func:`record_columns` (``""`` for the generic columns).

    Returns
    -------
    sqlalchemy.Select
        The select with only the record's columns, joined to the original and parent
        files for their names.
    """
    table = File.__table__
    return (
        where.with_only_columns(*record_columns(dialect))
        .outerjoin(_ORIGINAL, _ORIGINAL.c.id == table.c.original_file_id)
        .outerjoin(_PARENT, _PARENT.c.id == table.c.parent_file_id)
    )


def _utc_text_to_iso(value: str) -> str | None:
    """SQLite's ``YYYY-MM-DD HH:MM:SS.ffffff`` (naive UTC) as ``isoformat()`` in UTC.

    ``None`` when the text is not in exactly that form (the caller then parses it).
    """
    if len(value) != 26 or value[10] != " " or value[19] != ".":
        return None
    if value.endswith(".000000"):  # isoformat() leaves out zero microseconds
        return f"{value[:10]}T{value[11:19]}+00:00"
    return f"{value[:10]}T{value[11:]}+00:00"


def _timestamp_text(value: str | dt.datetime | None, tz: dt.tzinfo) -> str | None:
    """A stored timestamp (naive UTC text or a datetime) as ISO 8601 text in ``tz``."""
    if value is None:
        return None
    if isinstance(value, str):
        fast = _utc_text_to_iso(value) if tz is dt.UTC else None
        if fast is not None:
            return fast
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:  # SQLite keeps naive UTC
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(tz).isoformat()


def record_from_row(row: Sequence[Any], tz: dt.tzinfo = dt.UTC) -> dict[str, Any]:
    """Turn a row of :func:`file_records_query` into the API's file record.

    The record has exactly :data:`FILE_RECORD_FIELDS`: the seed's fields with the seed's
    JSON types, then ``date_obs`` and ``frame_number``.

    Parameters
    ----------
    row : sequence
        One row, values in the order of :func:`record_columns`.
    tz : datetime.tzinfo
        Zone of the ``created``/``last_modified`` timestamps (UTC by default; the original
        app used Chile's local time).

    Returns
    -------
    dict of str to object
        The record: timestamps as ISO 8601 text in ``tz`` (``date_obs`` in UTC),
        ``date`` as ``YYYY-MM-DD``, ``data_type`` as a string and ``normalized`` as a bool.
    """
    values = list(row)
    for i in _TIMESTAMP_INDEXES:
        values[i] = _timestamp_text(values[i], tz)
    values[_DATE_OBS_INDEX] = _timestamp_text(values[_DATE_OBS_INDEX], dt.UTC)
    value = values[_DATE_INDEX]
    if value is not None and not (isinstance(value, str) and len(value) == 10):
        values[_DATE_INDEX] = (
            dt.date.fromisoformat(value) if isinstance(value, str) else value
        ).isoformat()
    values[_DATA_TYPE_INDEX] = str(values[_DATA_TYPE_INDEX])
    values[_NORMALIZED_INDEX] = bool(values[_NORMALIZED_INDEX])
    return dict(zip(FILE_RECORD_FIELDS, values, strict=True))


def file_records(
    session: Session, file_ids: Sequence[int], *, tz: dt.tzinfo = dt.UTC
) -> list[dict[str, Any]]:
    """Read the seed records of these files, in the order of ``file_ids``.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    file_ids : sequence of int
        The files' ids (visibility is the caller's check).
    tz : datetime.tzinfo
        Zone of the ``created``/``last_modified`` timestamps (UTC by default; the original
        app used Chile's local time).

    Returns
    -------
    list of dict
        One record per id found (missing ids are left out).
    """
    dialect = session.get_bind().dialect.name
    query = file_records_query(select(File.id).where(File.id.in_(list(file_ids))), dialect)
    by_id = {row[0]: record_from_row(row, tz) for row in session.connection().execute(query)}
    return [by_id[i] for i in file_ids if i in by_id]


def file_record(session: Session, file: File, *, tz: dt.tzinfo = dt.UTC) -> dict[str, Any]:
    """One file as the seed's API record (see :func:`record_from_row`).

    The row is flushed first, so a file registered in this transaction is read as stored.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session (flushed by this call).
    file : File
        The file (visibility is the caller's check).
    tz : datetime.tzinfo
        Zone of the ``created``/``last_modified`` timestamps (UTC by default; the original
        app used Chile's local time).

    Returns
    -------
    dict of str to object
        The record.
    """
    session.flush()
    (record,) = file_records(session, [file.id], tz=tz)
    return record


def user_record(user: User, *, tz: dt.tzinfo = dt.UTC) -> dict[str, Any]:
    """Serialize a user as in the seed's proposal record: exactly :data:`SEED_USER_FIELDS`.

    Parameters
    ----------
    user : User
        The account.
    tz : datetime.tzinfo
        Zone of the ``created``/``last_modified`` timestamps (UTC by default; the original
        app used Chile's local time).

    Returns
    -------
    dict of str to object
        The record, times as ISO 8601 text in ``tz`` (``None`` when unset), ``email``
        ``""`` when none; no password hash, no lockout state.
    """
    return {
        "id": user.id,
        "username": user.username,
        "last_login": _iso(user.last_login, tz),
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email or "",
        "is_staff": bool(user.is_staff),
        "is_active": bool(user.is_active),
        "date_joined": _iso(user.date_joined, tz),
    }


def proposal_record(proposal: Proposal, *, tz: dt.tzinfo = dt.UTC) -> dict[str, Any]:
    """A proposal as the seed serializes it: :data:`SEED_PROPOSAL_FIELDS`.

    ``user`` is the PI (``None`` for a placeholder without one).

    Parameters
    ----------
    proposal : Proposal
        The proposal.
    tz : datetime.tzinfo
        Zone of the ``created``/``last_modified`` timestamps (UTC by default; the original
        app used Chile's local time).

    Returns
    -------
    dict of str to object
        The record: the PI as a :func:`user_record` under ``user`` and each collaborator
        as one under ``collaborators``.
    """
    return {
        "id": proposal.id,
        "soar_id": proposal.soar_id,
        "semester": proposal.semester,
        "title": proposal.title,
        "abstract": proposal.abstract,
        "user": user_record(proposal.pi, tz=tz) if proposal.pi is not None else None,
        "collaborators": [user_record(u, tz=tz) for u in proposal.collaborators],
    }
