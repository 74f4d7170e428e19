"""Every endpoint x {no token, bad token, other proposal's member, collaborator, PI, staff}.

Targets belong to proposal SOAR2020B-004 (PI spi, collaborator scollab), kept for this
table so that what it changes touches no other test; ``dave`` is a member of
SOAR2020B-002 only. Objects a request consumes (a product to delete, a file to
register, an email to add) are made fresh for each case. A refused request on a
state-changing endpoint must leave the database exactly as it was.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import requests
from sqlalchemy import func, select

# Run against a hub whose service uses SQLite, and one using PostgreSQL.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

ROLES = ("none", "bad", "other", "collaborator", "pi", "staff")
WHO = {
    "none": None,
    "bad": "bad",
    "other": "dave",
    "collaborator": "scollab",
    "pi": "spi",
    "staff": "staffer",
}
OK_QUEUED = (200, 202)
_counter = itertools.count()
# Names made here must not collide with a previous run's in a reused database.
RUN = secrets.token_hex(3)


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: Callable[[Any], str]
    expected: dict[str, int | tuple[int, ...]]
    body: Callable[[Any], Any] | None = None
    params: Callable[[Any], dict] | None = None


def members(ok, other=404, collaborator=None, pi=None, staff=None):
    """Expected statuses: members get ``ok``, the other proposal's member ``other``."""
    return {
        "other": other,
        "collaborator": ok if collaborator is None else collaborator,
        "pi": ok if pi is None else pi,
        "staff": ok if staff is None else staff,
    }


def everyone(status):
    return {"other": status, "collaborator": status, "pi": status, "staff": status}


def staff_only(ok):
    return {"other": 403, "collaborator": 403, "pi": 403, "staff": ok}


def _fits(path, header, data):
    from astropy.io import fits

    path.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(header)
    hdu.writeto(path, overwrite=True)
    raw = path.read_bytes()
    return hashlib.sha256(raw).hexdigest(), len(raw)


def fresh_product(w, data_type=3) -> int:
    """A new product of SOAR2020B-004 (or a master calibration for data_type 1)."""
    from gsp_extension.store import Database
    from gsp_extension.store.files import get_file, register_file

    n = next(_counter)
    path = w.hub.data_root / "products" / "20201126" / f"sec_{data_type}_{n}.fits"
    checksum, size = _fits(path, {"RLEVEL": 60 + data_type}, np.full(8, n, "f4"))
    db = Database(w.hub.database_url)
    try:
        with db.transaction() as s:
            parent = get_file(s, w.ids["s_reduced"]) if data_type != 1 else None
            fields = {
                "proposal_id": None if data_type == 1 else "SOAR2020B-004",
                "date": "2020-12-01",
                "obstype": "OBJECT",
            }
            reg = register_file(
                s,
                path,
                checksum=checksum,
                size=size,
                fields=fields,
                data_type=data_type,
                parent=parent,
            )
            return reg.file.id
    finally:
        db.dispose()


def fresh_comment(w) -> int:
    """A new comment by the PI (spi) on SOAR2020B-004's raw file."""
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import get_user_by_username
    from gsp_extension.store.activity import add_comment
    from gsp_extension.store.files import get_file

    db = Database(w.hub.database_url)
    try:
        with db.transaction() as s:
            author = get_user_by_username(s, "spi")
            return add_comment(s, get_file(s, w.ids["s_raw"]), author, "to delete").id
    finally:
        db.dispose()


def fresh_raw_path(w) -> str:
    n = next(_counter)
    path = w.hub.data_root / "raw" / "20201128" / f"sec_{n:04d}.fits"
    _fits(
        path,
        {
            "OBSTYPE": "BIAS",
            "PROPID": "SOAR2020B-004",
            "DATE-OBS": "2020-12-02T01:00:00",
            "GAIN": 1.48,
            "RDNOISE": 3.89,
            "CCDSUM": "2 2",
        },
        np.zeros((4, 4), "f4"),
    )
    return str(path)


