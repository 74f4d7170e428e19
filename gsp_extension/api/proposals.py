"""``api/proposals/``: list, detail, reduction settings, collaborators."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..security import (
    get_visible_proposal,
    require_can_edit_settings,
    require_can_manage_collaborators,
)
from ..store import InvalidValue, NotFound, PermissionDenied, User
from ..store import accounts as store_accounts
from ..store import proposals as store_proposals
from ..store import settings as store_settings
from ..store.activity import log_event
from ..store.serialize import proposal_record
from .base import APIError, GSPHandler
from .hub import HubError
from .queries import list_proposals
from .schemas import CollaboratorChange, EmptyQuery, PageQuery, SettingsUpdate


class ProposalListHandler(GSPHandler):
    async def get(self) -> None:
        q = self.query(PageQuery)
        ctx = self.ctx
        size = q.page_size or ctx.default_page_size

        def work(session, caller):
            page = list_proposals(
                session, caller, page=q.page, page_size=size, bound=ctx.count_bound
            )
            return {
                "count": page.count,
                "count_is_estimate": page.estimated,
                "next": self.page_url(q.page + 1) if page.has_next else None,
                "previous": self.page_url(q.page - 1) if q.page > 1 else None,
                "results": [proposal_record(p, tz=ctx.tz) for p in page.rows],
            }

        self.reply(await self.db(work))


class ProposalDetailHandler(GSPHandler):
    async def get(self, proposal_id: str) -> None:
        self.query(EmptyQuery)
        pid = self.int_arg(proposal_id, "proposal id")
        tz = self.ctx.tz
        self.reply(
            await self.db(lambda s, c: proposal_record(get_visible_proposal(s, c, pid), tz=tz))
        )


class SettingsHandler(GSPHandler):
    async def get(self, proposal_id: str) -> None:
        self.query(EmptyQuery)
        pid = self.int_arg(proposal_id, "proposal id")

        def work(session, caller):
            proposal = get_visible_proposal(session, caller, pid)
            return store_settings.settings_record(store_settings.get_settings(session, proposal.id))

        self.reply(await self.db(work))

    async def put(self, proposal_id: str) -> None:
        self.query(EmptyQuery)
        pid = self.int_arg(proposal_id, "proposal id")
        body = self.body(SettingsUpdate)
        changes = body.model_dump(exclude_unset=True)

        def work(session, caller):
            proposal = get_visible_proposal(session, caller, pid)
            user = require_can_edit_settings(caller, proposal)
            before = store_settings.get_settings(session, proposal.id)
            row = store_settings.put_settings(session, proposal, changes, by=user)
            if row.id != before.id:
                session.flush()
                log_event(
                    session,
                    f"reduction settings of {proposal.soar_id} changed by {caller.name} "
                    f"(version {row.version}): {sorted(changes)}",
                    event="settings.changed",
                    proposal=proposal,
                    user=user,
                )
            return store_settings.settings_record(row)

        self.reply(await self.db(work, write=True))


# --- collaborators ---------------------------------------------------------------------------

_NAME_CHARS = re.compile(r"[^a-z0-9._-]+")


def username_for_email(session, email: str) -> str:
    """A free username made from an address's local part (``user@x.org`` -> ``user``)."""
    base = _NAME_CHARS.sub("", email.split("@", 1)[0].lower())[:30] or "user"
    name, n = base, 1
    while store_accounts.get_user_by_username(session, name) is not None:
        n += 1
        name = f"{base}{n}"
    return name


@dataclass(frozen=True)
class CollaboratorPlan:
    soar_id: str
    username: str
    new_user: bool


def _plan(session, caller, pid: int, change: CollaboratorChange) -> CollaboratorPlan:
    proposal = get_visible_proposal(session, caller, pid)
    require_can_manage_collaborators(caller, proposal)
    email = store_accounts.normalize_email(change.email)
    target = store_accounts.get_user_by_email(session, email)
    if target is not None and caller.user is not None and target.id == caller.user.id:
        raise PermissionDenied(
            f"you cannot {change.action} yourself as a collaborator of {proposal.soar_id}"
        )
    if change.action == "remove":
        if target is None or target not in proposal.collaborators:
            what = (
                "the PI"
                if target is not None and proposal.pi_id == target.id
                else "not a collaborator"
            )
            raise NotFound(f"{email} is {what} of {proposal.soar_id}; nothing to remove")
        return CollaboratorPlan(proposal.soar_id, target.username, False)
    if target is not None:
        if not target.is_active:
            raise InvalidValue(f"the account of {email} is deactivated; ask the staff")
        return CollaboratorPlan(proposal.soar_id, target.username, False)
    return CollaboratorPlan(proposal.soar_id, username_for_email(session, email), True)


class CollaboratorsHandler(GSPHandler):
    """``POST api/proposals/collaborators/<id>/`` with ``{"email", "action"}``.

    The seed's example sends this as a GET with a body; a GET never changes state, so
    it answers 405 naming POST.
    """

    async def post(self, proposal_id: str) -> None:
        self.query(EmptyQuery)
        pid = self.int_arg(proposal_id, "proposal id")
        change = self.body(CollaboratorChange)
        ctx = self.ctx
        plan = await self.db(lambda s, c: _plan(s, c, pid, change))

        # The hub mirror first: if the hub refuses, nothing is recorded in the app DB.
        if ctx.hub is not None:
            try:
                if change.action == "add":
                    await ctx.hub.ensure_user(plan.username)
                    await ctx.hub.add_to_group(plan.soar_id, [plan.username])
                else:
                    await ctx.hub.remove_from_group(plan.soar_id, [plan.username])
            except HubError as exc:
                raise APIError(
                    502, f"the hub refused the change, nothing was done: {exc}"
                ) from None

        def work(session, caller):
            again = _plan(session, caller, pid, change)
            if again != plan:
                raise APIError(409, "the proposal changed meanwhile; send the request again")
            proposal = get_visible_proposal(session, caller, pid)
            by = caller.user
            if change.action == "add":
                user = (
                    store_accounts.create_user(session, plan.username, email=change.email)
                    if plan.new_user
                    else store_accounts.get_user_by_username(session, plan.username)
                )
                store_proposals.add_collaborator(session, proposal, user, by=by)
            else:
                user = store_accounts.get_user_by_username(session, plan.username)
                store_proposals.remove_collaborator(session, proposal, user, by=by)
            verb = "added to" if change.action == "add" else "removed from"
            log_event(
                session,
                f"{user.username} <{user.email}> {verb} {proposal.soar_id} by {caller.name}"
                + (" (new account)" if plan.new_user else ""),
                event=f"collaborator.{change.action}",
                proposal=proposal,
                user=by,
            )
            session.flush()
            session.refresh(proposal)
            return proposal_record(proposal, tz=ctx.tz), user

        record, user = await self.db(work, write=True)
        if plan.new_user:
            await self._invite(user)
        self.reply(record)

    async def _invite(self, user: User) -> None:
        try:
            await self.ctx.mailer.ainvite(user)
        except Exception as exc:  # noqa: BLE001 - the account exists; staff can resend
            self.log.error("gsp: invitation to %s failed: %s", user.email, exc)
            self.set_header("X-GSP-Invitation", f"failed: {exc}"[:200])
        else:
            self.set_header("X-GSP-Invitation", "sent")
