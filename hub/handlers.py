"""The hub's password pages: set a password from an emailed link, change it, forgot it.

Thin handlers over :class:`hub.authenticator.ProposalAuthenticator`, rendered with the
hub's own templates (they extend ``page.html``), so they look like the rest of the hub.
Every form posts with the hub's ``_xsrf`` token.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from jinja2 import ChoiceLoader, FileSystemLoader
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.user import User as HubUser
from jupyterhub.utils import new_token
from tornado import web

from gsp_extension.accounts.links import LinkError

TEMPLATES = Path(__file__).with_name("templates")

CHANGE_INTRO = (
    "Please enter your old password, for security's sake, and then enter your new "
    "password twice so we can verify you typed it in correctly."
)
FORGOT_SENT = (
    "If an active account uses this address, we have sent it an email with a link to "
    "choose a new password. The link is valid for a limited time and works once."
)


class _PasswordPage(BaseHandler):
    """Finds our templates before the hub's, whatever the hub's template paths are."""

    def get_template(self, name, sync=False):
        key = "jinja2_env_sync" if sync else "jinja2_env"
        env = self.settings[key]
        cache = self.settings.setdefault("gsp_password_page_envs", {})
        if key not in cache:
            cache[key] = env.overlay(
                loader=ChoiceLoader([FileSystemLoader(str(TEMPLATES)), env.loader])
            )
        return cache[key].get_template(name)

    def public_base(self) -> str:
        """The address of this hub as the visitor reached it (for emailed links)."""
        return f"{self.request.protocol}://{self.request.host}{self.base_url}"

    def end_sessions(self, username: str, keep_current: bool = False) -> None:
        """Log the user out of every browser (the hub login cookie names a per-user id;
        a new id voids every cookie issued before), optionally keeping this one."""
        user = self.find_user(username)
        if user is None:
            return
        user.orm_user.cookie_id = new_token()
        self.db.commit()
        if keep_current:
            self.set_login_cookie(user)

    async def page(self, template: str, status: int = 200, **ns) -> None:
        self.set_status(status)
        ns.setdefault("show_forgot_password", self.authenticator.show_forgot_password)
        self.finish(await self.render_template(template, **ns))


class SetPasswordHandler(_PasswordPage):
    """``/hub/set-password?token=...``: the page an emailed link opens."""

    async def get(self):
        token = self.get_argument("token", "")
        try:
            target = await self.authenticator.check_link(token)
        except LinkError as exc:
            await self.page("gsp-link-invalid.html", status=400, message=str(exc))
            return
        await self._form(token, target)

    async def _form(self, token, target, problems=(), status=200):
        await self.page(
            "gsp-set-password.html",
            status=status,
            token=token,
            target=target,
            problems=list(problems),
            requirements=self.authenticator.policy.requirements,
        )

    async def post(self):
        token = self.get_body_argument("token", "")
        try:
            target, problems = await self.authenticator.set_password_from_link(
                token,
                self.get_body_argument("password", ""),
                self.get_body_argument("password_confirmation", ""),
            )
        except LinkError as exc:
            await self.page("gsp-link-invalid.html", status=400, message=str(exc))
            return
        if problems:
            await self._form(token, target, problems, status=400)
            return
        # Whoever knew the old password is logged out everywhere.
        self.end_sessions(target.username)
        await self.page("gsp-password-done.html", title="Password set", username=target.username)


class ChangePasswordHandler(_PasswordPage):
    """``/hub/change-password``: old password, then the new one twice."""

    def _user(self) -> HubUser:
        user = self.current_user
        if not isinstance(user, HubUser):
            raise web.HTTPError(403, "Only users have passwords to change.")
        return user

    async def _form(self, problems=(), status=200):
        await self.page(
            "gsp-change-password.html",
            status=status,
            intro=CHANGE_INTRO,
            problems=list(problems),
            requirements=self.authenticator.policy.requirements,
        )

    @web.authenticated
    async def get(self):
        self._user()
        await self._form()

    @web.authenticated
    async def post(self):
        user = self._user()
        problems = await self.authenticator.change_password(
            user.name,
            self.get_body_argument("old_password", ""),
            self.get_body_argument("new_password", ""),
            self.get_body_argument("new_password_confirmation", ""),
        )
        if problems:
            await self._form(problems, status=400)
            return
        self.end_sessions(user.name, keep_current=True)
        await self.page("gsp-password-done.html", title="Password changed", username=user.name)


class ForgotPasswordHandler(_PasswordPage):
    """``/hub/forgot-password``: mails a reset link; the answer never tells whether
    the address has an account (and comes before the mail is sent, so neither does
    the time it takes)."""

    async def get(self):
        await self.page("gsp-forgot-password.html", sent=False)

    async def post(self):
        email = self.get_body_argument("email", "").strip()
        if email:
            auth = self.authenticator
            task = asyncio.get_running_loop().run_in_executor(
                auth.executor, auth.send_reset_link, email, self.public_base()
            )
            task.add_done_callback(self._log_failure)
        await self.page("gsp-forgot-password.html", sent=bool(email), message=FORGOT_SENT)

    def _log_failure(self, future: asyncio.Future) -> None:
        exc = future.exception()
        if exc is not None:
            self.log.error("Could not send a password reset email: %s", exc)