def fresh_user(w) -> int:
    """A new plain account (no proposal), for the account edit cases."""
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import create_user

    n = next(_counter)
    db = Database(w.hub.database_url)
    try:
        with db.transaction() as s:
            return create_user(s, f"secacct{RUN}{n}", email=f"secacct{RUN}{n}@example.net").id
    finally:
        db.dispose()


def hub_state(w) -> dict[str, Any]:
    """The hub's users and groups (with members): the mirror must not change either."""
    users = w.hub.hub_api("GET", "/users").json()
    groups = w.hub.hub_api("GET", "/groups").json()
    return {
        "hub_users": sorted(u["name"] for u in users),
        "hub_groups": sorted((g["name"], tuple(sorted(g["users"]))) for g in groups),
    }


def snapshot(w) -> dict[str, Any]:
    """What a refused request must not change, in the app database and in the hub."""
    from gsp_extension.store import Comment, Database, File, Job, Proposal, ReductionSettings, User
    from gsp_extension.store.models import proposal_collaborators

    db = Database(w.hub.database_url)
    try:
        with db.session() as s:
            return {
                **hub_state(w),
                "proposals": s.scalar(select(func.count(Proposal.id))),
                "users": s.scalar(select(func.count(User.id))),
                "collaborators": s.execute(select(proposal_collaborators)).all(),
                "settings": s.scalar(select(func.count(ReductionSettings.id))),
                "jobs": s.scalar(select(func.count(Job.id))),
                "files": s.scalars(select(File.id).where(File.deleted_at.is_(None))).all(),
                "comments": s.scalar(select(func.count(Comment.id))),
            }
    finally:
        db.dispose()


