"""``GET api/events/``: server-sent events, only those the caller may see.

Events are the rows of the log table (``LogEntry``): the API, ingest and the job
engine record what happens there, from any process or worker, so tailing the table
gives one ordered stream with ids a client can resume from (``Last-Event-ID`` or
``?after_id=``). Each poll re-reads the caller's account and memberships, so a removed
collaborator stops receiving a proposal's events at once.
"""

from __future__ import annotations

import asyncio
import json
import time

from sqlalchemy import func, select
from tornado.iostream import StreamClosedError

from ..store import LogEntry
from .base import APIError, GSPHandler
from .logs import log_record, visible_entries
from .schemas import EventsQuery

BATCH = 200


def sse_message(entry_id: int, event: str, data: dict) -> str:
    """One SSE message (``id``, ``event``, one ``data`` line of JSON)."""
    return f"id: {entry_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n"


def _poll(session, caller, since: int) -> tuple[list[dict], int]:
    """Records of the entries after ``since`` the caller may see, and the id to go on
    from: past entries the caller may not see too, unless a batch was cut short."""
    newest = session.scalar(select(func.max(LogEntry.id))) or since
    rows = visible_entries(session, caller, after_id=since, limit=BATCH, oldest_first=True)
    rows = [e for e in rows if e.id <= newest]
    return [log_record(e) for e in rows], (
        rows[-1].id if len(rows) == BATCH else max(newest, since)
    )


class EventsHandler(GSPHandler):
    async def _start_id(self, after: int | None) -> int:
        """Where the stream starts: ``?after_id``, else ``Last-Event-ID``, else now."""
        last_event = self.request.headers.get("Last-Event-ID")
        if after is None and last_event:
            if not last_event.isdigit():
                raise APIError(400, f"Last-Event-ID {last_event!r} is not an event id")
            after = int(last_event)
        if after is None:
            after = await self.db(
                lambda s, c: s.scalar(select(func.coalesce(func.max(LogEntry.id), 0)))
            )
        return after

    async def get(self) -> None:
        q = self.query(EventsQuery)
        after = await self._start_id(q.after_id)
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        try:
            self.write(f"retry: 3000\n: stream of events after id {after}\n\n")
            await self.flush()
            await self._stream(after)
        except StreamClosedError:
            return
        finally:
            if not self._finished:
                try:
                    self.finish(set_content_type="text/event-stream")
                except Exception:  # noqa: BLE001 - the client is gone
                    pass

    async def _stream(self, after: int) -> None:
        """Send new entries as they come, a keep-alive comment when idle; returns when
        the caller's account goes away."""
        ctx = self.ctx
        last_write = time.monotonic()
        while True:
            try:
                records, after = await self.db(lambda s, c, since=after: _poll(s, c, since))
            except APIError:
                return  # account removed or deactivated meanwhile: end the stream
            for record in records:
                self.write(sse_message(record["id"], record["event"] or "log", record))
            if records:
                await self.flush()
                last_write = time.monotonic()
            elif time.monotonic() - last_write > ctx.events_keepalive:
                self.write(": keep-alive\n\n")
                await self.flush()
                last_write = time.monotonic()
            await asyncio.sleep(ctx.events_poll_interval)
