"""User accounts: creation, look-up, login bookkeeping and the brute-force lockout.

Passwords are hashed by the hub (argon2id); this module stores the hash it is given
and never sees a password.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from sqlalchemy import Select, func, or_, select, union_all
from sqlalchemy.orm import Session

from ..accounts.addresses import normalize_address
from .errors import AlreadyExists, InvalidValue, NotFound, PermissionDenied
from .models import Proposal, User, proposal_collaborators
from .types import utcnow

# Django's rule, which the original app used; JupyterHub accepts these names too.
_USERNAME = re.compile(r"^[A-Za-z0-9@.+_-]{1,150}$")
_NAME_CHARS = re.compile(r"[^a-z0-9._-]+")


def normalize_email(email: str | None) -> str | None:
    """Lower-case and check an address; ``None`` or blank gives ``None``.

    The rule is :func:`gsp_extension.accounts.addresses.normalize_address`, the one
    every way in (API, hub pages, command line) uses.

    Parameters
    ----------
    email : str or None
        An address as typed.

    Returns
    -------
    str or None
        The address stripped and lower-cased (its stored form); ``None`` for ``None``
        or blank.

    Raises
    ------
    InvalidValue
        When it is not an e-mail address, saying why.
    """
    if email is None or not email.strip():
        return None
    try:
        return normalize_address(email)
    except ValueError as exc:
        raise InvalidValue(f"email: {exc}") from None


def create_user(
    session: Session,
    username: str,
    *,
    email: str | None = None,
    first_name: str = "",
    last_name: str = "",
    partner: str | None = None,
    is_staff: bool = False,
    is_superuser: bool = False,
    is_active: bool = True,
    password_hash: str | None = None,
    by: User | None = None,
) -> User:
    """Create a user account.

    Parameters
    ----------
    session : Session
        Open session; the caller commits.
    username : str
        1–150 characters from letters, digits and ``@.+_-``.
    email : str, optional
        Unique (case-insensitive) when given.
    first_name, last_name : str
        The user's names (may be empty).
    partner : str or None
        The user's SOAR partner institution, if known.
    is_staff : bool
        Staff see every proposal and manage users and proposals.
    is_superuser : bool
        Superusers may also create staff; implies staff.
    is_active : bool
        False creates a deactivated account (it cannot log in).
    password_hash : str or None
        The hub's argon2 hash; ``None`` leaves the account without a password until one
        is set (an invitation).
    by : User, optional
        The acting user. When given, only a superuser may create staff or superusers.
        ``None`` means the system itself (bootstrap, CLI).

    Returns
    -------
    User
        The new account, flushed (it has an id).

    Raises
    ------
    InvalidValue
        Bad username or email.
    AlreadyExists
        The username and/or the email is taken.
    PermissionDenied
        Staff or superuser asked by someone who is not a superuser.
    """
    email = check_new_user(
        session, username, email=email, is_staff=is_staff, is_superuser=is_superuser, by=by
    )
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        partner=partner,
        is_staff=is_staff or is_superuser,
        is_superuser=is_superuser,
        is_active=is_active,
        password_hash=password_hash,
    )
    session.add(user)
    session.flush()
    return user


def check_new_user(
    session: Session,
    username: str,
    *,
    email: str | None = None,
    is_staff: bool = False,
    is_superuser: bool = False,
    by: User | None = None,
) -> str | None:
    """Refuse an account :func:`create_user` would refuse, without creating it.

    Lets a caller check everything before changing another system (the hub) first.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    username : str
        The wanted username.
    email : str or None
        The wanted address (checked and lower-cased); ``None`` for none.
    is_staff, is_superuser : bool
        The wanted roles.
    by : User or None
        The acting user; ``None`` means the system itself.

    Returns
    -------
    str or None
        The normalized email.

    Raises
    ------
    InvalidValue
        Bad username or email.
    PermissionDenied
        Staff or superuser asked by someone who is not a superuser.
    AlreadyExists
        The username and/or the email is taken; the message names which.
    """
    if not isinstance(username, str) or not _USERNAME.match(username):
        raise InvalidValue(
            f"username {username!r} is invalid: use 1-150 letters, digits or @ . + _ -"
        )
    email = normalize_email(email)
    if by is not None and (is_staff or is_superuser) and not by.is_superuser:
        raise PermissionDenied(
            f"user {by.username!r} is not a superuser; only a superuser creates staff users"
        )
    taken = []
    if get_user_by_username(session, username) is not None:
        taken.append(f"username {username!r} is taken; choose another")
    if email is not None and get_user_by_email(session, email) is not None:
        taken.append(f"email {email!r} already belongs to a user")
    if taken:
        raise AlreadyExists("; ".join(taken))
    return email


def free_username(session: Session, email: str) -> str:
    """Make a free username from an address's local part (``user@x.org`` -> ``user``).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    email : str
        The address.

    Returns
    -------
    str
        The local part lower-cased, reduced to allowed characters and 30 of them (``user``
        when nothing is left), with 2, 3... appended until no account has it.
    """
    base = _NAME_CHARS.sub("", email.split("@", 1)[0].lower())[:30] or "user"
    name, n = base, 1
    while get_user_by_username(session, name) is not None:
        n += 1
        name = f"{base}{n}"
    return name


def users_query(
    *, search: str | None = None, is_staff: bool | None = None, is_active: bool | None = None
) -> Select:
    """Build the query of users matching the filters, by username (for staff listings).

    Parameters
    ----------
    search : str or None
        Case-insensitive text in the username, the email or the names (``%`` and ``_``
        match themselves); ``None`` or empty for no filter.
    is_staff : bool or None
        Only staff (True) or only non-staff (False); ``None`` for both.
    is_active : bool or None
        Only active (True) or only deactivated (False) accounts; ``None`` for both.

    Returns
    -------
    sqlalchemy.Select
        ``select(User)`` filtered and ordered by username then id.
    """
    query = select(User)
    if search:
        escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (User.username, User.email, User.first_name, User.last_name)
                )
            )
        )
    if is_staff is not None:
        query = query.where(User.is_staff == is_staff)
    if is_active is not None:
        query = query.where(User.is_active == is_active)
    return query.order_by(User.username, User.id)


def soar_ids_of_users(session: Session, user_ids: Iterable[int]) -> dict[int, list[str]]:
    """List, for each user id, the SOAR ids of the proposals they lead or collaborate on.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    user_ids : iterable of int
        The users' ids.

    Returns
    -------
    dict of int to list of str
        Each id given to its sorted SOAR ids (empty list for none).
    """
    ids = list(user_ids)
    found: dict[int, set[str]] = {i: set() for i in ids}
    if not ids:
        return {}
    led = select(Proposal.pi_id.label("user_id"), Proposal.soar_id).where(Proposal.pi_id.in_(ids))
    joined = (
        select(proposal_collaborators.c.user_id, Proposal.soar_id)
        .join(Proposal, Proposal.id == proposal_collaborators.c.proposal_id)
        .where(proposal_collaborators.c.user_id.in_(ids))
    )
    for user_id, soar_id in session.execute(union_all(led, joined)):
        found[user_id].add(soar_id)
    return {i: sorted(v) for i, v in found.items()}


def get_user(session: Session, user_id: int) -> User:
    """Fetch the user with this id.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    user_id : int
        The account's id.

    Returns
    -------
    User
        The account (active or not).

    Raises
    ------
    NotFound
        No account has this id.
    """
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"no user with id {user_id}")
    return user


def get_user_by_username(session: Session, username: str) -> User | None:
    """Fetch the user with this username.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    username : str
        The exact username (case-sensitive).

    Returns
    -------
    User or None
        The account, or ``None`` when there is none.
    """
    return session.scalar(select(User).where(User.username == username))


def get_user_by_email(session: Session, email: str) -> User | None:
    """Fetch the user with this address (case-insensitive).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    email : str
        An address, normalized by :func:`normalize_email` first.

    Returns
    -------
    User or None
        The account, or ``None`` when there is none or ``email`` is blank.

    Raises
    ------
    InvalidValue
        ``email`` is not an e-mail address.
    """
    email = normalize_email(email)
    if email is None:
        return None
    return session.scalar(select(User).where(func.lower(User.email) == email))


def set_password_hash(session: Session, user: User, password_hash: str) -> None:
    """Store a new password hash and clear any lockout.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    user : User
        The account.
    password_hash : str
        The hub's argon2 hash string (never a clear password).

    Raises
    ------
    InvalidValue
        An empty hash.
    """
    if not password_hash:
        raise InvalidValue("password hash is empty; pass the hub's argon2 hash string")
    user.password_hash = password_hash
    user.failed_logins = 0
    user.locked_until = None
    session.flush()


def is_locked(user: User, now: dt.datetime | None = None) -> bool:
    """Tell whether the account is locked out by too many failed logins right now.

    Parameters
    ----------
    user : User
        The account.
    now : datetime.datetime or None
        The current time, timezone-aware UTC; ``None`` means :func:`utcnow`.

    Returns
    -------
    bool
        True while ``locked_until`` is in the future.
    """
    now = now or utcnow()
    return user.locked_until is not None and user.locked_until > now


def record_login(session: Session, user: User, now: dt.datetime | None = None) -> None:
    """Note a successful login: ``last_login`` set, failure counter and lock cleared.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    user : User
        The account that logged in.
    now : datetime.datetime or None
        The current time, timezone-aware UTC; ``None`` means :func:`utcnow`.
    """
    user.last_login = now or utcnow()
    user.failed_logins = 0
    user.locked_until = None
    session.flush()


def record_failed_login(
    session: Session,
    user: User,
    *,
    max_failures: int = 5,
    lock_for: dt.timedelta = dt.timedelta(minutes=15),
    now: dt.datetime | None = None,
) -> dt.datetime | None:
    """Count a failed login; lock the account after ``max_failures`` in a row.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    user : User
        The account whose password was wrong.
    max_failures : int
        Failures in a row that lock the account.
    lock_for : datetime.timedelta
        How long a lock lasts.
    now : datetime.datetime or None
        The current time, timezone-aware UTC; ``None`` means :func:`utcnow`.

    Returns
    -------
    datetime or None
        The time the lock ends, or ``None`` when the account is not locked.
    """
    now = now or utcnow()
    user.failed_logins += 1
    if user.failed_logins >= max_failures:
        user.locked_until = now + lock_for
        user.failed_logins = 0
    session.flush()
    return user.locked_until if is_locked(user, now) else None
