"""What the account commands share: the database, the link mailer, output."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from gsp_extension import environment
from gsp_extension.accounts.invites import LinkMailer
from gsp_extension.accounts.mail import EmailError
from gsp_extension.store import Database, upgrade_database
from gsp_extension.store.accounts import get_user_by_email, get_user_by_username
from gsp_extension.store.models import User


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="app database (default: $GSP_DATABASE_URL or sqlite:///$GSP_DATA_ROOT/gsp.sqlite)",
    )


def open_database(args: argparse.Namespace) -> Database:
    """The app database, migrated to the current schema first (idempotent)."""
    url = args.database_url or environment.database_url()
    upgrade_database(url)
    return Database(url)


def send_link(user: User, purpose: str = "invite") -> str | None:
    """Mail a set-password link; the error text when it could not be sent."""
    try:
        LinkMailer.from_environment().send(user, purpose)
    except (EmailError, ValueError) as exc:
        return str(exc)
    return None


def find_user(session: Session, name_or_email: str) -> User | None:
    """A user by username, or by address when the text contains ``@`` and no username matches."""
    user = get_user_by_username(session, name_or_email)
    if user is None and "@" in name_or_email:
        try:
            user = get_user_by_email(session, name_or_email)
        except ValueError:
            return None
    return user


def username_from_email(session: Session, email: str) -> str:
    """A free username made from the address's local part (``ana.perez``, ``ana.perez2``...)."""
    base = re.sub(r"[^A-Za-z0-9@.+_-]", "", email.split("@", 1)[0]).lower() or "user"
    base = base[:140]
    name, n = base, 1
    while get_user_by_username(session, name) is not None:
        n += 1
        name = f"{base}{n}"
    return name


def error(message: str) -> int:
    print(f"gsp: error: {message}", file=sys.stderr)
    return 1


def print_rows(rows: list[dict[str, Any]], columns: Sequence[str], as_json: bool) -> None:
    """A JSON list, or an aligned plain-text table."""
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
        return
    cells = [[str(c) for c in columns]] + [
        ["" if r[c] is None else str(r[c]) for c in columns] for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
