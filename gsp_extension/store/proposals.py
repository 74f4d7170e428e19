"""Proposals, their PI and collaborators, and placeholders for unknown PROPIDs."""

from __future__ import annotations

import re

from sqlalchemy import exists, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import AlreadyExists, InvalidValue, NotFound, PermissionDenied
from .models import Proposal, ReductionSettings, User, proposal_collaborators

_EDITABLE = ("semester", "title", "abstract")
_SEMESTER_IN_ID = re.compile(r"(\d{4}[AB])", re.IGNORECASE)


def _check_soar_id(soar_id: str) -> str:
    if not isinstance(soar_id, str) or not soar_id.strip() or len(soar_id.strip()) > 64:
        raise InvalidValue(
            f"proposal id {soar_id!r} is invalid: give the SOAR id, 1-64 characters "
            "(e.g. 'SOAR2020B-008')"
        )
    return soar_id.strip()


def create_proposal(
    session: Session,
    soar_id: str,
    *,
    semester: str = "",
    title: str = "",
    abstract: str = "",
    pi: User | None = None,
    collaborators: tuple[User, ...] | list[User] = (),
    placeholder: bool = False,
) -> Proposal:
    """Create a proposal and its first reduction settings (version 1, the defaults).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    soar_id : str
        The SOAR proposal id (``"SOAR2020B-008"``), 1-64 characters.
    semester : str
        The semester (``"2020B"``; may be empty).
    title, abstract : str
        The proposal's title and abstract (may be empty).
    pi : User or None
        The principal investigator; ``None`` for none yet.
    collaborators : sequence of User
        Members besides the PI (the PI, if listed, is left out).
    placeholder : bool
        True for a proposal ingest made up for an unknown id, which staff complete later.

    Returns
    -------
    Proposal
        The new proposal, flushed.

    Raises
    ------
    InvalidValue
        A bad SOAR id.
    AlreadyExists
        A proposal has this id.
    """
    soar_id = _check_soar_id(soar_id)
    if get_proposal_by_soar_id(session, soar_id) is not None:
        raise AlreadyExists(f"proposal {soar_id!r} already exists")
    proposal = Proposal(
        soar_id=soar_id,
        semester=semester,
        title=title,
        abstract=abstract,
        pi=pi,
        placeholder=placeholder,
    )
    proposal.collaborators.extend(u for u in collaborators if pi is None or u.id != pi.id)
    session.add(proposal)
    session.flush()
    session.add(ReductionSettings(proposal_id=proposal.id, version=1))
    session.flush()
    return proposal


def semester_of(soar_id: str) -> str:
    """Read the semester a SOAR id names (``SOAR2020B-008`` -> ``2020B``).

    Parameters
    ----------
    soar_id : str
        A SOAR proposal id.

    Returns
    -------
    str
        The semester, upper-case; ``""`` when the id names none.
    """
    match = _SEMESTER_IN_ID.search(soar_id)
    return match.group(1).upper() if match else ""


def check_new_proposal(session: Session, soar_id: str) -> Proposal | None:
    """Refuse a proposal :func:`create_or_complete_proposal` would refuse.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    soar_id : str
        The SOAR proposal id (``"SOAR2020B-008"``), 1-64 characters.

    Returns
    -------
    Proposal or None
        The ingest placeholder of this SOAR id, which creating it completes; ``None``
        when the id is new.

    Raises
    ------
    InvalidValue
        A bad SOAR id.
    AlreadyExists
        A real (not placeholder) proposal has the id.
    """
    soar_id = _check_soar_id(soar_id)
    _refuse_case_variant(session, soar_id)
    existing = get_proposal_by_soar_id(session, soar_id)
    if existing is not None and not existing.placeholder:
        raise AlreadyExists(
            f"proposal {soar_id!r} already exists (id {existing.id}); staff edit it instead"
        )
    return existing


