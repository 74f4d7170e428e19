"""Staff management endpoints through the real hub: ``api/users/`` and ``POST api/proposals/``.

Each test makes its own names (``adm<N>...``) so that reruns and other modules do not
collide; the hub's REST API (as the test admin service) and the service's outbox are
checked directly.
"""

from __future__ import annotations

import itertools
import secrets

import pytest
import requests

from gsp_extension.client import GSPAPIError, GSPClient
from gsp_extension.store.serialize import SEED_PROPOSAL_FIELDS, SEED_USER_FIELDS

# Run against a hub whose service uses SQLite, and one using PostgreSQL.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

_n = itertools.count()
RUN = secrets.token_hex(3)


def fresh(prefix: str) -> str:
    return f"{prefix}{RUN}{next(_n)}"


def call(world, method, path, who="staffer", **kwargs):
    return requests.request(
        method, world.url(path), headers=world.headers(who), timeout=60, **kwargs
    )


def outbox_files(world) -> set:
    outbox = world.hub.data_root / "outbox"
    return set(outbox.glob("*.eml")) if outbox.exists() else set()


def hub_user(world, name):
    return world.hub.hub_api("GET", f"/users/{name}")


def hub_group(world, name):
    return world.hub.hub_api("GET", f"/groups/{name}")


@pytest.fixture(scope="module")
def staff(world):
    return GSPClient(world.hub.url + "/services/gsp", world.hub.token_for("staffer"))


# --- api/users/ -----------------------------------------------------------------------------


def test_users_list_is_for_staff_with_proposals(world):
    r = call(world, "GET", "users/", params={"page_size": 1000})
    assert r.status_code == 200, r.text
    page = r.json()
    assert set(page) >= {"count", "next", "previous", "results"}
    by_name = {u["username"]: u for u in page["results"]}
    assert set(by_name["alice"]) == {*SEED_USER_FIELDS, "proposals", "partner"}
    assert by_name["alice"]["proposals"] == ["SOAR2020B-001"]
    assert by_name["bob"]["proposals"] == ["SOAR2020B-001"]
    assert by_name["eve"]["proposals"] == []
    assert by_name["staffer"]["is_staff"] is True
    assert page["count"] == len(page["results"])
    for who in ("alice", "eve", "spi"):
        r = call(world, "GET", "users/", who)
        assert r.status_code == 403 and "staff" in r.json()["detail"]


def test_users_list_filters_and_pages(world, staff):
    r = call(world, "GET", "users/", params={"search": "ALIC"})
    assert [u["username"] for u in r.json()["results"]] == ["alice"]
    staff_names = {u["username"] for u in staff.users(is_staff=True)}
    assert {"staffer", "root"} <= staff_names and "alice" not in staff_names
    r = call(world, "GET", "users/", params={"page_size": 2})
    page = r.json()
    assert len(page["results"]) == 2 and page["next"] and page["count"] > 2
    assert len(list(staff.users())) == page["count"]
    r = call(world, "GET", "users/", params={"is_staff": "maybe"})
    assert r.status_code == 400 and "is_staff" in r.json()["detail"]
    r = call(world, "GET", "users/", params={"colour": "red"})
    assert r.status_code == 400


def test_staff_creates_a_user_with_hub_user_and_invitation(world):
    before = outbox_files(world)
    name = fresh("adm")
    r = call(
        world,
        "POST",
        "users/",
        json={"email": f"{name}@Example.ORG", "first_name": "Ana", "last_name": "Lima"},
    )
    assert r.status_code == 201, r.text
    record = r.json()
    assert record["username"] == name and record["email"] == f"{name}@example.org"
    assert record["first_name"] == "Ana" and record["is_staff"] is False
    assert record["proposals"] == [] and record["last_login"] is None
    assert r.headers.get("X-GSP-Invitation") == "sent"
    mails = outbox_files(world) - before
    assert len(mails) == 1
    text = mails.pop().read_text()
    assert f"{name}@example.org" in text and "set-password?token=" in text
    assert hub_user(world, name).status_code == 200
    listed = call(world, "GET", "users/", params={"search": name}).json()["results"]
    assert listed == [record]


