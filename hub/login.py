"""The login that starts the user's server itself: a cold login skips the spawn pages.

JupyterHub's login answers a stopped server with a redirect to ``/hub/spawn``; that
request starts the server, waits one second for it, then always redirects to
``/hub/spawn-pending/<name>``, whose page waits for the server's progress events and
reloads itself to be redirected to ``/user/<name>/``. Each step is a browser round
trip through the proxy, and on this 2-core machine the server is seldom up within that
second when the machine is busy: a cold login then also loaded the progress page and
its event stream before it could even ask for the data browser.

:class:`SpawningLoginHandler` starts the server in the login's own ``POST``, once the
password is checked, and answers when the server is up (or after
``ProposalAuthenticator.spawn_wait_at_login`` seconds): the redirect then goes straight
to the user's server. A server still starting by then is shown by JupyterHub's
progress page as before (``/user/<name>/`` leads there), and a server that failed to
start is left to the spawn page, which starts it again and shows its error.

Only logins that JupyterHub itself would send to the user's server are concerned: to
the spawn page (no ``next``), or to a page of the user's own server (a deep link opened
before logging in); never when the server has an options form, is already running or
starting, or when the user may not start it.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlparse

from jupyterhub import scopes
from jupyterhub.handlers.login import LoginHandler
from jupyterhub.utils import url_path_join


def may_start_own_server(orm_user) -> bool:
    """Whether a hub user's roles let them start their own default server (the
    ``servers`` scope on themselves, as ``/hub/spawn`` requires)."""
    parsed = scopes.parse_scopes(scopes.get_scopes_for(orm_user))
    granted = parsed.get("servers")
    if granted is None:
        return False
    if granted == scopes.Scope.ALL:
        return True
    return orm_user.name in granted.get("user", ())


class SpawningLoginHandler(LoginHandler):
    """``/hub/login`` that starts the user's server before it redirects (see the module)."""

    async def login_user(self, data=None):
        """Log in as JupyterHub does; then start the user's server and wait for it,
        when the login's redirect leads to that server."""
        user = await super().login_user(data)
        wait = getattr(self.authenticator, "spawn_wait_at_login", 0)
        if user is not None and wait > 0 and await self._leads_to_own_server(user):
            await self._start_and_wait(user, wait)
        return user

    async def _leads_to_own_server(self, user) -> bool:
        spawner = user.spawner
        if spawner.active or not self.redirect_to_server:
            return False
        target = urlparse(self.get_next_url(user)).path
        spawn_page = url_path_join(self.hub.base_url, "spawn")
        if target != spawn_page and not target.startswith(user.url):
            return False
        # /hub/spawn would show a form to fill in first, or refuse (403).
        if await spawner.get_options_form():
            return False
        return may_start_own_server(user.orm_user)

    async def _start_and_wait(self, user, wait: float) -> None:
        # spawn_single_user replaces a finished (failed) spawn's future itself
        started = asyncio.ensure_future(self.spawn_single_user(user))
        done, _ = await asyncio.wait([started], timeout=wait)
        if not done:
            self.log.info("%s's server still starting after %.1f s at login", user.name, wait)
            return
        exc = started.exception()
        if exc is not None:
            # The redirect goes to /hub/spawn (the server is not active): it tries again
            # and shows what went wrong.
            self.log.warning("%s's server did not start at login: %s", user.name, exc)
