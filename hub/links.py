"""Signed, expiring, single-use "set your password" links.

A token is ``<user id>.<purpose>.<expiry>.<nonce>.<mac>``. The MAC is an HMAC-SHA256,
keyed by a server secret, over the visible fields *and* the account's current state
(its password hash, address and active flag; see :func:`hub.accounts.link_state`),
which is not in the token. Setting the password changes the hash, so every link issued
before stops verifying: a link works once, with no token table to keep or purge (the
scheme of Django's ``PasswordResetTokenGenerator``). The hub consumes a link with a
compare-and-swap on the hash (:func:`hub.accounts.replace_password_hash`), so two
concurrent submissions of one link cannot both succeed.

This module is pure standard library: anything that issues links (the hub, ``gsp``
commands, the gsp service) only needs the same secret file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Purposes a link may have: a new account's first password, or a forgotten one.
PURPOSES = ("invite", "reset")

_TOKEN = re.compile(
    r"^(\d{1,18})\.(invite|reset)\.(\d{1,12})\.([A-Za-z0-9_-]{8,64})\.([A-Za-z0-9_-]{43})$"
)
_DOMAIN = b"gsp-live set-password link v1"


class LinkError(ValueError):
    """A link that cannot be used; the message is safe to show to the visitor."""


class LinkInvalid(LinkError):
    """Malformed, tampered with, or already used (the account changed since)."""


class LinkExpired(LinkError):
    """Well-formed and authentic, but past its expiry time."""


@dataclass(frozen=True)
class LinkClaims:
    """What a token says (not yet verified).

    Attributes
    ----------
    user_id : int
    purpose : str
        ``"invite"`` or ``"reset"``.
    expires : int
        Unix time after which the link is refused.
    nonce : str
        Random, so that two links for the same account differ.
    """

    user_id: int
    purpose: str
    expires: int
    nonce: str

    @property
    def payload(self) -> str:
        return f"{self.user_id}.{self.purpose}.{self.expires}.{self.nonce}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_token(token: str) -> LinkClaims:
    """Read the visible fields of a token, without checking anything else.

    Raises
    ------
    LinkInvalid
        When the token does not have the form of one of ours.
    """
    match = _TOKEN.match(token or "")
    if not match:
        raise LinkInvalid("This link is not valid: it may have been cut or altered.")
    uid, purpose, expires, nonce, _mac = match.groups()
    return LinkClaims(int(uid), purpose, int(expires), nonce)


class LinkSigner:
    """Makes and checks tokens with one secret.

    Parameters
    ----------
    secret : bytes
        At least 32 bytes; the same for every process that makes or checks links.
    clock : callable, optional
        Returns the current Unix time (tests pass a fake one).
    """

    def __init__(self, secret: bytes, clock: Callable[[], float] = time.time) -> None:
        if not isinstance(secret, bytes) or len(secret) < 32:
            raise ValueError("link secret must be at least 32 bytes (see load_or_create_secret)")
        self._secret = secret
        self._clock = clock

    def _mac(self, claims: LinkClaims, state: str) -> str:
        message = b"\n".join([_DOMAIN, claims.payload.encode(), state.encode("utf-8")])
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest())

    def make(self, user_id: int, state: str, *, purpose: str, max_age: float) -> str:
        """A new token for an account.

        Parameters
        ----------
        user_id : int
        state : str
            The account's current :func:`hub.accounts.link_state`.
        purpose : {"invite", "reset"}
        max_age : float
            Seconds the link stays valid.
        """
        if purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {PURPOSES}, got {purpose!r}")
        if max_age <= 0:
            raise ValueError(f"max_age must be positive seconds, got {max_age}")
        claims = LinkClaims(
            int(user_id), purpose, int(self._clock() + max_age), secrets.token_urlsafe(12)
        )
        return f"{claims.payload}.{self._mac(claims, state)}"

    def verify(self, token: str, state: str | None) -> LinkClaims:
        """Check a token against the account's current state.

        Parameters
        ----------
        token : str
        state : str or None
            :func:`hub.accounts.link_state` of the account named by the token, or
            ``None`` when there is no such account.

        Returns
        -------
        LinkClaims

        Raises
        ------
        LinkInvalid
            Malformed, altered, for another account, or already used.
        LinkExpired
            Authentic but too old.
        """
        claims = parse_token(token)
        expected = self._mac(claims, state or "")
        given = token.rsplit(".", 1)[1]
        # Compare first, then look at the account and the clock: nothing about the
        # account leaks to someone without a valid MAC.
        if not hmac.compare_digest(expected, given) or state is None:
            raise LinkInvalid(
                "This link is not valid: it has already been used, or a newer one replaced it."
            )
        if self._clock() > claims.expires:
            raise LinkExpired("This link has expired. Ask for a new one below.")
        return claims


def load_or_create_secret(path: str | Path) -> bytes:
    """The link secret kept in ``path``, created (32 random bytes, hex, mode 0600) if absent.

    Creation is exclusive, so the hub and a ``gsp`` command starting together agree on
    one secret.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bytes
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    # A reader racing a writer could see an empty file: retry briefly.
    for _ in range(50):
        text = path.read_text().strip()
        if text:
            break
        time.sleep(0.01)
    secret = text.encode()
    if len(secret) < 32:
        raise ValueError(
            f"link secret in {path} is {len(secret)} bytes; it must be at least 32 "
            "(delete the file to have a new one made)"
        )
    return secret


def secret_from_environment(path: str | Path) -> bytes:
    """``$GSP_LINK_SECRET`` when set (hub and service in separate pods share it that way),
    else the secret file at ``path`` (see :func:`load_or_create_secret`).

    Raises
    ------
    ValueError
        When ``$GSP_LINK_SECRET`` is shorter than 32 characters.
    """
    env = os.environ.get("GSP_LINK_SECRET", "").strip()
    if env:
        if len(env) < 32:
            raise ValueError(
                f"GSP_LINK_SECRET is {len(env)} characters; it must be at least 32 "
                "(e.g. the output of `openssl rand -hex 32`)"
            )
        return env.encode()
    return load_or_create_secret(path)
