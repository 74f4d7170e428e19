"""The staff endpoints and the file/settings parameters in the generated OpenAPI document."""

from __future__ import annotations

from openapi_spec_validator import validate

from gsp_extension.api.openapi import openapi_document
from gsp_extension.api.schemas import CALIBRATION_OBSTYPES, KNOWN_OBSTYPES
from gsp_extension.store.models import SETTINGS_TECHNIQUES
from pipeline.settings import TECHNIQUES as PIPELINE_TECHNIQUES


def _resolve(doc, schema):
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _body(doc, path, method):
    content = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
    return _resolve(doc, content["schema"])


def test_new_endpoints_are_documented_with_their_contract():
    doc = openapi_document()
    validate(doc)
    users = doc["paths"]["/api/users/"]
    assert {"get", "post"} <= set(users)
    assert "201" in users["post"]["responses"] and "409" in users["post"]["responses"]
    body = _body(doc, "/api/users/", "post")
    assert body["required"] == ["email"]
    assert set(body["properties"]) == {
        "email",
        "username",
        "first_name",
        "last_name",
        "partner",
        "is_staff",
    }
    record = _resolve(
        doc, users["post"]["responses"]["201"]["content"]["application/json"]["schema"]
    )
    assert {"id", "username", "email", "is_staff", "is_active", "last_login", "proposals"} <= set(
        record["properties"]
    )
    proposals = doc["paths"]["/api/proposals/"]["post"]
    assert "201" in proposals["responses"] and "409" in proposals["responses"]
    body = _body(doc, "/api/proposals/", "post")
    assert body["required"] == ["title"]  # soar_id defaults from the semester
    assert set(body["properties"]) == {"soar_id", "title", "abstract", "semester", "pi_email"}
    edit = _body(doc, "/api/users/{id}/", "patch")
    assert "required" not in edit
    assert set(edit["properties"]) == {
        "first_name",
        "last_name",
        "email",
        "partner",
        "is_active",
        "is_staff",
    }
    assert set(_body(doc, "/api/proposals/{id}/", "patch")["properties"]) == {
        "title",
        "abstract",
        "semester",
        "pi_email",
    }
    assert "get" in doc["paths"]["/api/proposals/next-soar-id/"]


def test_file_list_parameters_name_the_obstypes():
    doc = openapi_document()
    params = {p["name"]: p for p in doc["paths"]["/api/files/"]["get"]["parameters"]}
    assert "hide_raw_calibrations" in params
    described = params["exclude_obstype"]["description"]
    assert all(name in described for name in KNOWN_OBSTYPES)
    assert all(
        name in params["hide_raw_calibrations"]["description"] for name in CALIBRATION_OBSTYPES
    )


def test_settings_technique_is_what_the_store_and_pipeline_accept():
    assert set(SETTINGS_TECHNIQUES) == set(PIPELINE_TECHNIQUES)
    doc = openapi_document()
    body = _body(doc, "/api/proposals/{id}/settings/", "put")
    technique = body["properties"]["technique"]
    enums = [technique.get("enum", [])] + [a.get("enum", []) for a in technique.get("anyOf", [])]
    assert set(SETTINGS_TECHNIQUES) in [set(e) for e in enums]
