"""Creating accounts and proposals as staff: the checks made before the hub is touched,
the listing of users with their proposals, and completing ingest's placeholders."""

from __future__ import annotations

import pytest

from gsp_extension.store import AlreadyExists, InvalidValue, PermissionDenied
from gsp_extension.store.accounts import (
    check_new_user,
    create_user,
    free_username,
    get_user_by_username,
    soar_ids_of_users,
    users_query,
)
from gsp_extension.store.proposals import (
    check_new_proposal,
    create_or_complete_proposal,
    ensure_proposal,
    get_proposal_by_soar_id,
    semester_of,
)


def test_check_new_user_refuses_what_create_user_refuses(db, people):
    with db.session() as s:
        staff = get_user_by_username(s, "staff")
        assert check_new_user(s, "newbie", email=" New@Example.ORG ") == "new@example.org"
        with pytest.raises(AlreadyExists, match="email 'pia@example.org'") as err:
            check_new_user(s, "fresh", email="PIA@example.org")
        assert "username" not in str(err.value)
        with pytest.raises(AlreadyExists, match="username 'pia'") as err:
            check_new_user(s, "pia", email="other@example.org")
        assert "email" not in str(err.value)
        with pytest.raises(AlreadyExists) as err:
            check_new_user(s, "pia", email="pia@example.org")
        assert "username" in str(err.value) and "email" in str(err.value)
        with pytest.raises(InvalidValue, match="name@domain.tld"):
            check_new_user(s, "fresh", email="nope")
        with pytest.raises(InvalidValue, match="username"):
            check_new_user(s, "has space", email="x@y.org")
        with pytest.raises(PermissionDenied, match="only a superuser creates staff"):
            check_new_user(s, "boss", email="boss@y.org", is_staff=True, by=staff)
    with db.transaction() as s:
        root = create_user(s, "root", is_superuser=True)
        check_new_user(s, "boss", email="boss@y.org", is_staff=True, by=root)
        # create_user goes through the same check.
        with pytest.raises(AlreadyExists):
            create_user(s, "other", email="PIA@EXAMPLE.ORG")


def test_free_username_skips_taken_names(db, people):
    with db.transaction() as s:
        assert free_username(s, "Pia@elsewhere.org") == "pia2"
        create_user(s, "pia2")
        assert free_username(s, "pia@x.org") == "pia3"
        assert free_username(s, "J.Doe+tag@x.org") == "j.doetag"
        assert free_username(s, "+++@x.org") == "user"


def test_users_with_their_proposals(db, people):
    with db.session() as s:
        everyone = list(s.scalars(users_query()))
        names = [u.username for u in everyone]
        assert names == sorted(names) and len(names) == 6
        by_id = soar_ids_of_users(s, [u.id for u in everyone])
        got = {u.username: by_id[u.id] for u in everyone}
        assert got["pia"] == ["SOAR2020B-008"] and got["cola"] == ["SOAR2020B-008"]
        assert got["pib"] == ["SOAR2021A-004"] and got["outsider"] == []
        assert soar_ids_of_users(s, []) == {}
        assert [u.username for u in s.scalars(users_query(is_staff=True))] == ["staff"]
        assert [u.username for u in s.scalars(users_query(is_active=False))] == ["gone"]
        assert [u.username for u in s.scalars(users_query(search="COL"))] == ["cola"]
        # LIKE wildcards are literal.
        assert list(s.scalars(users_query(search="%"))) == []
        assert list(s.scalars(users_query(search="p_a"))) == []


def test_semester_of():
    assert semester_of("SOAR2020B-008") == "2020B"
    assert semester_of("chile2019a-012") == "2019A"
    assert semester_of("ENG-TIME") == ""


def test_a_proposal_is_created_or_its_placeholder_completed(db, people):
    with db.transaction() as s:
        staff = get_user_by_username(s, "staff")
        pia = get_user_by_username(s, "pia")
        with pytest.raises(PermissionDenied, match="only staff"):
            create_or_complete_proposal(s, "SOAR2030A-001", title="t", by=pia)
        proposal, completed = create_or_complete_proposal(
            s, "SOAR2030A-001", title="New", pi=pia, by=staff
        )
        assert not completed and proposal.semester == "2030A" and proposal.pi_id == pia.id
        with pytest.raises(AlreadyExists, match="already exists"):
            check_new_proposal(s, "SOAR2030A-001")
        placeholder, _ = ensure_proposal(s, "SOAR2030A-002")
        assert placeholder.placeholder
        assert check_new_proposal(s, "SOAR2030A-002") is placeholder
        done, completed = create_or_complete_proposal(
            s, "SOAR2030A-002", title="Real", abstract="a", semester="", by=staff
        )
        assert completed and done.id == placeholder.id
        assert (done.title, done.abstract, done.semester, done.placeholder) == (
            "Real",
            "a",
            "",
            False,
        )
        with pytest.raises(AlreadyExists):
            create_or_complete_proposal(s, "SOAR2030A-002", title="x", by=staff)
        with pytest.raises(InvalidValue):
            check_new_proposal(s, "  ")
    with db.session() as s:
        assert get_proposal_by_soar_id(s, "SOAR2030A-002").title == "Real"
