"""Set-password links: signed, expiring, bound to the account state (so single use)."""

from __future__ import annotations

import json
import os
import stat

import pytest
from itsdangerous.encoding import base64_decode, base64_encode

from gsp_extension.accounts.links import (
    LinkExpired,
    LinkInvalid,
    LinkSigner,
    load_or_create_secret,
    parse_token,
    public_base_url,
    secret_from_environment,
)

SECRET = b"k" * 32
STATE = "7|$argon2id$old|ana@example.org|1"


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def signer(clock):
    return LinkSigner(SECRET, clock=clock)


def test_roundtrip(signer):
    token = signer.make(7, STATE, purpose="invite", max_age=3600)
    claims = signer.verify(token, STATE)
    assert (claims.user_id, claims.purpose) == (7, "invite")
    assert parse_token(token) == claims


def test_tokens_are_url_safe_and_unique(signer):
    a = signer.make(7, STATE, purpose="reset", max_age=60)
    b = signer.make(7, STATE, purpose="reset", max_age=60)
    assert a != b
    assert all(c.isalnum() or c in "._-" for c in a)


def _resigned_payload(token: str, field: int, value) -> str:
    """The token with one payload field replaced and the original signature kept."""
    payload, signature = token.rsplit(".", 1)
    fields = json.loads(base64_decode(payload))
    fields[field] = value
    encoded = base64_encode(json.dumps(fields, separators=(",", ":")).encode()).decode()
    return f"{encoded}.{signature}"


@pytest.mark.parametrize("field", [0, 1, 2, 3, 4])
def test_any_altered_field_is_refused(signer, field):
    token = signer.make(7, STATE, purpose="invite", max_age=3600)
    if field == 4:
        payload, mac = token.rsplit(".", 1)
        altered = f"{payload}.{('B' if mac[0] != 'B' else 'C') + mac[1:]}"
    else:
        claims = parse_token(token)
        value = {0: 8, 1: "reset", 2: claims.expires + 10**6, 3: "A" * 16}[field]
        altered = _resigned_payload(token, field, value)
        assert parse_token(altered) != claims
    with pytest.raises(LinkInvalid):
        signer.verify(altered, STATE)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "7.invite.1.nonce",
        "x" * 1000,
        # well-formed itsdangerous tokens whose payload is not ours
        base64_encode(b'[7,"admin",1,"abcdefgh"]').decode() + ".sig",
        base64_encode(b'{"user": 7}').decode() + ".sig",
        base64_encode(b'[7,"invite",1.5,"abcdefgh"]').decode() + ".sig",
    ],
)
def test_malformed_tokens_are_refused(signer, token):
    with pytest.raises(LinkInvalid):
        signer.verify(token, STATE)


def test_another_secret_does_not_verify(signer):
    token = signer.make(7, STATE, purpose="invite", max_age=3600)
    with pytest.raises(LinkInvalid):
        LinkSigner(b"z" * 32).verify(token, STATE)


def test_expiry(signer, clock):
    token = signer.make(7, STATE, purpose="reset", max_age=3600)
    clock.now += 3599
    signer.verify(token, STATE)
    clock.now += 2
    with pytest.raises(LinkExpired):
        signer.verify(token, STATE)


def test_single_use_through_the_account_state(signer):
    token = signer.make(7, STATE, purpose="invite", max_age=3600)
    signer.verify(token, STATE)
    # the link was used: the password hash changed, so the same token no longer verifies
    with pytest.raises(LinkInvalid, match="already been used"):
        signer.verify(token, "7|$argon2id$new|ana@example.org|1")
    # deactivation or an address change void it too; an unknown account as well
    for state in ["7|$argon2id$old|ana@example.org|0", "7|$argon2id$old|x@example.org|1", None]:
        with pytest.raises(LinkInvalid):
            signer.verify(token, state)


def test_a_tampered_expired_link_says_invalid_not_expired(signer, clock):
    token = signer.make(7, STATE, purpose="invite", max_age=1)
    clock.now += 100
    with pytest.raises(LinkInvalid):
        signer.verify(_resigned_payload(token, 1, "reset"), STATE)


def test_bad_arguments(signer):
    with pytest.raises(ValueError, match="purpose"):
        signer.make(7, STATE, purpose="admin", max_age=1)
    with pytest.raises(ValueError, match="max_age"):
        signer.make(7, STATE, purpose="invite", max_age=0)
    with pytest.raises(ValueError, match="32 bytes"):
        LinkSigner(b"short")


def test_secret_file_is_created_private_and_reused(tmp_path):
    path = tmp_path / "secrets" / "link-secret"
    first = load_or_create_secret(path)
    assert len(first) == 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_secret(path) == first


def test_a_short_secret_file_is_refused(tmp_path):
    path = tmp_path / "link-secret"
    path.write_text("tooshort\n")
    with pytest.raises(ValueError, match="at least 32"):
        load_or_create_secret(path)


def test_the_environment_secret_wins_over_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GSP_LINK_SECRET", "e" * 40)
    assert secret_from_environment(tmp_path / "never-made") == b"e" * 40
    assert not (tmp_path / "never-made").exists()
    monkeypatch.setenv("GSP_LINK_SECRET", "short")
    with pytest.raises(ValueError, match="at least 32"):
        secret_from_environment(tmp_path / "x")
    monkeypatch.delenv("GSP_LINK_SECRET")
    assert len(secret_from_environment(tmp_path / "x")) == 64


# --- the public address of every mailed link ----------------------------------------------


@pytest.mark.parametrize(
    ("configured", "bind", "request_url", "expected"),
    [
        # GSP_PUBLIC_URL wins over everything
        (
            "https://gsp.example.org",
            "http://127.0.0.1:8100",
            "http://h/",
            "https://gsp.example.org/",
        ),
        # else the bind URL with its port (gsp up --port 8100)
        ("", "http://127.0.0.1:8100", "http://h:9/", "http://127.0.0.1:8100/"),
        ("", "https://gsp.lan:8443/jhub", "", "https://gsp.lan:8443/jhub/"),
        # a bind on every interface names no address: the request's host
        ("", "http://0.0.0.0:8000", "http://soar.example:8000/", "http://soar.example:8000/"),
        ("", "http://:8000", "https://soar.example/", "https://soar.example/"),
        ("", "", "http://h:8100/", "http://h:8100/"),
    ],
)
def test_public_base_url_order(configured, bind, request_url, expected):
    assert public_base_url(configured, bind, request_url) == expected


def test_public_base_url_without_any_address_says_what_to_set():
    with pytest.raises(ValueError, match="GSP_PUBLIC_URL"):
        public_base_url("", "http://0.0.0.0:8000", "")
