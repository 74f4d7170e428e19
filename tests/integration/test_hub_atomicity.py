"""Nothing half-done between the hub and the app database.

The service changes the hub's users and groups first, then the app database; when the
database step fails, the hub change is taken back so that the hub mirror never grants
access the app database does not. The failure is real: a trigger in the hub's app
database refuses one row; the hub is the real one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets

import pytest
import requests
from sqlalchemy import text

from gsp_extension.api.hub import HubChange, HubClient

# Run against a hub whose service uses SQLite, and one using PostgreSQL.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

P1 = "SOAR2020B-001"
_n = itertools.count()
RUN = secrets.token_hex(3)


def fresh(prefix: str) -> str:
    return f"{prefix}{RUN}{next(_n)}"


@contextlib.contextmanager
def failing_insert(world, table: str, condition: str, event: str = "INSERT"):
    """A trigger that makes ``event`` on ``table`` fail when ``condition`` (on NEW/OLD)."""
    from gsp_extension.store import Database

    name = fresh("gsp_test_fail_")
    db = Database(world.hub.database_url)
    sqlite = db.engine.dialect.name == "sqlite"
    with db.engine.begin() as conn:
        if sqlite:
            conn.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE {event} ON {table} WHEN {condition} "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
                )
            )
        else:
            conn.execute(
                text(
                    f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
                    "RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW "
                    f"WHEN ({condition}) EXECUTE FUNCTION {name}()"
                )
            )
    try:
        yield
    finally:
        with db.engine.begin() as conn:
            if sqlite:
                conn.execute(text(f"DROP TRIGGER {name}"))
            else:
                conn.execute(text(f"DROP TRIGGER {name} ON {table}"))
                conn.execute(text(f"DROP FUNCTION {name}()"))
        db.dispose()


def user_id(world, username: str) -> int:
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import get_user_by_username

    db = Database(world.hub.database_url)
    try:
        with db.session() as s:
            return get_user_by_username(s, username).id
    finally:
        db.dispose()


def members(world, group: str) -> set[str] | None:
    r = world.hub.hub_api("GET", f"/groups/{group}")
    return None if r.status_code == 404 else set(r.json()["users"])


def collaborators(world) -> list[str]:
    r = requests.get(
        world.url(f"proposals/{world.proposals['p1']}/"), headers=world.headers("alice"), timeout=30
    )
    return [u["username"] for u in r.json()["collaborators"]]


def change(world, email, action="add"):
    return requests.post(
        world.url(f"proposals/collaborators/{world.proposals['p1']}/"),
        headers=world.headers("alice"),
        json={"email": email, "action": action},
        timeout=60,
    )


def test_a_new_collaborator_the_database_refuses_leaves_no_hub_user(world):
    name = fresh("boom")
    before = (collaborators(world), members(world, P1))
    with failing_insert(world, "users", f"NEW.email = '{name}@example.org'"):
        r = change(world, f"{name}@example.org")
    assert r.status_code == 500, r.text
    assert "undone" in r.json()["detail"]
    assert world.hub.hub_api("GET", f"/users/{name}").status_code == 404
    assert (collaborators(world), members(world, P1)) == before
    # The same request succeeds once the database accepts it.
    r = change(world, f"{name}@example.org")
    assert r.status_code == 200, r.text
    assert name in members(world, P1)
    assert change(world, f"{name}@example.org", "remove").status_code == 200


def test_an_existing_account_the_database_refuses_is_taken_out_of_the_group(world):
    world.hub.token_for("eve")  # eve has a hub user already: it must stay
    eve = user_id(world, "eve")
    before = (collaborators(world), members(world, P1))
    assert "eve" not in (before[1] or set())
    with failing_insert(world, "proposal_collaborators", f"NEW.user_id = {eve}"):
        r = change(world, "eve@example.org")
    assert r.status_code == 500, r.text
    assert (collaborators(world), members(world, P1)) == before
    assert world.hub.hub_api("GET", "/users/eve").status_code == 200


def test_a_removal_the_database_refuses_puts_the_member_back(world):
    bob = user_id(world, "bob")
    world.hub.token_for("bob")  # makes bob's hub user
    world.hub.hub_api("POST", f"/groups/{P1}")
    r = world.hub.hub_api("POST", f"/groups/{P1}/users", json={"users": ["bob"]})
    assert r.status_code == 200, r.text
    with failing_insert(world, "proposal_collaborators", f"OLD.user_id = {bob}", "DELETE"):
        r = change(world, "bob@example.org", "remove")
    assert r.status_code == 500, r.text
    assert "bob" in collaborators(world) and "bob" in members(world, P1)


def test_a_user_the_database_refuses_leaves_no_hub_user(world):
    name = fresh("uboom")
    with failing_insert(world, "users", f"NEW.username = '{name}'"):
        r = requests.post(
            world.url("users/"),
            headers=world.headers("staffer"),
            json={"email": f"{name}@example.org", "username": name},
            timeout=60,
        )
    assert r.status_code == 500 and "undone" in r.json()["detail"], r.text
    assert world.hub.hub_api("GET", f"/users/{name}").status_code == 404


def test_a_proposal_the_database_refuses_leaves_no_hub_group_nor_pi(world):
    soar_id, pi = f"SOAR2040A-{fresh('')}", fresh("piboom")
    with failing_insert(world, "proposals", f"NEW.soar_id = '{soar_id}'"):
        r = requests.post(
            world.url("proposals/"),
            headers=world.headers("staffer"),
            json={"soar_id": soar_id, "title": "t", "pi_email": f"{pi}@example.org"},
            timeout=60,
        )
    assert r.status_code == 500 and "undone" in r.json()["detail"], r.text
    assert members(world, soar_id) is None
    assert world.hub.hub_api("GET", f"/users/{pi}").status_code == 404
    r = requests.get(
        world.url("users/"), headers=world.headers("staffer"), params={"search": pi}, timeout=30
    )
    assert r.json()["results"] == []


@pytest.fixture
def hub_client(world):
    return HubClient(f"{world.hub.url}/hub/api", world.hub.admin_token)


def test_undo_reverts_exactly_what_the_change_did(world, hub_client):
    group, old, new = fresh("grp"), fresh("old"), fresh("new")

    async def scenario():
        await hub_client.ensure_user(old)
        await hub_client.add_to_group(group, [old])
        step = HubChange(hub_client)
        await step.ensure_user(old)  # existed: undo keeps it
        await step.ensure_user(new)
        await step.add_to_group(group, [old, new])  # old was a member: undo keeps it
        assert await hub_client.group_members(group) == {old, new}
        await step.undo()
        return await hub_client.group_members(group)

    assert asyncio.run(scenario()) == {old}
    assert world.hub.hub_api("GET", f"/users/{old}").status_code == 200
    assert world.hub.hub_api("GET", f"/users/{new}").status_code == 404

    fresh_group = fresh("grp")

    async def new_group():
        step = HubChange(hub_client)
        await step.ensure_user(old)
        await step.add_to_group(fresh_group, [old])
        await step.undo()
        return await hub_client.group_members(fresh_group)

    assert asyncio.run(new_group()) is None  # the group it created is gone too


def test_undo_goes_on_when_a_step_fails(world, hub_client, caplog):
    group, name = fresh("grp"), fresh("u")

    async def scenario():
        step = HubChange(hub_client)
        await step.ensure_user(name)
        await step.add_to_group(group, [name])
        # The group vanishes behind our back: removing from it fails, the rest goes on.
        await hub_client.delete_group(group)
        broken = HubClient(f"{world.hub.url}/hub/api", "not-a-token")
        step.hub = broken
        step._undo.insert(0, ("a step that fails", lambda: broken.delete_user(name)))
        await step.undo()

    with caplog.at_level("ERROR"):
        asyncio.run(scenario())
    assert world.hub.hub_api("GET", f"/users/{name}").status_code == 404
    assert "a step that fails" in caplog.text
