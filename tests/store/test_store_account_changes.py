"""Editing accounts (own names and e-mail; staff: partner and deactivation; superuser:
the staff role) and the default SOAR id of a new proposal, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from gsp_extension.security import resolve_caller
from gsp_extension.store import AlreadyExists, InvalidValue, PermissionDenied
from gsp_extension.store.account_changes import update_user
from gsp_extension.store.accounts import create_user, get_user_by_username
from gsp_extension.store.proposals import create_proposal
from gsp_extension.store.semesters import check_semester, next_soar_id


def _users(s, *names):
    return [get_user_by_username(s, n) for n in names]


def test_a_user_edits_their_own_names_and_email_only(db, people):
    with db.transaction() as s:
        pia, pib = _users(s, "pia", "pib")
        changed = update_user(
            s,
            pia,
            {"first_name": "Pía", "last_name": "Ruiz", "email": " Pia.R@Example.org "},
            by=pia,
        )
        assert sorted(changed) == ["email", "first_name", "last_name"]
        assert (pia.first_name, pia.email) == ("Pía", "pia.r@example.org")
        assert update_user(s, pia, {"first_name": "Pía"}, by=pia) == []  # nothing changed
        with pytest.raises(PermissionDenied, match="only edit your own account"):
            update_user(s, pib, {"first_name": "X"}, by=pia)
        with pytest.raises(PermissionDenied, match=r"only staff change \['partner'\]"):
            update_user(s, pia, {"partner": "Chile"}, by=pia)
        with pytest.raises(PermissionDenied, match="cannot deactivate your own account"):
            update_user(s, pia, {"is_active": False}, by=pia)
        with pytest.raises(AlreadyExists, match="pib@example.org"):
            update_user(s, pia, {"email": "PIB@example.org"}, by=pia)
        with pytest.raises(InvalidValue, match="name@domain.tld"):
            update_user(s, pia, {"email": "not-an-address"}, by=pia)
        with pytest.raises(InvalidValue, match="cannot be changed"):
            update_user(s, pia, {"username": "other"}, by=pia)


def test_staff_set_partner_and_deactivate_but_not_staff_accounts(db, people):
    with db.transaction() as s:
        staff, pia = _users(s, "staff", "pia")
        other_staff = create_user(s, "staff2", email="staff2@example.org", is_staff=True)
        root = create_user(s, "root", email="root@example.org", is_superuser=True)
        changed = update_user(s, pia, {"partner": " Brazil ", "is_active": False}, by=staff)
        assert sorted(changed) == ["is_active", "partner"]
        assert (pia.partner, pia.is_active) == ("Brazil", False)
        update_user(s, pia, {"partner": ""}, by=staff)
        assert pia.partner is None
        with pytest.raises(PermissionDenied, match="only a superuser gives or removes the staff"):
            update_user(s, pia, {"is_staff": True}, by=staff)
        with pytest.raises(PermissionDenied, match="'staff2' is staff; only a superuser"):
            update_user(s, other_staff, {"is_active": False}, by=staff)
        with pytest.raises(PermissionDenied, match="cannot deactivate your own"):
            update_user(s, staff, {"is_active": False}, by=staff)
        # a superuser does all of it, but never demotes itself
        update_user(s, other_staff, {"is_staff": False}, by=root)
        assert not other_staff.is_staff and not other_staff.is_superuser
        with pytest.raises(PermissionDenied, match="remove your own staff role"):
            update_user(s, root, {"is_staff": False}, by=root)


def test_a_deactivated_account_is_refused_at_its_next_request(db, people):
    with db.transaction() as s:
        staff, cola = _users(s, "staff", "cola")
        assert resolve_caller(s, {"name": "cola", "kind": "user"}, ()).user.id == cola.id
        update_user(s, cola, {"is_active": False}, by=staff)
    with db.session() as s, pytest.raises(PermissionDenied, match="'cola' is deactivated"):
        resolve_caller(s, {"name": "cola", "kind": "user"}, ())


def test_next_soar_id_counts_within_the_semester(db, people):
    with db.transaction() as s:
        assert next_soar_id(s, "2020b") == "SOAR2020B-009"  # after SOAR2020B-008
        assert next_soar_id(s, "2025A") == "SOAR2025A-001"
        create_proposal(s, "SOAR2025A-041")
        create_proposal(s, "SOAR2025A-notanumber")
        assert next_soar_id(s, "2025A") == "SOAR2025A-042"
    with pytest.raises(InvalidValue, match="use a year and A or B, e.g. 2026B"):
        check_semester("2025C")
