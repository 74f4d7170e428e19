"""The "set your password" emails: a new account's invitation and a forgotten password.

Both carry a link to ``<public url>hub/set-password?token=...`` (see :mod:`.links`);
the hub's set-password page consumes it. The hub (reset, first superuser), the ``gsp``
commands and the gsp service (invitations of new collaborators) all send them from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import urlencode

from .. import environment
from ..store.models import User
from .links import LinkSigner, link_state, public_base_url, secret_from_environment
from .mail import Mailer

INVITE_SUBJECT = "GSP Live: set your password"
RESET_SUBJECT = "GSP Live: reset your password"

_INVITE_BODY = """\
Hello {name},

An account on GSP Live, SOAR's live Goodman spectrograph pipeline, has been made for
you: you will see the data of the observing proposals you belong to.

Your username: {username}

Set a password with this link (valid for {valid}, usable once):

{url}

Passwords must not be too similar to your other personal information, must contain at
least {min_length} characters, must not be a commonly used password and must not be
entirely numeric. Please don't share your credentials with anyone.
"""

_RESET_BODY = """\
Hello {name},

Someone (we hope you) asked to reset the password of your GSP Live account.

Your username: {username}

Choose a new password with this link (valid for {valid}, usable once):

{url}

If you did not ask for this, ignore this message: your password stays as it is.
"""


def _duration(seconds: float) -> str:
    if seconds >= 86400 and seconds % 86400 == 0:
        n, unit = int(seconds // 86400), "day"
    elif seconds >= 3600 and seconds % 3600 == 0:
        n, unit = int(seconds // 3600), "hour"
    else:
        n, unit = max(1, round(seconds / 60)), "minute"
    return f"{n} {unit}{'s' if n != 1 else ''}"


def set_password_url(public_url: str, token: str) -> str:
    """The link to the hub's set-password page for a token.

    Parameters
    ----------
    public_url : str
        The hub's public base address, e.g. ``https://gsp.example.org/``.
    """
    base = public_url if public_url.endswith("/") else public_url + "/"
    return f"{base}hub/set-password?{urlencode({'token': token})}"


@dataclass
class LinkMailer:
    """Issues set-password links and mails them.

    Parameters
    ----------
    signer : LinkSigner
    mailer : Mailer
    public_url : str
        The hub's public base address.
    invite_max_age : float
        Seconds an invitation link stays valid (default 7 days).
    reset_max_age : float
        Seconds a reset link stays valid (default 1 hour).
    min_length : int
        The password length rule quoted in the invitation.
    """

    signer: LinkSigner
    mailer: Mailer
    public_url: str
    invite_max_age: float = 7 * 86400
    reset_max_age: float = 3600
    min_length: int = 8

    @classmethod
    def from_environment(cls, mailer: Mailer | None = None) -> LinkMailer:
        """Links signed with the shared secret, mailed and addressed as the ``GSP_*``
        variables say (:mod:`gsp_extension.environment`): ``GSP_PUBLIC_URL``, else the
        hub's bind URL (:func:`.links.public_base_url`)."""
        signer = LinkSigner(secret_from_environment(environment.link_secret_file()))
        address = public_base_url(environment.public_url(), environment.hub_bind_url())
        return cls(signer, mailer or Mailer(), address)

    def link(self, user: User, purpose: str) -> str:
        """A fresh set-password URL for the account."""
        max_age = self.invite_max_age if purpose == "invite" else self.reset_max_age
        token = self.signer.make(user.id, link_state(user), purpose=purpose, max_age=max_age)
        return set_password_url(self.public_url, token)

    def compose(self, user: User, purpose: str) -> tuple[str, str]:
        """Subject and body of the email for ``purpose`` ("invite" or "reset")."""
        if not user.email:
            raise ValueError(
                f"user {user.username!r} has no email address: add one before sending a link"
            )
        invite = purpose == "invite"
        body = (_INVITE_BODY if invite else _RESET_BODY).format(
            name=user.first_name or user.username,
            username=user.username,
            url=self.link(user, purpose),
            valid=_duration(self.invite_max_age if invite else self.reset_max_age),
            min_length=self.min_length,
        )
        return (INVITE_SUBJECT if invite else RESET_SUBJECT), body

    def send(self, user: User, purpose: str = "invite") -> EmailMessage:
        """Compose and send (blocking). Raises :class:`.mail.EmailError` on failure."""
        subject, body = self.compose(user, purpose)
        return self.mailer.send(user.email, subject, body)
