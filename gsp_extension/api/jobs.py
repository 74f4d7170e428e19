"""``api/jobs/``: the state of queued work, as the job rows record it."""

from __future__ import annotations

from ..security import get_visible_job
from ..store import jobs as store_jobs
from .base import GSPHandler
from .queries import list_jobs
from .schemas import EmptyQuery, JobListQuery


class JobListHandler(GSPHandler):
    async def get(self) -> None:
        q = self.query(JobListQuery)
        ctx = self.ctx
        size = self.page_size(q.page_size)

        def work(session, caller):
            page = list_jobs(
                session,
                caller,
                state=q.state,
                file_id=q.file_id,
                page=q.page,
                page_size=size,
                bound=ctx.count_bound,
            )
            return self.page_answer(page, q.page, [store_jobs.job_record(j) for j in page.rows])

        self.reply(await self.db(work))


class JobDetailHandler(GSPHandler):
    async def get(self, job_id: str) -> None:
        self.query(EmptyQuery)
        jid = self.int_arg(job_id, "job id")
        self.reply(await self.db(lambda s, c: store_jobs.job_record(get_visible_job(s, c, jid))))
