"""Files: idempotent registration, versions of a rewritten file, visibility, queries."""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import InvalidState, InvalidValue, NotFound
from .models import DATA_TYPES, FILE_STATUSES, File
from .proposals import ensure_proposal
from .serialize import SEED_FILE_FIELDS
from .types import utcnow

#: Seed fields a caller may set at registration (read from the header by ingest): the
#: seed record's descriptive part, after its identity, timestamps and lineage, less
#: ``data_type``, which registration decides.
DESCRIPTIVE_FIELDS = tuple(
    name for name in SEED_FILE_FIELDS[SEED_FILE_FIELDS.index("obstype") :] if name != "data_type"
)
_STRING_FIELDS = {
    "obstype": 32,
    "object": 128,
    "filter": 64,
    "filter_2": 64,
    "grating": 64,
    "slit": 64,
    "cam_targ": 32,
    "grt_targ": 32,
    "obsra": 32,
    "obsdec": 32,
    "gain": 32,
    "rdnoise": 32,
    "roi": 64,
    "wavmode": 64,
    "proposal_id": 64,
    "technique": 32,
}
_INT_FIELDS = (
    "observation_id",
    "configuration_id",
    "block_id",
    "image_id",
    "saturation_value",
)


@dataclass(frozen=True)
class Registration:
    """What :func:`register_file` did.

    Attributes
    ----------
    file : File
        The current row for the path.
    created : bool
        ``False`` when the same path and checksum were already registered.
    superseded : File or None
        The previous version, when the file was rewritten in place.
    """

    file: File
    created: bool
    superseded: File | None = None


class _FieldProblem(ValueError):
    """One descriptive field's value is refused; the message says why."""


#: ASCII control characters: never in a valid FITS header (printable ASCII only), and
#: PostgreSQL refuses NUL in text and JSON values (the whole transaction fails on it).
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f]")


def printable(text: str) -> str:
    """Replace each ASCII control character of ``text`` by U+FFFD.

    So a corrupt header card can be stored (PostgreSQL refuses NUL in text and JSON), and
    shows where it was damaged.

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    return _CONTROL_CHARACTERS.sub("\ufffd", text)


def _clean_text(name: str, value: Any) -> str | None:
    text = str(value).strip()
    if _CONTROL_CHARACTERS.search(text):
        raise _FieldProblem(f"{name}: {printable(text)[:40]!r} contains control characters")
    if len(text) > _STRING_FIELDS[name]:
        raise _FieldProblem(f"{name}: {text[:40]!r}... longer than {_STRING_FIELDS[name]}")
    return text or None


def _clean_int(name: str, value: Any) -> int:
    try:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise _FieldProblem(f"{name}: {value!r} is not an integer") from None


def _clean_date(name: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise _FieldProblem(f"date: {value!r} is not a date YYYY-MM-DD") from None


def _clean_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _FieldProblem(f"{name}: {value!r} must be true or false")
    return value


def _cleaner(name: str):
    """The function that checks and normalizes field ``name``'s values."""
    if name in _STRING_FIELDS:
        return _clean_text
    if name in _INT_FIELDS:
        return _clean_int
    return {"date": _clean_date, "normalized": _clean_flag}.get(name)


