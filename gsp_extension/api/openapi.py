"""The OpenAPI 3.1 document, generated from :data:`.routes.ROUTES` and the pydantic models."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel

from .request_body import FORM_TYPE
from .routes import COMMON_ERRORS, ROUTES, Operation, Route
from .schemas import ErrorResponse

REF = "#/components/schemas/{model}"

#: Query values: no NUL character; an optional parameter may also be sent blank.
NO_NUL = "^[^\\x00]*$"
BLANK = {"type": "string", "maxLength": 0}

DESCRIPTION = """\
The REST API of GSP Live, the live Goodman spectrograph pipeline of the SOAR telescope.

Authenticate with a JupyterHub API token (`Authorization: token <key>`; `Token` and
`Bearer` work too), made on the hub's *Token* page, or from a browser logged in to the hub
(then non-GET requests send the `_xsrf` cookie as `X-XSRFToken`). You see the files of the
proposals you belong to, and the master calibrations; staff see everything.

Request bodies are JSON objects; form-encoded fields (`application/x-www-form-urlencoded`,
repeated names for a list) are accepted too, their values read as text as in a query
string. A missing or bad token answers 401 (`WWW-Authenticate: Token`); a caller who may
not do something, 403. Every error answers `{"detail": "..."}` saying what is wrong and
what would be right.
"""


class _Components:
    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def ref(self, model: type[BaseModel]) -> dict[str, str]:
        if model.__name__ not in self.schemas:
            schema = model.model_json_schema(ref_template=REF, mode="serialization")
            for name, sub in schema.pop("$defs", {}).items():
                self.schemas.setdefault(name, sub)
            self.schemas[model.__name__] = schema
        return {"$ref": REF.format(model=model.__name__)}

    def input(self, model: type[BaseModel]) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=REF, mode="validation")
        for name, sub in schema.pop("$defs", {}).items():
            self.schemas.setdefault(name, sub)
        name = f"{model.__name__}"
        self.schemas[name] = schema
        return {"$ref": REF.format(model=name)}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is optional by being absent, never null."""
    schema = copy.deepcopy(schema)
    options = schema.pop("anyOf", None)
    if options is not None:
        options = [o for o in options if o.get("type") != "null"]
        if len(options) == 1:
            schema.update(options[0])
        else:
            schema["anyOf"] = options
    if schema.get("default", 0) is None:
        schema.pop("default")
    schema.pop("title", None)
    return schema


def _parameters(route: Route, op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**62},
        }
        for name in route.path_params
    ]
    if op.query is not None:
        schema = op.query.model_json_schema(mode="validation")
        required = set(schema.get("required", ()))
        for name, prop in schema.get("properties", {}).items():
            prop = _without_null(prop)
            description = prop.pop("description", None)
            if prop.get("type") == "string" and "pattern" not in prop and "format" not in prop:
                prop["pattern"] = NO_NUL  # the server refuses %00 in any query value
            if name not in required:
                # A blank value means "no filter" (the seed's web forms send them).
                prop = {"anyOf": [prop, BLANK]}
            entry = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if description:
                entry["description"] = description
            params.append(entry)
    return params


def _content(components: _Components, response: type[BaseModel] | str) -> dict[str, Any]:
    if isinstance(response, str):
        return {response: {"schema": {"type": "string", "format": "binary"}}}
    return {"application/json": {"schema": components.ref(response)}}


def _operation(components: _Components, route: Route, op: Operation) -> dict[str, Any]:
    error = {"application/json": {"schema": components.ref(ErrorResponse)}}
    responses: dict[str, Any] = {}
    if op.response is None:
        responses[str(op.status)] = {"description": "done"}
    else:
        responses[str(op.status)] = {
            "description": "OK",
            "content": _content(components, op.response),
        }
    for status, model in op.extra_responses.items():
        responses[str(status)] = {"description": "OK", "content": _content(components, model)}
    for status, text in {**COMMON_ERRORS, **op.errors}.items():
        responses[str(status)] = {"description": text, "content": error}
    for status, text in op.redirects.items():
        responses[str(status)] = {
            "description": text,
            "headers": {"Location": {"description": "where to go", "schema": {"type": "string"}}},
        }
    result: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [route.tag],
        "parameters": _parameters(route, op),
        "responses": responses,
        "security": [{"hubToken": []}],
    }
    if op.description:
        result["description"] = op.description
    if op.deprecated:
        result["deprecated"] = True
    if op.body is not None:
        schema = components.input(op.body)
        content = {"application/json": {"schema": schema}}
        if op.deprecated:
            # The seed's example sends `data=` (form fields). Other operations take
            # forms too (see DESCRIPTION), but a form has no types (numbers, booleans,
            # null are text), so only this all-text body is documented as one.
            content[FORM_TYPE] = {"schema": schema}
        result["requestBody"] = {"required": True, "content": content}
    return result


def openapi_document(server_url: str = "/services/gsp", version: str = "0") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API.

    Parameters
    ----------
    server_url : str
        The service's base URL (its prefix behind the hub's proxy).
    version : str
        The service version, shown in ``info.version``.
    """
    components = _Components()
    paths: dict[str, Any] = {}
    for route in ROUTES:
        item = paths.setdefault(route.path, {})
        for op in route.operations:
            item[op.method] = _operation(components, route, op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "GSP Live API", "version": version, "description": DESCRIPTION},
        "servers": [{"url": server_url.rstrip("/") or "/"}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(components.schemas.items())),
            "securitySchemes": {
                "hubToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "A JupyterHub API token, sent as 'token <key>'.",
                }
            },
        },
    }
