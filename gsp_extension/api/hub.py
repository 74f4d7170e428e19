"""The few hub API calls the service makes: mirror users and proposal groups.

The app database is the truth (DESIGN.md §3); the hub's users and groups are a mirror,
kept so that a new collaborator can log in at once and so that the hub's admin page
shows who belongs where. Every call is idempotent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest


class HubError(RuntimeError):
    """The hub refused or could not be reached; the message says which call and why."""


class HubClient:
    """Calls the hub's REST API with the service's own token.

    Parameters
    ----------
    api_url : str
        E.g. ``http://127.0.0.1:8081/hub/api`` (``$JUPYTERHUB_API_URL``).
    token : str
        The service's token (``$JUPYTERHUB_API_TOKEN``).
    timeout : float
        Seconds per request.
    """

    def __init__(self, api_url: str, token: str, *, timeout: float = 10.0, log: Any = None):
        self.api_url = api_url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.log = log or logging.getLogger(__name__)

    async def _fetch(self, method: str, path: str, body: Any = None):
        request = HTTPRequest(
            f"{self.api_url}{path}",
            method=method,
            headers={"Authorization": f"token {self._token}", "Content-Type": "application/json"},
            body=json.dumps(body) if body is not None else (None if method in ("GET",) else "{}"),
            request_timeout=self.timeout,
            allow_nonstandard_methods=True,
        )
        try:
            return await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            raise HubError(f"hub API {method} {path} failed: {exc}") from exc

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        ok: tuple[int, ...] = (),
        ok_if: tuple[int, str] | None = None,
    ) -> int:
        response = await self._fetch(method, path, body)
        text = (response.body or b"")[:300].decode("utf-8", "replace")
        if ok_if is not None and response.code == ok_if[0] and ok_if[1] in text:
            return response.code
        if response.code >= 400 and response.code not in ok:
            raise HubError(f"hub API {method} {path} answered {response.code}: {text}")
        return response.code

    async def ensure_user(self, name: str) -> bool:
        """Create the hub user ``name`` unless it exists; whether it was created now."""
        return await self._call("POST", f"/users/{quote(name, safe='')}", ok=(409,)) == 201

    async def delete_user(self, name: str) -> None:
        """Delete the hub user ``name`` (a missing one is fine)."""
        await self._call("DELETE", f"/users/{quote(name, safe='')}", ok=(404,))

    async def ensure_group(self, group: str) -> bool:
        """Create the hub group ``group`` unless it exists; whether it was created now."""
        return await self._call("POST", f"/groups/{quote(group, safe='')}", ok=(409,)) == 201

    async def delete_group(self, group: str) -> None:
        """Delete the hub group ``group`` (a missing one is fine)."""
        await self._call("DELETE", f"/groups/{quote(group, safe='')}", ok=(404,))

    async def group_members(self, group: str) -> set[str] | None:
        """The user names in a group, or ``None`` when there is no such group."""
        path = f"/groups/{quote(group, safe='')}"
        response = await self._fetch("GET", path)
        if response.code == 404:
            return None
        if response.code >= 400:
            text = (response.body or b"")[:300].decode("utf-8", "replace")
            raise HubError(f"hub API GET {path} answered {response.code}: {text}")
        return set(json.loads(response.body).get("users", []))

    async def add_to_group(self, group: str, users: list[str]) -> None:
        """Add users to a group, creating the group first if needed."""
        await self.ensure_group(group)
        await self._call("POST", f"/groups/{quote(group, safe='')}/users", {"users": users})

    async def remove_from_group(self, group: str, users: list[str]) -> None:
        """Remove users from a group (a missing group or hub user is fine: not in it)."""
        await self._call(
            "DELETE",
            f"/groups/{quote(group, safe='')}/users",
            {"users": users},
            ok=(404,),
            ok_if=(400, "No such user"),
        )


class HubChange:
    """Changes to the hub mirror that can be taken back if the app database then fails.

    The hub is changed first (if it refuses, nothing is recorded), then the app database;
    when the database step fails, :meth:`undo` reverts exactly what this change did, so
    the mirror never grants access the app database does not. Undo is best effort: a
    step that fails is logged and the rest still run.

    Parameters
    ----------
    hub : HubClient or None
        ``None`` (outside a hub) makes every method a no-op.
    log : logging.Logger
    """

    def __init__(self, hub: HubClient | None, log: Any = None) -> None:
        self.hub = hub
        self.log = log or logging.getLogger(__name__)
        self._undo: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    async def ensure_user(self, name: str) -> None:
        """Create the hub user unless it exists (undo deletes it only if created here)."""
        if self.hub is None:
            return
        hub = self.hub
        if await hub.ensure_user(name):
            self._undo.append((f"delete hub user {name!r}", lambda: hub.delete_user(name)))

    async def ensure_group(self, group: str) -> None:
        """Create the hub group unless it exists (undo deletes it only if created here)."""
        if self.hub is None:
            return
        hub = self.hub
        if await hub.ensure_group(group):
            self._undo.append((f"delete hub group {group!r}", lambda: hub.delete_group(group)))

    async def add_to_group(self, group: str, users: list[str]) -> None:
        """Add users to a group; undo removes only those who were not in it before."""
        if self.hub is None:
            return
        hub = self.hub
        await self.ensure_group(group)
        before = await hub.group_members(group) or set()
        added = [u for u in users if u not in before]
        if not added:
            return
        await hub.add_to_group(group, added)
        self._undo.append(
            (
                f"remove {added} from hub group {group!r}",
                lambda: hub.remove_from_group(group, added),
            )
        )

    async def remove_from_group(self, group: str, users: list[str]) -> None:
        """Remove users from a group; undo puts back only those who were in it."""
        if self.hub is None:
            return
        hub = self.hub
        before = await hub.group_members(group)
        removed = [u for u in users if before is not None and u in before]
        await hub.remove_from_group(group, users)
        if removed:
            self._undo.append(
                (
                    f"put {removed} back in hub group {group!r}",
                    lambda: hub.add_to_group(group, removed),
                )
            )

    async def undo(self) -> None:
        """Revert the changes made so far, newest first; failures are logged, not raised."""
        while self._undo:
            what, step = self._undo.pop()
            try:
                await step()
            except Exception as exc:  # noqa: BLE001 - best effort: log and go on
                self.log.error("gsp: could not %s after a failed change: %s", what, exc)
            else:
                self.log.warning("gsp: %s: the app database change failed", what)
