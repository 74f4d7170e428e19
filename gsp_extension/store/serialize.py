"""Rows as the seed's API records (``../shared/seeds/api_examples.txt``).

Field names, order and JSON types follow the seed exactly: ``data_type`` and ``gain``
are strings, ``image_id`` an integer, ``normalized`` a boolean, ``date`` is
``"YYYY-MM-DD"`` and timestamps are ISO 8601 with a UTC offset.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import selectinload
from sqlalchemy.orm.interfaces import LoaderOption

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


def file_record_load_options() -> tuple[LoaderOption, ...]:
    """Loader options that fetch what :func:`file_record` needs in two extra queries.

    Use them on listings (``select(File).options(*file_record_load_options())``) so a
    page of products does not load each parent and original one by one.
    """
    return (selectinload(File.original_file), selectinload(File.parent_file))


def file_record(file: File, *, tz: dt.tzinfo = dt.UTC) -> dict[str, Any]:
    """A file row as the seed's API record: exactly :data:`SEED_FILE_FIELDS`.

    Parameters
    ----------
    file : File
    tz : tzinfo
        Zone of the ``created``/``last_modified`` timestamps (UTC by default; the
        original app used Chile's local time).
    """
    original = file.original_file
    parent = file.parent_file
    return {
        "id": file.id,
        "created": _iso(file.created, tz),
        "last_modified": _iso(file.last_modified, tz),
        "original_file": original.file_name if original is not None else None,
        "original_file_id": file.original_file_id,
        "parent_file": parent.file_name if parent is not None else None,
        "parent_file_id": file.parent_file_id,
        "file_name": file.file_name,
        "directory_name": file.directory_name,
        "full_path": file.full_path,
        "obstype": file.obstype,
        "object": file.object,
        "filter": file.filter,
        "filter_2": file.filter_2,
        "grating": file.grating,
        "slit": file.slit,
        "cam_targ": file.cam_targ,
        "grt_targ": file.grt_targ,
        "obsra": file.obsra,
        "obsdec": file.obsdec,
        "gain": file.gain,
        "rdnoise": file.rdnoise,
        "roi": file.roi,
        "wavmode": file.wavmode,
        "proposal_id": file.proposal_id,
        "observation_id": file.observation_id,
        "configuration_id": file.configuration_id,
        "block_id": file.block_id,
        "image_id": file.image_id,
        "date": file.date.isoformat() if file.date is not None else None,
        "data_type": str(file.data_type),
        "normalized": bool(file.normalized),
        "technique": file.technique,
        "saturation_value": file.saturation_value,
    }


def user_record(user: User, *, tz: dt.tzinfo = dt.UTC) -> dict[str, Any]:
    """A user as in the seed's proposal record: exactly :data:`SEED_USER_FIELDS`."""
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
