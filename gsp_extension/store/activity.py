"""Log entries for the seed's Logs view, and comments on files."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import InvalidValue
from .models import LOG_LEVELS, Comment, File, Job, LogEntry, Proposal, User
from .proposals import get_proposal_by_soar_id


def log_event(
    session: Session,
    message: str,
    *,
    level: str = "INFO",
    event: str | None = None,
    file: File | None = None,
    proposal: Proposal | None = None,
    user: User | None = None,
    job: Job | None = None,
    flush: bool = True,
) -> LogEntry:
    """Store an event that matters to people; a file's proposal is filled in for it.

    Pass ``proposal`` when known (saves a look-up) and ``flush=False`` when adding many.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    message : str
        What happened, in words people read (never empty).
    level : str
        One of ``LOG_LEVELS`` (``"INFO"``, ``"WARNING"``, ``"ERROR"``...).
    event : str or None
        A short machine-readable kind (``"file_deleted"``), or ``None``.
    file, proposal, user, job : model or None
        What the event concerns; each ``None`` when not relevant. ``proposal`` defaults
        to the file's.
    flush : bool
        False skips the flush (the entry gets its id at the next flush or commit).

    Returns
    -------
    LogEntry
        The new entry.

    Raises
    ------
    InvalidValue
        An unknown level or an empty message.
    """
    if level not in LOG_LEVELS:
        raise InvalidValue(f"log level {level!r} is not one of {list(LOG_LEVELS)}")
    if not message:
        raise InvalidValue("a log entry needs a message")
    if proposal is None and file is not None and file.proposal_id is not None:
        proposal = get_proposal_by_soar_id(session, file.proposal_id)
    entry = LogEntry(
        message=message,
        level=level,
        event=event,
        file_id=file.id if file is not None else None,
        proposal_id=proposal.id if proposal is not None else None,
        user_id=user.id if user is not None else None,
        job_id=job.id if job is not None else None,
    )
    session.add(entry)
    if flush:
        session.flush()
    return entry


def add_comment(session: Session, file: File, user: User, text: str) -> Comment:
    """Add a comment by ``user`` on ``file`` (visibility is the caller's check).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    file : File
        The file commented on.
    user : User
        The author.
    text : str
        The comment (stripped; must not be empty).

    Returns
    -------
    Comment
        The new comment, flushed.

    Raises
    ------
    InvalidValue
        An empty text.
    """
    text = (text or "").strip()
    if not text:
        raise InvalidValue("a comment needs some text")
    comment = Comment(file_id=file.id, user_id=user.id, text=text)
    session.add(comment)
    session.flush()
    return comment


def comments_on(session: Session, file_id: int) -> list[Comment]:
    """List the comments on a file, oldest first.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    file_id : int
        The file's id.

    Returns
    -------
    list of Comment
        The comments, by id.
    """
    return list(
        session.scalars(select(Comment).where(Comment.file_id == file_id).order_by(Comment.id))
    )
