"""Editing accounts and proposals through the real hub: ``api/users/<id|me>/``,
``PATCH api/proposals/<id>/`` and ``api/proposals/next-soar-id/``.

Each test makes its own accounts (``edt<run><n>``) so reruns do not collide.
"""

from __future__ import annotations

import itertools
import secrets

import pytest
import requests

from gsp_extension.client import GSPAPIError, GSPClient

pytestmark = pytest.mark.databases("sqlite", "postgresql")

_n = itertools.count()
RUN = secrets.token_hex(3)


def call(world, method, path, who="staffer", **kwargs):
    return requests.request(
        method, world.url(path), headers=world.headers(who), timeout=60, **kwargs
    )


def new_account(world, **extra) -> dict:
    name = f"edt{RUN}{next(_n)}"
    r = call(world, "POST", "users/", json={"email": f"{name}@example.org", **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_user_edits_their_own_name_and_email(world):
    eve = GSPClient(world.hub.url + "/services/gsp", world.hub.token_for("eve"))
    me = eve.account()
    assert me["username"] == "eve" and me["partner"] == ""
    changed = eve.update_user(first_name="Eve", last_name="Nakamura", email="Eve.N@Example.org")
    assert (changed["first_name"], changed["email"]) == ("Eve", "eve.n@example.org")
    assert eve.account(me["id"]) == changed
    with pytest.raises(GSPAPIError, match="only staff change"):
        eve.update_user(partner="Chile")
    with pytest.raises(GSPAPIError, match="already belongs to another user"):
        eve.update_user(email="alice@example.org")
    r = call(world, "PATCH", "users/me/", "eve", json={"email": "nope"})
    assert r.status_code == 400 and "email" in r.json()["detail"]
    r = call(world, "GET", f"users/{me['id']}/", "alice")
    assert r.status_code == 403 and "your own account" in r.json()["detail"]
    eve.update_user(email="eve@example.org", first_name="", last_name="")


def test_staff_add_with_partner_then_deactivate_and_the_account_is_refused_at_once(world):
    record = new_account(world, partner="Argentina", first_name="Noa")
    assert record["partner"] == "Argentina"
    name = record["username"]
    token = world.hub.token_for(name)
    assert (
        requests.get(
            world.url("files/"), headers={"Authorization": f"token {token}"}, timeout=30
        ).status_code
        == 200
    )
    r = call(world, "PATCH", f"users/{record['id']}/", json={"is_active": False})
    assert r.status_code == 200 and r.json()["is_active"] is False
    # the very next request of the account is refused, whatever it asks
    r = requests.get(world.url("files/"), headers={"Authorization": f"token {token}"}, timeout=30)
    assert r.status_code == 403 and "deactivated" in r.json()["detail"]
    entries = call(world, "GET", "logs/", params={"limit": 50}).json()["results"]
    assert any(e["event"] == "user.deactivated" and name in e["message"] for e in entries), entries
    # a deactivated account is not made a collaborator: 409 (its state), nothing changes
    p2 = world.proposals["p2"]
    add = {"email": record["email"], "action": "add"}
    r = call(world, "POST", f"proposals/collaborators/{p2}/", json=add)
    assert r.status_code == 409 and "deactivated" in r.json()["detail"], r.text
    # reactivated: back at once
    call(world, "PATCH", f"users/{record['id']}/", json={"is_active": True})
    r = requests.get(world.url("files/"), headers={"Authorization": f"token {token}"}, timeout=30)
    assert r.status_code == 200


def test_a_pi_cannot_edit_others_and_staff_cannot_make_staff(world):
    target = new_account(world)
    r = call(world, "PATCH", f"users/{target['id']}/", "alice", json={"first_name": "X"})
    assert r.status_code == 403 and "your own account" in r.json()["detail"]
    r = call(world, "PATCH", f"users/{target['id']}/", json={"is_staff": True})
    assert r.status_code == 403 and "superuser" in r.json()["detail"]
    r = call(world, "PATCH", f"users/{target['id']}/", "root", json={"is_staff": True})
    assert r.status_code == 200 and r.json()["is_staff"] is True
    r = call(world, "PATCH", "users/999999999/", json={"first_name": "X"})
    assert r.status_code == 404
    r = call(world, "PATCH", f"users/{target['id']}/", json={"username": "x"})
    assert r.status_code == 400 and "username" in r.json()["detail"]


def test_staff_edit_a_proposal_and_change_its_pi(world):
    staff = GSPClient(world.hub.url + "/services/gsp", world.hub.token_for("staffer"))
    semester = f"20{40 + int(RUN, 16) % 50}A"
    first = staff.next_soar_id(semester)["soar_id"]
    assert first == f"SOAR{semester}-001"
    pi = new_account(world)
    made = staff.create_proposal(
        None, "Numbered by semester", semester=semester, pi_email=pi["email"]
    )
    assert made["soar_id"] == first and made["semester"] == semester
    assert staff.next_soar_id(semester)["soar_id"] == f"SOAR{semester}-002"
    assert staff.next_soar_id()["semester"][:2] == "20"  # today's semester
    new_pi = new_account(world)
    edited = staff.update_proposal(
        made["id"], title="Edited", abstract="Longer.", pi_email=new_pi["email"]
    )
    assert (edited["title"], edited["abstract"]) == ("Edited", "Longer.")
    assert edited["user"]["username"] == new_pi["username"]
    # the former PI stays as a collaborator; the new PI is in the hub group
    assert [c["username"] for c in edited["collaborators"]] == [pi["username"]]
    group = world.hub.hub_api("GET", f"/groups/{first}").json()
    assert {pi["username"], new_pi["username"]} <= set(group["users"])
    r = call(world, "PATCH", f"proposals/{made['id']}/", "alice", json={"title": "Mine"})
    assert r.status_code == 403 and "staff" in r.json()["detail"]
    r = call(world, "PATCH", f"proposals/{made['id']}/", json={"pi_email": "ghost@example.org"})
    # well formed, but no such account: 409 (the fuzzer counted a 400 as a valid body refused)
    assert r.status_code == 409 and "add the user first" in r.json()["detail"]
    r = call(world, "POST", "proposals/", json={"title": "No id, no semester"})
    assert r.status_code == 400 and "semester" in r.json()["detail"]