CASES = [
    Case("status", "GET", lambda w: "", everyone(200)),
    Case("files list", "GET", lambda w: "files/", everyone(200)),
    Case("file detail", "GET", lambda w: f"files/{w.ids['s_raw']}/", members(200)),
    Case(
        "master calibration detail",
        "GET",
        lambda w: f"files/{w.ids['master_bias']}/",
        everyone(200),
    ),
    Case(
        "header",
        "GET",
        lambda w: "files/header/",
        members(200),
        params=lambda w: {"id": w.ids["s_raw"]},
    ),
    Case("download", "GET", lambda w: f"files/{w.ids['s_raw']}/download/", members(200)),
    Case("versions", "GET", lambda w: f"files/{w.ids['s_reduced']}/versions/", members(200)),
    Case("lamps", "GET", lambda w: f"files/{w.ids['s_extracted']}/lamps/", members(200)),
    Case("standards", "GET", lambda w: f"files/{w.ids['s_extracted']}/standards/", members(200)),
    Case(
        "visualize",
        "GET",
        lambda w: "files/visualize/",
        members(200),
        params=lambda w: {"id": w.ids["s_raw"], "width": 200, "height": 200},
    ),
    Case("delete raw", "DELETE", lambda w: f"files/{w.ids['s_raw']}/", members(403)),
    Case(
        "delete raw in batch",
        "DELETE",
        lambda w: "files/",
        members(403),
        body=lambda w: {"ids": [w.ids["s_raw"]]},
    ),
    Case("delete product", "DELETE", lambda w: f"files/{fresh_product(w)}/", members(200)),
    Case(
        "delete master calibration",
        "DELETE",
        lambda w: f"files/{fresh_product(w, 1)}/",
        members(403, other=403, staff=200),
    ),
    Case(
        "register file",
        "POST",
        lambda w: "files/",
        members(201, other=403, collaborator=403, pi=403),
        body=lambda w: {"full_path": fresh_raw_path(w)},
    ),
    Case(
        "reduce",
        "POST",
        lambda w: "files/reduce/",
        members(OK_QUEUED),
        body=lambda w: {"id": w.ids["s_raw"]},
    ),
    Case(
        "reclassify",
        "POST",
        lambda w: "files/reclassify/",
        members(OK_QUEUED),
        body=lambda w: {"id": w.ids["s_raw"]},
    ),
    Case(
        "extract",
        "POST",
        lambda w: "files/spectrum/extract/",
        members(OK_QUEUED),
        body=lambda w: {"id": w.ids["s_reduced"]},
    ),
    Case(
        "calibrate wavelength",
        "POST",
        lambda w: "files/spectrum/calibrate/wavelength/",
        members(OK_QUEUED),
        body=lambda w: {"id": w.ids["s_extracted"]},
    ),
    Case(
        "calibrate flux",
        "POST",
        lambda w: "files/spectrum/calibrate/flux/",
        members(OK_QUEUED),
        body=lambda w: {"id": w.ids["s_calibrated"]},
    ),
    # Members of a proposal observed that night; dave's proposal did not.
    Case(
        "calibrations",
        "POST",
        lambda w: "files/calibrations/",
        members(OK_QUEUED, other=403),
        body=lambda w: {"date": "2020-12-01"},
    ),
    Case("job detail", "GET", lambda w: f"jobs/{w.job_id}/", members(200)),
    Case("jobs list", "GET", lambda w: "jobs/", everyone(200)),
    Case("logs", "GET", lambda w: "logs/", everyone(200)),
    Case("proposals list", "GET", lambda w: "proposals/", everyone(200)),
    Case("proposal detail", "GET", lambda w: f"proposals/{w.proposals['p4']}/", members(200)),
    Case(
        "settings read", "GET", lambda w: f"proposals/{w.proposals['p4']}/settings/", members(200)
    ),
    Case(
        "settings edit",
        "PUT",
        lambda w: f"proposals/{w.proposals['p4']}/settings/",
        members(200, collaborator=403),
        body=lambda w: {"max_targets": 1 + next(_counter) % 5},
    ),
    Case(
        "collaborator add",
        "POST",
        lambda w: f"proposals/collaborators/{w.proposals['p4']}/",
        members(200, collaborator=403),
        body=lambda w: {"email": f"sec{next(_counter)}@example.net", "action": "add"},
    ),
    # The seed's legacy form (deprecated): a token-authenticated GET with a body.
    Case(
        "collaborator add via GET",
        "GET",
        lambda w: f"proposals/collaborators/{w.proposals['p4']}/",
        members(200, collaborator=403),
        body=lambda w: {"email": f"secg{next(_counter)}@example.net", "action": "add"},
    ),
    Case("comments read", "GET", lambda w: f"files/{w.ids['s_raw']}/comments/", members(200)),
    Case(
        "comment add",
        "POST",
        lambda w: f"files/{w.ids['s_raw']}/comments/",
        members(201),
        body=lambda w: {"text": "security table"},
    ),
    # The author (the PI here) and staff delete a comment; other members may not.
    Case(
        "comment delete",
        "DELETE",
        lambda w: f"files/{w.ids['s_raw']}/comments/{fresh_comment(w)}/",
        members(204, collaborator=403),
    ),
    Case(
        "email",
        "POST",
        lambda w: "email/",
        members(200, other=403, collaborator=403, pi=403),
        body=lambda w: {"subject": "s", "message": "m", "to": ["ops@example.org"]},
    ),
    Case("events", "GET", lambda w: "events/", everyone(200)),
    Case("health", "GET", lambda w: "health/", staff_only(200)),
    Case("users list", "GET", lambda w: "users/", staff_only(200)),
    Case(
        "user create",
        "POST",
        lambda w: "users/",
        staff_only(201),
        body=lambda w: {"email": f"secu{next(_counter)}@example.net"},
    ),
    # Only a superuser creates staff; the table's staff is not one.
    Case(
        "staff user create",
        "POST",
        lambda w: "users/",
        everyone(403),
        body=lambda w: {"email": f"secs{next(_counter)}@example.net", "is_staff": True},
    ),
    # Accounts: everyone reads and edits their own names; staff the rest (not staff
    # roles: the table's staff is not a superuser).
    Case("own account read", "GET", lambda w: "users/me/", everyone(200)),
    Case(
        "own account edit",
        "PATCH",
        lambda w: "users/me/",
        everyone(200),
        body=lambda w: {"first_name": f"N{next(_counter)}"},
    ),
    Case(
        "own partner edit",
        "PATCH",
        lambda w: "users/me/",
        staff_only(200),
        body=lambda w: {"partner": "Brazil"},
    ),
    Case("account read", "GET", lambda w: f"users/{fresh_user(w)}/", staff_only(200)),
    Case(
        "account deactivate",
        "PATCH",
        lambda w: f"users/{fresh_user(w)}/",
        staff_only(200),
        body=lambda w: {"is_active": False, "partner": "Chile"},
    ),
    Case(
        "staff role by staff",
        "PATCH",
        lambda w: f"users/{fresh_user(w)}/",
        everyone(403),
        body=lambda w: {"is_staff": True},
    ),
    Case(
        "proposal edit",
        "PATCH",
        lambda w: f"proposals/{w.proposals['p4']}/",
        staff_only(200),
        body=lambda w: {"abstract": f"edited {next(_counter)}"},
    ),
    Case(
        "next soar id",
        "GET",
        lambda w: "proposals/next-soar-id/",
        staff_only(200),
        params=lambda w: {"semester": "2099B"},
    ),
    Case(
        "proposal create",
        "POST",
        lambda w: "proposals/",
        staff_only(201),
        body=lambda w: {
            "soar_id": f"SOAR2099A-{RUN}{next(_counter)}",
            "title": "security table",
            "pi_email": f"secpi{next(_counter)}@example.net",
        },
    ),
]


