"""Who a request's caller is, remembered for a few seconds between read requests.

Resolving the caller reads the account (by hub name) and, for the file listing, the
SOAR ids of the caller's proposals: two queries that cost as much as the listing's
own page. :class:`CallerCache` keeps both for ``ttl`` seconds, for GET requests only
(:func:`gsp_extension.api.base.caller_cache_for`): a request that may change anything
always resolves its caller from the database.

Staleness is bounded and small:

* a change committed by this service (a collaborator added or removed, a user
  deactivated or promoted...) empties the cache at commit, so the next request sees it;
* a change made by another process (the hub's account pages, the ``gsp`` command line)
  is seen at the latest ``ttl`` seconds later (``GSPExtensionApp.caller_cache_seconds``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import TLRUCache
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from ..store import Proposal, User
from ..store import proposals as store_proposals
from .policy import Caller, resolve_caller

# Every live cache, emptied when a session that changed accounts or proposals commits.
_CACHES: weakref.WeakSet[CallerCache] = weakref.WeakSet()
_CHANGED = "gsp_accounts_changed"


@dataclass(frozen=True)
class _Entry:
    expires: float
    name: str
    kind: str
    instrument: bool
    user_values: dict[str, Any] | None
    proposal_ids: frozenset[str] | None


class CallerCache:
    """Resolved callers of read requests, kept ``ttl`` seconds (``ttl=0``: never).

    Parameters
    ----------
    ttl : float
        Seconds an entry is used; the bound on how stale a caller's account and
        memberships may be when another process changes them.
    max_entries : int
        Entries kept at most (the least recently used goes first when full).
    """

    def __init__(self, ttl: float, max_entries: int = 4096) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        # Each entry expires ``ttl`` after its caller was *read* (not stored): the bound
        # on staleness counts from the database read.
        self._entries: TLRUCache[tuple[str, str], _Entry] = TLRUCache(
            maxsize=max_entries, ttu=lambda _key, entry, _now: entry.expires, timer=time.monotonic
        )
        self._lock = threading.Lock()  # cachetools' caches are not thread-safe
        _CACHES.add(self)

    def clear(self) -> None:
        """Forget every caller (the next request of each reads the database)."""
        with self._lock:
            self._entries.clear()

    def resolve(
        self,
        session: Session,
        hub_model: Mapping[str, Any],
        instrument_names: Collection[str],
    ) -> Caller:
        """:func:`~gsp_extension.security.resolve_caller`, from the cache when fresh.

        The caller's :class:`User` is a new instance attached to ``session`` (never
        shared between requests); ``Caller.proposal_ids`` holds the caller's SOAR ids
        (``None`` for staff, services and inactive accounts, who need none).

        Raises
        ------
        PermissionDenied
            As :func:`resolve_caller` (refusals are never cached).
        """
        name = str(hub_model.get("name") or "")
        kind = str(hub_model.get("kind") or "user")
        key = (name, kind)
        now = time.monotonic()
        entry = None
        if self.ttl > 0:
            with self._lock:
                entry = self._entries.get(key)
        if entry is not None:
            user = None
            if entry.user_values is not None:
                user = User(**entry.user_values)
                make_transient_to_detached(user)
                session.add(user)
            return Caller(
                name=entry.name,
                kind=entry.kind,
                user=user,
                instrument=entry.instrument,
                proposal_ids=entry.proposal_ids,
            )
        caller = resolve_caller(session, hub_model, instrument_names)
        user = caller.user
        proposal_ids = None
        if user is not None and user.is_active and not user.is_staff:
            proposal_ids = frozenset(session.scalars(store_proposals.member_soar_ids(user.id)))
        caller = Caller(
            name=caller.name,
            kind=caller.kind,
            user=user,
            instrument=caller.instrument,
            proposal_ids=proposal_ids,
        )
        if self.ttl > 0:
            values = None
            if user is not None:
                values = {a.key: getattr(user, a.key) for a in inspect(User).column_attrs}
            with self._lock:
                self._entries[key] = _Entry(
                    now + self.ttl,
                    caller.name,
                    caller.kind,
                    caller.instrument,
                    values,
                    proposal_ids,
                )
        return caller


@event.listens_for(Session, "after_flush")
def _note_account_changes(session: Session, _context: Any) -> None:
    # Memberships live on Proposal (PI, collaborators collection); accounts on User.
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, User | Proposal):
            session.info[_CHANGED] = True
            return


@event.listens_for(Session, "after_commit")
def _forget_callers(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        for cache in list(_CACHES):
            cache.clear()


@event.listens_for(Session, "after_rollback")
def _drop_mark(session: Session) -> None:
    session.info.pop(_CHANGED, None)
