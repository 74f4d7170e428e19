"""Callers, and the checks handlers call: each asks the one :class:`AccessPolicy`.

The rules themselves are :class:`~gsp_extension.security.access.AccessPolicy`'s; the
functions here turn its answers into the errors the API sends (:class:`NotFound` where
existence must not leak, :class:`PermissionDenied` with the reason otherwise).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from ..store import Comment, File, Job, NotFound, PermissionDenied, Proposal, User
from ..store.accounts import get_user_by_username
from .access import MASTER, RAW, AccessPolicy


@dataclass(frozen=True)
class Caller:
    """The authenticated party of one request.

    Attributes
    ----------
    name : str
        Hub name of the user or service.
    kind : str
        ``"user"`` or ``"service"`` (the hub's token kinds).
    user : User or None
        The app account (``None`` for a service such as the instrument).
    instrument : bool
        Whether the caller is one of the configured instrument names.
    proposal_ids : frozenset of str or None
        SOAR ids of the proposals the caller belongs to, when already resolved (see
        :class:`~gsp_extension.security.callers.CallerCache`); ``None`` means "ask the
        database".
    """

    name: str
    kind: str
    user: User | None
    instrument: bool = False
    proposal_ids: frozenset[str] | None = None

    @property
    def is_staff(self) -> bool:
        return self.user is not None and self.user.is_active and self.user.is_staff

    @property
    def is_superuser(self) -> bool:
        return self.is_staff and bool(self.user and self.user.is_superuser)

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user is not None else None


def resolve_caller(
    session: Session, hub_model: Mapping[str, Any], instrument_names: Collection[str]
) -> Caller:
    """Map the hub's identity of a request to a :class:`Caller` with its app account.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The request's database session.
    hub_model : mapping
        The hub's model of the token's owner: ``name`` and ``kind`` (``"user"`` or
        ``"service"``).
    instrument_names : collection of str
        Hub names of the instrument (services or users allowed to register files).

    Returns
    -------
    Caller
        The caller with its active app account (``None`` for the instrument without one).

    Raises
    ------
    PermissionDenied
        When the hub user has no active app account and is not the instrument.
    """
    name = str(hub_model.get("name") or "")
    kind = str(hub_model.get("kind") or "user")
    instrument = name in instrument_names
    user = get_user_by_username(session, name) if kind == "user" else None
    if user is not None and not user.is_active:
        raise PermissionDenied(f"account {name!r} is deactivated; ask the staff to restore it")
    if user is None and not instrument:
        raise PermissionDenied(
            f"{kind} {name!r} has no GSP Live account; ask the staff or a proposal's PI to add you"
        )
    return Caller(name=name, kind=kind, user=user, instrument=instrument)


def require_user(caller: Caller) -> User:
    """Give the caller's app account; services without one are refused.

    Parameters
    ----------
    caller : Caller
        The authenticated party of the request.

    Returns
    -------
    User
        The caller's account.

    Raises
    ------
    PermissionDenied
        The caller has no app account (the instrument): it may only register files.
    """
    if caller.user is None:
        raise PermissionDenied(f"{caller.kind} {caller.name!r} may only register files")
    return caller.user


def require_staff(caller: Caller, action: str) -> None:
    """Refuse anyone but staff, naming the action.

    Parameters
    ----------
    caller : Caller
        The authenticated party of the request.
    action : str
        What the caller asked to do, for the message (``"create staff users"``).

    Raises
    ------
    PermissionDenied
        The caller is not active staff.
    """
    if not caller.is_staff:
        raise PermissionDenied(f"only staff may {action}")


# --- files -----------------------------------------------------------------------------


def get_visible_file(session: Session, caller: Caller, file_id: int) -> File:
    """The file, if it exists, is not deleted and the caller may see it.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The request's database session.
    caller : Caller
        The authenticated party of the request.
    file_id : int
        The file's id.

    Returns
    -------
    File
        The file.

    Raises
    ------
    NotFound
        Whether the file does not exist or belongs to a proposal the caller is not in:
        the two cases answer the same, so ids of other proposals do not leak.
    """
    file = AccessPolicy(session, caller).get(File, file_id)
    if file is None or file.deleted_at is not None:
        raise NotFound(f"no file with id {file_id} that you may see")
    return file


def can_delete_file(session: Session, caller: Caller, file: File) -> bool:
    """Tell whether the caller may delete a file: products by members and staff, raw by nobody.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The request's database session.
    caller : Caller
        The authenticated party of the request.
    file : File
        A file the caller can see.

    Returns
    -------
    bool
        True when :meth:`AccessPolicy.may_delete_file` allows it.
    """
    return AccessPolicy(session, caller).may_delete_file(file)


def require_can_delete_file(session: Session, caller: Caller, file: File) -> None:
    """Raise unless the caller may delete this (visible) file.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The request's database session.
    caller : Caller
        The authenticated party of the request.
    file : File
        A file the caller can see.

    Raises
    ------
    PermissionDenied
        Raw data (never deleted), or a file the caller may not delete (a master
        calibration for non-staff, another proposal's product); the message says which.
    """
    if file.data_type == RAW:
        raise PermissionDenied(
            f"file {file.id} ({file.file_name}) is raw data: raw data cannot be deleted"
        )
    if not can_delete_file(session, caller, file):
        raise PermissionDenied(
            f"you may not delete file {file.id}: master calibrations are deleted by staff, "
            "other products by members of their proposal"
        )


def require_can_act_on_file(session: Session, caller: Caller, file: File, action: str) -> None:
    """Actions (reduce, extract, calibrate...) need membership of the file's proposal.

    Master calibrations are shared by every proposal, so only staff act on them.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The request's database session.
    caller : Caller
        The authenticated party of the request.
    file : File
        A file the caller can see.
    action : str
        The action asked for, for the message (``"reduce"``, ``"calibrate"``).

    Raises
    ------
    PermissionDenied
        The caller is not a member of the file's proposal (nor staff), or the file is a
        shared master calibration and the caller is not staff.
    """
    if AccessPolicy(session, caller).may_act_on_file(file):
        return
    if file.data_type == MASTER or file.proposal_id is None:
        raise PermissionDenied(
            f"only staff may {action} file {file.id}: it is a shared calibration, not a "
            "proposal's file"
        )
    require_user(caller)
    raise PermissionDenied(f"only members of {file.proposal_id} may {action} file {file.id}")


def require_can_register_files(caller: Caller) -> None:
    """Refuse anyone but staff and the instrument to register files.

    Parameters
    ----------
    caller : Caller
        The authenticated party of the request.

    Raises
    ------
    PermissionDenied
        The caller is neither staff nor the instrument.
    """
    if not AccessPolicy(None, caller).may_register_files():
        raise PermissionDenied("only staff or the instrument may register files")


# --- proposals -------------------------------------------------------------------------


def get_visible_proposal(session: Session, caller: Caller, proposal_id: int) -> Proposal:
    """The proposal, if the caller is a member or staff.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The request's database session.
    caller : Caller
        The authenticated party of the request.
    proposal_id : int
        The proposal's database id.

    Returns
    -------
    Proposal
        The proposal.

    Raises
    ------
    NotFound
        For unknown proposals and proposals the caller does not belong to alike.
    """
    proposal = AccessPolicy(session, caller).get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound(f"no proposal with id {proposal_id} that you belong to")
    return proposal


def require_can_manage_collaborators(caller: Caller, proposal: Proposal) -> User:
    """Refuse anyone but the proposal's PI and staff to add or remove collaborators.

    Parameters
    ----------
    caller : Caller
        The authenticated party of the request.
    proposal : Proposal
        A proposal the caller can see.

    Returns
    -------
    User
        The caller's account (the one acting).

    Raises
    ------
    PermissionDenied
        The caller has no account, or is neither the PI nor staff.
    """
    user = require_user(caller)
    if not AccessPolicy(None, caller).may_manage(proposal):
        raise PermissionDenied(
            f"only the PI of {proposal.soar_id} and staff add or remove collaborators"
        )
    return user


def require_can_edit_settings(caller: Caller, proposal: Proposal) -> User:
    """Refuse anyone but the PI and staff to edit reduction settings (members read them).

    Parameters
    ----------
    caller : Caller
        The authenticated party of the request.
    proposal : Proposal
        A proposal the caller can see.

    Returns
    -------
    User
        The caller's account (the one editing).

    Raises
    ------
    PermissionDenied
        The caller has no account, or is neither the PI nor staff.
    """
    user = require_user(caller)
    if not AccessPolicy(None, caller).may_manage(proposal):
        raise PermissionDenied(
            f"only the PI of {proposal.soar_id} and staff edit its reduction settings"
        )
    return user


# --- jobs, logs, comments -----------------------------------------------------------------


def get_visible_job(session: Session, caller: Caller, job_id: int) -> Job:
    """Fetch a job the caller may see.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The request's database session.
    caller : Caller
        The authenticated party of the request.
    job_id : int
        The job's id.

    Returns
    -------
    Job
        The job.

    Raises
    ------
    NotFound
        For unknown jobs and jobs the caller may not see alike (ids do not leak).
    """
    job = AccessPolicy(session, caller).get(Job, job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id} that you may see")
    return job


def log_clause(caller: Caller, session: Session | None = None) -> ColumnElement[bool]:
    """Give the SQL condition on ``LogEntry`` rows the caller may read (:meth:`AccessPolicy.logs`).

    Parameters
    ----------
    caller : Caller
        The authenticated party of the request.
    session : sqlalchemy.orm.Session or None
        The request's session; the condition is a sub-query on memberships and needs
        none (``None`` is fine).

    Returns
    -------
    sqlalchemy.ColumnElement
        A boolean clause for ``select(LogEntry).where(...)``.
    """
    return AccessPolicy(session, caller).logs()


def require_can_delete_comment(caller: Caller, comment: Comment) -> None:
    """Refuse anyone but the author and staff to delete a comment.

    Parameters
    ----------
    caller : Caller
        The authenticated party of the request.
    comment : Comment
        A comment the caller can see.

    Raises
    ------
    PermissionDenied
        The caller is neither its author nor staff.
    """
    if not AccessPolicy(None, caller).may_delete_comment(comment):
        raise PermissionDenied(f"only the author of comment {comment.id} and staff delete it")
