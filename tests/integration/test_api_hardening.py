"""Issue 14: no input gets a 5xx, the right 401/403/404, every answer under api/ JSON.

Every request here goes through the real hub, proxy and gsp service (the integration
world, see conftest.py).
"""

from __future__ import annotations

import json

import pytest
import requests

from gsp_extension.store import Database


def call(world, method, path, who="alice", **kwargs):
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("allow_redirects", False)
    return requests.request(method, world.url(path), headers=world.headers(who), **kwargs)


def detail(r) -> str:
    assert r.headers["Content-Type"].startswith("application/json"), (r.status_code, r.text[:200])
    return r.json()["detail"]


# --- authentication: 401 with a challenge, 403 for a known caller -----------------------------


@pytest.mark.parametrize("who", [None, "bad"])
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "files/", None),
        ("POST", "files/reduce/", {"id": 1}),
        ("DELETE", "files/", {"ids": [1]}),
        ("PUT", "proposals/1/settings/", {"max_targets": 2}),
        ("POST", "proposals/collaborators/1/", {"email": "x@example.org", "action": "add"}),
    ],
)
def test_missing_or_bad_token_is_401_with_the_token_challenge(world, who, method, path, body):
    r = call(world, method, path, who, json=body)
    assert r.status_code == 401, (r.status_code, r.text[:300])
    assert r.headers["WWW-Authenticate"] == "Token"
    text = detail(r)
    assert "authentication required" in text and "_xsrf" not in text


def test_token_without_the_gsp_scope_is_403_saying_which_scope(world):
    world.hub.token_for("alice")  # the hub user exists
    r = world.hub.hub_api(
        "POST", "/users/alice/tokens", json={"note": "no gsp", "scopes": ["read:users:name!user"]}
    )
    assert r.status_code == 201, r.text
    narrow = {"Authorization": f"token {r.json()['token']}"}
    for method in ("GET", "POST"):
        got = requests.request(method, world.url("files/"), headers=narrow, json={}, timeout=30)
        assert got.status_code == 403, (method, got.text)
        assert "access:services!service=gsp" in detail(got)


# --- every path under api/ answers JSON; jupyter_server's own routes are gone -----------------


@pytest.mark.parametrize(
    "path",
    [
        "api",
        "api/me",
        "api/status",
        "api/spec.yaml",
        "api/kernels",
        "api/kernels/",
        "api/contents",
        "api/contents/x.txt",
        "api/sessions",
        "api/kernelspecs",
        "api/terminals",
        "api/config/x",
        "api/shutdown",
        "api/nbconvert",
        "api/files",
        "api/no-such-thing/",
        "api/files/1/no-such-thing/",
    ],
)
@pytest.mark.parametrize("who", [None, "staffer"])
def test_unknown_paths_under_api_are_json_404s(world, path, who):
    url = f"{world.hub.url}/services/gsp/{path}"
    for method in ("GET", "POST"):
        r = requests.request(
            method, url, headers=world.headers(who), json={}, allow_redirects=False, timeout=30
        )
        assert r.status_code == 404, (method, path, r.status_code, r.text[:200])
        assert "no such" in detail(r) or "not found" in detail(r).lower()


def test_a_missing_documentation_file_is_a_json_404(world):
    r = requests.get(world.url("docs/static/no-such-file.js"), timeout=30)
    assert r.status_code == 404 and detail(r)


def test_a_path_without_its_slash_points_at_the_right_one(world):
    r = call(world, "GET", "files")
    assert r.status_code == 404 and "/services/gsp/api/files/" in detail(r)


def test_jupyter_server_handlers_are_not_in_the_service(world):
    """Not only hidden behind the catch-all: jupyter_server's services are not loaded."""
    for path in ("files/x", "view/x", "nbconvert/html/x", "kernelspecs/python3/logo.svg"):
        r = requests.get(
            f"{world.hub.url}/services/gsp/{path}",
            headers=world.headers("staffer"),
            allow_redirects=False,
            timeout=30,
        )
        # jupyter_server's Template404 (an HTML page), never its handlers (403 here).
        assert r.status_code == 404, (path, r.status_code)


# --- ids: ASCII digits only, and in range ------------------------------------------------------


def test_full_width_digits_are_not_ids(world):
    fid = world.ids["p1_raw"]
    full_width = "".join(chr(0xFF10 + int(d)) for d in str(fid))
    assert call(world, "GET", f"files/{fid}/").status_code == 200
    for path in (
        f"files/{full_width}/",
        f"files/{full_width}/download/",
        f"proposals/{full_width}/",
    ):
        r = call(world, "GET", path)
        assert r.status_code in (400, 404), (path, r.status_code, r.text[:200])
        assert "valid id" in detail(r)


