"""Invitation links point to where the hub listens when no public URL is configured.

Issue 14 item 3: with ``--port 8100`` and no ``GSP_PUBLIC_URL``, the service's
invitation mail said ``http://localhost:8000/hub/set-password?...``. Here a hub runs on a
free port (never 8000) without ``GSP_PUBLIC_URL`` (conftest.py's ``bare_hub``, which the
seed examples' world shares); staff create an account through the API, and the link of
the invitation is followed to set a password and log in.
"""

from __future__ import annotations

import email
import re
from email import policy
from urllib.parse import urlsplit

import pytest
import requests

from gsp_extension.store import Database
from gsp_extension.store.accounts import create_user

pytestmark = pytest.mark.slow

XSRF = re.compile(r'name="_xsrf" value="([^"]+)"')
PASSWORD = "vermilion-Otter-42"


@pytest.fixture(scope="module")
def hub(bare_hub):
    db = Database(bare_hub.database_url)
    try:
        with db.transaction() as s:
            create_user(s, "invstaff", email="invstaff@example.org", is_staff=True)
    finally:
        db.dispose()
    return bare_hub


def _xsrf(html: str) -> str:
    match = XSRF.search(html)
    assert match, "page has no _xsrf field"
    return match.group(1)


def test_invitation_link_uses_the_bind_port_and_works(hub):
    port = urlsplit(hub.url).port
    assert port != 8000
    outbox = hub.data_root / "outbox"
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()

    r = requests.post(
        hub.api + "users/",
        json={"email": "newbie@example.org", "first_name": "Nia"},
        headers={"Authorization": f"token {hub.token_for('invstaff')}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    assert r.headers.get("X-GSP-Invitation") == "sent"
    username = r.json()["username"]

    (path,) = set(outbox.glob("*.eml")) - before
    mail = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    link = re.search(r"(https?://\S+/hub/set-password\?token=\S+)", mail.get_content()).group(1)
    assert link.startswith(f"{hub.url}/hub/set-password?token="), link

    browser = requests.Session()
    page = browser.get(link, timeout=30)
    assert page.status_code == 200 and username in page.text
    done = browser.post(
        f"{hub.url}/hub/set-password",
        data={
            "_xsrf": _xsrf(page.text),
            "token": link.split("token=", 1)[1],
            "password": PASSWORD,
            "password_confirmation": PASSWORD,
        },
        timeout=30,
    )
    assert done.status_code == 200 and 'id="password-done"' in done.text

    login_page = browser.get(f"{hub.url}/hub/login", timeout=30)
    r = browser.post(
        f"{hub.url}/hub/login",
        data={"username": username, "password": PASSWORD, "_xsrf": _xsrf(login_page.text)},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 302, r.text
