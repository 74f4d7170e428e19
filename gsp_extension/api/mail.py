"""Mail from the service: notifications (``POST api/email/``) and invitations.

The mail code and the signed set-password links are the domain's
(:mod:`gsp_extension.accounts`), shared with the hub: a link made here opens the hub's
set-password page because both sign with the same secret and address links with the
same rule (:func:`gsp_extension.accounts.links.public_base_url`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from ..accounts.invites import LinkMailer
from ..accounts.links import LinkSigner, public_base_url, secret_from_environment
from ..accounts.mail import Mailer
from ..store.models import User


@dataclass
class ServiceMailer:
    """Sends plain messages and account invitations.

    Parameters
    ----------
    mailer : Mailer
        Transport and sender (``c.Mailer`` in the service's config).
    link_secret_file : Path
        The set-password links' secret (shared with the hub).
    public_url, bind_url : str
        The hub's configured public address and its bind URL (see
        :func:`~gsp_extension.accounts.links.public_base_url`).
    hub_base_url : str
        The hub's base path (``JUPYTERHUB_BASE_URL``), appended to a request's origin.
    """

    mailer: Mailer
    link_secret_file: Path
    public_url: str = ""
    bind_url: str = ""
    hub_base_url: str = "/"
    _signer: LinkSigner | None = None

    def link_mailer(self, request_origin: str = "") -> LinkMailer:
        """Issues links to the public address, the request's origin (``scheme://host``)
        under the hub's base path as the last resort."""
        if self._signer is None:
            self._signer = LinkSigner(secret_from_environment(self.link_secret_file))
        request_url = request_origin + self.hub_base_url if request_origin else ""
        address = public_base_url(self.public_url, self.bind_url, request_url)
        return LinkMailer(signer=self._signer, mailer=self.mailer, public_url=address)

    async def asend(self, to: str, subject: str, body: str) -> None:
        """Send one message (in a worker thread)."""
        await asyncio.to_thread(self.mailer.send, to, subject, body)

    async def ainvite(self, user: User, request_origin: str = "") -> None:
        """Mail ``user`` a link to set their first password.

        Parameters
        ----------
        user : User
        request_origin : str
            ``<protocol>://<host>`` of the request that made the account, used when
            neither a public address nor a usable bind URL is configured.
        """
        links = self.link_mailer(request_origin)
        await asyncio.to_thread(links.send, user, "invite")
