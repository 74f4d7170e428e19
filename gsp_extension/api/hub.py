"""The few hub API calls the service makes: mirror users and proposal groups.

The app database is the truth (DESIGN.md §3); the hub's users and groups are a mirror,
kept so that a new collaborator can log in at once and so that the hub's admin page
shows who belongs where. Every call is idempotent.
"""

from __future__ import annotations

import json
import logging
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

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        ok: tuple[int, ...] = (),
        ok_if: tuple[int, str] | None = None,
    ) -> int:
        request = HTTPRequest(
            f"{self.api_url}{path}",
            method=method,
            headers={"Authorization": f"token {self._token}", "Content-Type": "application/json"},
            body=json.dumps(body) if body is not None else (None if method in ("GET",) else "{}"),
            request_timeout=self.timeout,
            allow_nonstandard_methods=True,
        )
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as exc:
            raise HubError(f"hub API {method} {path} failed: {exc}") from exc
        text = (response.body or b"")[:300].decode("utf-8", "replace")
        if ok_if is not None and response.code == ok_if[0] and ok_if[1] in text:
            return response.code
        if response.code >= 400 and response.code not in ok:
            raise HubError(f"hub API {method} {path} answered {response.code}: {text}")
        return response.code

    async def ensure_user(self, name: str) -> None:
        """Create the hub user ``name`` unless it exists."""
        await self._call("POST", f"/users/{quote(name, safe='')}", ok=(409,))

    async def ensure_group(self, group: str) -> None:
        """Create the hub group ``group`` unless it exists."""
        await self._call("POST", f"/groups/{quote(group, safe='')}", ok=(409,))

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
