"""``gsp user`` and ``gsp proposal``, run in-process against a real database."""

from __future__ import annotations

import datetime as dt
import email
import io
import json
from email import policy

import pytest

from gsp_extension.cli.main import main
from hub.semesters import current_semester, next_soar_id, semester_of


@pytest.fixture
def gsp(db_url, tmp_path, monkeypatch, capsys):
    """Run ``gsp ...``; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("GSP_DATA_ROOT", str(tmp_path))
    monkeypatch.setenv("GSP_DATABASE_URL", db_url)
    monkeypatch.setenv("GSP_PUBLIC_URL", "https://gsp.example.org/")
    monkeypatch.delenv("GSP_SMTP_HOST", raising=False)
    monkeypatch.delenv("GSP_LINK_SECRET_FILE", raising=False)
    monkeypatch.delenv("GSP_LINK_SECRET", raising=False)

    def run(*argv, stdin=None):
        if stdin is not None:
            monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def outbox(tmp_path):
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted((tmp_path / "outbox").glob("*.eml"))
    ]


def users(gsp, *extra):
    code, out, _ = gsp("user", "list", "--json", *extra)
    assert code == 0
    return {u["username"]: u for u in json.loads(out)}


def test_first_superuser_then_only_a_superuser_makes_staff(gsp, tmp_path):
    code, _, err = gsp("user", "add", "staff1", "--staff")
    assert code == 1 and "no superuser yet" in err
    code, out, _ = gsp(
        "user", "add", "root", "--superuser", "--password-stdin", stdin="Kepler-1609-b!\n"
    )
    assert code == 0 and "created superuser 'root'" in out
    code, _, err = gsp(
        "user", "add", "second", "--superuser", "--password-stdin", stdin="Kepler-1609-c!"
    )
    assert code == 1 and "only a superuser makes staff: add --by" in err
    code, _, _ = gsp("user", "add", "sam", "--staff", "--by", "root", "--email", "sam@example.org")
    assert code == 0
    code, _, err = gsp("user", "add", "kim", "--staff", "--by", "sam", "--no-email")
    assert code == 1 and "only a superuser creates staff" in err
    listed = users(gsp)
    assert listed["root"]["role"] == "superuser" and listed["root"]["password"] == "set"
    assert listed["sam"]["role"] == "staff" and listed["sam"]["password"] == "not set"
    assert "kim" not in listed


def test_a_password_from_stdin_must_follow_the_rules(gsp):
    code, _, err = gsp("user", "add", "root", "--superuser", "--password-stdin", stdin="12345678\n")
    assert code == 1
    assert "Your password can't be a commonly used password." in err
    assert "Your password can't be entirely numeric." in err
    assert users(gsp) == {}


def test_user_add_emails_a_working_set_password_link(gsp, tmp_path, db_url):
    code, out, _ = gsp(
        "user", "add", "ana", "--email", "Ana.Perez@Example.org", "--first-name", "Ana"
    )
    assert code == 0 and "set-password link sent to ana.perez@example.org" in out
    (msg,) = outbox(tmp_path)
    assert msg["To"] == "ana.perez@example.org"
    assert msg["Subject"] == "GSP Live: set your password"
    body = msg.get_content()
    assert "Your username: ana" in body and "Hello Ana" in body
    link = next(
        w for w in body.split() if w.startswith("https://gsp.example.org/hub/set-password?token=")
    )
    # the hub, with the same data root, accepts the link
    import asyncio

    from hub.authenticator import ProposalAuthenticator

    auth = ProposalAuthenticator(database_url=db_url)
    try:
        target = asyncio.run(auth.check_link(link.split("token=", 1)[1]))
    finally:
        auth.db.dispose()
    assert (target.username, target.purpose) == ("ana", "invite")


def test_deactivate_and_invite(gsp, tmp_path):
    gsp("user", "add", "bo", "--email", "bo@example.org", "--no-email")
    assert outbox(tmp_path) == []
    code, out, _ = gsp("user", "invite", "bo@example.org", "--reset")
    assert code == 0
    assert [m["Subject"] for m in outbox(tmp_path)] == ["GSP Live: reset your password"]
    code, out, _ = gsp("user", "deactivate", "bo")
    assert code == 0 and "deactivated 'bo'" in out
    assert "bo" not in users(gsp)
    assert users(gsp, "--inactive")["bo"]["active"] is False
    code, _, err = gsp("user", "invite", "bo")
    assert code == 1 and "no active user 'bo'" in err
    code, _, err = gsp("user", "deactivate", "nobody")
    assert code == 1 and "no user 'nobody'" in err


def test_user_list_as_a_table(gsp):
    gsp("user", "add", "ana", "--no-email", "--first-name", "Ana", "--last-name", "Perez")
    code, out, _ = gsp("user", "list")
    header, row = out.splitlines()
    assert header.split()[:3] == ["username", "name", "email"]
    assert row.startswith("ana") and "Ana Perez" in row


def test_proposal_add_defaults_the_soar_id_and_invites_new_pis(gsp, tmp_path):
    sem = current_semester()
    code, out, _ = gsp(
        "proposal",
        "add",
        "--pi",
        "maria.lopez@example.org",
        "--pi-first-name",
        "María",
        "--title",
        "Probing disk models",
    )
    assert code == 0, out
    assert f"created proposal SOAR{sem}-001" in out
    assert "created user 'maria.lopez'" in out
    (msg,) = outbox(tmp_path)
    assert msg["To"] == "maria.lopez@example.org" and "Hello María" in msg.get_content()
    code, out, _ = gsp("proposal", "add", "--pi", "maria.lopez", "--collaborator", "li@example.org")
    assert f"created proposal SOAR{sem}-002" in out
    # maria still has no password: she is reminded; li is invited
    assert sorted(m["To"] for m in outbox(tmp_path)[1:]) == [
        "li@example.org",
        "maria.lopez@example.org",
    ]
    code, out, _ = gsp("proposal", "list", "--json")
    listed = {p["soar_id"]: p for p in json.loads(out)}
    assert listed[f"SOAR{sem}-002"]["collaborators"] == "li"
    assert listed[f"SOAR{sem}-001"]["pi"] == "maria.lopez"


def test_proposal_add_with_an_explicit_semester_counts_from_the_highest(gsp):
    gsp("user", "add", "pi", "--no-email", "--email", "pi@example.org")
    assert gsp("proposal", "add", "SOAR2026B-003", "--pi", "pi", "--semester", "2026b")[0] == 0
    code, out, _ = gsp("proposal", "add", "--pi", "pi", "--semester", "2026B", "--no-email")
    assert "created proposal SOAR2026B-004 (2026B)" in out
    code, _, err = gsp("proposal", "add", "SOAR2026B-004", "--pi", "pi", "--no-email")
    assert code == 1 and "already exists" in err
    code, _, err = gsp("proposal", "add", "--pi", "ghost", "--no-email")
    assert code == 1 and "no user 'ghost'" in err
    code, _, err = gsp("proposal", "add", "--pi", "pi", "--semester", "2026C")
    assert code == 1 and "semester '2026C' is invalid" in err
    code, out, _ = gsp("proposal", "list", "--semester", "2026B")
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["SOAR2026B-003", "SOAR2026B-004"]


@pytest.mark.parametrize(
    "day,semester",
    [
        (dt.date(2026, 1, 31), "2025B"),
        (dt.date(2026, 2, 1), "2026A"),
        (dt.date(2026, 7, 31), "2026A"),
        (dt.date(2026, 8, 1), "2026B"),
        (dt.date(2026, 12, 31), "2026B"),
    ],
)
def test_semesters(day, semester):
    assert semester_of(day) == semester


def test_next_soar_id_ignores_odd_ids(db):
    from gsp_extension.store.proposals import create_proposal

    with db.transaction() as s:
        assert next_soar_id(s, "2026B") == "SOAR2026B-001"
        create_proposal(s, "SOAR2026B-007")
        create_proposal(s, "SOAR2026B-eng")
        create_proposal(s, "SOAR2026A-010")
        assert next_soar_id(s, "2026B") == "SOAR2026B-008"