def test_user_creation_refusals_name_the_problem_and_change_nothing(world):
    name = fresh("dup")
    r = call(world, "POST", "users/", json={"email": f"{name}@example.org", "username": name})
    assert r.status_code == 201, r.text
    r = call(world, "POST", "users/", json={"email": f"{name}@EXAMPLE.org"})
    assert r.status_code == 409 and "email" in r.json()["detail"], r.text
    assert "username" not in r.json()["detail"]
    r = call(world, "POST", "users/", json={"email": f"other{name}@example.org", "username": name})
    assert r.status_code == 409 and f"username {name!r}" in r.json()["detail"], r.text
    r = call(world, "POST", "users/", json={"email": f"{name}@example.org", "username": name})
    assert "username" in r.json()["detail"] and "email" in r.json()["detail"]
    r = call(world, "POST", "users/", json={"email": "not-an-address"})
    assert r.status_code == 400 and "email" in r.json()["detail"]
    r = call(world, "POST", "users/", json={"email": "a@b.org", "username": "has space"})
    assert r.status_code == 400 and "username" in r.json()["detail"]
    r = call(world, "POST", "users/", json={"email": "a@b.org", "is_staff": "yes"})
    assert r.status_code == 400 and "is_staff" in r.json()["detail"]
    # Staff, but not a superuser: no staff accounts.
    staff_name = fresh("stf")
    r = call(world, "POST", "users/", json={"email": f"{staff_name}@example.org", "is_staff": True})
    assert r.status_code == 403 and "superuser" in r.json()["detail"], r.text
    assert hub_user(world, staff_name).status_code == 404
    # Not staff at all.
    r = call(world, "POST", "users/", "alice", json={"email": f"{staff_name}@example.org"})
    assert r.status_code == 403 and "staff" in r.json()["detail"]
    assert hub_user(world, staff_name).status_code == 404
    assert not call(world, "GET", "users/", params={"search": staff_name}).json()["results"]


def test_a_superuser_creates_staff(world):
    name = fresh("boss")
    r = call(
        world, "POST", "users/", "root", json={"email": f"{name}@example.org", "is_staff": True}
    )
    assert r.status_code == 201, r.text
    assert r.json()["is_staff"] is True
    # The new staff account works at once: it lists users.
    assert call(world, "GET", "users/", name).status_code == 200


def test_client_creates_users(world, staff):
    name = fresh("cli")
    record = staff.create_user(f"{name}@example.org", username=f"{name}x", first_name="C")
    assert record["username"] == f"{name}x" and record["first_name"] == "C"
    with pytest.raises(GSPAPIError) as err:
        staff.create_user(f"{name}@example.org")
    assert err.value.status == 409
    with pytest.raises(GSPAPIError) as err:
        staff.create_user(f"{name}y@example.org", is_staff=True)
    assert err.value.status == 403


# --- POST api/proposals/ ------------------------------------------------------------------------


def test_staff_creates_a_proposal_with_a_new_pi(world):
    soar_id = f"SOAR2031A-{fresh('')}"
    pi = fresh("pi")
    before = outbox_files(world)
    r = call(
        world,
        "POST",
        "proposals/",
        json={"soar_id": soar_id, "title": "New one", "pi_email": f"{pi}@example.org"},
    )
    assert r.status_code == 201, r.text
    record = r.json()
    assert list(record) == list(SEED_PROPOSAL_FIELDS)
    assert record["soar_id"] == soar_id and record["semester"] == "2031A"
    assert record["user"]["username"] == pi and record["collaborators"] == []
    assert r.headers.get("X-GSP-Invitation") == "sent"
    assert len(outbox_files(world) - before) == 1
    assert call(world, "GET", f"proposals/{record['id']}/").json() == record
    group = hub_group(world, soar_id)
    assert group.status_code == 200 and group.json()["users"] == [pi]
    # The PI sees it at once; and is listed with it.
    assert [p["soar_id"] for p in call(world, "GET", "proposals/", pi).json()["results"]] == [
        soar_id
    ]
    users = call(world, "GET", "users/", params={"search": pi}).json()["results"]
    assert users[0]["proposals"] == [soar_id]
    # A second creation is refused, and changes nothing.
    r = call(world, "POST", "proposals/", json={"soar_id": soar_id, "title": "Again"})
    assert r.status_code == 409 and soar_id in r.json()["detail"]
    assert call(world, "GET", f"proposals/{record['id']}/").json() == record