def _refuse_case_variant(session: Session, soar_id: str) -> None:
    """Refuse a SOAR id that differs from an existing one in letter case only.

    Two such proposals would be two hub groups and two sets of members for what
    SOAR means as one proposal (``soar2026b-901`` is ``SOAR2026B-901``).
    """
    other = session.scalar(
        select(Proposal).where(
            func.lower(Proposal.soar_id) == soar_id.lower(), Proposal.soar_id != soar_id
        )
    )
    if other is not None:
        raise AlreadyExists(
            f"proposal {other.soar_id!r} (id {other.id}) already exists and differs from "
            f"{soar_id!r} in letter case only; use {other.soar_id!r}"
        )


def create_or_complete_proposal(
    session: Session,
    soar_id: str,
    *,
    title: str,
    abstract: str = "",
    semester: str | None = None,
    pi: User | None = None,
    by: User | None = None,
) -> tuple[Proposal, bool]:
    """Create a proposal, or complete the placeholder ingest made for the same SOAR id.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    soar_id : str
        The SOAR proposal id (``"SOAR2020B-008"``), 1-64 characters.
    title : str
        The proposal's title.
    abstract : str
        Its abstract (may be empty).
    semester : str, optional
        ``None`` takes it from the SOAR id (``SOAR2020B-008`` -> ``2020B``).
    pi : User or None
        The principal investigator; ``None`` for none yet.
    by : User, optional
        The acting user, who must be staff; ``None`` means the system.

    Returns
    -------
    (Proposal, bool)
        The proposal and whether it was a placeholder now completed.

    Raises
    ------
    PermissionDenied, InvalidValue, AlreadyExists
    """
    if by is not None and not by.is_staff:
        raise PermissionDenied(f"user {by.username!r} is not staff; only staff create proposals")
    placeholder = check_new_proposal(session, soar_id)
    soar_id = _check_soar_id(soar_id)
    semester = semester_of(soar_id) if semester is None else semester
    if placeholder is None:
        proposal = create_proposal(
            session, soar_id, semester=semester, title=title, abstract=abstract, pi=pi
        )
        return proposal, False
    update_proposal(session, placeholder, pi=pi, semester=semester, title=title, abstract=abstract)
    # Completed by staff even without a PI: it is no longer ingest's guess.
    placeholder.placeholder = False
    session.flush()
    return placeholder, True


def get_proposal(session: Session, proposal_id: int) -> Proposal:
    """Fetch the proposal with this integer id.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    proposal_id : int
        The proposal's database id.

    Returns
    -------
    Proposal
        The proposal.

    Raises
    ------
    NotFound
        No proposal has this id.
    """
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound(f"no proposal with id {proposal_id}")
    return proposal


def get_proposal_by_soar_id(session: Session, soar_id: str) -> Proposal | None:
    """Fetch the proposal with this SOAR id.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    soar_id : str
        The exact SOAR id (case-sensitive).

    Returns
    -------
    Proposal or None
        The proposal, or ``None`` when none has this id.
    """
    return session.scalar(select(Proposal).where(Proposal.soar_id == soar_id))


def ensure_proposal(session: Session, soar_id: str) -> tuple[Proposal, bool]:
    """The proposal with this SOAR id, created as a placeholder when unknown.

    Safe against a concurrent creation of the same id by another process.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    soar_id : str
        The SOAR proposal id (``"SOAR2020B-008"``), 1-64 characters.

    Returns
    -------
    (Proposal, bool)
        The proposal and whether it was created now.

    Raises
    ------
    InvalidValue
        A bad SOAR id.
    """
    soar_id = _check_soar_id(soar_id)
    existing = get_proposal_by_soar_id(session, soar_id)
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            proposal = create_proposal(
                session,
                soar_id,
                title=f"Placeholder for {soar_id} (created by ingest; staff to complete)",
                placeholder=True,
            )
    except (IntegrityError, AlreadyExists):
        existing = get_proposal_by_soar_id(session, soar_id)
        if existing is None:
            raise
        return existing, False
    return proposal, True