@pytest.mark.parametrize("ids", [[10**22], [2**63], [-(10**22)], [1, 10**30]])
def test_delete_with_ids_past_64_bits_is_a_400(world, ids):
    r = call(world, "DELETE", "files/", json={"ids": ids})
    assert r.status_code == 400, r.text
    assert "ids" in detail(r)


def test_json_nested_5000_deep_is_a_400(world):
    body = '{"ids": ' + "[" * 5000 + "]" * 5000 + "}"
    r = requests.delete(
        world.url("files/"),
        data=body,
        headers={**world.headers("alice"), "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 400, r.text[:300]
    assert "nested too deeply" in detail(r)


@pytest.mark.parametrize("text", ['{"id": NaN}', '{"id": Infinity}', '{"id": -Infinity}'])
def test_non_json_numbers_are_a_400(world, text):
    r = requests.post(
        world.url("files/reduce/"),
        data=text,
        headers={**world.headers("alice"), "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 400 and "not valid JSON" in detail(r), r.text


def test_an_integral_number_is_an_integer_as_the_document_says(world):
    """JSON Schema's "integer" takes 1.0; so does the server, and refuses 1.5."""
    fid = world.ids["p1_raw"]
    r = call(world, "POST", "files/reduce/", json={"id": float(fid)})
    assert r.status_code in (200, 202), r.text
    assert r.json()["jobs"][0]["file_id"] == fid
    r = call(world, "POST", "files/reduce/", json={"id": fid + 0.5})
    assert r.status_code == 400 and "id" in detail(r)


# --- e-mail addresses and control characters -------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [".@x.org", "a@b.org\u0000", "a..b@example.org", "user@localhost", "a b@example.org"],
)
def test_bad_addresses_are_a_400_naming_the_field_everywhere(world, address):
    p1 = world.proposals["p1"]
    cases = [
        ("POST", f"proposals/collaborators/{p1}/", "alice", {"email": address, "action": "add"}),
        ("POST", "users/", "staffer", {"email": address}),
        (
            "POST",
            "proposals/",
            "staffer",
            {"soar_id": "SOAR2099B-777", "title": "t", "pi_email": address},
        ),
        ("POST", "email/", "staffer", {"subject": "s", "message": "m", "to": [address]}),
    ]
    for method, path, who, body in cases:
        r = call(world, method, path, who, json=body)
        assert r.status_code == 400, (path, address, r.status_code, r.text[:300])
        assert "not an e-mail address" in detail(r), (path, detail(r))
        field = "to" if path == "email/" else ("pi_email" if path == "proposals/" else "email")
        assert f"field {field}" in detail(r), detail(r)


@pytest.mark.parametrize("subject", ["hello\u0007", "hi\r\nBcc: all@example.org", "x\u0000"])
def test_control_characters_in_a_mail_subject_are_a_400(world, subject):
    r = call(
        world,
        "POST",
        "email/",
        "staffer",
        json={"subject": subject, "message": "m", "to": ["ops@example.org"]},
    )
    assert r.status_code == 400, r.text
    assert "field subject" in detail(r) and "control characters" in detail(r)


def test_nul_in_a_query_string_is_a_400(world):
    r = call(world, "GET", "files/", params={"search": "a\u0000b"})
    assert r.status_code == 400 and "'search'" in detail(r), r.text


# --- proposals and registration -----------------------------------------------------------------


def test_a_case_variant_of_an_existing_proposal_id_is_refused(world):
    body = {"soar_id": "SOAR2020B-001".lower(), "title": "shadow"}
    r = call(world, "POST", "proposals/", "staffer", json=body)
    assert r.status_code == 409, r.text
    assert "'SOAR2020B-001'" in detail(r) and "letter case" in detail(r)


def test_raw_files_are_registered_from_raw_only(world):
    import numpy as np
    from astropy.io import fits

    evil = world.hub.data_root / "outbox" / "evil.fits"
    evil.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(np.zeros((4, 4), "f4"))
    hdu.header["OBSTYPE"] = "OBJECT"
    hdu.header["PROPID"] = "SOAR2020B-001"
    hdu.writeto(evil, overwrite=True)
    r = call(world, "POST", "files/", "staffer", json={"full_path": str(evil)})
    assert r.status_code == 400, r.text
    assert "raw folder" in detail(r)
    db = Database(world.hub.database_url)
    try:
        from sqlalchemy import select

        from gsp_extension.store import File

        with db.session() as s:
            assert s.scalar(select(File).where(File.file_name == "evil.fits")) is None
    finally:
        db.dispose()


# --- the document and the server agree ----------------------------------------------------------


def test_settings_fields_are_documented_as_the_server_takes_them(world):
    doc = requests.get(world.url("openapi.json"), timeout=30).json()
    props = doc["components"]["schemas"]["SettingsUpdate"]["properties"]
    for name, prop in props.items():
        assert "anyOf" not in prop and prop.get("type") != "null", (name, prop)
        assert "default" not in prop, (name, prop)
    p1 = world.proposals["p1"]
    r = call(world, "PUT", f"proposals/{p1}/settings/", json={"max_targets": None})
    assert r.status_code == 400 and "null is not a value" in detail(r)
    r = call(world, "PUT", f"proposals/{p1}/settings/", json={"max_targets": 3.0})
    assert r.status_code == 200 and r.json()["max_targets"] == 3, r.text


@pytest.mark.parametrize("model", ["UserUpdate", "ProposalUpdate"])
def test_partial_updates_are_documented_without_null(world, model):
    """What the fuzzer found: a null name or title was taken and reached the database
    (500); null is refused as the settings' is, and the document says so."""
    doc = requests.get(world.url("openapi.json"), timeout=30).json()
    for name, prop in doc["components"]["schemas"][model]["properties"].items():
        assert "anyOf" not in prop and prop.get("type") != "null", (name, prop)
        assert "default" not in prop, (name, prop)


def test_null_in_a_partial_update_is_a_400_and_changes_nothing(world):
    p2 = world.proposals["p2"]
    before = call(world, "GET", f"proposals/{p2}/", "staffer").json()
    body = {"title": None, "abstract": None, "semester": "2020B"}
    r = call(world, "PATCH", f"proposals/{p2}/", "staffer", json=body)
    assert r.status_code == 400 and "null is not a value" in detail(r), r.text
    assert call(world, "GET", f"proposals/{p2}/", "staffer").json() == before
    r = call(world, "PATCH", "users/me/", "eve", json={"last_name": None})
    assert r.status_code == 400 and "last_name" in detail(r), r.text


def test_a_new_proposal_needs_a_soar_id_or_a_semester_as_documented(world):
    doc = requests.get(world.url("openapi.json"), timeout=30).json()
    schema = doc["components"]["schemas"]["ProposalCreate"]
    assert {"required": ["soar_id"]} in schema["anyOf"]
    assert {"required": ["semester"]} in schema["anyOf"]
    r = call(world, "POST", "proposals/", "staffer", json={"title": "Neither"})
    assert r.status_code == 400 and "soar_id" in detail(r), r.text
    r = call(world, "POST", "proposals/", "staffer", json={"title": "N", "soar_id": None})
    assert r.status_code == 400 and "null is not a value" in detail(r), r.text
    # an empty semester is not one (the document said any text; the server refused it)
    assert "pattern" in schema["properties"]["semester"]
    r = call(world, "POST", "proposals/", "staffer", json={"title": "N", "semester": ""})
    assert r.status_code == 400 and "semester" in detail(r), r.text


def test_documented_patterns_are_what_the_server_checks(world):
    import re

    doc = requests.get(world.url("openapi.json"), timeout=30).json()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/files/"]["get"]["parameters"]}
    for name, good, bad in (
        ("ordering", "-date, id", "-nope"),
        ("exclude_obstype", "bias,Flat", "bias,nope"),
    ):
        documented, blank = params[name]["anyOf"]  # optional: may also be sent blank
        assert blank == {"type": "string", "maxLength": 0}
        pattern = documented["pattern"]
        assert re.fullmatch(pattern, good) and not re.fullmatch(pattern, bad)
        assert call(world, "GET", "files/", params={name: good}).status_code == 200
        assert call(world, "GET", "files/", params={name: bad}).status_code == 400
    email = doc["components"]["schemas"]["CollaboratorChange"]["properties"]["email"]
    assert email["format"] == "email" and "pattern" in email
    legacy = doc["paths"]["/api/proposals/collaborators/{id}/"]["get"]
    assert legacy["deprecated"] is True
    assert "application/x-www-form-urlencoded" in legacy["requestBody"]["content"]
    assert "401" in doc["paths"]["/api/files/"]["get"]["responses"]


def test_a_form_encoded_post_works_like_json(world):
    fid = world.ids["p1_raw2"]
    r = requests.post(
        world.url("files/reclassify/"),
        data={"id": str(fid)},
        headers=world.headers("alice"),
        timeout=30,
    )
    assert r.status_code in (200, 202), r.text
    assert r.json()["jobs"][0]["file_id"] == fid
    r = requests.post(
        world.url("files/reclassify/"),
        data=json.dumps({"id": fid}).encode()[:-3],
        headers={**world.headers("alice"), "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 400 and "not valid JSON" in detail(r)
