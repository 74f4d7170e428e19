"""``api/proposals/``: list, detail, reduction settings, collaborators."""

from __future__ import annotations

from dataclasses import dataclass

from ..security import (
    get_visible_proposal,
    require_can_edit_settings,
    require_can_manage_collaborators,
    require_staff,
)
from ..store import InvalidState, InvalidValue, NotFound, PermissionDenied
from ..store import accounts as store_accounts
from ..store import proposals as store_proposals
from ..store import settings as store_settings
from ..store.activity import log_event
from ..store.semesters import check_semester, current_semester, next_soar_id
from ..store.serialize import proposal_record
from .base import APIError, GSPHandler
from .hub import HubChange, HubError
from .queries import list_proposals
from .schemas import (
    CollaboratorChange,
    EmptyQuery,
    NextSoarIdQuery,
    PageQuery,
    ProposalCreate,
    ProposalUpdate,
    SettingsUpdate,
)
from .users import commit_after_hub, invite


class ProposalListHandler(GSPHandler):
    async def get(self) -> None:
        q = self.query(PageQuery)
        ctx = self.ctx
        size = self.page_size(q.page_size)

        def work(session, caller):
            page = list_proposals(
                session, caller, page=q.page, page_size=size, bound=ctx.count_bound
            )
            return self.page_answer(
                page, q.page, [proposal_record(p, tz=ctx.tz) for p in page.rows]
            )

        self.reply(await self.db(work))

    async def post(self) -> None:
        """Create a proposal (staff), or complete ingest's placeholder of the same id."""
        self.query(EmptyQuery)
        body = self.body(ProposalCreate)
        ctx = self.ctx
        plan = await self.db(lambda s, c: _plan_proposal(s, c, body))

        # The hub first (group, PI); if it refuses, nothing is recorded in the app DB.
        change = HubChange(ctx.hub, self.log)
        try:
            await change.ensure_group(plan.soar_id)
            if plan.pi_username:
                # An existing account may never have logged in: no hub user yet.
                await change.ensure_user(plan.pi_username)
                await change.add_to_group(plan.soar_id, [plan.pi_username])
        except HubError as exc:
            await change.undo()
            raise APIError(502, f"the hub refused the change, nothing was done: {exc}") from None

        def work(session, caller):
            if _plan_proposal(session, caller, body) != plan:
                raise APIError(409, "the proposal or its PI changed meanwhile; send it again")
            pi = None
            if plan.new_pi:
                pi = store_accounts.create_user(session, plan.pi_username, email=body.pi_email)
            elif plan.pi_username:
                pi = store_accounts.get_user_by_username(session, plan.pi_username)
            proposal, completed = store_proposals.create_or_complete_proposal(
                session,
                plan.soar_id,
                title=body.title,
                abstract=body.abstract,
                semester=body.semester.upper() if body.semester else None,
                pi=pi,
                by=caller.user,
            )
            log_event(
                session,
                f"proposal {proposal.soar_id} "
                + ("completed (was an ingest placeholder)" if completed else "created")
                + f" by {caller.name}"
                + (f"; PI {pi.username} <{pi.email}>" if pi is not None else "")
                + (" (new account)" if plan.new_pi else ""),
                event="proposal.completed" if completed else "proposal.created",
                proposal=proposal,
                user=caller.user,
            )
            session.flush()
            session.refresh(proposal)
            return proposal_record(proposal, tz=ctx.tz), pi

        record, pi = await commit_after_hub(self, change, work, f"create {plan.soar_id}")
        if plan.new_pi:
            await invite(self, pi)
        self.reply(record, status=201)


@dataclass(frozen=True)
class ProposalPlan:
    soar_id: str
    pi_username: str | None
    new_pi: bool
    placeholder_id: int | None


def _new_soar_id(session, body: ProposalCreate) -> str:
    """The SOAR id given, or the next free one of the body's semester."""
    if body.soar_id:
        return body.soar_id.strip()
    if not body.semester:
        raise InvalidValue(
            "give a soar_id (e.g. SOAR2026B-004), or a semester (e.g. 2026B) to number the "
            "proposal after the semester's last one"
        )
    return next_soar_id(session, body.semester)


def _plan_proposal(session, caller, body: ProposalCreate) -> ProposalPlan:
    require_staff(caller, "create proposals")
    soar_id = _new_soar_id(session, body)
    placeholder = store_proposals.check_new_proposal(session, soar_id)
    if body.pi_email is None:
        return ProposalPlan(soar_id, None, False, placeholder and placeholder.id)
    email = store_accounts.normalize_email(body.pi_email)
    pi = store_accounts.get_user_by_email(session, email)
    if pi is None:
        username = store_accounts.free_username(session, email)
        return ProposalPlan(soar_id, username, True, placeholder and placeholder.id)
    if not pi.is_active:
        # 409, not 400: a well-formed address whose account's state refuses it
        raise InvalidState(f"the account of {email} is deactivated; reactivate it first")
    return ProposalPlan(soar_id, pi.username, False, placeholder and placeholder.id)


