"""Request bodies, path ids, unknown paths and e-mail addresses, without a server."""

from __future__ import annotations

import re

import pytest

from gsp_extension.accounts.addresses import EMAIL_PATTERN, normalize_address
from gsp_extension.api.base import GSPHandler
from gsp_extension.api.errors import APIError
from gsp_extension.api.fallback import unknown_path_error
from gsp_extension.api.request_body import body_fields
from gsp_extension.api.schemas import CollaboratorChange, EmailRequest, FileAction, FileDeletion


def test_the_seeds_form_body_under_a_json_content_type_is_read_as_a_form():
    raw = b"email=user%40server.net&action=add"
    data, form = body_fields(CollaboratorChange, raw, "application/json")
    assert form and data == {"email": "user@server.net", "action": "add"}


def test_repeated_form_names_make_a_list_only_for_list_fields():
    data, form = body_fields(FileDeletion, b"ids=3&ids=4", "application/x-www-form-urlencoded")
    assert form and data == {"ids": ["3", "4"]}
    data, _ = body_fields(FileAction, b"id=3&id=4", "application/x-www-form-urlencoded")
    assert data == {"id": "4"}


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        (b"", "request body is empty"),
        (b"   ", "request body is empty"),
        (b'{"ids": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested too deeply"),
        (b'{"id": NaN}', "not valid JSON"),
        (b'{"id": Infinity}', "not valid JSON"),
        (b'{"id": 1', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_bodies_are_400s_that_say_why(raw, phrase):
    with pytest.raises(APIError) as err:
        body_fields(FileAction, raw, "application/json")
    assert err.value.status_code == 400 and phrase in err.value.detail


@pytest.mark.parametrize("value", ["15", "1", "4611686018427387904"])
def test_ascii_ids_are_read(value):
    assert GSPHandler.int_arg(value, "file id") == int(value)


@pytest.mark.parametrize(
    "value", ["１５", "٣", "0", "-1", "abc", "4611686018427387905", "1" * 20, "1.0", " 1"]
)
def test_other_ids_are_refused(value):
    with pytest.raises(APIError) as err:
        GSPHandler.int_arg(value, "file id")
    assert err.value.status_code == 400 and "not a valid id" in err.value.detail


@pytest.mark.parametrize(
    ("path", "status", "phrase"),
    [
        ("/services/gsp/api", 404, "use /services/gsp/api/"),
        ("/services/gsp/api/files", 404, "use /services/gsp/api/files/"),
        ("/services/gsp/api/files/１５/", 400, "not a valid id"),
        ("/services/gsp/api/proposals/x/settings/", 400, "not a valid id"),
        ("/services/gsp/api/kernels", 404, "/services/gsp/api/docs/"),
        ("/services/gsp/api/me", 404, "no such endpoint"),
    ],
)
def test_unknown_paths_say_what_would_be_right(path, status, phrase):
    err = unknown_path_error("GET", path, "/services/gsp/")
    assert err.status_code == status and phrase in err.detail, err.detail


@pytest.mark.parametrize(
    "address",
    [".@x.org", "a@b.org\u0000", "a..b@x.org", "x@localhost", "x@y.test", "ü@x.org", "a@b", ""],
)
def test_addresses_the_rule_refuses_and_the_document_too(address):
    with pytest.raises(ValueError, match="e-mail address"):
        normalize_address(address)
    assert not re.fullmatch(EMAIL_PATTERN, address)


def test_a_local_part_past_64_characters_is_refused():
    """RFC 5321's limit (the document's format "email" has it; email-validator checks
    it only in strict mode)."""
    normalize_address("a" * 64 + "@example.org")
    with pytest.raises(ValueError, match="too long before the @-sign"):
        normalize_address("a" * 65 + "@example.org")


@pytest.mark.parametrize(
    ("address", "stored"),
    [
        ("User@Server.NET", "user@server.net"),
        (" o'hara+x@obs.example.cl ", "o'hara+x@obs.example.cl"),
    ],
)
def test_addresses_the_rule_takes_and_the_document_too(address, stored):
    assert normalize_address(address) == stored
    assert re.fullmatch(EMAIL_PATTERN, address.strip())


def test_every_model_with_an_address_uses_the_one_rule():
    with pytest.raises(ValueError, match="not an e-mail address"):
        EmailRequest.model_validate({"subject": "s", "message": "m", "to": ["ok@x.org", ".@x.org"]})
    assert (
        CollaboratorChange.model_validate({"email": "A@B.org", "action": "add"}).email == "a@b.org"
    )
