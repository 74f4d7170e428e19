"""The access rules and the listing query on SQLite and PostgreSQL (no hub needed)."""

from __future__ import annotations

import contextlib

import pytest

from gsp_extension.api.queries import CountCache, list_files, list_jobs
from gsp_extension.api.schemas import FileListQuery
from gsp_extension.security import (
    Caller,
    get_visible_file,
    get_visible_proposal,
    require_can_act_on_file,
    require_can_delete_file,
    require_can_edit_settings,
    require_can_manage_collaborators,
    resolve_caller,
)
from gsp_extension.store import (
    Database,
    NotFound,
    PermissionDenied,
    upgrade_database,
)
from gsp_extension.store.accounts import create_user
from gsp_extension.store.files import register_file
from gsp_extension.store.jobs import enqueue
from gsp_extension.store.proposals import create_proposal
from tests.postgres import throwaway_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    """Users, two proposals, five files and a job, on SQLite and on PostgreSQL.

    One world per database for the module, not one per test: every test here only reads
    it (rules, listings and counts; sessions that add nothing), and building it (the
    migrations, on PostgreSQL a schema reset) took most of the module's 70 s.
    """
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('listing') / 'gsp.sqlite'}"
        else:
            url = stack.enter_context(throwaway_database("gsp_listing"))
        yield from _world(url)


def _world(db_url):
    upgrade_database(db_url)
    db = Database(db_url)
    ids = {}
    with db.transaction() as s:
        users = {n: create_user(s, n, email=f"{n}@x.org") for n in ("pi", "co", "other", "nobody")}
        users["staff"] = create_user(s, "staff", email="staff@x.org", is_staff=True)
        users["gone"] = create_user(s, "gone", email="gone@x.org", is_active=False)
        p1 = create_proposal(s, "P1", pi=users["pi"], collaborators=[users["co"]])
        p2 = create_proposal(s, "P2", pi=users["other"])
        ids["p1"], ids["p2"] = p1.id, p2.id

        def reg(key, path, data_type=0, parent=None, **fields):
            row = register_file(
                s,
                path,
                checksum=f"{len(ids):064x}",
                size=1,
                data_type=data_type,
                parent=parent,
                fields={"date": "2020-11-26", **fields},
            ).file
            ids[key] = row.id
            return row

        raw = reg(
            "raw", "/d/raw/1_100%_done.fits", proposal_id="P1", object="NGC 1_2", obstype="OBJECT"
        )
        # A lower-case spelling: OBSTYPE filters compare case-insensitively.
        reg(
            "raw_b",
            "/d/raw/2_b.fits",
            proposal_id="P1",
            object="M31",
            date="2020-11-27",
            obstype="comp",
        )
        reg("reduced", "/d/products/c_1.fits", 2, raw, proposal_id="P1")
        reg("other_raw", "/d/raw/3_c.fits", proposal_id="P2", obstype="FLAT")
        reg("master", "/d/products/master_bias.fits", 1, obstype="BIAS")
        ids["job"] = enqueue(s, "reduce", "reduce:x", file_id=ids["raw"], proposal_id=p1.id).id
    yield db, ids
    db.dispose()


def caller(session, name):
    return resolve_caller(session, {"name": name, "kind": "user"}, ())


def test_unknown_and_deactivated_accounts_are_refused(world):
    db, _ = world
    with db.session() as s:
        with pytest.raises(PermissionDenied, match="no GSP Live account"):
            caller(s, "stranger")
        with pytest.raises(PermissionDenied, match="deactivated"):
            caller(s, "gone")
        instrument = resolve_caller(
            s, {"name": "gsp-instrument", "kind": "service"}, {"gsp-instrument"}
        )
        assert instrument.instrument and instrument.user is None


@pytest.mark.parametrize(
    ("who", "visible"),
    [
        ("pi", {"raw", "raw_b", "reduced", "master"}),
        ("co", {"raw", "raw_b", "reduced", "master"}),
        ("other", {"other_raw", "master"}),
        ("nobody", {"master"}),
        ("staff", {"raw", "raw_b", "reduced", "other_raw", "master"}),
    ],
)
def test_visibility_of_files_detail_and_listing(world, who, visible):
    db, ids = world
    names = {v: k for k, v in ids.items() if k not in ("p1", "p2", "job")}
    with db.session() as s:
        c = caller(s, who)
        page = list_files(s, c, FileListQuery(page_size=1000), page_size=1000, bound=100)
        assert {names[r["id"]] for r in page.rows} == visible
        for key in names.values():
            if key in visible:
                assert get_visible_file(s, c, ids[key]).id == ids[key]
            else:
                with pytest.raises(NotFound):
                    get_visible_file(s, c, ids[key])


def test_delete_and_act_rules(world):
    db, ids = world
    with db.session() as s:
        pi, co, staff = caller(s, "pi"), caller(s, "co"), caller(s, "staff")
        raw = get_visible_file(s, staff, ids["raw"])
        reduced = get_visible_file(s, staff, ids["reduced"])
        master = get_visible_file(s, staff, ids["master"])
        for who in (pi, co, staff):
            with pytest.raises(PermissionDenied, match="raw data cannot be deleted"):
                require_can_delete_file(s, who, raw)
            require_can_delete_file(s, who, reduced)
            require_can_act_on_file(s, who, raw, "reduce")
        for who in (pi, co):
            with pytest.raises(PermissionDenied):
                require_can_delete_file(s, who, master)
            with pytest.raises(PermissionDenied, match="only staff"):
                require_can_act_on_file(s, who, master, "reduce")
        require_can_delete_file(s, staff, master)


