"""The hub's reads and writes of accounts, on top of :mod:`gsp_extension.store`.

What the store's domain layer does not offer and the hub needs (``get_user_by_username``
is re-exported from the store for the authenticator's convenience): finding the account for
a login name, the proposals a user belongs to (the hub groups), the state a
set-password link is bound to, and the compare-and-swap that makes a link single use.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from gsp_extension.accounts.links import link_state  # noqa: F401 - re-exported
from gsp_extension.store.accounts import get_user_by_username  # noqa: F401 - re-exported
from gsp_extension.store.models import User
from gsp_extension.store.proposals import member_soar_ids


def find_user_for_login(session: Session, name: str) -> User | None:
    """The account a login name designates, or ``None``.

    The exact username wins; otherwise a case-insensitive match, when exactly one
    account has it (people type ``Ana`` for ``ana``). An ambiguous name gives ``None``.
    """
    name = (name or "").strip()
    if not name:
        return None
    user = session.scalar(select(User).where(User.username == name))
    if user is not None:
        return user
    matches = session.scalars(
        select(User).where(func.lower(User.username) == name.lower()).limit(2)
    ).all()
    return matches[0] if len(matches) == 1 else None


def proposal_groups(session: Session, user_id: int) -> list[str]:
    """SOAR ids of the proposals where the user is PI or collaborator, sorted.

    These are the user's hub groups (``manage_groups``).
    """
    return sorted(set(session.scalars(member_soar_ids(user_id))))


def auth_model(session: Session, user: User) -> dict[str, Any]:
    """What the hub learns about a user at login and at each refresh.

    ``admin`` is always given (``True`` or ``False``) so that demoting a staff member
    in the app database takes the hub's admin rights away at the next refresh.
    """
    return {
        "name": user.username,
        "admin": bool(user.is_staff or user.is_superuser),
        "groups": proposal_groups(session, user.id),
    }


def replace_password_hash(
    session: Session, user_id: int, expected_hash: str | None, new_hash: str
) -> bool:
    """Set a new hash only if the stored one is still ``expected_hash``.

    One ``UPDATE ... WHERE password_hash IS NOT DISTINCT FROM :expected``: of two
    concurrent uses of one link, or two concurrent password changes, exactly one wins.
    A successful change also clears the lockout.

    Returns
    -------
    bool
        Whether this call changed the password.
    """
    if not new_hash:
        raise ValueError("new password hash is empty")
    result = session.execute(
        update(User)
        .where(User.id == user_id, User.password_hash.is_not_distinct_from(expected_hash))
        .values(password_hash=new_hash, failed_logins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    session.expire_all()
    return result.rowcount == 1
