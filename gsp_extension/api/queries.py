"""Listing queries of the API on top of the store's models: filters, ordering, pages.

Counting is bounded (see :func:`bounded_count`) so that a listing over a million rows
costs the same as one over a thousand; past the bound the count is an estimate and the
response says so.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.orm import Session

from ..security import Caller
from ..security.access import AccessPolicy, FileVisibility
from ..store import File, Job, Proposal
from ..store.serialize import LINEAGE_JOIN, record_columns, record_from_row
from ..vocabulary import NEWEST_FIRST
from .schemas import FileListQuery

# data_type and proposal_id are applied by the store's listing query (with visibility).
_EXACT_FILTERS = (
    "obstype",
    "object",
    "filter",
    "filter_2",
    "grating",
    "slit",
    "wavmode",
    "roi",
    "technique",
    "date",
    "parent_file_id",
    "original_file_id",
)


@dataclass(frozen=True)
class Page:
    """One page of a listing.

    Attributes
    ----------
    rows : list
    count : int
        Exact up to the bound, else an estimate (``estimated`` is then true).
    estimated : bool
    has_next : bool
        Known from the rows themselves (one more row than the page was read).
    """

    rows: list[Any]
    count: int
    estimated: bool
    has_next: bool


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def file_filters(q: FileListQuery) -> list[ColumnElement]:
    """WHERE conditions of the filters of ``GET api/files/`` beyond data_type/proposal_id."""
    conditions: list[ColumnElement] = []
    for name in _EXACT_FILTERS:
        value = getattr(q, name)
        if value is not None:
            conditions.append(getattr(File, name) == value)
    if q.date_after is not None:
        conditions.append(File.date >= q.date_after)
    if q.date_before is not None:
        conditions.append(File.date <= q.date_before)
    if q.search:
        pattern = f"%{_escape_like(q.search.lower())}%"
        conditions.append(
            or_(
                func.lower(File.file_name).like(pattern, escape="\\"),
                func.lower(File.object).like(pattern, escape="\\"),
            )
        )
    # NULL OBSTYPEs are kept explicitly: "NOT IN" alone would drop them.
    if q.excluded_obstypes:
        conditions.append(
            or_(File.obstype.is_(None), func.upper(File.obstype).not_in(q.excluded_obstypes))
        )
    if q.hidden_raw_obstypes:
        conditions.append(
            or_(
                File.data_type != 0,
                File.obstype.is_(None),
                func.upper(File.obstype).not_in(q.hidden_raw_obstypes),
            )
        )
    return conditions


#: The default order: newest night first, and within a night the observation order
#: (DATE-OBS, then frame number), newest first; products sit with their raw frame.
DEFAULT_FILE_ORDERING = NEWEST_FIRST

#: Ordering fields whose missing values go last on every database (SQLite and
#: PostgreSQL disagree by default): a frame without DATE-OBS or frame number is not
#: "newest". Other fields keep the database's order, which the listing indexes follow.
_NULLS_LAST = ("date_obs", "frame_number")


def file_ordering(ordering: str | None) -> list[Any]:
    """ORDER BY of a listing: the requested fields (default
    :data:`DEFAULT_FILE_ORDERING`), then id as the tie-breaker.

    Parameters
    ----------
    ordering : str or None
        Comma-separated fields of :data:`~.schemas.ORDERING_FIELDS`, ``-`` for descending.

    Returns
    -------
    list
        ORDER BY clauses.
    """
    ordering = ordering or DEFAULT_FILE_ORDERING
    clauses: list[Any] = []
    names: list[str] = []
    for part in ordering.split(","):
        part = part.strip()
        name = part.lstrip("-")
        column = getattr(File, name)
        clause = column.desc() if part.startswith("-") else column.asc()
        clauses.append(clause.nulls_last() if name in _NULLS_LAST else clause)
        names.append(name)
    if "id" not in names:
        clauses.append(File.id.desc() if ordering.strip().startswith("-") else File.id.asc())
    return clauses


def _estimate_rows(session: Session, stmt: Select) -> int | None:
    """The planner's row estimate for ``stmt`` (PostgreSQL), or ``None`` elsewhere."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    compiled = stmt.compile(dialect=bind.dialect, compile_kwargs={"literal_binds": True})
    plan = session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}")).scalar()
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(session: Session, ids: Select, bound: int) -> tuple[int, bool]:
    """Count the rows of ``ids`` exactly up to ``bound``; past it, estimate.

    Returns
    -------
    (int, bool)
        The count and whether it is an estimate. An estimate is never below
        ``bound + 1`` (we know at least that many rows match).
    """
    limited = ids.limit(bound + 1).subquery()
    exact = session.scalar(select(func.count()).select_from(limited)) or 0
    if exact <= bound:
        return exact, False
    estimate = None
    try:
        estimate = _estimate_rows(session, ids)
    except Exception:  # noqa: BLE001 - an estimate is best effort; the bound is the fallback
        estimate = None
    return max(bound + 1, estimate or 0), True


def paginate(
    session: Session,
    stmt: Select,
    ids: Select,
    *,
    page: int,
    page_size: int,
    bound: int,
    count: bool = True,
) -> Page:
    """Read one page of ``stmt`` and the bounded count of ``ids`` (same conditions)."""
    rows = list(session.scalars(stmt.limit(page_size + 1).offset((page - 1) * page_size)).unique())
    has_next = len(rows) > page_size
    rows = rows[:page_size]
    if not count:
        return Page(rows, len(rows), False, has_next)
    if page == 1 and not has_next:
        # The whole result is on this page: no need to count.
        return Page(rows, len(rows), False, False)
    total, estimated = bounded_count(session, ids, bound)
    return Page(rows, total, estimated, has_next)


