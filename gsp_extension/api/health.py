"""``GET api/health/``: is live processing running, and keeping up? (staff only)."""

from __future__ import annotations

from ..engine.health import health_report
from ..security import require_staff
from .base import GSPHandler
from .schemas import EmptyQuery, HealthResponse


class HealthHandler(GSPHandler):
    async def get(self) -> None:
        self.query(EmptyQuery)
        data_root = self.ctx.data_root

        def work(session, caller):
            require_staff(caller, "see the processing health")
            return HealthResponse.model_validate(health_report(session, data_root))

        self.reply(await self.db(work, snapshot=False))
