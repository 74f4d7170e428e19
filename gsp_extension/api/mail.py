"""Mail from the service: notifications (``POST api/email/``) and invitations.

Sending goes through the hub's mail code (:mod:`hub.email`: SMTP, or an outbox folder
of ``.eml`` files by default) and its signed set-password links (:mod:`hub.invites`),
configured by the same ``GSP_*`` environment as the hub, so a link made here opens the
hub's set-password page.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from ..store.models import User


class ServiceMailer:
    """Sends plain messages and account invitations.

    Parameters
    ----------
    outbox_dir : Path
        Folder of the outbox backend (used unless ``GSP_SMTP_HOST`` selects SMTP).
    """

    def __init__(self, outbox_dir: Path, log: Any = None) -> None:
        from hub.email import Mailer

        self.mailer = (
            Mailer(outbox_dir=str(outbox_dir), log=log)
            if log
            else Mailer(outbox_dir=str(outbox_dir))
        )
        self._links = None

    def _link_mailer(self):
        if self._links is None:
            from hub import settings
            from hub.invites import LinkMailer
            from hub.links import LinkSigner, load_or_create_secret

            signer = LinkSigner(load_or_create_secret(settings.link_secret_file()))
            self._links = LinkMailer(
                signer=signer, mailer=self.mailer, public_url=settings.public_url()
            )
        return self._links

    async def asend(self, to: str, subject: str, body: str) -> None:
        """Send one message (in a worker thread)."""
        await asyncio.to_thread(self.mailer.send, to, subject, body)

    async def ainvite(self, user: User) -> None:
        """Mail ``user`` a link to set their first password."""
        await asyncio.to_thread(self._link_mailer().send, user, "invite")


def make_mailer(data_root: Path, log: Any = None) -> ServiceMailer:
    """The service's mailer, writing to ``<data_root>/outbox`` unless SMTP is configured."""
    return ServiceMailer(data_root / "outbox", log=log)
