"""A real JupyterHub (subprocess, with configurable-http-proxy) using ProposalAuthenticator.

One hub for the module, on free ports, with a temporary data root and a real SMTP server
(aiosmtpd) receiving its mail: login, groups, admin, the password pages, lockout,
deactivation and a clean shutdown.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests
from hub_testing import SMTPInbox, free_port

from gsp_extension.store import Database, upgrade_database
from gsp_extension.store.accounts import create_user, get_user_by_username
from gsp_extension.store.proposals import add_collaborator, create_proposal, get_proposal_by_soar_id
from hub.passwords import PasswordHasher
from tests.requirements import require

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CHP = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
GOOD = "vermilion-Otter-42"
TOKEN = "tester-" + "0" * 40
REFRESH_AGE = 2
XSRF = re.compile(r'name="_xsrf" value="([^"]+)"')


class Hub:
    def __init__(self, url, proc, env, db, inbox, log):
        self.url, self.proc, self.env, self.db, self.inbox, self.log = (
            url,
            proc,
            env,
            db,
            inbox,
            log,
        )

    def api(self, method, path, **kw):
        headers = {"Authorization": f"token {TOKEN}"}
        return requests.request(
            method, f"{self.url}hub/api/{path}", headers=headers, timeout=30, **kw
        )

    def gsp(self, *argv):
        return subprocess.run(
            [str(Path(sys.executable).parent / "gsp"), *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def wait_for_mail(self, to, count_before, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            mails = [m for m in self.inbox.messages[count_before:] if m["To"] == to]
            if mails:
                return mails[-1]
            time.sleep(0.1)
        raise AssertionError(f"no mail to {to} within {timeout} s")


def link_in(mail) -> str:
    return re.search(r"(http://\S+/hub/set-password\?token=\S+)", mail.get_content()).group(1)


def form_xsrf(html: str) -> str:
    match = XSRF.search(html)
    assert match, "page has no _xsrf field"
    return match.group(1)


def login(hub, username, password=GOOD):
    """A requests session after POST /hub/login, and the response."""
    s = requests.Session()
    page = s.get(f"{hub.url}hub/login", timeout=30)
    r = s.post(
        f"{hub.url}hub/login",
        data={"username": username, "password": password, "_xsrf": form_xsrf(page.text)},
        allow_redirects=False,
        timeout=30,
    )
    return s, r


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    require(CHP.exists(), f"configurable-http-proxy missing at {CHP} (run `npm ci`)")
    from aiosmtpd.controller import Controller

    tmp = tmp_path_factory.mktemp("hub")
    data = tmp / "data"
    db_url = f"sqlite:///{data / 'gsp.sqlite'}"
    upgrade_database(db_url)
    db = Database(db_url)
    fast = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    with db.transaction() as s:
        pw = fast.hash(GOOD)
        people = {
            name: create_user(s, name, email=f"{name}@example.org", password_hash=pw, **extra)
            for name, extra in [
                ("ana", {}),
                ("bo", {}),
                ("leo", {}),
                ("max", {}),
                ("sam", {"is_staff": True}),
            ]
        }
        create_proposal(s, "SOAR2026B-001", pi=people["ana"], collaborators=[people["bo"]])

    inbox = SMTPInbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()

    port, api_port, hub_port = free_port(), free_port(), free_port()
    url = f"http://127.0.0.1:{port}/"
    config = tmp / "jupyterhub_config.py"
    config.write_text(
        textwrap.dedent(
            f"""
            from hub.config_helpers import configure_accounts
            c = get_config()  # noqa
            configure_accounts(c, database_url={db_url!r})
            c.JupyterHub.ip = "127.0.0.1"
            c.JupyterHub.port = {port}
            c.JupyterHub.hub_ip = "127.0.0.1"
            c.JupyterHub.hub_port = {hub_port}
            c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
            c.ConfigurableHTTPProxy.command = [{str(CHP)!r}]
            c.JupyterHub.db_url = "sqlite:///{tmp / "jupyterhub.sqlite"}"
            c.JupyterHub.cookie_secret_file = "{tmp / "cookie_secret"}"
            c.JupyterHub.services = [{{"name": "tester", "api_token": {TOKEN!r}}}]
            c.JupyterHub.load_roles = [{{
                "name": "tester",
                "scopes": ["admin:users", "admin:groups", "list:users", "read:users",
                           "list:groups", "read:groups", "tokens"],
                "services": ["tester"],
            }}]
            c.ProposalAuthenticator.auth_refresh_age = {REFRESH_AGE}
            c.ProposalAuthenticator.lockout_max_failures = 3
            c.ProposalAuthenticator.public_url = {url!r}
            c.Mailer.backend = "smtp"
            c.Mailer.smtp_host = "127.0.0.1"
            c.Mailer.smtp_port = {smtp.port}
            c.Mailer.smtp_security = "none"
            """
        )
    )
    env = {
        **os.environ,
        "GSP_DATA_ROOT": str(data),
        "GSP_DATABASE_URL": db_url,
        "GSP_PUBLIC_URL": url,
        "GSP_SMTP_HOST": "127.0.0.1",
        "GSP_SMTP_PORT": str(smtp.port),
        "GSP_SMTP_SECURITY": "none",
    }
    env.pop("GSP_LINK_SECRET_FILE", None)
    env.pop("GSP_LINK_SECRET", None)
    log = open(tmp / "hub.log", "w")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(config)],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    handle = Hub(url, proc, env, db, inbox, tmp / "hub.log")
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError("hub exited at start:\n" + handle.log.read_text()[-3000:])
            try:
                if requests.get(f"{url}hub/api/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("hub did not start in 60 s:\n" + handle.log.read_text()[-3000:])
            time.sleep(0.25)
        yield handle
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        log.close()
        smtp.stop()
        db.dispose()


def test_login_page_offers_forgot_password(hub):
    page = requests.get(f"{hub.url}hub/login", timeout=30)
    assert page.status_code == 200
    assert 'id="forgot-password-link"' in page.text


BRAND = "Goodman Spectroscopic Pipeline Live"


def _branded_dark(html: str) -> bool:
    """The page names the observatory and defaults to the dark theme before paint."""
    return (
        'id="gsp-brand"' in html
        and BRAND in html
        and '"jupyterhub-bs-theme"' in html
        and ': "dark";' in html
    )


def test_every_hub_page_is_branded_and_dark_by_default(hub):
    anonymous = requests.Session()
    login_page = anonymous.get(f"{hub.url}hub/login", timeout=30)
    assert _branded_dark(login_page.text) and 'id="gsp-login-banner"' in login_page.text
    forgot = anonymous.get(f"{hub.url}hub/forgot-password", timeout=30)
    assert _branded_dark(forgot.text)
    bad_link = anonymous.get(f"{hub.url}hub/set-password?token=nonsense", timeout=30)
    assert bad_link.status_code == 400 and _branded_dark(bad_link.text)
    ana, _ = login(hub, "ana")
    missing = ana.get(f"{hub.url}hub/no-such-page", timeout=30)
    assert missing.status_code == 404 and _branded_dark(missing.text)
    token_page = ana.get(f"{hub.url}hub/token", timeout=30)
    assert _branded_dark(token_page.text)
    # one theme switch (the data browser's preference): the hub's own toggle is hidden
    assert re.search(r'id="dark-theme-toggle"[^>]*hidden', token_page.text)
    assert 'id="data-browser-link"' in token_page.text


def test_login_gives_proposal_groups_and_admin(hub):
    session, r = login(hub, "ana")
    assert r.status_code == 302, r.text[-500:]
    ana = hub.api("GET", "users/ana").json()
    assert (ana["groups"], ana["admin"]) == (["SOAR2026B-001"], False)
    _, r = login(hub, "sam")
    assert r.status_code == 302
    assert hub.api("GET", "users/sam").json()["admin"] is True
    assert hub.api("GET", "groups/SOAR2026B-001").json()["users"] == ["ana"]


def test_wrong_password_and_unknown_user_get_the_same_answer(hub):
    answers = []
    for username, password in [("ana", "wrong-password"), ("nobody", GOOD)]:
        _, r = login(hub, username, password)
        answers.append((r.status_code, "Invalid username or password" in r.text))
    assert answers == [(403, True), (403, True)]


def test_staff_only_actions_are_refused_to_others(hub):
    ana, _ = login(hub, "ana")
    sam, _ = login(hub, "sam")
    assert ana.get(f"{hub.url}hub/api/users", timeout=30).status_code == 403
    assert sam.get(f"{hub.url}hub/api/users", timeout=30).status_code == 200
    assert ana.get(f"{hub.url}hub/admin", timeout=30, allow_redirects=False).status_code == 403
    assert sam.get(f"{hub.url}hub/admin", timeout=30).status_code == 200


def test_a_collaborator_added_in_the_app_appears_in_the_hub_group(hub):
    leo, r = login(hub, "leo")
    assert r.status_code == 302
    assert hub.api("GET", "users/leo").json()["groups"] == []
    with hub.db.transaction() as s:
        proposal = get_proposal_by_soar_id(s, "SOAR2026B-001")
        add_collaborator(s, proposal, get_user_by_username(s, "leo"))
    time.sleep(REFRESH_AGE + 0.5)
    assert leo.get(f"{hub.url}hub/home", timeout=30).status_code == 200  # triggers the refresh
    assert hub.api("GET", "users/leo").json()["groups"] == ["SOAR2026B-001"]
    assert "leo" in hub.api("GET", "groups/SOAR2026B-001").json()["users"]


def test_invitation_email_link_sets_the_password_end_to_end(hub):
    before = len(hub.inbox.messages)
    result = hub.gsp("user", "add", "nina", "--email", "nina@example.org", "--first-name", "Nina")
    assert result.returncode == 0, result.stderr
    link = link_in(hub.wait_for_mail("nina@example.org", before))
    assert link.startswith(hub.url)
    browser = requests.Session()
    page = browser.get(link, timeout=30)
    assert page.status_code == 200 and "Set your password" in page.text and "nina" in page.text
    token = link.split("token=", 1)[1]
    weak = browser.post(
        f"{hub.url}hub/set-password",
        data={
            "_xsrf": form_xsrf(page.text),
            "token": token,
            "password": "1234",
            "password_confirmation": "1234",
        },
        timeout=30,
    )
    assert weak.status_code == 400
    for message in [
        "Your password must contain at least 8 characters.",
        "Your password can&#39;t be a commonly used password.",
        "Your password can&#39;t be entirely numeric.",
    ]:
        assert message in weak.text
    done = browser.post(
        f"{hub.url}hub/set-password",
        data={
            "_xsrf": form_xsrf(weak.text),
            "token": token,
            "password": GOOD,
            "password_confirmation": GOOD,
        },
        timeout=30,
    )
    assert done.status_code == 200 and 'id="password-done"' in done.text
    _, r = login(hub, "nina")
    assert r.status_code == 302
    again = requests.get(link, timeout=30)
    assert again.status_code == 400 and "not valid" in again.text


def test_change_password_page(hub):
    bo, _ = login(hub, "bo")
    elsewhere, _ = login(hub, "bo")
    page = bo.get(f"{hub.url}hub/change-password", timeout=30)
    assert page.status_code == 200
    assert "Please enter your old password, for security&#39;s sake" in page.text
    assert 'id="change-password-link"' in page.text  # the nav bar entry

    def post(old, new, confirm):
        form = bo.get(f"{hub.url}hub/change-password", timeout=30).text
        return bo.post(
            f"{hub.url}hub/change-password",
            data={
                "_xsrf": form_xsrf(form),
                "old_password": old,
                "new_password": new,
                "new_password_confirmation": confirm,
            },
            timeout=30,
        )

    r = post("wrong", "another-Otter-43", "another-Otter-43")
    assert r.status_code == 400 and "Your old password was entered incorrectly" in r.text
    r = post(GOOD, "bo@example.org!", "bo@example.org!")
    assert r.status_code == 400 and "too similar to your other personal information" in r.text
    r = post(GOOD, "another-Otter-43", "another-Otter-43")
    assert r.status_code == 200 and 'id="password-done"' in r.text
    # back to the data browser (the hub's root sends users to their server's default
    # page), not to the stock "Stop My Server" page
    back = re.search(r'id="back-to-data-browser" href="([^"]+)"', r.text)
    assert back and back.group(1) == "/hub/"
    # this browser stays logged in, every other one is logged out
    assert bo.get(f"{hub.url}hub/home", timeout=30, allow_redirects=False).status_code == 200
    other = elsewhere.get(f"{hub.url}hub/home", timeout=30, allow_redirects=False)
    assert other.status_code == 302 and "/hub/login" in other.headers["Location"]
    assert login(hub, "bo")[1].status_code == 403
    assert login(hub, "bo", "another-Otter-43")[1].status_code == 302
    anonymous = requests.get(f"{hub.url}hub/change-password", timeout=30, allow_redirects=False)
    assert anonymous.status_code == 302 and "/hub/login" in anonymous.headers["Location"]


def test_forgot_password_mails_a_reset_link(hub):
    browser = requests.Session()
    page = browser.get(f"{hub.url}hub/forgot-password", timeout=30)
    assert page.status_code == 200
    before = len(hub.inbox.messages)
    answers = []
    for address in ["nobody@example.org", "max@example.org"]:
        r = browser.post(
            f"{hub.url}hub/forgot-password",
            data={"_xsrf": form_xsrf(page.text), "email": address},
            timeout=30,
        )
        answers.append((r.status_code, 'id="forgot-password-sent"' in r.text))
    assert answers == [(200, True), (200, True)]
    mail = hub.wait_for_mail("max@example.org", before)
    assert mail["Subject"] == "GSP Live: reset your password"
    assert [m["To"] for m in hub.inbox.messages[before:]] == ["max@example.org"]
    link = link_in(mail)
    page = browser.get(link, timeout=30)
    assert page.status_code == 200 and "Choose a new password" in page.text
    r = browser.post(
        f"{hub.url}hub/set-password",
        data={
            "_xsrf": form_xsrf(page.text),
            "token": link.split("token=", 1)[1],
            "password": "Max-reset-Otter-7",
            "password_confirmation": "Max-reset-Otter-7",
        },
        timeout=30,
    )
    assert r.status_code == 200
    assert login(hub, "max", "Max-reset-Otter-7")[1].status_code == 302


def test_lockout_after_three_failures(hub):
    for _ in range(3):
        assert login(hub, "sam", "wrong-password")[1].status_code == 403
    _, r = login(hub, "sam")
    assert r.status_code == 403 and "Invalid username or password" in r.text
    assert login(hub, "ana")[1].status_code == 302  # others unaffected


def test_a_deactivated_users_token_stops_working(hub):
    token = hub.api("POST", "users/leo/tokens", json={"note": "test"}).json()["token"]
    me = requests.get(
        f"{hub.url}hub/api/user", headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert me.status_code == 200 and me.json()["name"] == "leo"
    result = hub.gsp("user", "deactivate", "leo")
    assert result.returncode == 0, result.stderr
    time.sleep(REFRESH_AGE + 0.5)
    me = requests.get(
        f"{hub.url}hub/api/user", headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert me.status_code == 403
    assert login(hub, "leo")[1].status_code == 403


def test_clean_shutdown_leaves_no_process_behind(hub):
    hub.proc.send_signal(signal.SIGTERM)
    assert hub.proc.wait(30) == 0
    deadline = time.monotonic() + 10
    while True:
        try:
            os.killpg(hub.proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "processes of the hub's group are still alive"
        time.sleep(0.2)
