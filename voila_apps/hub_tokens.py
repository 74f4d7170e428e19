"""Personal API tokens for scripts, created on the hub for the user of this server.

The token a Voilà page runs with (``$JUPYTERHUB_API_TOKEN``) belongs to the user's
single-user server and dies with it, so it is never handed out for scripts. Instead the
page asks the hub's REST API (``POST /hub/api/users/<name>/tokens``) for a token of the
user's own, limited to the gsp service: it survives server restarts and is listed, and
revocable, on the hub's Token page. The server may ask because its role holds
``tokens!user`` (``hub.deployment.configure_roles``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import requests

#: What a script needs: calling the gsp service as its owner, nothing else on the hub.
GSP_SCOPES = ("access:services!service=gsp",)

#: Lifetimes offered, label and seconds (``None``: until revoked).
EXPIRY_CHOICES = (
    ("1 day", 86_400),
    ("1 week", 7 * 86_400),
    ("30 days", 30 * 86_400),
    ("1 year", 365 * 86_400),
    ("never (until revoked)", None),
)


class HubTokenError(Exception):
    """The hub did not create the token; the message says why, for the user."""


@dataclass(frozen=True)
class PersonalToken:
    """A token the hub created: the secret (shown once), its id, note and expiry."""

    token: str
    id: str
    note: str
    expires_at: str | None


def create_personal_token(
    note: str,
    expires_in: int | None,
    *,
    hub_api_url: str | None = None,
    server_token: str | None = None,
    user: str | None = None,
    timeout: float = 10.0,
) -> PersonalToken:
    """Ask the hub for a personal token of this server's user, scoped to the gsp service.

    Parameters
    ----------
    note : str
        What the token is for, shown on the hub's Token page.
    expires_in : int or None
        Lifetime in seconds; ``None`` keeps it until revoked (or the hub's maximum).
    hub_api_url, server_token, user : str, optional
        The hub's API, the server's token and the user's name; default to what the hub
        gives every single-user server (``$JUPYTERHUB_API_URL``, ``$JUPYTERHUB_API_TOKEN``,
        ``$JUPYTERHUB_USER``).
    timeout : float
        Seconds to wait for the hub.

    Returns
    -------
    PersonalToken
        The new token and what the hub recorded about it.

    Raises
    ------
    HubTokenError
        Outside a hub, when the hub cannot be reached, or when it refuses.
    """
    api = hub_api_url or os.environ.get("JUPYTERHUB_API_URL", "")
    secret = server_token or os.environ.get("JUPYTERHUB_API_TOKEN", "")
    name = user or os.environ.get("JUPYTERHUB_USER", "")
    if not (api and secret and name):
        raise HubTokenError(
            "personal tokens come from the hub, and this page does not run under one "
            "(JUPYTERHUB_API_URL, JUPYTERHUB_API_TOKEN and JUPYTERHUB_USER are not all set)"
        )
    body = {"note": note.strip() or "GSP API", "scopes": list(GSP_SCOPES), "expires_in": expires_in}
    try:
        answer = requests.post(
            f"{api.rstrip('/')}/users/{name}/tokens",
            json=body,
            headers={"Authorization": f"token {secret}"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise HubTokenError(f"the hub could not be reached to create a token: {exc}") from exc
    if answer.status_code != 201:
        raise HubTokenError(
            f"the hub refused to create a token ({answer.status_code}): {_reason(answer)}"
        )
    model = answer.json()
    return PersonalToken(
        token=model["token"],
        id=str(model["id"]),
        note=model.get("note") or body["note"],
        expires_at=model.get("expires_at"),
    )


def _reason(answer: requests.Response) -> str:
    try:
        return str(answer.json().get("message") or answer.reason)
    except ValueError:
        return answer.reason or "no reason given"
