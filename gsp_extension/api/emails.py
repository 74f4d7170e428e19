"""``POST api/email/``: staff send a notification to addresses or a proposal's members."""

from __future__ import annotations

from ..security import require_staff
from ..store import Proposal
from ..store.activity import log_event
from ..store.errors import NotFound
from .base import APIError, GSPHandler
from .schemas import EmailRequest, EmptyQuery


class EmailHandler(GSPHandler):
    async def post(self) -> None:
        self.query(EmptyQuery)
        body = self.body(EmailRequest)

        def recipients(session, caller):
            require_staff(caller, "send notifications")
            to = [a.lower() for a in body.to]
            if body.proposal_id is not None:
                proposal = session.get(Proposal, body.proposal_id)
                if proposal is None:
                    raise NotFound(f"no proposal with id {body.proposal_id}")
                members = ([proposal.pi] if proposal.pi else []) + list(proposal.collaborators)
                to += [u.email for u in members if u.email and u.is_active]
            return list(dict.fromkeys(to))

        to = await self.db(recipients)
        if not to:
            raise APIError(400, "no recipients: give 'to' addresses or a proposal_id with members")
        failed = []
        for address in to:
            try:
                await self.ctx.mailer.asend(address, body.subject, body.message)
            except Exception as exc:  # noqa: BLE001 - report every failed address
                failed.append(f"{address}: {exc}")

        def record(session, caller):
            log_event(
                session,
                f"notification {body.subject!r} sent by {caller.name} to {len(to) - len(failed)} "
                f"address(es)" + (f"; failed: {failed}" if failed else ""),
                level="WARNING" if failed else "INFO",
                event="email.sent",
                user=caller.user,
            )

        await self.db(record, write=True)
        if failed:
            raise APIError(502, f"some messages could not be sent: {failed}")
        self.reply({"detail": f"sent to {len(to)} address(es)", "recipients": to})
