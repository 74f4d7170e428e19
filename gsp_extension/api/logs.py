"""``GET api/logs/``: the events that matter to people, newest first."""

from __future__ import annotations

from sqlalchemy import select

from ..security import log_clause
from ..store import LogEntry
from ..store.models import LOG_LEVELS
from .base import GSPHandler
from .schemas import LogQuery


def log_record(entry: LogEntry) -> dict:
    return {
        "id": entry.id,
        "time": entry.time.isoformat(),
        "level": entry.level,
        "event": entry.event,
        "message": entry.message,
        "file_id": entry.file_id,
        "proposal_id": entry.proposal_id,
        "job_id": entry.job_id,
        "user_id": entry.user_id,
    }


def visible_entries(
    session,
    caller,
    *,
    after_id=None,
    before_id=None,
    proposal_id=None,
    file_id=None,
    level=None,
    limit=100,
    oldest_first=False,
):
    """Log entries the caller may see (see :func:`gsp_extension.security.log_clause`)."""
    query = select(LogEntry).where(log_clause(caller, session))
    if proposal_id is not None:
        query = query.where(LogEntry.proposal_id == proposal_id)
    if file_id is not None:
        query = query.where(LogEntry.file_id == file_id)
    if level is not None:
        query = query.where(LogEntry.level.in_(LOG_LEVELS[LOG_LEVELS.index(level) :]))
    if before_id is not None:
        query = query.where(LogEntry.id < before_id)
    if after_id is not None:
        query = query.where(LogEntry.id > after_id)
    order = LogEntry.id.asc() if oldest_first else LogEntry.id.desc()
    return list(session.scalars(query.order_by(order).limit(limit)))


class LogListHandler(GSPHandler):
    async def get(self) -> None:
        q = self.query(LogQuery)

        def work(session, caller):
            rows = visible_entries(
                session,
                caller,
                before_id=q.before_id,
                proposal_id=q.proposal_id,
                file_id=q.file_id,
                level=q.level,
                limit=q.limit,
            )
            return {"results": [log_record(e) for e in rows]}

        self.reply(await self.db(work))