def update_proposal(
    session: Session,
    proposal: Proposal,
    *,
    by: User | None = None,
    pi: User | None = None,
    **fields: str,
) -> Proposal:
    """Change semester, title, abstract or PI; a placeholder with a PI becomes real.

    Only staff (or the system, ``by=None``) may do this.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    proposal : Proposal
        The proposal to change.
    by : User or None
        The acting user, who must be staff; ``None`` means the system.
    pi : User or None
        The new PI (removed from the collaborators if there); ``None`` keeps the PI.
    **fields : str
        New ``semester``, ``title`` or ``abstract``.

    Returns
    -------
    Proposal
        The proposal, changed and flushed.

    Raises
    ------
    PermissionDenied
        ``by`` is not staff.
    InvalidValue
        A field that cannot be edited.
    """
    if by is not None and not by.is_staff:
        raise PermissionDenied(f"user {by.username!r} is not staff; only staff edit proposals")
    unknown = sorted(set(fields) - set(_EDITABLE))
    if unknown:
        raise InvalidValue(f"unknown proposal fields {unknown}; editable: {list(_EDITABLE)}")
    for name, value in fields.items():
        setattr(proposal, name, value)
    if pi is not None:
        proposal.pi = pi
        if pi in proposal.collaborators:
            proposal.collaborators.remove(pi)
        proposal.placeholder = False
    session.flush()
    return proposal


def add_collaborator(session: Session, proposal: Proposal, user: User) -> Proposal:
    """Add ``user`` to the proposal's collaborators (no-op if already a member).

    Who may is the access policy's (:meth:`gsp_extension.security.AccessPolicy.may_manage`).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    proposal : Proposal
        The proposal.
    user : User
        The new collaborator (nothing changes if they are the PI or a collaborator).

    Returns
    -------
    Proposal
        The proposal.
    """
    if proposal.pi_id != user.id and user not in proposal.collaborators:
        proposal.collaborators.append(user)
    session.flush()
    return proposal


def remove_collaborator(session: Session, proposal: Proposal, user: User) -> Proposal:
    """Remove ``user`` from the collaborators (no-op if not one).

    Who may is the access policy's (:meth:`gsp_extension.security.AccessPolicy.may_manage`).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    proposal : Proposal
        The proposal.
    user : User
        The collaborator to remove (the PI is not removed this way).

    Returns
    -------
    Proposal
        The proposal.
    """
    if user in proposal.collaborators:
        proposal.collaborators.remove(user)
    session.flush()
    return proposal


def _member_clause(user_id: int):
    """SQL condition "the user is the PI or a collaborator" on ``Proposal``."""
    return or_(
        Proposal.pi_id == user_id,
        exists().where(
            proposal_collaborators.c.proposal_id == Proposal.id,
            proposal_collaborators.c.user_id == user_id,
        ),
    )


def proposals_of_user(session: Session, user: User) -> list[Proposal]:
    """List the proposals where ``user`` is PI or collaborator, by SOAR id.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    user : User
        The account.

    Returns
    -------
    list of Proposal
        The proposals, sorted by SOAR id.
    """
    return list(
        session.scalars(select(Proposal).where(_member_clause(user.id)).order_by(Proposal.soar_id))
    )


def is_member(session: Session, user: User, proposal: Proposal) -> bool:
    """Tell whether ``user`` is the PI or a collaborator of ``proposal``.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    user : User
        The account.
    proposal : Proposal
        The proposal.

    Returns
    -------
    bool
        True for its PI and its collaborators (staff are not members as such).
    """
    if proposal.pi_id == user.id:
        return True
    return bool(
        session.scalar(
            select(
                exists().where(
                    proposal_collaborators.c.proposal_id == proposal.id,
                    proposal_collaborators.c.user_id == user.id,
                )
            )
        )
    )


def member_soar_ids(user_id: int):
    """Build a sub-query of the SOAR ids of the proposals ``user_id`` belongs to.

    Parameters
    ----------
    user_id : int
        The account's id.

    Returns
    -------
    sqlalchemy.Select
        ``select(Proposal.soar_id)`` of the proposals where the user is PI or
        collaborator, for ``column.in_(...)``.
    """
    return select(Proposal.soar_id).where(_member_clause(user_id))


def member_proposal_ids(user_id: int):
    """Build a sub-query of the integer ids of the proposals ``user_id`` belongs to.

    Parameters
    ----------
    user_id : int
        The account's id.

    Returns
    -------
    sqlalchemy.Select
        ``select(Proposal.id)`` of the proposals where the user is PI or collaborator.
    """
    return select(Proposal.id).where(_member_clause(user_id))
