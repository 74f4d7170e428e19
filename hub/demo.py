"""The demo of ``gsp up --demo``: demo proposals and accounts, and a night streamed live.

Accounts (kept when they exist; a password is printed only when its account is made)::

    demo-pi       PI of SOAR<semester>-901, the proposal of the streamed night
    demo-collab   collaborator on SOAR<semester>-901
    demo-pi2      PI of SOAR<semester>-902 (sees none of -901's files)
    demo-staff    staff: sees every proposal

The night is the simulator's (:mod:`pipeline.simulate`): bias, flats, arcs, then science
frames of SOAR<semester>-901, written one whole file at a time into
``$GSP_DATA_ROOT/raw/<YYYYMMDD>/`` as the instrument would, so the gsp service ingests
and reduces them while the browser shows them arrive.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gsp_extension import environment

from .semesters import current_semester

#: Seconds between demo frames unless told otherwise (``GSP_DEMO_INTERVAL``).
DEFAULT_INTERVAL_S = 5.0


@dataclass(frozen=True)
class DemoAccount:
    """One demo person: who they are and what they do in the demo."""

    username: str
    first_name: str
    last_name: str
    role: str
    is_staff: bool = False

    @property
    def email(self) -> str:
        return f"{self.username}@example.org"


DEMO_ACCOUNTS = (
    DemoAccount("demo-pi", "Ana", "Reyes", "PI of {p1}"),
    DemoAccount("demo-collab", "Bruno", "Soto", "collaborator on {p1}"),
    DemoAccount("demo-pi2", "Carla", "Vidal", "PI of {p2}"),
    DemoAccount("demo-staff", "Diego", "Mora", "staff (every proposal)", is_staff=True),
)


@dataclass(frozen=True)
class Credential:
    """A demo account made just now, with its password (shown once, never stored)."""

    username: str
    password: str
    role: str


def demo_proposal_ids(semester: str | None = None) -> tuple[str, str]:
    """The SOAR ids of the two demo proposals, e.g. ``("SOAR2026B-901", "SOAR2026B-902")``."""
    semester = semester or current_semester()
    return f"SOAR{semester}-901", f"SOAR{semester}-902"


def make_password(account: DemoAccount, policy=None) -> str:
    """A random password that the hub's password rules accept for ``account``."""
    from .passwords import PasswordPolicy

    policy = policy or PasswordPolicy()
    who = {
        "username": account.username,
        "first_name": account.first_name,
        "last_name": account.last_name,
        "email": account.email,
    }
    while True:
        password = secrets.token_urlsafe(12)
        if not policy.problems(password, who):
            return password


def ensure_demo_accounts(database_url: str, semester: str | None = None) -> list[Credential]:
    """Create the demo proposals and accounts that do not exist yet.

    Existing accounts and proposals are left exactly as they are (a second ``gsp up
    --demo`` changes nothing and shows no password).

    Returns
    -------
    list of Credential
        The accounts created by this call, with their passwords.
    """
    from gsp_extension.store import Database, upgrade_database
    from gsp_extension.store.accounts import create_user, get_user_by_username
    from gsp_extension.store.proposals import (
        add_collaborator,
        create_proposal,
        get_proposal_by_soar_id,
    )

    from .passwords import PasswordHasher

    semester = semester or current_semester()
    p1, p2 = demo_proposal_ids(semester)
    upgrade_database(database_url)
    db = Database(database_url)
    hasher = PasswordHasher()
    created: list[Credential] = []
    try:
        with db.transaction() as session:
            people = {}
            for account in DEMO_ACCOUNTS:
                user = get_user_by_username(session, account.username)
                if user is None:
                    password = make_password(account)
                    user = create_user(
                        session,
                        account.username,
                        email=account.email,
                        first_name=account.first_name,
                        last_name=account.last_name,
                        is_staff=account.is_staff,
                        password_hash=hasher.hash(password),
                    )
                    created.append(
                        Credential(account.username, password, account.role.format(p1=p1, p2=p2))
                    )
                people[account.username] = user
            if get_proposal_by_soar_id(session, p1) is None:
                proposal = create_proposal(
                    session,
                    p1,
                    semester=semester,
                    title="Demo: a transient's spectrum, streamed live",
                    pi=people["demo-pi"],
                )
                add_collaborator(session, proposal, people["demo-collab"])
            if get_proposal_by_soar_id(session, p2) is None:
                create_proposal(
                    session,
                    p2,
                    semester=semester,
                    title="Demo: another team's proposal",
                    pi=people["demo-pi2"],
                )
    finally:
        db.dispose()
    return created


def demo_interval(environ=None) -> float:
    """``GSP_DEMO_INTERVAL`` (seconds between frames, >= 0) or the default.

    Raises
    ------
    ValueError
        For a value that is not a number >= 0 (the message names the variable).
    """
    return environment.number("GSP_DEMO_INTERVAL", DEFAULT_INTERVAL_S, environ)


def demo_night(date: dt.date | None = None, semester: str | None = None):
    """The simulated night of the demo (a 400 M2, 2x2 night of proposal -901)."""
    from pipeline.simulate import NightConfig

    date = date or dt.date.today()
    return NightConfig(
        mode="400_M2",
        binning=2,
        date=date.isoformat(),
        proposal_id=demo_proposal_ids(semester or current_semester(date))[0],
        flexure_px=1.3,
        n_science=3,
    )


def night_semester(cfg) -> str:
    """The semester of a night's date (that of its proposal ids)."""
    from .semesters import semester_of

    return semester_of(dt.date.fromisoformat(cfg.date))


def stream_demo_night(
    raw_root: str | Path,
    cfg,
    interval_s: float,
    stop: threading.Event,
    on_frame: Callable[[Path, bool], None] | None = None,
) -> int:
    """Write the night's frames into ``raw_root/<YYYYMMDD>/`` one at a time.

    Frames already there (an earlier run) are skipped, not rewritten: raw files are never
    modified. Each file appears whole (written under a hidden name, then renamed).
    Stops early when ``stop`` is set.

    Parameters
    ----------
    on_frame : callable, optional
        Called with ``(path, written)`` for each frame (``written`` is False for a skip).

    Returns
    -------
    int
        The number of frames written by this call.
    """
    from pipeline.simulate import NightSimulator

    night_dir = Path(raw_root) / cfg.date.replace("-", "")
    night_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for frame in NightSimulator(cfg).frames():
        if stop.is_set():
            break
        target = night_dir / frame.name
        if target.exists():
            if on_frame:
                on_frame(target, False)
            continue
        if written and stop.wait(interval_s):
            break
        partial = night_dir / f".{frame.name}.partial"
        try:
            frame.hdul.writeto(partial)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        written += 1
        if on_frame:
            on_frame(target, True)
    return written
