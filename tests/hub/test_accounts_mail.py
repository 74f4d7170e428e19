"""Email: the outbox folder and a real SMTP server (aiosmtpd), plain and STARTTLS + login."""

from __future__ import annotations

import datetime as dt
import email
import ipaddress
import ssl
from email import policy

import pytest
from hub_testing import SMTPInbox, free_port

from gsp_extension.accounts.mail import EmailError, Mailer, OutboxTransport, SMTPTransport


def test_outbox_writes_one_eml_file_per_message(tmp_path):
    mailer = Mailer(backend="outbox", outbox_dir=str(tmp_path / "outbox"), sender="GSP <g@x.org>")
    mailer.send("ana@example.org", "first", "hello Ana")
    mailer.send("bo@example.org", "second", "hello Bo")
    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    assert not list((tmp_path / "outbox").glob("*.part"))
    msgs = [email.message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert {m["To"] for m in msgs} == {"ana@example.org", "bo@example.org"}
    first = next(m for m in msgs if m["Subject"] == "first")
    assert first["From"] == "GSP <g@x.org>"
    assert first.get_content().strip() == "hello Ana"
    assert first["Message-ID"] and first["Date"]


def test_backend_defaults_follow_the_environment(monkeypatch, tmp_path):
    for name in ["GSP_SMTP_HOST", "GSP_SMTP_PORT", "GSP_SMTP_SECURITY"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GSP_DATA_ROOT", str(tmp_path))
    mailer = Mailer()
    assert mailer.backend == "outbox"
    assert mailer.outbox_dir == str(tmp_path / "outbox")
    monkeypatch.setenv("GSP_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("GSP_SMTP_SECURITY", "ssl")
    mailer = Mailer()
    assert (mailer.backend, mailer.smtp_host, mailer.smtp_port) == ("smtp", "smtp.example.org", 465)
    assert isinstance(mailer.transport(), SMTPTransport)


def test_a_bad_recipient_is_refused_before_sending(tmp_path):
    mailer = Mailer(backend="outbox", outbox_dir=str(tmp_path))
    with pytest.raises(ValueError, match="not an email address"):
        mailer.send("nobody", "s", "b")
    assert not list(tmp_path.iterdir())


def test_smtp_delivers_to_a_real_server(smtp_server):
    host, port, inbox = smtp_server
    mailer = Mailer(backend="smtp", smtp_host=host, smtp_port=port, smtp_security="none")
    mailer.send("ana@example.org", "GSP Live: set your password", "the link")
    assert len(inbox.messages) == 1
    msg = inbox.messages[0]
    assert msg["To"] == "ana@example.org"
    assert msg["Subject"] == "GSP Live: set your password"
    assert msg.get_content().strip() == "the link"


@pytest.mark.asyncio
async def test_async_send_reaches_the_server(smtp_server):
    host, port, inbox = smtp_server
    mailer = Mailer(backend="smtp", smtp_host=host, smtp_port=port, smtp_security="none")
    await mailer.asend("bo@example.org", "s", "b")
    assert [m["To"] for m in inbox.messages] == ["bo@example.org"]


def test_unreachable_server_gives_a_clear_error():
    transport = SMTPTransport("127.0.0.1", free_port(), "none", timeout=5)
    mailer = Mailer(backend="outbox")
    with pytest.raises(
        EmailError, match=r"could not send mail to ana@example.org through 127\.0\.0\.1"
    ):
        transport.deliver(mailer.message("ana@example.org", "s", "b"))


def test_empty_host_is_a_configuration_error():
    with pytest.raises(ValueError, match="smtp_host"):
        Mailer(backend="smtp", smtp_host="").transport()


def _self_signed(tmp_path):
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_starttls_and_login_with_a_private_ca(tmp_path):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    logins = []

    def check(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"relay-pass")

    inbox = SMTPInbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=check,
        auth_require_tls=True,
    )
    controller.start()
    try:
        common = dict(
            backend="smtp",
            smtp_host="127.0.0.1",
            smtp_port=controller.port,
            smtp_security="starttls",
            smtp_username="gsp",
            smtp_ca_file=str(cert_file),
            smtp_timeout=10,
        )
        Mailer(smtp_password="relay-pass", **common).send("ana@example.org", "tls", "b")
        assert [m["Subject"] for m in inbox.messages] == ["tls"]
        assert logins == [(b"gsp", b"relay-pass")]
        # without the private CA the server's certificate is not trusted
        with pytest.raises(EmailError, match="CERTIFICATE_VERIFY_FAILED"):
            Mailer(**{**common, "smtp_ca_file": ""}, smtp_password="relay-pass").send(
                "ana@example.org", "x", "b"
            )
        assert len(inbox.messages) == 1
    finally:
        controller.stop()


def test_outbox_transport_is_usable_alone(tmp_path):
    path = OutboxTransport(tmp_path / "o").deliver(Mailer().message("a@b.org", "s", "b"))
    assert path.suffix == ".eml" and path.exists()
