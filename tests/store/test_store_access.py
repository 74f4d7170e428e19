"""Access rules of DESIGN.md §5 (the one AccessPolicy) over the store, and account bookkeeping."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from store_helpers import digest

from gsp_extension.security import AccessPolicy, Caller
from gsp_extension.store.accounts import (
    create_user,
    get_user_by_email,
    is_locked,
    record_failed_login,
    record_login,
)
from gsp_extension.store.activity import add_comment
from gsp_extension.store.errors import AlreadyExists, InvalidValue, PermissionDenied
from gsp_extension.store.files import list_files_query, register_file
from gsp_extension.store.models import Comment, File, Proposal, User
from gsp_extension.store.proposals import (
    add_collaborator,
    ensure_proposal,
    proposals_of_user,
    remove_collaborator,
    update_proposal,
)


def policy(session, user: User) -> AccessPolicy:
    return AccessPolicy(session, Caller(name=user.username, kind="user", user=user))


@pytest.fixture
def catalogue(db, people):
    """Raw and reduced files of both proposals, a master flat, an unassigned file."""
    with db.transaction() as s:
        out = {}
        for soar in ("SOAR2020B-008", "SOAR2021A-004"):
            raw = register_file(
                s, f"/raw/{soar}.fits", checksum=digest(soar), size=1, fields={"proposal_id": soar}
            ).file
            red = register_file(
                s,
                f"/p/cfzst_{soar}.fits",
                checksum=digest(soar + "r"),
                size=1,
                data_type=2,
                parent=raw,
                fields={"proposal_id": soar},
            ).file
            out[soar] = (raw.id, red.id)
        out["master"] = register_file(
            s, "/p/master_flat.fits", checksum=digest("m"), size=1, data_type=1
        ).file.id
        out["orphan"] = register_file(s, "/raw/noprop.fits", checksum=digest("o"), size=1).file.id
    return out


EXPECTED_VISIBLE = {
    "pia": {"SOAR2020B-008", "master"},
    "cola": {"SOAR2020B-008", "master"},
    "pib": {"SOAR2021A-004", "master"},
    "outsider": {"master"},
    "staff": {"SOAR2020B-008", "SOAR2021A-004", "master", "orphan"},
    "gone": set(),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_VISIBLE))
def test_who_sees_which_file(db, people, catalogue, name):
    with db.transaction() as s:
        author = s.scalar(select(User).where(User.username == "staff"))
        for file in s.scalars(select(File)):
            add_comment(s, file, author, f"on {file.file_name}")
    ids_of = {
        key: set(value) if isinstance(value, tuple) else {value} for key, value in catalogue.items()
    }
    expected = (
        set().union(*(ids_of[k] for k in EXPECTED_VISIBLE[name]))
        if EXPECTED_VISIBLE[name]
        else set()
    )
    with db.session() as s:
        user = s.scalar(select(User).where(User.username == name))
        every = list(s.scalars(select(File)))
        access = policy(s, user)
        by_row = {f.id for f in every if access.visible(f)}
        assert by_row == expected
        assert set(s.scalars(select(File.id).where(access.files()))) == expected
        # comments are seen with the file they are on
        commented = set(s.scalars(select(Comment.file_id).where(access.comments())))
        assert commented == expected
        # The listing agrees with the rule under every filter the API offers.
        for data_type in (None, 0, 1, 2):
            for proposal_id in (None, "SOAR2020B-008", "SOAR2021A-004", "NOPE"):
                want = {
                    f.id
                    for f in every
                    if f.id in expected
                    and data_type in (None, f.data_type)
                    and proposal_id in (None, f.proposal_id)
                }
                query = list_files_query(s, data_type=data_type, proposal_id=proposal_id)
                # the general rule, and the listing's simplified shape of it
                general = {f.id for f in s.scalars(query.where(access.files()))}
                shape, mine = access.file_listing(data_type, proposal_id)
                condition = shape.condition(File.__table__, mine)
                shaped = query if condition is None else query.where(condition)
                assert general == want, (data_type, proposal_id)
                assert {f.id for f in s.scalars(shaped)} == want, (data_type, proposal_id, shape)


def test_who_may_delete_which_file(db, people, catalogue):
    raw_a, red_a = catalogue["SOAR2020B-008"]
    with db.session() as s:
        u = {x.username: x for x in s.scalars(select(User))}
        red, raw, master = s.get(File, red_a), s.get(File, raw_a), s.get(File, catalogue["master"])
        assert policy(s, u["cola"]).may_delete_file(red)
        assert policy(s, u["staff"]).may_delete_file(red)
        assert not policy(s, u["pib"]).may_delete_file(red)
        assert not policy(s, u["staff"]).may_delete_file(raw)
        assert not policy(s, u["pia"]).may_delete_file(master)
        assert policy(s, u["staff"]).may_delete_file(master)
        assert not policy(s, u["gone"]).may_delete_file(red)


def test_proposals_of_a_user(db, people):
    with db.session() as s:
        u = {x.username: x for x in s.scalars(select(User))}
        assert [p.soar_id for p in proposals_of_user(s, u["cola"])] == ["SOAR2020B-008"]
        assert [p.soar_id for p in proposals_of_user(s, u["pib"])] == ["SOAR2021A-004"]
        assert proposals_of_user(s, u["outsider"]) == []
        visible = lambda name: s.scalars(select(Proposal).where(policy(s, u[name]).proposals()))  # noqa: E731
        assert len(list(visible("staff"))) == 2
        assert list(visible("gone")) == []
        assert [p.soar_id for p in visible("cola")] == ["SOAR2020B-008"]


def test_only_pi_and_staff_manage_collaborators(db, people):
    with db.transaction() as s:
        u = {x.username: x for x in s.scalars(select(User))}
        a = s.get(Proposal, people["a"].id)
        assert not policy(s, u["cola"]).may_manage(a)
        assert not policy(s, u["pib"]).may_manage(a)
        assert policy(s, u["pia"]).may_manage(a) and policy(s, u["staff"]).may_manage(a)
        add_collaborator(s, a, u["outsider"])
        add_collaborator(s, a, u["outsider"])  # idempotent
        assert [c.username for c in a.collaborators].count("outsider") == 1
        remove_collaborator(s, a, u["cola"])
    with db.session() as s:
        names = {c.username for c in s.get(Proposal, people["a"].id).collaborators}
    assert names == {"outsider", "gone"}


def test_only_a_superuser_creates_staff(db, people):
    with db.transaction() as s:
        staff = s.scalar(select(User).where(User.username == "staff"))
        with pytest.raises(PermissionDenied, match="only a superuser creates staff"):
            create_user(s, "newstaff", is_staff=True, by=staff)
        root = create_user(s, "root", is_superuser=True)
        made = create_user(s, "newstaff", is_staff=True, by=root)
        assert made.is_staff and root.is_staff


@pytest.mark.parametrize(
    ("username", "email", "error", "message"),
    [
        ("pia", None, AlreadyExists, "username 'pia' is taken"),
        ("other", "PIA@example.org", AlreadyExists, "already belongs"),
        ("bad name", None, InvalidValue, "username 'bad name' is invalid"),
        ("fine", "not-an-address", InvalidValue, "name@domain.tld"),
    ],
)
def test_user_creation_errors(db, people, username, email, error, message):
    with db.transaction() as s, pytest.raises(error, match=message):
        create_user(s, username, email=email)


def test_email_lookup_is_case_insensitive(db, people):
    with db.session() as s:
        assert get_user_by_email(s, "  Cola@Example.ORG ").username == "cola"


def test_lockout_after_repeated_failures_and_reset_on_login(db, people):
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with db.transaction() as s:
        user = s.scalar(select(User).where(User.username == "pia"))
        for _ in range(4):
            assert record_failed_login(s, user, max_failures=5, now=now) is None
        until = record_failed_login(s, user, max_failures=5, now=now)
        assert until == now + dt.timedelta(minutes=15)
        assert is_locked(user, now) and not is_locked(user, until + dt.timedelta(seconds=1))
        record_login(s, user, now=until + dt.timedelta(seconds=1))
    with db.session() as s:
        user = s.scalar(select(User).where(User.username == "pia"))
        assert user.locked_until is None and user.failed_logins == 0
        assert user.last_login == now + dt.timedelta(minutes=15, seconds=1)


def test_placeholder_is_completed_by_staff(db, people):
    with db.transaction() as s:
        proposal, created = ensure_proposal(s, "SOAR2030A-001")
        again, created_again = ensure_proposal(s, "SOAR2030A-001")
        assert created and not created_again and again.id == proposal.id
        u = {x.username: x for x in s.scalars(select(User))}
        with pytest.raises(PermissionDenied, match="only staff edit"):
            update_proposal(s, proposal, by=u["pia"], title="mine")
        update_proposal(s, proposal, by=u["staff"], pi=u["pib"], title="Real", semester="2030A")
        assert not proposal.placeholder and proposal.pi_id == u["pib"].id


def test_arcs_a_proposal_may_use(db, people):
    """The engine's automatic arc choice asks the policy: a proposal's own arcs and arcs
    no proposal owns, never another proposal's (whose names carry its targets)."""
    from gsp_extension.engine.arcs import night_reduced_arcs
    from gsp_extension.security import AccessPolicy

    night = dt.date(2020, 11, 26)
    with db.transaction() as s:
        ids = {}
        for key, soar in (("own", "SOAR2020B-008"), ("other", "SOAR2021A-004"), ("staff", None)):
            raw = register_file(
                s,
                f"/raw/arc_{key}.fits",
                checksum=digest(key),
                size=1,
                fields={"proposal_id": soar, "obstype": "COMP", "date": night.isoformat()},
            ).file
            ids[key] = register_file(
                s,
                f"/p/cfzst_arc_{key}.fits",
                checksum=digest(key + "r"),
                size=1,
                data_type=2,
                parent=raw,
                fields={"proposal_id": soar, "obstype": "COMP", "date": night.isoformat()},
            ).file.id
    with db.session() as s:
        chosen = {f.id for f in night_reduced_arcs(s, night, "SOAR2020B-008")}
        assert chosen == {ids["own"], ids["staff"]}
        assert {f.id for f in night_reduced_arcs(s, night, None)} == {ids["staff"]}
        usable = select(File.id).where(AccessPolicy.calibrations_for("SOAR2021A-004"))
        assert ids["other"] in set(s.scalars(usable)) and ids["own"] not in set(s.scalars(usable))
