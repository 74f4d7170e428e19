"""``GET api/``: the service is up, and who is asking."""

from __future__ import annotations

from ..store.types import utcnow
from .base import GSPHandler
from .schemas import EmptyQuery, StatusResponse


class StatusHandler(GSPHandler):
    async def get(self) -> None:
        self.query(EmptyQuery)
        from .. import __version__

        def work(session, caller):
            return StatusResponse(
                status="ok",
                version=__version__,
                user=caller.name,
                staff=caller.is_staff,
                database=session.get_bind().dialect.name,
                time=utcnow(),
            )

        self.reply(await self.db(work))
