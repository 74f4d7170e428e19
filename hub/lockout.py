"""Brute-force protection: an account is locked for a while after N failed logins in a row.

The counters live on the user row (``failed_logins``, ``locked_until``), so every hub
replica and restart sees the same lock. The bookkeeping itself is the store's
(:func:`gsp_extension.store.accounts.record_failed_login`); this module is the policy
and the row locking around it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from gsp_extension.store import accounts as store_accounts
from gsp_extension.store.engine import Database
from gsp_extension.store.models import User
from gsp_extension.store.types import utcnow


@dataclass(frozen=True)
class LockoutPolicy:
    """How many failures lock an account, and for how long.

    Parameters
    ----------
    max_failures : int
        Failed attempts in a row that lock the account (at least 1).
    lock_for : datetime.timedelta
        How long the lock lasts.
    """

    max_failures: int = 5
    lock_for: dt.timedelta = dt.timedelta(minutes=15)

    def __post_init__(self) -> None:
        if self.max_failures < 1:
            raise ValueError(f"max_failures must be at least 1, got {self.max_failures}")
        if self.lock_for <= dt.timedelta(0):
            raise ValueError(f"lock_for must be a positive duration, got {self.lock_for}")

    def is_locked(self, user: User, now: dt.datetime | None = None) -> bool:
        """Whether the account refuses logins right now."""
        return store_accounts.is_locked(user, now)

    def record_failure(
        self, db: Database, user_id: int, now: dt.datetime | None = None
    ) -> dt.datetime | None:
        """Count a failed attempt (row locked, so parallel attempts all count).

        Returns
        -------
        datetime or None
            When the lock this failure caused ends, or ``None`` if not locked.
        """
        now = now or utcnow()
        with db.transaction() as session:
            user = session.get(User, user_id, with_for_update=True, populate_existing=True)
            if user is None:
                return None
            if store_accounts.is_locked(user, now):
                # Attempts during a lock are refused without counting, so the lock
                # ends when it said it would.
                return user.locked_until
            return store_accounts.record_failed_login(
                session,
                user,
                max_failures=self.max_failures,
                lock_for=self.lock_for,
                now=now,
            )

    def record_success(self, db: Database, user_id: int, now: dt.datetime | None = None) -> None:
        """A successful login: counter cleared, ``last_login`` set."""
        with db.transaction() as session:
            user = session.get(User, user_id, with_for_update=True, populate_existing=True)
            if user is not None:
                store_accounts.record_login(session, user, now)
