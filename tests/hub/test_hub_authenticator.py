"""ProposalAuthenticator against a real app database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from gsp_extension.accounts.links import LinkExpired, LinkInvalid
from gsp_extension.accounts.mail import Mailer
from gsp_extension.store.accounts import create_user
from gsp_extension.store.models import User
from gsp_extension.store.proposals import add_collaborator, create_proposal
from hub.authenticator import OLD_PASSWORD_WRONG, ProposalAuthenticator

pytestmark = pytest.mark.asyncio

GOOD = "vermilion-Otter-42"


@pytest.fixture
def auth(db, db_url, tmp_path, fast_hasher):
    a = ProposalAuthenticator(
        database_url=db_url,
        link_secret_file=str(tmp_path / "secret"),
        public_url="http://hub.test/",
        lockout_max_failures=3,
        lockout_minutes=10,
    )
    a.mailer = Mailer(backend="outbox", outbox_dir=str(tmp_path / "outbox"))
    a.hasher = fast_hasher
    yield a
    a.executor.shutdown()
    a.db.dispose()


@pytest.fixture
def people(db, fast_hasher):
    """PI ana (SOAR2026B-001, SOAR2026B-002), collaborator bo on 001, staff sam,
    inactive ivy, new user nina without a password, and leo with no proposal."""
    with db.transaction() as s:
        pw = fast_hasher.hash(GOOD)
        users = {
            "ana": create_user(
                s, "ana", email="ana.perez@example.org", first_name="Ana", password_hash=pw
            ),
            "bo": create_user(s, "bo", email="bo@example.org", password_hash=pw),
            "sam": create_user(s, "Sam", email="sam@example.org", is_staff=True, password_hash=pw),
            "ivy": create_user(
                s, "ivy", email="ivy@example.org", is_active=False, password_hash=pw
            ),
            "nina": create_user(s, "nina", email="nina@example.org"),
            "leo": create_user(s, "leo", email="leo@example.org", password_hash=pw),
        }
        create_proposal(s, "SOAR2026B-001", pi=users["ana"], collaborators=[users["bo"]])
        create_proposal(s, "SOAR2026B-002", pi=users["ana"])
        ids = {k: u.id for k, u in users.items()}
    return ids


def login(auth, username, password=GOOD):
    return auth.get_authenticated_user(None, {"username": username, "password": password})


async def test_login_gives_name_admin_and_proposal_groups(auth, people):
    assert await login(auth, "ana") == {
        "name": "ana",
        "admin": False,
        "groups": ["SOAR2026B-001", "SOAR2026B-002"],
        "auth_state": None,
        "user_info": None,
    }
    bo = await login(auth, "bo")
    assert (bo["groups"], bo["admin"]) == (["SOAR2026B-001"], False)
    leo = await login(auth, "leo")
    assert leo["groups"] == []  # manage_groups needs the key even when empty


async def test_staff_are_hub_admins_and_names_keep_their_case(auth, people):
    sam = await login(auth, "sam")  # typed in lower case
    assert (sam["name"], sam["admin"]) == ("Sam", True)
    assert auth.normalize_username("Sam") == "Sam"


async def test_jupyterhub_settings(auth):
    assert auth.allow_all and auth.manage_groups
    assert auth.auth_refresh_age == 60
    assert [url for url, _ in auth.get_handlers(None)] == [
        "/login",
        "/set-password",
        "/change-password",
        "/forgot-password",
    ]


@pytest.mark.parametrize(
    "username,password",
    [("ana", "wrong-password"), ("nobody", GOOD), ("ivy", GOOD), ("nina", GOOD), ("ana", "")],
)
async def test_refusals_all_look_the_same(auth, people, username, password):
    assert await login(auth, username, password) is None


async def test_every_refusal_costs_one_argon2_verification(auth, people):
    calls = []
    verify = auth.hasher.verify

    def counting(password_hash, password):
        calls.append(password_hash)
        return verify(password_hash, password)

    auth.hasher.verify = counting
    for username, password in [("nobody", GOOD), ("ivy", GOOD), ("nina", GOOD), ("ana", "x")]:
        calls.clear()
        assert await login(auth, username, password) is None
        assert len(calls) == 1, username
    # unknown and password-less accounts are checked against the dummy hash
    calls.clear()
    await login(auth, "nobody")
    assert calls == [None]


async def test_lockout_after_n_failures(auth, people, db):
    for _ in range(2):
        assert await login(auth, "bo", "wrong") is None
    assert await login(auth, "bo") is not None  # success clears the counter
    for _ in range(3):
        assert await login(auth, "bo", "wrong") is None
    with db.session() as s:
        locked_until = s.get(User, people["bo"]).locked_until
    assert locked_until is not None
    left = locked_until - dt.datetime.now(dt.UTC)
    assert dt.timedelta(minutes=9) < left <= dt.timedelta(minutes=10)
    # the right password is refused while locked, with the same answer
    assert await login(auth, "bo") is None
    # attempts during the lock do not extend it
    await login(auth, "bo", "wrong")
    with db.session() as s:
        assert s.get(User, people["bo"]).locked_until == locked_until
    # other accounts are not affected
    assert await login(auth, "ana") is not None
    # when the lock has passed, the right password works again
    with db.transaction() as s:
        s.execute(
            update(User)
            .where(User.id == people["bo"])
            .values(locked_until=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    assert await login(auth, "bo") is not None


async def test_refresh_follows_the_database(auth, people, db):
    hub_user = SimpleNamespace(name="leo")
    assert (await auth.refresh_user(hub_user))["groups"] == []
    with db.transaction() as s:
        from gsp_extension.store.proposals import get_proposal_by_soar_id

        proposal = get_proposal_by_soar_id(s, "SOAR2026B-001")
        add_collaborator(s, proposal, s.get(User, people["leo"]))
        s.get(User, people["leo"]).is_staff = True
    refreshed = await auth.refresh_user(hub_user)
    assert refreshed == {"name": "leo", "admin": True, "groups": ["SOAR2026B-001"]}
    with db.transaction() as s:
        s.get(User, people["leo"]).is_active = False
    assert await auth.refresh_user(hub_user) is False
    assert await auth.refresh_user(SimpleNamespace(name="deleted")) is False


async def test_inactive_sessions_and_tokens_are_cut_at_refresh(auth):
    if "auth_refresh_strict" in auth.trait_names():
        assert auth.auth_refresh_strict is True


async def test_login_records_last_login(auth, people, db):
    await login(auth, "bo")
    with db.session() as s:
        assert s.get(User, people["bo"]).last_login is not None


async def test_weak_hashes_are_upgraded_at_login(auth, people, db, fast_hasher):
    from hub.passwords import PasswordHasher

    auth.hasher = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    assert await login(auth, "leo") is not None
    with db.session() as s:
        assert "m=16,t=2,p=1" in s.get(User, people["leo"]).password_hash
    assert await login(auth, "leo") is not None


# --- set-password links ----------------------------------------------------------------


def invite_token(auth, db, user_id, purpose="invite"):
    with db.session() as s:
        url = auth.link_mailer("http://ignored/").link(s.get(User, user_id), purpose)
    assert url.startswith("http://hub.test/hub/set-password?token=")
    return url.split("token=", 1)[1]


async def test_a_link_sets_the_first_password_once(auth, people, db):
    token = invite_token(auth, db, people["nina"])
    target = await auth.check_link(token)
    assert (target.username, target.purpose) == ("nina", "invite")
    # the rules apply, and a refused password does not use the link up
    target, problems = await auth.set_password_from_link(token, "nina@example", "nina@example")
    assert problems == ["Your password can't be too similar to your other personal information."]
    target, problems = await auth.set_password_from_link(token, GOOD, GOOD + "x")
    assert problems == ["The two password fields didn't match."]
    target, problems = await auth.set_password_from_link(token, GOOD, GOOD)
    assert problems == []
    assert (await login(auth, "nina"))["name"] == "nina"
    with pytest.raises(LinkInvalid):
        await auth.check_link(token)
    with pytest.raises(LinkInvalid):
        await auth.set_password_from_link(token, "another-Otter-43", "another-Otter-43")


async def test_a_reset_link_clears_the_lockout(auth, people, db):
    for _ in range(3):
        await login(auth, "bo", "wrong")
    token = invite_token(auth, db, people["bo"], "reset")
    _, problems = await auth.set_password_from_link(token, "another-Otter-43", "another-Otter-43")
    assert problems == []
    assert await login(auth, "bo", "another-Otter-43") is not None


async def test_links_of_inactive_accounts_and_old_links_fail(auth, people, db):
    token = invite_token(auth, db, people["ana"], "reset")
    with db.transaction() as s:
        s.get(User, people["ana"]).is_active = False
    with pytest.raises(LinkInvalid):
        await auth.check_link(token)
    auth.reset_link_hours = 1
    auth.signer._clock = lambda: 4e9  # far in the future
    with db.transaction() as s:
        s.get(User, people["ana"]).is_active = True
    with pytest.raises(LinkExpired):
        await auth.check_link(token)


async def test_forgot_password_mails_a_reset_link_to_active_accounts_only(auth, people, tmp_path):
    assert auth.send_reset_link("BO@example.org", "http://x/") is True
    assert auth.send_reset_link("ivy@example.org", "http://x/") is False
    assert auth.send_reset_link("nobody@example.org", "http://x/") is False
    assert auth.send_reset_link("not an address", "http://x/") is False
    # asking again at once sends nothing more (no mailbox flooding)
    assert auth.send_reset_link("bo@example.org", "http://x/") is False
    mails = list((tmp_path / "outbox").glob("*.eml"))
    assert len(mails) == 1
    text = mails[0].read_text()
    assert "To: bo@example.org" in text and "http://hub.test/hub/set-password?token=" in text


# --- change password -------------------------------------------------------------------


async def test_change_password(auth, people):
    new = "another-Otter-43"
    assert await auth.change_password("bo", "wrong", new, new) == [OLD_PASSWORD_WRONG]
    assert await auth.change_password("bo", GOOD, new, new + "x") == [
        "The two password fields didn't match."
    ]
    assert await auth.change_password("bo", GOOD, "12345678", "12345678") == [
        "Your password can't be a commonly used password.",
        "Your password can't be entirely numeric.",
    ]
    assert await auth.change_password("bo", GOOD, new, new) == []
    assert await login(auth, "bo") is None
    assert await login(auth, "bo", new) is not None


async def test_wrong_old_passwords_count_towards_the_lockout(auth, people):
    for _ in range(3):
        await auth.change_password("bo", "wrong", "x", "x")
    problems = await auth.change_password("bo", GOOD, "another-Otter-43", "another-Otter-43")
    assert problems[0].startswith("Your account is locked after too many failed attempts")
    assert await login(auth, "bo") is None


async def test_parallel_failures_are_all_counted(auth, people, db):
    import asyncio

    await asyncio.gather(*(login(auth, "bo", f"wrong-{i}") for i in range(3)))
    with db.session() as s:
        assert s.get(User, people["bo"]).locked_until is not None


async def test_links_use_the_bind_url_without_a_public_url(
    db, db_url, people, tmp_path, monkeypatch
):
    """The public-address rule in the hub: GSP_PUBLIC_URL, else the bind URL and its
    port, else the request's address (issue 14: links said localhost:8000)."""
    from jupyterhub.app import JupyterHub

    monkeypatch.delenv("GSP_PUBLIC_URL", raising=False)
    hub = JupyterHub(bind_url="http://127.0.0.1:8123/")
    auth = ProposalAuthenticator(
        parent=hub, database_url=db_url, link_secret_file=str(tmp_path / "secret")
    )
    try:
        assert auth.public_url == ""  # nothing configured
        with db.session() as s:
            user = s.get(User, people["bo"])
            assert (
                auth.link_mailer("http://req.example/")
                .link(user, "reset")
                .startswith("http://127.0.0.1:8123/hub/set-password?token=")
            )
            hub.public_url = "https://gsp.example.org/"
            configured = ProposalAuthenticator(parent=hub, database_url=db_url)
            assert configured.public_url == "https://gsp.example.org/"
            hub.bind_url = "http://0.0.0.0:8000/"
            assert (
                auth.link_mailer("http://req.example:9/")
                .link(user, "reset")
                .startswith("http://req.example:9/hub/set-password?token=")
            )
    finally:
        auth.executor.shutdown()
        auth.db.dispose()
