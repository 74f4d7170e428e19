"""SOAR semesters and the default SOAR id of a new proposal (``SOAR2026B-004``).

NOIRLab/SOAR semesters: A runs from 1 February to 31 July, B from 1 August to
31 January of the next year (so January 2027 still belongs to 2026B).
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import InvalidValue
from .models import Proposal

_SEMESTER = re.compile(r"^(\d{4})([AB])$")


def semester_of(day: dt.date) -> str:
    """Give the semester a date belongs to, e.g. ``"2026B"``.

    SOAR's semesters: A from February to July, B from August to January (January counts
    for the previous year's B).

    Parameters
    ----------
    day : datetime.date
        The date.

    Returns
    -------
    str
        ``"<year>A"`` or ``"<year>B"``.
    """
    if day.month == 1:
        return f"{day.year - 1}B"
    return f"{day.year}{'A' if day.month <= 7 else 'B'}"


def current_semester(today: dt.date | None = None) -> str:
    """Give the semester of today (UTC).

    Parameters
    ----------
    today : datetime.date or None
        The date to use instead of today (tests, replays); ``None`` for today in UTC.

    Returns
    -------
    str
        For example ``"2026B"``.
    """
    return semester_of(today or dt.datetime.now(dt.UTC).date())


def check_semester(semester: str) -> str:
    """Validate ``YYYYA`` / ``YYYYB`` (upper-cases the letter).

    Parameters
    ----------
    semester : str
        The semester as typed (``"2026b"``, surrounding spaces allowed).

    Returns
    -------
    str
        The semester in canonical form (``"2026B"``).

    Raises
    ------
    InvalidValue
        Not a year and A or B (also a ``ValueError``).
    """
    value = (semester or "").strip().upper()
    if not _SEMESTER.match(value):
        raise InvalidValue(f"semester {semester!r} is invalid: use a year and A or B, e.g. 2026B")
    return value


def next_soar_id(session: Session, semester: str) -> str:
    """Give the next proposal id of a semester: ``SOAR<semester>-<NNN>``.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    semester : str
        The semester (checked by :func:`check_semester`).

    Returns
    -------
    str
        One more than the highest number used in that semester (``-001`` for the first).

    Raises
    ------
    InvalidValue
        A bad semester.
    """
    semester = check_semester(semester)
    prefix = f"SOAR{semester}-"
    used = session.scalars(select(Proposal.soar_id).where(Proposal.soar_id.startswith(prefix)))
    numbers = [int(s[len(prefix) :]) for s in used if s[len(prefix) :].isdigit()]
    return f"{prefix}{max(numbers, default=0) + 1:03d}"