def test_proposal_rules(world):
    db, ids = world
    with db.session() as s:
        pi, co, other, staff = (caller(s, n) for n in ("pi", "co", "other", "staff"))
        proposal = get_visible_proposal(s, co, ids["p1"])
        with pytest.raises(NotFound):
            get_visible_proposal(s, other, ids["p1"])
        require_can_manage_collaborators(pi, proposal)
        require_can_manage_collaborators(staff, proposal)
        require_can_edit_settings(pi, proposal)
        with pytest.raises(PermissionDenied):
            require_can_manage_collaborators(co, proposal)
        with pytest.raises(PermissionDenied):
            require_can_edit_settings(co, proposal)


def test_jobs_are_listed_for_members_only(world):
    db, ids = world
    with db.session() as s:

        def job_ids(who):
            page = list_jobs(
                s, caller(s, who), state=None, file_id=None, page=1, page_size=10, bound=10
            )
            return [j.id for j in page.rows]

        assert job_ids("co") == [ids["job"]]
        assert job_ids("staff") == [ids["job"]]
        assert job_ids("other") == []


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"search": "100%"}, {"raw"}),  # LIKE wildcards are matched literally
        ({"search": "ngc 1_2"}, {"raw"}),
        # "_" is literal too: as a wildcard it would also match "1." in c_1.fits.
        ({"search": "1_"}, {"raw"}),
        ({"date_after": "2020-11-27"}, {"raw_b"}),
        ({"date_before": "2020-11-26", "data_type": 0}, {"raw"}),
        ({"parent_file_id": "reduced_parent"}, {"raw", "reduced"}),
        ({"object": "M31"}, {"raw_b"}),
        # A NULL OBSTYPE (the reduced product) is never excluded by an OBSTYPE list.
        ({"exclude_obstype": "COMP"}, {"raw", "reduced", "master"}),
        ({"exclude_obstype": "bias, Comp"}, {"raw", "reduced"}),
        ({"exclude_obstype": "OBJECT,BIAS,COMP"}, {"reduced"}),
        # Raw calibrations go; a master calibration (data_type 1) stays.
        ({"hide_raw_calibrations": "true"}, {"raw", "reduced", "master"}),
        ({"hide_raw_calibrations": "false"}, {"raw", "raw_b", "reduced", "master"}),
        ({"hide_raw_calibrations": "true", "data_type": 0}, {"raw"}),
        ({"hide_raw_calibrations": "true", "exclude_obstype": "OBJECT"}, {"reduced", "master"}),
    ],
)
def test_filters(world, params, expected):
    db, ids = world
    if params.get("parent_file_id") == "reduced_parent":
        params = {"parent_file_id": ids["raw"]}
    names = {v: k for k, v in ids.items() if k not in ("p1", "p2", "job")}
    with db.session() as s:
        q = FileListQuery.model_validate({**params, "page_size": 100})
        page = list_files(s, caller(s, "pi"), q, page_size=100, bound=100)
        assert {names[r["id"]] for r in page.rows} == expected


@pytest.mark.parametrize("value", ["BIAS,SCIENCE", "", ",", "BIAS,,FLAT"])
def test_unknown_obstype_names_the_known_ones(value):
    from pydantic import ValidationError

    from gsp_extension.api.schemas import CALIBRATION_OBSTYPES, KNOWN_OBSTYPES

    if value == "":
        # A blank parameter is dropped by the handler before validation: no filter.
        assert FileListQuery.model_validate({}).excluded_obstypes == ()
        return
    with pytest.raises(ValidationError) as err:
        FileListQuery.model_validate({"exclude_obstype": value})
    assert "unknown OBSTYPE" in str(err.value) and "'DARK'" in str(err.value)
    assert set(CALIBRATION_OBSTYPES) < set(KNOWN_OBSTYPES)
    assert {"BIAS", "FLAT", "COMP", "ARC", "DARK"} <= set(CALIBRATION_OBSTYPES)
    assert "OBJECT" not in CALIBRATION_OBSTYPES


def test_bounded_count_and_its_cache(world):
    db, ids = world
    cache = CountCache(ttl=60)
    with db.session() as s:
        c = caller(s, "staff")
        q = FileListQuery(page_size=1, ordering="id")
        page = list_files(s, c, q, page_size=1, bound=2, counts=cache)
        assert page.has_next and page.count >= 3 and page.estimated is True
        exact = list_files(s, c, q, page_size=1, bound=100)
        assert exact.count == 5 and exact.estimated is False
        # Same caller and filters: the cached count is reused; another caller is not.
        assert list_files(s, c, q, page_size=1, bound=2, counts=cache).count == page.count
        other = caller(s, "pi")
        assert list_files(s, other, q, page_size=1, bound=100, counts=cache).count == 4


def test_ordering(world):
    db, ids = world
    with db.session() as s:
        c = caller(s, "staff")
        up = list_files(s, c, FileListQuery(ordering="file_name"), page_size=100, bound=100)
        names = [r["file_name"] for r in up.rows]
        assert names == sorted(names)
        newest = list_files(s, c, FileListQuery(), page_size=100, bound=100)
        assert newest.rows[0]["id"] == ids["raw_b"]  # 2020-11-27, the latest night


def test_a_bare_caller_sees_nothing(world):
    db, _ = world
    with db.session() as s:
        nobody = Caller(name="svc", kind="service", user=None)
        page = list_files(s, nobody, FileListQuery(), page_size=10, bound=10)
        assert page.rows == []
