"""``api/users/``: staff list, create and edit accounts; everyone edits their own
(``api/users/me/``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from ..security import require_staff, require_user
from ..store import PermissionDenied, User, account_changes
from ..store import accounts as store_accounts
from ..store.activity import log_event
from ..store.serialize import user_record
from .base import APIError, GSPHandler
from .hub import HubChange, HubError
from .queries import paginate
from .schemas import EmptyQuery, UserCreate, UserListQuery, UserUpdate


def user_admin_records(session, users: list[User], tz) -> list[dict[str, Any]]:
    """Users as staff see them: the seed's user fields plus their proposals' SOAR ids."""
    soar_ids = store_accounts.soar_ids_of_users(session, [u.id for u in users])
    return [
        {**user_record(u, tz=tz), "proposals": soar_ids.get(u.id, []), "partner": u.partner or ""}
        for u in users
    ]


async def invite(handler: GSPHandler, user: User) -> None:
    """Mail a new account its set-password link; the outcome goes in ``X-GSP-Invitation``.

    A failed mail does not undo the account (staff can resend), it is reported.
    """
    # Where this request came in: the last resort of the public address rule, when
    # nothing is configured.
    request_origin = f"{handler.request.protocol}://{handler.request.host}"
    try:
        await handler.ctx.mailer.ainvite(user, request_origin)
    except Exception as exc:  # noqa: BLE001 - the account exists; staff can resend
        handler.log.error("gsp: invitation to %s failed: %s", user.email, exc)
        handler.set_header("X-GSP-Invitation", f"failed: {exc}"[:200])
    else:
        handler.set_header("X-GSP-Invitation", "sent")


async def commit_after_hub(handler: GSPHandler, change: HubChange, work, what: str):
    """Run the database ``work`` after the hub ``change``; undo the hub if it fails.

    Parameters
    ----------
    work : callable
        ``(session, caller) -> result``, run in one write transaction.
    what : str
        For the log, e.g. ``"create user ana"``.
    """
    try:
        return await handler.db(work, write=True)
    except SQLAlchemyError as exc:
        handler.log.error("gsp: %s failed in the app database: %s", what, exc)
        await change.undo()
        raise APIError(
            500,
            f"the app database refused the change ({type(exc).__name__}); the hub change was "
            "undone and nothing was recorded: send the request again, or ask the staff if "
            "it keeps failing",
        ) from None
    except BaseException:
        handler.log.warning("gsp: %s failed; undoing the hub change", what)
        await change.undo()
        raise


class UserListHandler(GSPHandler):
    """``GET`` (list) and ``POST`` (create) ``api/users/``; staff only."""

    async def get(self) -> None:
        q = self.query(UserListQuery)
        ctx = self.ctx
        size = self.page_size(q.page_size)

        def work(session, caller):
            require_staff(caller, "list users")
            stmt = store_accounts.users_query(
                search=q.search, is_staff=q.is_staff, is_active=q.is_active
            )
            ids = stmt.with_only_columns(User.id).order_by(None)
            page = paginate(session, stmt, ids, page=q.page, page_size=size, bound=ctx.count_bound)
            return self.page_answer(page, q.page, user_admin_records(session, page.rows, ctx.tz))

        self.reply(await self.db(work))

    async def post(self) -> None:
        self.query(EmptyQuery)
        body = self.body(UserCreate)
        ctx = self.ctx

        def plan(session, caller) -> str:
            require_staff(caller, "create users")
            email = store_accounts.normalize_email(body.email)
            username = body.username or store_accounts.free_username(session, email)
            store_accounts.check_new_user(
                session, username, email=email, is_staff=body.is_staff, by=caller.user
            )
            return username

        username = await self.db(plan)
        # The hub first: if it refuses, nothing is recorded in the app database.
        change = HubChange(ctx.hub, self.log)
        try:
            await change.ensure_user(username)
        except HubError as exc:
            await change.undo()
            raise APIError(502, f"the hub refused the change, nothing was done: {exc}") from None

        def work(session, caller):
            require_staff(caller, "create users")
            user = store_accounts.create_user(
                session,
                username,
                email=body.email,
                first_name=body.first_name,
                last_name=body.last_name,
                partner=body.partner.strip() or None,
                is_staff=body.is_staff,
                by=caller.user,
            )
            log_event(
                session,
                f"user {user.username} <{user.email}> created by {caller.name}"
                + (" (staff)" if user.is_staff else ""),
                event="user.created",
                user=caller.user,
            )
            return user_admin_records(session, [user], ctx.tz)[0], user

        record, user = await commit_after_hub(self, change, work, f"create user {username}")
        await invite(self, user)
        self.reply(record, status=201)


def _target(session, caller, user_id: str) -> User:
    """The account ``user_id`` names (``me``: the caller's); others' only for staff."""
    me = require_user(caller)
    if user_id == "me":
        return me
    target = store_accounts.get_user(session, GSPHandler.int_arg(user_id, "user id"))
    if target.id != me.id and not caller.is_staff:
        raise PermissionDenied("you may only see or edit your own account")
    return target


class UserDetailHandler(GSPHandler):
    """``GET`` and ``PATCH`` ``api/users/<id or me>/``: one account.

    Deactivation takes effect at once: the service checks every request against the app
    database, and the hub refuses the login and the user's tokens at its next refresh.
    """

    async def get(self, user_id: str) -> None:
        self.query(EmptyQuery)
        tz = self.ctx.tz
        self.reply(
            await self.db(lambda s, c: user_admin_records(s, [_target(s, c, user_id)], tz)[0])
        )

    async def patch(self, user_id: str) -> None:
        self.query(EmptyQuery)
        changes = self.body(UserUpdate).model_dump(exclude_unset=True)
        tz = self.ctx.tz

        def work(session, caller):
            user = _target(session, caller, user_id)
            changed = account_changes.update_user(session, user, changes, by=caller.user)
            if changed:
                log_event(
                    session,
                    f"account {user.username} changed by {caller.name}: "
                    + ", ".join(f"{k}={getattr(user, k)!r}" for k in changed),
                    event="user.deactivated"
                    if "is_active" in changed and not user.is_active
                    else "user.changed",
                    user=caller.user,
                )
            return user_admin_records(session, [user], tz)[0]

        self.reply(await self.db(work, write=True))
