"""Access rules of DESIGN.md §5 at the domain level, and account bookkeeping."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from store_helpers import digest

from gsp_extension.store.accounts import (
    create_user,
    get_user_by_email,
    is_locked,
    record_failed_login,
    record_login,
)
from gsp_extension.store.errors import AlreadyExists, InvalidValue, PermissionDenied
from gsp_extension.store.files import (
    list_files_query,
    register_file,
    user_can_delete_file,
    user_can_see_file,
)
from gsp_extension.store.models import File, Proposal, User
from gsp_extension.store.proposals import (
    add_collaborator,
    ensure_proposal,
    proposals_of_user,
    remove_collaborator,
    update_proposal,
    visible_proposals,
)


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
        by_function = {f.id for f in every if user_can_see_file(s, user, f)}
        assert by_function == expected
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
                query = list_files_query(s, user, data_type=data_type, proposal_id=proposal_id)
                assert {f.id for f in s.scalars(query)} == want, (data_type, proposal_id)


def test_who_may_delete_which_file(db, people, catalogue):
    raw_a, red_a = catalogue["SOAR2020B-008"]
    with db.session() as s:
        u = {x.username: x for x in s.scalars(select(User))}
        red, raw, master = s.get(File, red_a), s.get(File, raw_a), s.get(File, catalogue["master"])
        assert user_can_delete_file(s, u["cola"], red)
        assert user_can_delete_file(s, u["staff"], red)
        assert not user_can_delete_file(s, u["pib"], red)
        assert not user_can_delete_file(s, u["staff"], raw)
        assert not user_can_delete_file(s, u["pia"], master)
        assert user_can_delete_file(s, u["staff"], master)


def test_proposals_of_a_user(db, people):
    with db.session() as s:
        u = {x.username: x for x in s.scalars(select(User))}
        assert [p.soar_id for p in proposals_of_user(s, u["cola"])] == ["SOAR2020B-008"]
        assert [p.soar_id for p in proposals_of_user(s, u["pib"])] == ["SOAR2021A-004"]
        assert proposals_of_user(s, u["outsider"]) == []
        assert len(visible_proposals(s, u["staff"])) == 2
        assert visible_proposals(s, u["gone"]) == []


def test_only_pi_and_staff_manage_collaborators(db, people):
    with db.transaction() as s:
        u = {x.username: x for x in s.scalars(select(User))}
        a = s.get(Proposal, people["a"].id)
        with pytest.raises(PermissionDenied, match="only they add collaborators"):
            add_collaborator(s, a, u["outsider"], by=u["cola"])
        add_collaborator(s, a, u["outsider"], by=u["pia"])
        add_collaborator(s, a, u["outsider"], by=u["pia"])  # idempotent
        assert [c.username for c in a.collaborators].count("outsider") == 1
        with pytest.raises(PermissionDenied, match="only they remove"):
            remove_collaborator(s, a, u["cola"], by=u["pib"])
        remove_collaborator(s, a, u["cola"], by=u["staff"])
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
