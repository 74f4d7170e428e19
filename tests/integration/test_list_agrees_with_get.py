"""For every listing and every kind of caller, what is listed is exactly what opens by id.

One access rule decides both (gsp_extension.security.access.AccessPolicy); this table
holds every listing endpoint against the endpoints that open one of its objects by id,
for a PI, a collaborator, another proposal's PI, an account in no proposal, staff, and
requests without a token or with a bad one. Before the policy was one object, a job
asked by staff on a proposal's file (no proposal recorded on the job) opened by id for
the proposal's members but never appeared in their job list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import select

pytestmark = pytest.mark.databases("sqlite", "postgresql")

#: Kinds of caller -> the world's user (None: no token; "bad": a token the hub rejects).
CALLERS = {
    "pi": "alice",
    "collaborator": "bob",
    "other pi": "carol",
    "no proposal": "eve",
    "staff": "staffer",
    "no token": None,
    "bad token": "bad",
}


@dataclass(frozen=True)
class Listing:
    """A listing endpoint and the by-id endpoints of the objects it lists."""

    name: str
    path: str
    universe: Callable[[Any], set[int]]  # every id of that kind in the database
    by_id: tuple[str, ...]  # paths with "{id}"
    params: dict[str, Any]
    #: by-id paths that read the file itself: a listed file whose path lies outside
    #: the data root is refused there (403), whoever asks
    content: tuple[str, ...] = ()


def _ids(world, query) -> set[int]:
    from gsp_extension.store import Database

    db = Database(world.hub.database_url)
    try:
        with db.session() as s:
            return set(s.scalars(query))
    finally:
        db.dispose()


def _current_files(world) -> set[int]:
    from gsp_extension.store import File

    query = select(File.id).where(File.superseded_at.is_(None), File.deleted_at.is_(None))
    return _ids(world, query)


def _outside_data_root(world) -> set[int]:
    from gsp_extension.store import File

    root = world.hub.data_root.resolve()
    rows = _rows(world, select(File.id, File.full_path))
    return {i for i, path in rows if not Path(path).resolve().is_relative_to(root)}


def _rows(world, query) -> list:
    from gsp_extension.store import Database

    db = Database(world.hub.database_url)
    try:
        with db.session() as s:
            return list(s.execute(query))
    finally:
        db.dispose()


def _jobs(world) -> set[int]:
    from gsp_extension.store import Job

    return _ids(world, select(Job.id))


def _proposals(world) -> set[int]:
    from gsp_extension.store import Proposal

    return _ids(world, select(Proposal.id))


LISTINGS = [
    Listing(
        "files",
        "files/",
        _current_files,
        ("files/{id}/", "files/{id}/comments/", "files/header/?id={id}"),
        {"page_size": 1000},
        content=("files/header/?id={id}",),
    ),
    Listing("jobs", "jobs/", _jobs, ("jobs/{id}/",), {"page_size": 1000}),
    Listing(
        "proposals",
        "proposals/",
        _proposals,
        ("proposals/{id}/", "proposals/{id}/settings/"),
        {"page_size": 1000},
    ),
]


@pytest.fixture(scope="module")
def aworld(world):
    """The shared world plus a job staff asked for on a file of SOAR2020B-001 with no
    proposal on the job row (as staff actions and older jobs have)."""
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import get_user_by_username
    from gsp_extension.store.jobs import enqueue

    db = Database(world.hub.database_url)
    try:
        with db.transaction() as s:
            staffer = get_user_by_username(s, "staffer")
            job = enqueue(
                s,
                "reclassify",
                f"reclassify:{world.ids['p1_raw']}:list-vs-get",
                file_id=world.ids["p1_raw"],
                requested_by_id=staffer.id,
            )
            world.ids["staff_job_on_p1_file"] = job.id
    finally:
        db.dispose()
    return world


def _listed(world, listing: Listing, who) -> tuple[int, set[int]]:
    """Status of the listing and every id it lists (all pages)."""
    ids: set[int] = set()
    url = world.url(listing.path)
    params = dict(listing.params)
    while url:
        r = requests.get(url, params=params, headers=world.headers(who), timeout=30)
        if r.status_code != 200:
            return r.status_code, ids
        body = r.json()
        ids |= {row["id"] for row in body["results"]}
        url, params = body.get("next"), None
    return 200, ids


@pytest.mark.parametrize("kind", list(CALLERS))
@pytest.mark.parametrize("listing", LISTINGS, ids=[x.name for x in LISTINGS])
def test_listing_and_get_by_id_agree(aworld, listing, kind):
    who = CALLERS[kind]
    status, listed = _listed(aworld, listing, who)
    universe = listing.universe(aworld)
    assert listed <= universe
    if who in (None, "bad"):
        assert status in (401, 403) and not listed
    else:
        assert status == 200
    outside = _outside_data_root(aworld) if listing.content else set()
    disagreements = []
    for object_id in sorted(universe):
        for template in listing.by_id:
            r = requests.get(
                aworld.url(template.format(id=object_id)), headers=aworld.headers(who), timeout=30
            )
            if who in (None, "bad"):
                expected = {status}
            elif object_id not in listed:
                expected = {404}
            elif template in listing.content and object_id in outside:
                expected = {403}
            else:
                expected = {200}
            if r.status_code not in expected:
                disagreements.append((template.format(id=object_id), r.status_code))
    assert not disagreements, f"{kind}: listed {sorted(listed)}, but by id: {disagreements}"


def test_the_table_holds_the_case_that_used_to_disagree(aworld):
    """The PI and the collaborator see staff's job on their file, in the list and by id;
    the other proposal's PI sees it nowhere."""
    job = aworld.ids["staff_job_on_p1_file"]
    for who, sees in (("alice", True), ("bob", True), ("carol", False), ("eve", False)):
        _, listed = _listed(aworld, LISTINGS[1], who)
        assert (job in listed) is sees, who
