"""``gsp user add | list | deactivate | invite``: accounts for bootstrap and scripts.

Only a superuser makes staff: ``--staff`` and ``--superuser`` need ``--by`` naming an
active superuser, except for the very first superuser of an empty installation.
"""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import select

from gsp_extension.store import StoreError
from gsp_extension.store.accounts import create_user
from gsp_extension.store.models import User

from ..passwords import PasswordHasher, PasswordPolicy
from .common import add_common_arguments, error, find_user, open_database, print_rows, send_link

HELP = "manage accounts: add, list, deactivate, invite (set-password email)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="create an account and email it a set-password link")
    add.add_argument("username", help="1-150 letters, digits or @ . + _ -")
    add.add_argument("--email", help="address for the set-password link")
    add.add_argument("--first-name", default="")
    add.add_argument("--last-name", default="")
    add.add_argument("--partner", default=None, help="partner institution (e.g. NOIRLab, Brazil)")
    add.add_argument("--staff", action="store_true", help="staff: hub admin, sees every proposal")
    add.add_argument("--superuser", action="store_true", help="superuser (implies --staff)")
    add.add_argument(
        "--by",
        metavar="SUPERUSER",
        help="the superuser creating a staff account (required "
        "for --staff/--superuser once a superuser exists)",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (one line) instead of emailing a link",
    )
    add.add_argument("--no-email", action="store_true", help="do not send the set-password email")
    add_common_arguments(add)

    lst = sub.add_parser("list", help="list accounts")
    lst.add_argument("--staff", action="store_true", help="only staff")
    lst.add_argument("--inactive", action="store_true", help="include deactivated accounts")
    lst.add_argument("--json", action="store_true", help="JSON instead of a table")
    add_common_arguments(lst)

    deact = sub.add_parser("deactivate", help="refuse logins; sessions end at the next refresh")
    deact.add_argument("username")
    add_common_arguments(deact)

    inv = sub.add_parser("invite", help="email a new set-password link")
    inv.add_argument("username", help="username or email")
    inv.add_argument("--reset", action="store_true", help="word it as a password reset")
    add_common_arguments(inv)


def run(args: argparse.Namespace) -> int:
    return {"add": _add, "list": _list, "deactivate": _deactivate, "invite": _invite}[args.action](
        args
    )


def _read_password() -> str:
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


class _Refused(Exception):
    """A reason to refuse the command, said to the user as is."""


def _password_hash(args: argparse.Namespace) -> str | None:
    """The hash of a password read from stdin (``--password-stdin``), checked first."""
    if not args.password_stdin:
        return None
    password = _read_password()
    candidate = {
        "username": args.username,
        "first_name": args.first_name,
        "last_name": args.last_name,
        "email": args.email,
    }
    problems = PasswordPolicy().problems(password, candidate)
    if problems:
        raise _Refused("password refused: " + " ".join(problems))
    return PasswordHasher().hash(password)


def _acting_user(session, args: argparse.Namespace, privileged: bool) -> User | None:
    """Who makes the account (``--by``); staff need a superuser once one exists."""
    if args.by:
        by = find_user(session, args.by)
        if by is None or not by.is_active:
            raise _Refused(f"--by {args.by!r}: no such active user")
        return by
    any_superuser = session.scalar(select(User.id).where(User.is_superuser).limit(1))
    if privileged and any_superuser is not None:
        raise _Refused("only a superuser makes staff: add --by <superuser username>")
    if args.staff and not args.superuser:
        raise _Refused(
            "there is no superuser yet: create one first (gsp user add NAME --superuser)"
        )
    return None


def _invite_new(user: User) -> int:
    """Mail a new account its set-password link (when it has an address)."""
    if not user.email:
        print(f"no email address: give one and run `gsp user invite {user.username}`")
        return 0
    problem = send_link(user, "invite")
    if problem:
        return error(
            f"account created but the email failed: {problem}; "
            f"retry with `gsp user invite {user.username}`"
        )
    print(f"set-password link sent to {user.email}")
    return 0


def _add(args: argparse.Namespace) -> int:
    privileged = args.staff or args.superuser
    try:
        password_hash = _password_hash(args)
    except _Refused as exc:
        return error(str(exc))
    db = open_database(args)
    try:
        with db.transaction() as session:
            user = create_user(
                session,
                args.username,
                email=args.email,
                first_name=args.first_name,
                last_name=args.last_name,
                partner=args.partner,
                is_staff=privileged,
                is_superuser=args.superuser,
                password_hash=password_hash,
                by=_acting_user(session, args, privileged),
            )
    except (StoreError, _Refused) as exc:
        return error(str(exc))
    finally:
        db.dispose()
    role = "superuser" if user.is_superuser else "staff" if user.is_staff else "user"
    print(f"created {role} {user.username!r} (id {user.id})")
    if password_hash is None and not args.no_email:
        return _invite_new(user)
    return 0


def _list(args: argparse.Namespace) -> int:
    db = open_database(args)
    try:
        with db.session() as session:
            query = select(User).order_by(User.username)
            if args.staff:
                query = query.where(User.is_staff)
            if not args.inactive:
                query = query.where(User.is_active)
            rows = [
                {
                    "username": u.username,
                    "name": f"{u.first_name} {u.last_name}".strip(),
                    "email": u.email,
                    "partner": u.partner,
                    "role": "superuser" if u.is_superuser else "staff" if u.is_staff else "user",
                    "active": u.is_active,
                    "password": "set" if u.password_hash else "not set",
                    "last_login": u.last_login.isoformat(timespec="seconds")
                    if u.last_login
                    else None,
                }
                for u in session.scalars(query)
            ]
    finally:
        db.dispose()
    print_rows(rows, list(rows[0]) if rows else ["username"], args.json)
    return 0


def _deactivate(args: argparse.Namespace) -> int:
    db = open_database(args)
    try:
        with db.transaction() as session:
            user = find_user(session, args.username)
            if user is None:
                return error(f"no user {args.username!r}")
            user.is_active = False
    finally:
        db.dispose()
    print(f"deactivated {user.username!r}: logins refused, hub sessions end within a minute")
    return 0


def _invite(args: argparse.Namespace) -> int:
    db = open_database(args)
    try:
        with db.session() as session:
            user = find_user(session, args.username)
    finally:
        db.dispose()
    if user is None or not user.is_active:
        return error(f"no active user {args.username!r}")
    problem = send_link(user, "reset" if args.reset else "invite")
    if problem:
        return error(problem)
    print(f"set-password link sent to {user.email}")
    return 0
