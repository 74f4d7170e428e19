"""The service's invitations: links addressed by the one public-address rule."""

from __future__ import annotations

import asyncio
import email
from email import policy

import pytest

from gsp_extension.accounts.mail import Mailer
from gsp_extension.api.mail import ServiceMailer
from gsp_extension.store.models import User


@pytest.mark.parametrize(
    ("public", "bind", "expected"),
    [
        ("https://gsp.example.org/", "http://127.0.0.1:8100", "https://gsp.example.org/hub/"),
        ("", "http://127.0.0.1:8100", "http://127.0.0.1:8100/hub/"),
        # a hub bound to every interface: the request's origin under the hub's base path
        ("", "http://0.0.0.0:8000", "http://soar.example:8100/jhub/hub/"),
    ],
)
def test_invitation_links_follow_the_public_address_rule(tmp_path, public, bind, expected):
    outbox = tmp_path / "outbox"
    mailer = ServiceMailer(
        Mailer(backend="outbox", outbox_dir=str(outbox)),
        tmp_path / "secret",
        public_url=public,
        bind_url=bind,
        hub_base_url="/jhub/",
    )
    user = User(id=3, username="nia", email="nia@example.org", is_active=True)
    asyncio.run(mailer.ainvite(user, "http://soar.example:8100"))
    (path,) = outbox.glob("*.eml")
    body = email.message_from_bytes(path.read_bytes(), policy=policy.default).get_content()
    assert f"{expected}set-password?token=" in body