class CountCache:
    """Counts of recent listings, kept ``ttl`` seconds (``ttl=0`` keeps nothing).

    A listing polled by a browser or a script asks the same count again and again; the
    rows are always read fresh, only the total may lag new files by ``ttl`` seconds.
    Keys name the caller and every filter, so one caller never sees another's count.
    """

    def __init__(self, ttl: float, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: TTLCache[Any, tuple[int, bool]] | None = (
            TTLCache(maxsize=max_entries, ttl=ttl, timer=time.monotonic) if ttl > 0 else None
        )
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe

    def get(self, key: Any) -> tuple[int, bool] | None:
        if self._entries is None:
            return None
        with self._lock:
            return self._entries.get(key)

    def put(self, key: Any, count: int, estimated: bool) -> None:
        if self._entries is None:
            return
        with self._lock:
            self._entries[key] = (count, estimated)


@functools.lru_cache(maxsize=512)
def _listing_statements(
    dialect: str,
    ordering: str | None,
    visibility: FileVisibility,
    by_type: bool,
    by_proposal: bool,
) -> tuple[Select, Select]:
    """The page query and the id query of a listing of this shape, built once.

    Every value is a named bound parameter (``data_type``, ``proposal_id``, ``mine``,
    ``limit``, ``offset``), so one statement object serves every request of its shape
    and SQLAlchemy's compiled-statement cache finds it without rebuilding it.
    """
    table = File.__table__
    conditions: list[ColumnElement[bool]] = []
    visible = visibility.condition(table, bindparam("mine", expanding=True))
    if visible is not None:
        conditions.append(visible)
    if by_type:
        conditions.append(table.c.data_type == bindparam("data_type"))
    if by_proposal:
        conditions.append(table.c.proposal_id == bindparam("proposal_id"))
    # Spelled as in the partial index's WHERE so the planners match it.
    conditions.append(table.c.superseded_at.is_(None))
    conditions.append(table.c.deleted_at.is_(None))
    rows = (
        select(*record_columns(dialect))
        .select_from(LINEAGE_JOIN)
        .where(*conditions)
        .order_by(*file_ordering(ordering))
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
    ids = select(table.c.id).where(*conditions)
    return rows, ids


def list_files(
    session: Session,
    caller: Caller,
    q: FileListQuery,
    *,
    page_size: int,
    bound: int,
    tz: dt.tzinfo = dt.UTC,
    counts: CountCache | None = None,
) -> Page:
    """A page of ``GET api/files/`` as the caller may see it (DESIGN.md §5).

    ``rows`` are seed records (dicts), ready to send. The statements are built once
    per shape of query (see :func:`_listing_statements`); only requests with filters
    beyond data_type and proposal_id add conditions to a copy.
    """
    dialect = session.get_bind().dialect.name
    visibility, mine = AccessPolicy(session, caller).file_listing(q.data_type, q.proposal_id)
    stmt, ids = _listing_statements(
        dialect, q.ordering, visibility, q.data_type is not None, q.proposal_id is not None
    )
    extra = file_filters(q)
    if extra:
        stmt, ids = stmt.where(*extra), ids.where(*extra)
    params: dict[str, Any] = {"limit": page_size + 1, "offset": (q.page - 1) * page_size}
    if q.data_type is not None:
        params["data_type"] = q.data_type
    if q.proposal_id is not None:
        params["proposal_id"] = q.proposal_id
    if mine:
        params["mine"] = mine
    # Core rows through the session's connection: same transaction, no ORM layer.
    rows = session.connection().execute(stmt, params).all()
    has_next = len(rows) > page_size
    records = [record_from_row(r, tz) for r in rows[:page_size]]
    if q.page == 1 and not has_next:
        return Page(records, len(records), False, False)
    key = (
        caller.name,
        caller.user_id,
        caller.is_staff,
        bound,
        tuple(q.model_dump(exclude={"page", "page_size", "ordering"}).items()),
    )
    cached = counts.get(key) if counts is not None else None
    if cached is None:
        count_params = {k: v for k, v in params.items() if k not in ("limit", "offset")}
        cached = bounded_count(session, ids.params(**count_params), bound)
        if counts is not None:
            counts.put(key, *cached)
    total, estimated = cached
    return Page(records, total, estimated, has_next)


def list_proposals(
    session: Session, caller: Caller, *, page: int, page_size: int, bound: int
) -> Page:
    """A page of the proposals the caller may see, by SOAR id."""
    where = AccessPolicy(session, caller).proposals()
    stmt = select(Proposal).where(where).order_by(Proposal.soar_id, Proposal.id)
    return paginate(
        session, stmt, select(Proposal.id).where(where), page=page, page_size=page_size, bound=bound
    )


def list_jobs(
    session: Session,
    caller: Caller,
    *,
    state: str | None,
    file_id: int | None,
    page: int,
    page_size: int,
    bound: int,
) -> Page:
    """A page of jobs the caller may see (:meth:`AccessPolicy.jobs`), newest first."""
    conditions: list[ColumnElement] = [AccessPolicy(session, caller).jobs()]
    if state is not None:
        conditions.append(Job.state == state)
    if file_id is not None:
        conditions.append(Job.file_id == file_id)
    where = and_(true(), *conditions)
    stmt = select(Job).where(where).order_by(Job.id.desc())
    return paginate(
        session, stmt, select(Job.id).where(where), page=page, page_size=page_size, bound=bound
    )


def files_by_ids(session: Session, ids: Sequence[int]) -> list[File]:
    """Rows for these ids (missing ids are simply absent)."""
    return list(session.scalars(select(File).where(File.id.in_(list(ids)))))
