"""Signed, expiring, single-use "set your password" links, and the address they point to.

A token is an :mod:`itsdangerous` URL-safe signed payload ``[user id, purpose, expiry,
nonce]``. The signature (HMAC-SHA256, key derived from a server secret) covers the
payload *and* the account's current state (its password hash, address and active flag;
see :func:`link_state`), which is not in the token: it is the serializer's salt.
Setting the password changes the hash, so every link issued before stops verifying: a
link works once, with no token table to keep or purge (the scheme of Django's
``PasswordResetTokenGenerator``). The hub consumes a link with a compare-and-swap on
the hash (:func:`hub.accounts.replace_password_hash`), so two concurrent submissions of
one link cannot both succeed.

Anything that issues links (the hub, ``gsp`` commands, the gsp service) only needs the
same secret (:func:`secret_from_environment`) and the same public address
(:func:`public_base_url`).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeSerializer

from .. import environment
from ..store.models import User

#: Purposes a link may have: a new account's first password, or a forgotten one.
PURPOSES = ("invite", "reset")

_DOMAIN = "gsp-live set-password link v2"
#: Longer tokens are refused before any decoding (ours are about 100 characters).
_MAX_TOKEN = 400


class LinkError(ValueError):
    """A link that cannot be used; the message is safe to show to the visitor."""


class LinkInvalid(LinkError):
    """Malformed, tampered with, or already used (the account changed since)."""


class LinkExpired(LinkError):
    """Well-formed and authentic, but past its expiry time."""


_MALFORMED = "This link is not valid: it may have been cut or altered."


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
    def payload(self) -> list:
        return [self.user_id, self.purpose, self.expires, self.nonce]


def link_state(user: User) -> str:
    """The account state a set-password link is bound to.

    A change of any part (a new password, a new address, deactivation) voids every
    link issued before it.
    """
    return "|".join(
        [str(user.id), user.password_hash or "", user.email or "", "1" if user.is_active else "0"]
    )


def _serializer(secret: bytes, state: str) -> URLSafeSerializer:
    return URLSafeSerializer(
        secret,
        salt=f"{_DOMAIN}\n{state}",
        signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
    )


def _claims(payload: object) -> LinkClaims:
    """The claims of a decoded payload; :class:`LinkInvalid` unless it has our shape."""
    if not (isinstance(payload, list) and len(payload) == 4):
        raise LinkInvalid(_MALFORMED)
    uid, purpose, expires, nonce = payload
    ints = all(type(v) is int and 0 <= v < 10**18 for v in (uid, expires))
    if not (ints and purpose in PURPOSES and isinstance(nonce, str) and 8 <= len(nonce) <= 64):
        raise LinkInvalid(_MALFORMED)
    return LinkClaims(uid, purpose, expires, nonce)


def parse_token(token: str) -> LinkClaims:
    """Read the visible fields of a token, without checking its signature.

    Raises
    ------
    LinkInvalid
        When the token does not have the form of one of ours.
    """
    if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN:
        raise LinkInvalid(_MALFORMED)
    try:
        _ok, payload = _serializer(b"", "").loads_unsafe(token)
    except BadData:  # pragma: no cover - loads_unsafe reports rather than raises
        raise LinkInvalid(_MALFORMED) from None
    return _claims(payload)


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

    def make(self, user_id: int, state: str, *, purpose: str, max_age: float) -> str:
        """A new token for an account.

        Parameters
        ----------
        user_id : int
        state : str
            The account's current :func:`link_state`.
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
        return _serializer(self._secret, state).dumps(claims.payload)

    def verify(self, token: str, state: str | None) -> LinkClaims:
        """Check a token against the account's current state.

        Parameters
        ----------
        token : str
        state : str or None
            :func:`link_state` of the account named by the token, or ``None`` when
            there is no such account.

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
        parse_token(token)
        # The signature first, then the account and the clock: nothing about the
        # account leaks to someone without a valid signature.
        try:
            claims = _claims(_serializer(self._secret, state or "").loads(token))
        except BadData:
            claims = None
        if claims is None or state is None:
            raise LinkInvalid(
                "This link is not valid: it has already been used, or a newer one replaced it."
            )
        if self._clock() > claims.expires:
            raise LinkExpired("This link has expired. Ask for a new one below.")
        return claims


_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]", "*"}


def public_base_url(configured: str = "", bind_url: str = "", request_url: str = "") -> str:
    """The hub's public address for links in emails, ending with ``/``.

    One rule for every mailed link (invitations, resets, notifications): the address a
    deployer configured (``GSP_PUBLIC_URL``), else the hub's bind URL with its port
    (what ``gsp up --port`` sets), else the address of the request that caused the mail.

    Parameters
    ----------
    configured : str
        ``JupyterHub.public_url`` / ``GSP_PUBLIC_URL``; may be empty.
    bind_url : str
        The proxy's bind URL (``GSP_HUB_BIND_URL``); ignored when it binds every
        interface (``0.0.0.0``), which names no address a reader could open.
    request_url : str
        ``<protocol>://<host>/`` of the current request.

    Raises
    ------
    ValueError
        When none of the three gives an address.
    """
    for candidate in (configured, bind_url, request_url):
        candidate = (candidate or "").strip()
        if not candidate:
            continue
        parts = urlsplit(candidate)
        if parts.scheme not in ("http", "https") or (parts.hostname or "") in _WILDCARD_HOSTS:
            continue
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        return f"{parts.scheme}://{parts.netloc}{path}"
    raise ValueError(
        "no public address for emailed links: set GSP_PUBLIC_URL (e.g. https://gsp.example.org/)"
    )


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
    env = environment.link_secret()
    if env:
        if len(env) < 32:
            raise ValueError(
                f"GSP_LINK_SECRET is {len(env)} characters; it must be at least 32 "
                "(e.g. the output of `openssl rand -hex 32`)"
            )
        return env.encode()
    return load_or_create_secret(path)
