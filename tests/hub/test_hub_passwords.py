"""The seed's four password rules, in the seed's words, and argon2id hashing."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hub.passwords import (
    COMMON_PASSWORDS_PATH,
    PasswordHasher,
    PasswordPolicy,
    PasswordRejected,
    is_too_similar,
    load_common_passwords,
)

SIMILAR = "Your password can't be too similar to your other personal information."
SHORT = "Your password must contain at least 8 characters."
COMMON = "Your password can't be a commonly used password."
NUMERIC = "Your password can't be entirely numeric."

ANA = {
    "username": "aperez",
    "first_name": "Ana",
    "last_name": "Pérez-Vidal",
    "email": "ana.perez@noirlab.edu",
}


@pytest.fixture(scope="module")
def policy():
    return PasswordPolicy()


def test_the_seed_manual_lists_these_four_messages(shared_dir):
    manual = (shared_dir / "seeds" / "gsp_live_user_manual.txt").read_text()
    for message in (SIMILAR, SHORT, COMMON, NUMERIC):
        assert message in manual


def test_a_good_password_passes(policy):
    assert policy.problems("vermilion-Otter-42", ANA) == []
    policy.check("vermilion-Otter-42", ANA)


@pytest.mark.parametrize(
    "password",
    ["aperez12", "Ana.Perez.!", "noirlab!", "perez-vidal", "ANA.PEREZ@NOIRLAB.EDU"],
)
def test_too_similar_to_personal_information(policy, password):
    assert policy.problems(password, ANA) == [SIMILAR]


def test_similarity_is_only_checked_against_the_users_own_data(policy):
    assert policy.problems("aperez12", None) == []
    assert policy.problems("aperez12", {**ANA, "username": "x", "email": None}) == []


def test_attribute_objects_work_like_dicts():
    class U:
        username, first_name, last_name, email = "storres", "Simon", "Torres", None

    assert is_too_similar("torres99", U())
    assert not is_too_similar("vermilion-Otter-42", U())


def test_too_short(policy):
    assert policy.problems("xQ7#pz", ANA) == [SHORT]
    assert policy.problems("xQ7#pzL9", ANA) == []


def test_minimum_length_is_a_setting():
    assert PasswordPolicy(min_length=12).problems("xQ7#pzL9k", None) == [
        "Your password must contain at least 12 characters."
    ]


@pytest.mark.parametrize("password", ["password", "Password", " qwertyuiop ", "iloveyou"])
def test_commonly_used(policy, password):
    assert policy.problems(password, ANA) == [COMMON]


def test_entirely_numeric(policy):
    # a long random number is not in the common list but is still refused
    assert policy.problems("90417736285", ANA) == [NUMERIC]


def test_every_broken_rule_is_reported_in_the_seeds_order(policy):
    assert policy.problems("1234", ANA) == [SHORT, COMMON, NUMERIC]
    with pytest.raises(PasswordRejected) as info:
        policy.check("aperez", ANA)
    assert info.value.problems == [SIMILAR, SHORT]


def test_the_shipped_common_list_has_twenty_thousand_entries():
    common = load_common_passwords(COMMON_PASSWORDS_PATH)
    assert 19_000 < len(common) <= 20_000
    assert "123456" in common and "password" in common
    assert all(p == p.lower() for p in list(common)[:500])


def test_policy_refuses_nonsense_settings():
    with pytest.raises(ValueError, match="min_length"):
        PasswordPolicy(min_length=0)
    with pytest.raises(ValueError, match="max_similarity"):
        PasswordPolicy(max_similarity=0.05)


# --- hashing ------------------------------------------------------------------------------


def test_hash_roundtrip_is_argon2id(fast_hasher):
    h = fast_hasher.hash("vermilion-Otter-42")
    assert h.startswith("$argon2id$")
    assert fast_hasher.verify(h, "vermilion-Otter-42")
    assert not fast_hasher.verify(h, "vermilion-otter-42")
    assert fast_hasher.hash("vermilion-Otter-42") != h  # salted


def test_missing_or_broken_hashes_never_verify(fast_hasher):
    assert not fast_hasher.verify(None, "anything")
    assert not fast_hasher.verify("", "anything")
    assert not fast_hasher.verify("pbkdf2_sha256$1$x$y", "anything")
    assert not fast_hasher.verify("$argon2id$v=19$m=8,t=1,p=1$garbage", "anything")


def test_default_parameters_are_argon2_cffis():
    # RFC 9106 low-memory profile; the weak test parameters ask for a rehash
    strong = PasswordHasher()
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    assert "m=65536,t=3,p=4" in strong.dummy_hash
    assert strong.needs_rehash(weak.hash("x"))
    assert not weak.needs_rehash(weak.hash("x"))


def test_async_hashing_runs_off_the_event_loop_thread():
    seen = []

    class Recording(PasswordHasher):
        def verify(self, password_hash, password):
            seen.append(threading.current_thread())
            return super().verify(password_hash, password)

    hasher = Recording(time_cost=1, memory_cost=8, parallelism=1)

    async def main():
        h = await hasher.ahash("s3cret-enough")
        ok = await hasher.averify(h, "s3cret-enough")
        return ok, threading.current_thread()

    ok, loop_thread = asyncio.run(main())
    assert ok
    assert seen and seen[0] is not loop_thread
