"""Outgoing email: an SMTP relay in production, an outbox folder of ``.eml`` files by default.

Both transports take a finished :class:`email.message.EmailMessage` (one interface,
``deliver``); :class:`Mailer` holds the settings as traitlets, builds messages and
picks the transport. The outbox keeps an embedded installation self-contained: the
set-password mails of a demo can be opened with any mail client, or read by tests.

Configuration (``jupyterhub_config.py``, or the gsp service's config), e.g.::

    c.Mailer.backend = "smtp"
    c.Mailer.smtp_host = "smtp.example.org"
    c.Mailer.smtp_security = "starttls"
    c.Mailer.smtp_username = "gsp"
    c.Mailer.smtp_password = os.environ["GSP_SMTP_PASSWORD"]
    c.Mailer.sender = "GSP Live <gsp-live@example.org>"

Every trait's default comes from a ``GSP_SMTP_*`` / ``GSP_EMAIL_*`` variable (read by
:mod:`gsp_extension.environment`), so the ``gsp`` commands, the hub and the gsp service
send mail the same way from one environment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from traitlets import CaselessStrEnum, Float, Integer, Unicode, default
from traitlets.config import LoggingConfigurable

from .. import environment


class EmailError(RuntimeError):
    """A message could not be handed over; the message says to whom and why."""


class OutboxTransport:
    """Writes each message as ``<UTC time>-<random>.eml`` into a folder.

    Parameters
    ----------
    folder : str or Path
        Created when missing.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def deliver(self, message: EmailMessage) -> Path:
        """Write the message; the file appears whole (written aside, then renamed)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        final = self.folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
        partial = final.with_suffix(".eml.part")
        partial.write_bytes(message.as_bytes())
        os.replace(partial, final)
        return final


class SMTPTransport:
    """Hands messages to an SMTP server.

    Parameters
    ----------
    host : str
    port : int
    security : {"starttls", "ssl", "none"}
        ``starttls`` upgrades a plain connection (port 587), ``ssl`` is implicit TLS
        (port 465), ``none`` sends in clear (a relay on localhost or a test server).
    username, password : str, optional
        Login, when both are given.
    timeout : float
        Seconds for connecting and for each command.
    ca_file : str, optional
        Certificates to trust instead of the system's (an internal relay's own CA).
    """

    def __init__(
        self,
        host: str,
        port: int,
        security: str = "starttls",
        username: str = "",
        password: str = "",
        timeout: float = 30.0,
        ca_file: str = "",
    ) -> None:
        if security not in ("starttls", "ssl", "none"):
            raise ValueError(f"security must be starttls, ssl or none, got {security!r}")
        if not host:
            raise ValueError("SMTP host is empty: set Mailer.smtp_host (or GSP_SMTP_HOST)")
        self.host, self.port, self.security = host, int(port), security
        self.username, self.password = username, password
        self.timeout, self.ca_file = timeout, ca_file

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)

    def deliver(self, message: EmailMessage) -> None:
        """Send the message; raise :class:`EmailError` on any refusal or network error."""
        try:
            if self.security == "ssl":
                client = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=self._context()
                )
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with client:
                if self.security == "starttls":
                    client.starttls(context=self._context())
                if self.username and self.password:
                    client.login(self.username, self.password)
                refused = client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            raise EmailError(
                f"could not send mail to {message['To']} through "
                f"{self.host}:{self.port} ({self.security}): {exc}"
            ) from exc
        if refused:
            raise EmailError(f"the SMTP server refused recipients: {refused}")


class Mailer(LoggingConfigurable):
    """Email settings and sending."""

    backend = CaselessStrEnum(
        ["outbox", "smtp"],
        config=True,
        help="""How mail leaves: 'outbox' writes .eml files into `outbox_dir`
        (the embedded default), 'smtp' sends through `smtp_host`.
        Default: 'smtp' when $GSP_SMTP_HOST is set, else 'outbox'.""",
    )

    @default("backend")
    def _default_backend(self) -> str:
        return "smtp" if environment.text("GSP_SMTP_HOST") else "outbox"

    sender = Unicode(
        config=True,
        help="From address, e.g. 'GSP Live <gsp-live@example.org>' ($GSP_EMAIL_FROM).",
    )

    @default("sender")
    def _default_sender(self) -> str:
        return environment.text("GSP_EMAIL_FROM", "GSP Live <gsp-live@localhost>")

    outbox_dir = Unicode(
        config=True,
        help="""Folder of the outbox backend (default: outbox/ in the data root of the
        application that owns this mailer, else in $GSP_DATA_ROOT).""",
    )

    @default("outbox_dir")
    def _default_outbox(self) -> str:
        root = getattr(self.parent, "data_root", "")
        return str(Path(root) / "outbox") if root else str(environment.outbox_dir())

    smtp_host = Unicode(config=True, help="SMTP server name ($GSP_SMTP_HOST).")

    @default("smtp_host")
    def _default_host(self) -> str:
        return environment.text("GSP_SMTP_HOST")

    smtp_security = CaselessStrEnum(
        ["starttls", "ssl", "none"],
        config=True,
        help="""'starttls' (port 587), 'ssl' (implicit TLS, port 465) or 'none'
        (clear text: only for a relay on the same host). ($GSP_SMTP_SECURITY)""",
    )

    @default("smtp_security")
    def _default_security(self) -> str:
        return environment.text("GSP_SMTP_SECURITY", "starttls").lower()

    smtp_port = Integer(
        config=True,
        help="SMTP port ($GSP_SMTP_PORT); default 587, 465 for 'ssl', 25 for 'none'.",
    )

    @default("smtp_port")
    def _default_port(self) -> int:
        explicit = environment.whole_number("GSP_SMTP_PORT", 0)
        if explicit:
            return explicit
        return {"starttls": 587, "ssl": 465, "none": 25}[self.smtp_security]

    smtp_username = Unicode(config=True, help="SMTP login name ($GSP_SMTP_USERNAME).")

    @default("smtp_username")
    def _default_username(self) -> str:
        return environment.text("GSP_SMTP_USERNAME")

    smtp_password = Unicode(config=True, help="SMTP password ($GSP_SMTP_PASSWORD).")

    @default("smtp_password")
    def _default_password(self) -> str:
        return environment.text("GSP_SMTP_PASSWORD")

    smtp_ca_file = Unicode(
        config=True,
        help="CA certificates to trust for the SMTP server's TLS instead of the system's.",
    )

    @default("smtp_ca_file")
    def _default_ca(self) -> str:
        return environment.text("GSP_SMTP_CA_FILE")

    smtp_timeout = Float(30.0, config=True, help="Seconds to wait for the SMTP server.")

    def transport(self) -> OutboxTransport | SMTPTransport:
        """The transport the settings name."""
        if self.backend == "outbox":
            return OutboxTransport(self.outbox_dir)
        return SMTPTransport(
            self.smtp_host,
            self.smtp_port,
            self.smtp_security,
            self.smtp_username,
            self.smtp_password,
            self.smtp_timeout,
            self.smtp_ca_file,
        )

    def message(self, to: str, subject: str, body: str) -> EmailMessage:
        """A plain-text message from :attr:`sender`."""
        if not to or "@" not in to:
            raise ValueError(f"recipient {to!r} is not an email address")
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = to
        msg["Subject"] = subject
        msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        msg["Message-ID"] = make_msgid(domain="gsp-live")
        msg.set_content(body)
        return msg

    def send(self, to: str, subject: str, body: str) -> EmailMessage:
        """Build and deliver a message (blocking); returns it.

        Raises
        ------
        EmailError
            When the SMTP server cannot be reached or refuses the message.
        """
        msg = self.message(to, subject, body)
        where = self.transport().deliver(msg)
        self.log.info("mail %r to %s via %s", subject, to, where or self.smtp_host)
        return msg

    async def asend(self, to: str, subject: str, body: str) -> EmailMessage:
        """:meth:`send` in a worker thread (SMTP is blocking network I/O)."""
        return await asyncio.to_thread(self.send, to, subject, body)