class ProposalDetailHandler(GSPHandler):
    async def get(self, proposal_id: str) -> None:
        self.query(EmptyQuery)
        pid = self.int_arg(proposal_id, "proposal id")
        tz = self.ctx.tz
        self.reply(
            await self.db(lambda s, c: proposal_record(get_visible_proposal(s, c, pid), tz=tz))
        )

    async def patch(self, proposal_id: str) -> None:
        """Edit title, abstract, semester or PI (staff)."""
        self.query(EmptyQuery)
        pid = self.int_arg(proposal_id, "proposal id")
        body = self.body(ProposalUpdate)
        ctx = self.ctx
        plan = await self.db(lambda s, c: _plan_edit(s, c, pid, body))
        change = HubChange(ctx.hub, self.log)
        if plan.new_pi:
            # The new PI joins the hub group first; the former PI stays (a collaborator).
            try:
                await change.ensure_user(plan.new_pi)
                await change.add_to_group(plan.soar_id, [plan.new_pi])
            except HubError as exc:
                await change.undo()
                raise APIError(
                    502, f"the hub refused the change, nothing was done: {exc}"
                ) from None

        def work(session, caller):
            if _plan_edit(session, caller, pid, body) != plan:
                raise APIError(409, "the proposal or its PI changed meanwhile; send it again")
            proposal = store_proposals.get_proposal(session, pid)
            changed = _apply_edit(session, proposal, body, by=caller.user)
            if changed:
                log_event(
                    session,
                    f"proposal {proposal.soar_id} edited by {caller.name}: {', '.join(changed)}",
                    event="proposal.changed",
                    proposal=proposal,
                    user=caller.user,
                )
            session.flush()
            session.refresh(proposal)
            return proposal_record(proposal, tz=ctx.tz)

        self.reply(await commit_after_hub(self, change, work, f"edit proposal {pid}"))


@dataclass(frozen=True)
class EditPlan:
    soar_id: str
    new_pi: str | None


def _plan_edit(session, caller, pid: int, body: ProposalUpdate) -> EditPlan:
    require_staff(caller, "edit proposals")
    proposal = get_visible_proposal(session, caller, pid)
    if body.pi_email is None:
        return EditPlan(proposal.soar_id, None)
    email = store_accounts.normalize_email(body.pi_email)
    pi = store_accounts.get_user_by_email(session, email)
    if pi is None:
        raise InvalidState(
            f"no account has the e-mail {email}: add the user first, then make them PI"
        )
    if not pi.is_active:
        # 409, not 400: a well-formed address whose account's state refuses it
        raise InvalidState(f"the account of {email} is deactivated; reactivate it first")
    return EditPlan(proposal.soar_id, None if proposal.pi_id == pi.id else pi.username)


def _apply_edit(session, proposal, body: ProposalUpdate, *, by) -> list[str]:
    """Apply the body to the proposal; the names of what changed."""
    fields = body.model_dump(exclude_unset=True, exclude={"pi_email"})
    if "semester" in fields:
        fields["semester"] = check_semester(fields["semester"])
    changed = [k for k, v in fields.items() if getattr(proposal, k) != v]
    pi = former = None
    if body.pi_email is not None:
        pi = store_accounts.get_user_by_email(session, body.pi_email)
        former = proposal.pi if proposal.pi is not None and proposal.pi.id != pi.id else None
        if proposal.pi_id != pi.id:
            changed.append(f"PI {former.username if former else 'none'} -> {pi.username}")
    store_proposals.update_proposal(session, proposal, by=by, pi=pi, **fields)
    if former is not None:
        store_proposals.add_collaborator(session, proposal, former)
    return changed


class NextSoarIdHandler(GSPHandler):
    """``GET api/proposals/next-soar-id/?semester=2026B``: the default id of a new proposal
    (of today's semester when none is given)."""

    async def get(self) -> None:
        q = self.query(NextSoarIdQuery)

        def work(session, caller):
            require_staff(caller, "number new proposals")
            semester = check_semester(q.semester) if q.semester else current_semester()
            return {"semester": semester, "soar_id": next_soar_id(session, semester)}

        self.reply(await self.db(work))


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
            raise InvalidState(f"the account of {email} is deactivated; ask the staff")
        return CollaboratorPlan(proposal.soar_id, target.username, False)
    return CollaboratorPlan(proposal.soar_id, store_accounts.free_username(session, email), True)


class CollaboratorsHandler(GSPHandler):
    """``POST api/proposals/collaborators/<id>/`` with ``{"email", "action"}``.

    The seed's example sends it as a GET with a form body under a JSON content type;
    scripts written after it keep working (deprecated) when token-authenticated. A
    browser session's GET never changes anything (a page could be made to send it).
    """

    async def get(self, proposal_id: str) -> None:
        if not self.token_authenticated:
            raise APIError(
                405,
                "a browser session changes collaborators with POST (and the X-XSRFToken "
                "header); the GET form of the seed's example is only for scripts that "
                "send 'Authorization: token <API token>'",
                headers={"Allow": "POST"},
            )
        self.legacy_write = True
        await self.post(proposal_id)

    async def post(self, proposal_id: str) -> None:
        self.query(EmptyQuery)
        pid = self.int_arg(proposal_id, "proposal id")
        change = self.body(CollaboratorChange)
        ctx = self.ctx
        plan = await self.db(lambda s, c: _plan(s, c, pid, change))

        # The hub mirror first: if the hub refuses, nothing is recorded in the app DB;
        # if the app DB then fails, the hub change is undone (HubChange).
        hub = HubChange(ctx.hub, self.log)
        try:
            if change.action == "add":
                await hub.ensure_user(plan.username)
                await hub.add_to_group(plan.soar_id, [plan.username])
            else:
                await hub.remove_from_group(plan.soar_id, [plan.username])
        except HubError as exc:
            await hub.undo()
            raise APIError(502, f"the hub refused the change, nothing was done: {exc}") from None

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
                store_proposals.add_collaborator(session, proposal, user)
            else:
                user = store_accounts.get_user_by_username(session, plan.username)
                store_proposals.remove_collaborator(session, proposal, user)
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

        record, user = await commit_after_hub(
            self, hub, work, f"{change.action} collaborator {plan.username} of {plan.soar_id}"
        )
        if plan.new_user:
            await invite(self, user)
        self.reply(record)