@pytest.fixture(scope="module")
def sworld(world):
    r = requests.post(
        world.url("files/reduce/"),
        headers=world.headers("spi"),
        json={"id": world.ids["s_raw"]},
        timeout=30,
    )
    assert r.status_code in OK_QUEUED, r.text
    world.job_id = r.json()["jobs"][0]["id"]
    return world


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_access(sworld, case, role):
    w = sworld
    # No token or a bad one: 401 everywhere; a known caller without the right: 403.
    expected = case.expected.get(role, 401 if role in ("none", "bad") else 403)
    expected = expected if isinstance(expected, tuple) else (expected,)
    mutating = case.method != "GET" or case.body is not None
    kwargs: dict[str, Any] = {
        "headers": w.headers(WHO[role]),
        "timeout": (10, 30),
        "allow_redirects": False,
    }
    # Fresh targets are made first, so the snapshot sees them.
    path = case.path(w)
    if case.body is not None:
        kwargs["json"] = case.body(w)
    if case.params is not None:
        kwargs["params"] = case.params(w)
    before = snapshot(w) if mutating else None
    if case.name == "events":
        kwargs["stream"] = True
    r = requests.request(case.method, w.url(path), **kwargs)
    try:
        assert r.status_code in expected, (case.name, role, r.status_code, r.text[:300])
        if r.status_code >= 400:
            assert r.headers["Content-Type"].startswith("application/json")
            assert r.json()["detail"]
    finally:
        r.close()
    if mutating and r.status_code >= 400:
        assert snapshot(w) == before, f"{case.name} refused for {role} but changed the database"


def _route_of(method: str, path: str):
    """The route tornado would pick for ``path`` (the first pattern that matches)."""
    from gsp_extension.api.routes import ROUTES

    for route in ROUTES:
        if re.fullmatch(route.pattern, "/api/" + path):
            return route if method.lower() in {op.method for op in route.operations} else None
    return None


def test_every_route_and_method_is_in_the_table(sworld):
    from gsp_extension.api.routes import ROUTES

    covered = set()
    for case in CASES:
        route = _route_of(case.method, case.path(sworld))
        if route is not None:
            covered.add((route.path, case.method.lower()))
    every = {(route.path, op.method) for route in ROUTES for op in route.operations}
    assert every - covered == set(), "endpoints missing from the security table"
    # The check itself finds a route for a known path, and none for a method not served.
    assert _route_of("GET", f"files/{sworld.ids['s_raw']}/").path == "/api/files/{id}/"
    assert _route_of("PUT", "files/") is None


def test_public_documentation(world):
    for who in (None, "bad"):
        assert (
            requests.get(
                world.url("openapi.json"), headers=world.headers(who), timeout=30
            ).status_code
            == 200
        )
        assert (
            requests.get(world.url("docs/"), headers=world.headers(who), timeout=30).status_code
            == 200
        )