def existing_account(world, staff) -> str:
    """A fresh account known to the app (and, like most, never logged in to the hub)."""
    name = fresh("known")
    staff.create_user(f"{name}@example.org")
    assert world.hub.hub_api("DELETE", f"/users/{name}").status_code == 204
    return name


def test_proposal_with_an_existing_pi_and_no_pi(world, staff):
    soar_id = f"SOAR2031B-{fresh('')}"
    pi = existing_account(world, staff)
    record = staff.create_proposal(
        soar_id, "Existing PI", semester="2031B", pi_email=f"{pi.upper()}@example.org"
    )
    assert record["user"]["username"] == pi and record["semester"] == "2031B"
    # The PI's hub user is made when missing, and put in the group.
    assert pi in hub_group(world, soar_id).json()["users"]
    lone = staff.create_proposal(f"SOAR2031B-{fresh('')}", "No PI yet", abstract="text")
    assert lone["user"] is None and lone["abstract"] == "text"
    assert hub_group(world, lone["soar_id"]).json()["users"] == []


def test_a_placeholder_from_ingest_is_completed(world, staff):
    from gsp_extension.store import Database
    from gsp_extension.store.proposals import ensure_proposal, get_proposal

    soar_id = f"SOAR2032A-{fresh('')}"
    pi = existing_account(world, staff)
    db = Database(world.hub.database_url)
    try:
        with db.transaction() as s:
            placeholder, created = ensure_proposal(s, soar_id)
            assert created
            pid = placeholder.id
        r = call(
            world,
            "POST",
            "proposals/",
            json={"soar_id": soar_id, "title": "Completed", "pi_email": f"{pi}@example.org"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["id"] == pid and r.json()["title"] == "Completed"
        assert r.json()["user"]["username"] == pi
        assert hub_group(world, soar_id).json()["users"] == [pi]
        with db.session() as s:
            assert get_proposal(s, pid).placeholder is False
    finally:
        db.dispose()
    r = call(world, "POST", "proposals/", json={"soar_id": soar_id, "title": "x"})
    assert r.status_code == 409


def test_proposal_creation_refusals(world):
    soar_id = f"SOAR2033A-{fresh('')}"
    r = call(world, "POST", "proposals/", "alice", json={"soar_id": soar_id, "title": "t"})
    assert r.status_code == 403 and "staff" in r.json()["detail"]
    r = call(world, "POST", "proposals/", json={"soar_id": "has space", "title": "t"})
    assert r.status_code == 400 and "soar_id" in r.json()["detail"]
    r = call(world, "POST", "proposals/", json={"soar_id": soar_id})
    assert r.status_code == 400 and "title" in r.json()["detail"]
    r = call(
        world, "POST", "proposals/", json={"soar_id": soar_id, "title": "t", "pi_email": "nope"}
    )
    assert r.status_code == 400 and "pi_email" in r.json()["detail"]
    assert hub_group(world, soar_id).status_code == 404
    soar_ids = [p["soar_id"] for p in call(world, "GET", "proposals/").json()["results"]]
    assert soar_id not in soar_ids


# --- settings: what the store accepts, the API accepts -----------------------------------------


@pytest.mark.parametrize("technique", ["auto", "Imaging", "Spectroscopy"])
def test_settings_technique_accepts_what_the_store_accepts(world, staff, technique):
    from gsp_extension.store.models import SETTINGS_TECHNIQUES

    assert technique in SETTINGS_TECHNIQUES
    pi = fresh("setpi")
    proposal = staff.create_proposal(f"SOAR2034A-{fresh('')}", "Settings", pi_email=f"{pi}@x.org")
    path = f"proposals/{proposal['id']}/settings/"
    r = call(world, "PUT", path, pi, json={"technique": technique})
    assert r.status_code == 200, r.text
    assert r.json()["technique"] == technique
    assert call(world, "GET", path, pi).json()["technique"] == technique
    r = call(world, "PUT", path, pi, json={"technique": "Photometry"})
    assert r.status_code == 400 and "auto" in r.json()["detail"]
