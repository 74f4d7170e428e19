"""A browser's way in: hub login, the service's OAuth, then cookies with XSRF."""

from __future__ import annotations

import re

import requests

PASSWORD = "correct horse battery staple 42"


def _login(world, username: str) -> requests.Session:
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import get_user_by_username, set_password_hash
    from hub.passwords import PasswordHasher

    db = Database(world.hub.database_url)
    try:
        with db.transaction() as s:
            set_password_hash(s, get_user_by_username(s, username), PasswordHasher().hash(PASSWORD))
    finally:
        db.dispose()
    browser = requests.Session()
    page = browser.get(f"{world.hub.url}/hub/login", timeout=30)
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    form = {"username": username, "password": PASSWORD}
    if xsrf:
        form["_xsrf"] = xsrf.group(1)
    r = browser.post(f"{world.hub.url}/hub/login", data=form, timeout=30)
    assert r.status_code == 200, r.text[:500]
    # The service's login page runs the OAuth dance and comes back to the docs.
    r = browser.get(world.url("docs/login"), timeout=30)
    assert r.status_code == 200 and r.url.endswith("/api/docs/"), r.url
    return browser


def test_cookie_session_works_and_posts_need_the_xsrf_header(world):
    browser = _login(world, "bob")
    assert browser.get(world.url(""), timeout=30).json()["user"] == "bob"
    fid = world.ids["p1_extracted"]
    url = world.url(f"files/{fid}/comments/")
    refused = browser.post(url, json={"text": "no xsrf"}, timeout=30)
    assert refused.status_code == 403
    # The service's own _xsrf cookie (the hub has another one, on /hub/).
    token = next(
        c.value for c in browser.cookies if c.name == "_xsrf" and c.path == "/services/gsp/"
    )
    ok = browser.post(url, json={"text": "with xsrf"}, headers={"X-XSRFToken": token}, timeout=30)
    assert ok.status_code == 201, ok.text
    texts = [c["text"] for c in browser.get(url, timeout=30).json()["results"]]
    assert "with xsrf" in texts and "no xsrf" not in texts


def test_a_browser_session_get_never_adds_a_collaborator(world):
    """The seed's legacy GET works for tokens only: a page could make a browser send it."""
    browser = _login(world, "alice")
    url = world.url(f"proposals/collaborators/{world.proposals['p1']}/")
    payload = {"email": "lured@example.org", "action": "add"}
    r = browser.get(url, data=payload, headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 405, r.text
    assert r.headers["Allow"] == "POST" and "POST" in r.json()["detail"]
    members = browser.get(world.url(f"proposals/{world.proposals['p1']}/"), timeout=30).json()
    assert "lured@example.org" not in {u["email"] for u in members["collaborators"]}
