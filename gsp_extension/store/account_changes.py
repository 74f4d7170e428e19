"""Edits of an existing account: a user's own name and e-mail; staff's partner,
deactivation and the staff flag.

Who may change what (the rules the API answers with):

- anyone with an account: their own first name, last name and e-mail;
- staff: those fields and ``partner`` and ``is_active`` of any non-staff account;
- a superuser: anything of anyone, ``is_staff`` included.

Nobody deactivates their own account or removes their own staff flag (a lone staff
member would lock everyone out of the management tools).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .accounts import get_user_by_email, normalize_email
from .errors import AlreadyExists, InvalidValue, PermissionDenied
from .models import User

#: Fields a user changes on their own account.
OWN_FIELDS = ("first_name", "last_name", "email")
#: Fields only staff change (on accounts that are not staff).
STAFF_FIELDS = ("partner", "is_active")
#: Fields only a superuser changes.
SUPERUSER_FIELDS = ("is_staff",)
EDITABLE = OWN_FIELDS + STAFF_FIELDS + SUPERUSER_FIELDS


def check_user_change(user: User, changes: dict[str, Any], by: User | None) -> None:
    """Refuse a change ``by`` may not make to ``user``, naming the rule.

    Parameters
    ----------
    user : User
        The account to change.
    changes : dict
        Field name to new value; names from :data:`EDITABLE`.
    by : User or None
        The acting user; ``None`` is the system (command line), which may do anything.

    Raises
    ------
    InvalidValue
        An unknown field.
    PermissionDenied
        The change is not ``by``'s to make.
    """
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidValue(
            f"account fields {unknown} cannot be changed; editable: {list(EDITABLE)}"
        )
    if by is None or (by.is_superuser and by.id != user.id):
        return
    own = by.id == user.id
    if own and (changes.get("is_active") is False or changes.get("is_staff") is False):
        raise PermissionDenied(
            "you cannot deactivate your own account or remove your own staff role; "
            "ask another staff member"
        )
    privileged = sorted(set(changes) - set(OWN_FIELDS))
    if not by.is_staff:
        if not own:
            raise PermissionDenied("you may only edit your own account")
        if privileged:
            raise PermissionDenied(f"only staff change {privileged} of an account")
        return
    if "is_staff" in changes and not by.is_superuser:
        raise PermissionDenied("only a superuser gives or removes the staff role")
    if not own and user.is_staff and not by.is_superuser:
        raise PermissionDenied(
            f"{user.username!r} is staff; only a superuser edits a staff account"
        )


def update_user(
    session: Session, user: User, changes: dict[str, Any], *, by: User | None = None
) -> list[str]:
    """Apply ``changes`` to ``user`` after :func:`check_user_change`.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    user : User
        The account to change.
    changes : dict
        Field name to new value; names from :data:`EDITABLE`.
    by : User or None
        The acting user; ``None`` is the system (command line), which may do anything.

    Returns
    -------
    list of str
        Names of the fields whose value changed (empty when nothing did).

    Raises
    ------
    InvalidValue, PermissionDenied, AlreadyExists
        A bad or taken e-mail, or a change ``by`` may not make.
    """
    check_user_change(user, changes, by)
    changes = dict(changes)
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
        if changes["email"] is None:
            raise InvalidValue("email cannot be empty: give an address such as name@example.org")
        owner = get_user_by_email(session, changes["email"])
        if owner is not None and owner.id != user.id:
            raise AlreadyExists(f"email {changes['email']!r} already belongs to another user")
    if "partner" in changes:
        changes["partner"] = (changes["partner"] or "").strip() or None
    if changes.get("is_staff") is False:
        changes["is_superuser"] = False
    changed = [k for k, v in changes.items() if getattr(user, k) != v]
    for name in changed:
        setattr(user, name, changes[name])
    session.flush()
    return [k for k in changed if k in EDITABLE]
