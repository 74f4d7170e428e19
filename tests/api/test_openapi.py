"""The OpenAPI document is generated from the route table and the validating models."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from gsp_extension.api import default_handlers
from gsp_extension.api.openapi import openapi_document
from gsp_extension.api.routes import ROUTES
from gsp_extension.api.schemas import FileListQuery, FileRecord
from gsp_extension.store.serialize import FILE_RECORD_FIELDS, SEED_FILE_FIELDS
from tests.requirements import require

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "gsp_extension" / "static" / "swagger"

SEED_ENDPOINTS = {
    ("get", "/api/", "api_list"),
    ("post", "/api/email/", "api_email_create"),
    ("get", "/api/files/", "api_files_list"),
    ("post", "/api/files/", "api_files_create"),
    ("delete", "/api/files/", "api_files_delete"),
    ("post", "/api/files/calibrations/", "api_files_calibrations_create"),
    ("get", "/api/files/header/", "api_files_header_list"),
    ("post", "/api/files/reclassify/", "api_files_reclassify_create"),
    ("post", "/api/files/reduce/", "api_files_reduce_create"),
    (
        "post",
        "/api/files/spectrum/calibrate/wavelength/",
        "api_files_spectrum_calibrate_wavelength_create",
    ),
    ("post", "/api/files/spectrum/extract/", "api_files_spectrum_extract_create"),
    ("get", "/api/files/visualize/", "api_files_visualize_list"),
}


def test_document_is_valid_openapi():
    validate(openapi_document())


def test_seed_operations_keep_their_paths_and_names():
    doc = openapi_document()
    found = {
        (method, path, op["operationId"])
        for path, item in doc["paths"].items()
        for method, op in item.items()
    }
    assert SEED_ENDPOINTS <= found


def test_every_route_is_registered_and_documented():
    patterns = {pattern for pattern, *_ in default_handlers()}
    for route in ROUTES:
        assert route.pattern in patterns
    doc = openapi_document()
    assert set(doc["paths"]) == {route.path for route in ROUTES}
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))


def test_query_parameters_come_from_the_validating_model():
    doc = openapi_document()
    params = {p["name"] for p in doc["paths"]["/api/files/"]["get"]["parameters"]}
    assert params == set(FileListQuery.model_fields)


def test_file_record_schema_has_the_seed_fields():
    assert tuple(FileRecord.model_fields) == FILE_RECORD_FIELDS
    assert FILE_RECORD_FIELDS[: len(SEED_FILE_FIELDS)] == SEED_FILE_FIELDS
    schema = openapi_document()["components"]["schemas"]["FileRecord"]
    assert schema["properties"]["data_type"]["enum"] == ["0", "1", "2", "3", "4", "5"]


def test_file_record_schema_describes_the_observation_order():
    props = openapi_document()["components"]["schemas"]["FileRecord"]["properties"]
    date_obs, frame = props["date_obs"], props["frame_number"]
    assert {"type": "string", "format": "date-time"} in date_obs["anyOf"]
    assert {"type": "null"} in date_obs["anyOf"]
    assert {"type": "integer"} in frame["anyOf"] and {"type": "null"} in frame["anyOf"]
    assert "DATE-OBS" in date_obs["description"] and "UTC" in date_obs["description"]
    assert "frame number" in frame["description"]


def test_every_error_is_documented_as_detail():
    doc = openapi_document()
    for item in doc["paths"].values():
        for op in item.values():
            for status in ("400", "403"):
                ref = op["responses"][status]["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/ErrorResponse")


@pytest.mark.parametrize(
    "name", ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "LICENSE"]
)
def test_bundled_swagger_files_are_the_pinned_package(name):
    pinned = REPO / "node_modules" / "swagger-ui-dist" / name
    require(pinned.exists(), "node_modules/swagger-ui-dist is not installed (npm ci)")
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(STATIC / name) == digest(pinned)


def test_flux_calibration_is_documented_with_its_chosen_standard():
    doc = openapi_document()
    op = doc["paths"]["/api/files/spectrum/calibrate/flux/"]["post"]
    assert op["operationId"] == "api_files_spectrum_calibrate_flux_create"
    assert {"200", "202", "404"} <= set(op["responses"])
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(body["properties"]) == {"id", "standard_id"}
    settings = doc["components"]["schemas"]["SettingsRecord"]["properties"]
    assert {"flux_calibration", "preferred_standard", "extinction_correction"} <= set(settings)
