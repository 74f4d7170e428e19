"""``gsp proposal add | list``: observing proposals for bootstrap and scripts.

Registering a PI who has no password yet emails them a set-password link, as the seed
describes for the start of each semester.
"""

from __future__ import annotations

import argparse

from sqlalchemy import select
from sqlalchemy.orm import Session

from gsp_extension.store import StoreError
from gsp_extension.store.accounts import create_user
from gsp_extension.store.models import Proposal, User
from gsp_extension.store.proposals import create_proposal

from ..semesters import check_semester, current_semester, next_soar_id
from .common import (
    add_common_arguments,
    error,
    find_user,
    open_database,
    print_rows,
    send_link,
    username_from_email,
)

HELP = "manage observing proposals: add (emails new PIs a set-password link), list"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="create a proposal")
    add.add_argument(
        "soar_id",
        nargs="?",
        help="SOAR id; default: the semester plus the next number, e.g. SOAR2026B-004",
    )
    add.add_argument(
        "--pi",
        required=True,
        help="the PI's username or email; an unknown email creates the account",
    )
    add.add_argument("--pi-first-name", default="", help="for a PI account created here")
    add.add_argument("--pi-last-name", default="", help="for a PI account created here")
    add.add_argument("--semester", help="e.g. 2026B (default: the current semester)")
    add.add_argument("--title", default="")
    add.add_argument("--abstract", default="")
    add.add_argument(
        "--collaborator",
        action="append",
        default=[],
        metavar="USER",
        help="username or email of a collaborator (repeatable; unknown emails create accounts)",
    )
    add.add_argument("--no-email", action="store_true", help="do not email set-password links")
    add_common_arguments(add)

    lst = sub.add_parser("list", help="list proposals")
    lst.add_argument("--semester", help="only this semester")
    lst.add_argument("--json", action="store_true", help="JSON instead of a table")
    add_common_arguments(lst)


def run(args: argparse.Namespace) -> int:
    return {"add": _add, "list": _list}[args.action](args)


def _person(session: Session, who: str, created: list[User], first="", last="") -> User:
    user = find_user(session, who)
    if user is not None:
        return user
    if "@" not in who:
        raise StoreError(
            f"no user {who!r}: give an existing username, or an email to create the account"
        )
    user = create_user(
        session,
        username_from_email(session, who),
        email=who,
        first_name=first,
        last_name=last,
    )
    created.append(user)
    return user


def _add(args: argparse.Namespace) -> int:
    try:
        semester = check_semester(args.semester) if args.semester else current_semester()
    except ValueError as exc:
        return error(str(exc))
    db = open_database(args)
    created: list[User] = []
    try:
        with db.transaction() as session:
            pi = _person(session, args.pi, created, args.pi_first_name, args.pi_last_name)
            collaborators = [_person(session, c, created) for c in args.collaborator]
            soar_id = args.soar_id or next_soar_id(session, semester)
            proposal = create_proposal(
                session,
                soar_id,
                semester=semester,
                title=args.title,
                abstract=args.abstract,
                pi=pi,
                collaborators=collaborators,
            )
            soar_id = proposal.soar_id
            # Everyone on the proposal without a password yet gets the link.
            to_invite = [u for u in [pi, *collaborators] if u.is_active and not u.password_hash]
    except StoreError as exc:
        return error(str(exc))
    finally:
        db.dispose()
    for user in created:
        print(f"created user {user.username!r} <{user.email}>")
    print(f"created proposal {soar_id} ({semester}), PI {pi.username!r}")
    failed = 0
    if not args.no_email:
        for user in to_invite:
            if not user.email:
                print(f"{user.username!r} has no email address: no set-password link sent")
                continue
            problem = send_link(user, "invite")
            if problem:
                failed += 1
                error(
                    f"email to {user.email} failed: {problem}; "
                    f"retry with `gsp user invite {user.username}`"
                )
            else:
                print(f"set-password link sent to {user.email}")
    return 1 if failed else 0


def _list(args: argparse.Namespace) -> int:
    db = open_database(args)
    try:
        with db.session() as session:
            query = select(Proposal).order_by(Proposal.soar_id)
            if args.semester:
                query = query.where(Proposal.semester == args.semester.strip().upper())
            rows = [
                {
                    "soar_id": p.soar_id,
                    "semester": p.semester,
                    "pi": p.pi.username if p.pi else None,
                    "collaborators": ",".join(c.username for c in p.collaborators),
                    "placeholder": p.placeholder,
                    "title": p.title,
                }
                for p in session.scalars(query)
            ]
    finally:
        db.dispose()
    print_rows(rows, list(rows[0]) if rows else ["soar_id"], args.json)
    return 0