def _clean_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Descriptive fields checked and normalized; every problem named at once.

    Raises
    ------
    InvalidValue
        Listing each refused field and why.
    """
    problems: list[str] = []
    clean: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in DESCRIPTIVE_FIELDS:
            problems.append(f"{name}: not a settable file field ({', '.join(DESCRIPTIVE_FIELDS)})")
            continue
        cleaner = _cleaner(name)
        try:
            clean[name] = value if value is None or cleaner is None else cleaner(name, value)
        except _FieldProblem as exc:
            problems.append(str(exc))
    if problems:
        raise InvalidValue("invalid file fields: " + "; ".join(problems))
    return clean


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    # astropy's Undefined (a card with no value) and anything exotic.
    return None if type(value).__name__ == "Undefined" else str(value)


def header_to_json(header: Any) -> list[list[Any]]:
    """A FITS header as ``[[keyword, value, comment], ...]``, keeping order and duplicates.

    Parameters
    ----------
    header : astropy.io.fits.Header or iterable of (keyword, value, comment)

    Returns
    -------
    list
        Cards whose strings hold no control characters (:func:`printable`): a damaged
        header is stored as it reads, where PostgreSQL would refuse it whole.
    """
    if isinstance(header, list) and all(
        isinstance(c, list) and len(c) == 3 and isinstance(c[0], str) for c in header
    ):
        # already cards (from ingest's parser or the database): cleaned only if needed
        if not any(
            isinstance(part, str) and _CONTROL_CHARACTERS.search(part) for c in header for part in c
        ):
            return header
        return [[printable(k), _json_value(v), printable(str(c))] for k, v, c in header]
    cards: Iterable[Any] = getattr(header, "cards", header)
    out = []
    for card in cards:
        keyword, value, comment = (
            (card[0], card[1], card[2])
            if isinstance(card, list | tuple)
            else (
                card.keyword,
                card.value,
                card.comment,
            )
        )
        out.append([printable(str(keyword)), _json_value(value), printable(str(comment or ""))])
    return out


#: A raw file name's frame number: its leading digits (``0042_HD 49798.fits``).
_FRAME_NUMBER = re.compile(r"^(\d{1,9})(?!\d)")


def observation_order(
    file_name: str, cards: Iterable[Sequence[Any]] | None
) -> tuple[dt.datetime | None, int | None]:
    """When a parentless file (raw frame, master) was observed, and its frame number.

    Listings order a night's files by these (``DATE-OBS``, then the frame number), not
    by when they were registered: a batch taken together (a restart's catch-up) would
    otherwise put a science frame among the bias frames.

    Parameters
    ----------
    file_name : str
        The file's name; its leading digits are the frame number (Goodman's
        ``0042_target.fits``).
    cards : list of [keyword, value, comment], optional
        The stored header.

    Returns
    -------
    (datetime or None, int or None)
        ``DATE-OBS`` (else ``DATE``) as UTC, and the frame number.
    """
    from pipeline.classify import observation_start

    header: dict[str, Any] = {}
    for card in cards or ():
        if len(card) >= 2 and isinstance(card[0], str):
            header.setdefault(card[0], card[1])
    when = observation_start(header)
    match = _FRAME_NUMBER.match(file_name)
    return (
        when.replace(tzinfo=dt.UTC) if when is not None else None,
        int(match.group(1)) if match else None,
    )


def _place_in_night(row: File, parent: File | None) -> None:
    """Set ``row``'s observation order: its own (raw, masters) or its parent's (products)."""
    if parent is not None:
        row.date_obs, row.frame_number = parent.date_obs, parent.frame_number
    else:
        row.date_obs, row.frame_number = observation_order(row.file_name, row.header)


def current_file_by_path(session: Session, full_path: str) -> File | None:
    """Find the newest version registered for a path.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    full_path : str
        The file's absolute path, as registered (``File.full_path``).

    Returns
    -------
    File or None
        The row with the highest ``version`` for the path, whether or not it is deleted;
        ``None`` when the path was never registered.
    """
    return session.scalar(
        select(File).where(File.full_path == full_path).order_by(File.version.desc()).limit(1)
    )


def file_versions(session: Session, full_path: str) -> list[File]:
    """List every version registered for a path, oldest first.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    full_path : str
        The file's absolute path, as registered (``File.full_path``).

    Returns
    -------
    list of File
        Its rows by increasing ``version`` (superseded and deleted ones included); empty
        when the path was never registered.
    """
    return list(
        session.scalars(select(File).where(File.full_path == full_path).order_by(File.version))
    )


def get_file(session: Session, file_id: int) -> File:
    """Fetch the file with this id (visibility is the caller's check).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    file_id : int
        The file's id.

    Returns
    -------
    File
        The row, whether current, superseded or deleted.

    Raises
    ------
    NotFound
        No file has this id.
    """
    row = session.get(File, file_id)
    if row is None:
        raise NotFound(f"no file with id {file_id}")
    return row


def _validated(
    full_path: str | os.PathLike[str],
    checksum: str,
    size: int,
    fields: Mapping[str, Any] | None,
    header: Any,
    data_type: int,
    has_parent: bool,
    status: str,
) -> tuple[str, str, dict[str, Any], list[list[Any]] | None]:
    full_path = os.fspath(full_path)
    if not os.path.isabs(full_path):
        raise InvalidValue(f"path {full_path!r} is not absolute; register files by absolute path")
    if not isinstance(checksum, str):
        raise InvalidValue(f"checksum {checksum!r} is not a SHA-256 hex digest (64 hex digits)")
    checksum = checksum.lower()
    if len(checksum) != 64 or any(c not in "0123456789abcdef" for c in checksum):
        raise InvalidValue(f"checksum {checksum!r} is not a SHA-256 hex digest (64 hex digits)")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidValue(f"size {size!r} must be a non-negative integer (bytes)")
    if data_type not in DATA_TYPES:
        raise InvalidValue(f"data_type {data_type!r} is not one of {sorted(DATA_TYPES)}")
    if data_type not in (0, 1) and not has_parent:
        raise InvalidValue(f"a product of data_type {data_type} needs its parent file")
    if status not in FILE_STATUSES:
        raise InvalidValue(f"status {status!r} is not one of {list(FILE_STATUSES)}")
    clean = _clean_fields(fields or {})
    cards = header_to_json(header) if header is not None else None
    return full_path, checksum, clean, cards


def register_file(
    session: Session,
    full_path: str | os.PathLike[str],
    *,
    checksum: str,
    size: int,
    fields: Mapping[str, Any] | None = None,
    header: Any = None,
    data_type: int = 0,
    parent: File | None = None,
    settings_id: int | None = None,
    status: str = "registered",
    status_reason: str | None = None,
    quality: Mapping[str, Any] | None = None,
) -> Registration:
    """Register a file once: idempotent by path and checksum.

    The same path with the same checksum returns the existing row. The same path with
    a new checksum (a file rewritten in place, or a product made again) adds the next
    version and marks the previous one superseded. An unknown ``proposal_id`` (PROPID)
    becomes a placeholder proposal: the file is never refused for it.

    Parameters
    ----------
    session : Session
        Open session; the caller commits (so a product can be registered in the same
        transaction that completes its job).
    full_path : path-like
        Absolute path of the file.
    checksum : str
        SHA-256 of the content, 64 hex digits.
    size : int
        Size in bytes.
    fields : mapping, optional
        Seed fields from the header (see :data:`DESCRIPTIVE_FIELDS`).
    header : astropy Header or list, optional
        The primary header, stored as cards (see :func:`header_to_json`).
    data_type : int
        0 raw … 5 flux calibrated.
    parent : File, optional
        The file this product was made from (``None`` for raw files). Lineage: a raw
        file is its own original and parent (as in the seed's records); a product's
        original is its parent's original.
    settings_id : int, optional
        The reduction-settings row the product was made with.
    status : str
        The new row's processing status (one of ``FILE_STATUSES``).
    status_reason : str or None
        The reason shown to users with the status; ``None`` for none.
    quality : mapping or None
        JSON-ready quality figures of a product (S/N, wavelength RMS...); ``None`` for
        none.

    Returns
    -------
    Registration
        The current row for the path, whether it was created, and the version it
        superseded.

    Raises
    ------
    InvalidValue
    """
    full_path, checksum, clean, cards = _validated(
        full_path, checksum, size, fields, header, data_type, parent is not None, status
    )

    for _ in range(5):
        current = current_file_by_path(session, full_path)
        if (
            current is not None
            and current.checksum == checksum
            and current.deleted_at is None
            # a product made again, byte for byte, after it was replaced (its parent was
            # re-made meanwhile) is current again: a new version, not the retired row
            and current.superseded_at is None
        ):
            return Registration(current, created=False)
        if clean.get("proposal_id"):
            ensure_proposal(session, clean["proposal_id"])
        row = File(
            full_path=full_path,
            file_name=os.path.basename(full_path),
            directory_name=os.path.dirname(full_path),
            checksum=checksum,
            size=size,
            data_type=data_type,
            version=(current.version + 1) if current is not None else 1,
            header=cards,
            settings_id=settings_id,
            status=status,
            status_reason=status_reason,
            quality=dict(quality) if quality is not None else None,
            **clean,
        )
        if parent is not None:
            row.parent_file_id = parent.id
            row.original_file_id = parent.original_file_id or parent.id
        _place_in_night(row, parent)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
                if parent is None:
                    # The seed's raw records are their own original and parent.
                    row.original_file_id = row.id
                    row.parent_file_id = row.id
                if current is not None and current.superseded_at is None:
                    current.superseded_at = utcnow()
                session.flush()
        except IntegrityError:
            # A concurrent registration took this version: look again.
            continue
        return Registration(row, created=True, superseded=current)
    raise RuntimeError(f"could not register {full_path!r}: too many concurrent registrations")


@dataclass(frozen=True)
class NewFile:
    """One file for :func:`register_files` (the arguments of :func:`register_file`,
    for files without a parent: raw data and master calibrations)."""

    full_path: str
    checksum: str
    size: int
    fields: Mapping[str, Any] | None = None
    header: Any = None
    data_type: int = 0
    status: str = "registered"
    status_reason: str | None = None


def register_files(
    session: Session, entries: Sequence[NewFile]
) -> list[Registration | InvalidValue]:
    """Register many parentless files with a few statements (the backfill path).

    Same rules as :func:`register_file` (idempotent by path and checksum, new version on
    a new checksum, placeholder proposals), but the current versions of every path are
    read in one query and the new rows are inserted together. If another process
    registers one of the paths at the same moment, the batch is redone file by file.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    entries : sequence of NewFile
        The files: path, checksum, size, seed fields and header each (no parent).

    Returns
    -------
    list
        For each entry, in order, its :class:`Registration`, or the
        :class:`~gsp_extension.store.errors.InvalidValue` that refused it.
    """
    results: list[Registration | InvalidValue | None] = [None] * len(entries)
    prepared = _prepare_batch(entries, results)
    if not prepared:
        return results  # type: ignore[return-value]
    for soar_id in sorted({c["proposal_id"] for *_, c, _ in prepared if c.get("proposal_id")}):
        ensure_proposal(session, soar_id)
    try:
        with session.begin_nested():
            created = _insert_batch(session, entries, prepared, results)
    except IntegrityError:
        # A concurrent registration: redo these files one by one, each safely.
        for i, *_ in prepared:
            results[i] = _register_entry(session, entries[i])
        return results  # type: ignore[return-value]
    for i, row, previous in created:
        results[i] = Registration(row, created=True, superseded=previous)
    return results  # type: ignore[return-value]


#: An entry of a batch once validated: index, path, checksum, fields, header cards.
_Prepared = tuple[int, str, str, dict[str, Any], list[list[Any]] | None]


def _prepare_batch(entries: Sequence[NewFile], results: list) -> list[_Prepared]:
    """Validate every entry; a refused one gets its :class:`InvalidValue` in ``results``."""
    prepared: list[_Prepared] = []
    for i, entry in enumerate(entries):
        try:
            path, checksum, clean, cards = _validated(
                entry.full_path,
                entry.checksum,
                entry.size,
                entry.fields,
                entry.header,
                entry.data_type,
                False,
                entry.status,
            )
        except InvalidValue as exc:
            results[i] = exc
            continue
        prepared.append((i, path, checksum, clean, cards))
    return prepared


def _insert_batch(
    session: Session, entries: Sequence[NewFile], prepared: list[_Prepared], results: list
) -> list[tuple[int, File, File | None]]:
    """Insert the new rows of a batch (and versions of rewritten paths) together.

    Unchanged files get their existing :class:`Registration` in ``results``; returns
    ``(index, new row, previous version)`` of each row inserted.
    """
    current: dict[str, File] = {}
    paths = sorted({p for _, p, *_ in prepared})
    for row in session.scalars(select(File).where(File.full_path.in_(paths))):
        if row.full_path not in current or row.version > current[row.full_path].version:
            current[row.full_path] = row
    created: list[tuple[int, File, File | None]] = []
    now = utcnow()
    for i, path, checksum, clean, cards in prepared:
        entry = entries[i]
        previous = current.get(path)
        if previous is not None and previous.checksum == checksum and previous.deleted_at is None:
            results[i] = Registration(previous, created=False)
            continue
        row = File(
            full_path=path,
            file_name=os.path.basename(path),
            directory_name=os.path.dirname(path),
            checksum=checksum,
            size=entry.size,
            data_type=entry.data_type,
            version=previous.version + 1 if previous is not None else 1,
            header=cards,
            status=entry.status,
            status_reason=entry.status_reason,
            **clean,
        )
        _place_in_night(row, None)
        if previous is not None and previous.superseded_at is None:
            previous.superseded_at = now
        session.add(row)
        created.append((i, row, previous))
        current[path] = row  # a path twice in one batch: the second is a version
    session.flush()
    for _, row, _ in created:
        row.original_file_id = row.id
        row.parent_file_id = row.id
    session.flush()
    return created


def _register_entry(session: Session, entry: NewFile) -> Registration:
    return register_file(
        session,
        entry.full_path,
        checksum=entry.checksum,
        size=entry.size,
        fields=entry.fields,
        header=entry.header,
        data_type=entry.data_type,
        status=entry.status,
        status_reason=entry.status_reason,
    )


def update_file_fields(session: Session, file: File, fields: Mapping[str, Any]) -> File:
    """Change a file's seed fields (e.g. after re-classification), validated as at registration.

    A new PROPID creates its placeholder proposal.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    file : File
        The row to change.
    fields : mapping of str to object
        Seed fields to set (see :data:`DESCRIPTIVE_FIELDS`).

    Returns
    -------
    File
        The row, changed and flushed.

    Raises
    ------
    InvalidValue
        A bad field name or value.
    """
    clean = _clean_fields(fields)
    if clean.get("proposal_id"):
        ensure_proposal(session, clean["proposal_id"])
    for name, value in clean.items():
        setattr(file, name, value)
    session.flush()
    return file


def set_file_status(session: Session, file: File, status: str, reason: str | None = None) -> File:
    """Set a file's processing status and the reason shown to users.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    file : File
        The row to change.
    status : str
        One of ``FILE_STATUSES`` (``"registered"``, ``"processing"``, ``"processed"``,
        ``"failed"``...).
    reason : str or None
        Why, for people; ``None`` clears the reason.

    Returns
    -------
    File
        The row, flushed.

    Raises
    ------
    InvalidValue
        An unknown status.
    """
    if status not in FILE_STATUSES:
        raise InvalidValue(f"status {status!r} is not one of {list(FILE_STATUSES)}")
    file.status = status
    file.status_reason = reason
    session.flush()
    return file


def mark_deleted(session: Session, file: File) -> File:
    """Flag a product as deleted (the caller removes the file from disk).

    Who may delete what is the access policy's
    (:meth:`gsp_extension.security.AccessPolicy.may_delete_file`); whoever asks, raw
    data is never deleted.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    file : File
        The product to flag (flagging twice keeps the first time).

    Returns
    -------
    File
        The row, with ``deleted_at`` set.

    Raises
    ------
    InvalidState
        For raw files, which are never deleted.
    """
    if file.data_type == 0:
        raise InvalidState(
            f"file {file.id} ({file.file_name}) is raw data; raw files are never deleted"
        )
    if file.deleted_at is None:
        file.deleted_at = utcnow()
    session.flush()
    return file


def list_files_query(
    session: Session,
    *,
    data_type: int | None = None,
    proposal_id: str | None = None,
    include_superseded: bool = False,
    include_deleted: bool = False,
) -> Select[tuple[File]]:
    """The API's listing: files newest first (date, then id, descending).

    Parameters
    ----------
    session : Session
    data_type : int, optional
    proposal_id : str, optional
        SOAR id.
    include_superseded, include_deleted : bool
        Also list older versions of rewritten files / deleted products.

    Returns
    -------
    sqlalchemy.Select
        Add ``.limit()``/``.offset()`` to paginate; for the total, count
        ``select(func.count()).select_from(query.order_by(None).subquery())``.
    """
    conditions: list[ColumnElement[bool]] = []
    if data_type is not None:
        conditions.append(File.data_type == data_type)
    if proposal_id is not None:
        conditions.append(File.proposal_id == proposal_id)
    # Spelled as in the partial index's WHERE so the planners match it.
    if not include_superseded:
        conditions.append(File.superseded_at.is_(None))
    if not include_deleted:
        conditions.append(File.deleted_at.is_(None))
    return select(File).where(and_(true(), *conditions)).order_by(File.date.desc(), File.id.desc())


def children(session: Session, file: File) -> list[File]:
    """List the current, undeleted files made directly from ``file`` (the seed's related files).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    file : File
        The parent.

    Returns
    -------
    list of File
        Its direct products (not itself), by id.
    """
    return list(
        session.scalars(
            select(File)
            .where(
                File.parent_file_id == file.id,
                File.id != file.id,
                File.superseded_at.is_(None),
                File.deleted_at.is_(None),
            )
            .order_by(File.id)
        )
    )
