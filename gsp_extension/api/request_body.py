"""Request bodies: JSON objects, or form-encoded fields, turned into a dict to validate.

Scripts written after the seed's examples send ``requests.get(url, data=payload,
headers={"Content-Type": "application/json"})``: the body is form-encoded
(``email=a%40b.org&action=add``) whatever the header says. So a body is read as JSON
when it is JSON, and as a form when it is a well-formed form (by its content type, or
because it is not JSON but has the form's shape); anything else is refused with what
would be right.
"""

from __future__ import annotations

import json
import re
from typing import Any, get_args, get_origin
from urllib.parse import parse_qsl

from pydantic import BaseModel

from .errors import APIError

#: ``name=value`` pairs joined by ``&``: what ``requests`` writes for ``data={...}``.
_FORM = re.compile(r"[A-Za-z0-9_.%+-]+=[^&=]*(?:&[A-Za-z0-9_.%+-]+=[^&=]*)*")

FORM_TYPE = "application/x-www-form-urlencoded"


def _refuse_constant(name: str) -> float:
    # json.loads would accept NaN and Infinity, which JSON does not have.
    raise ValueError(f"{name} is not a JSON value")


def parse_json(raw: bytes) -> Any:
    """Decode a JSON document strictly (no NaN/Infinity, bounded nesting).

    Raises
    ------
    APIError
        400 naming what is wrong.
    """
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise APIError(
            400, "request body is nested too deeply; send a flat JSON object of the fields"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"request body is not valid JSON: {exc}") from None


def _is_form(raw: bytes) -> bool:
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return False
    return bool(_FORM.fullmatch(text))


def _is_list_field(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    if field is None:
        return False
    kinds = (field.annotation, *get_args(field.annotation))
    return any(get_origin(k) is list or k is list for k in kinds)


def form_fields(model: type[BaseModel], raw: bytes) -> dict[str, Any]:
    """The fields of a form-encoded body: repeated names make a list where ``model``
    has a list field, else the last value counts; blank values are left out (as in
    query strings)."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise APIError(400, f"request body is not a valid form: {exc}") from None
    data: dict[str, Any] = {}
    for name, value in pairs:
        if value == "":
            continue  # a blank field is an absent one, as in query strings (forms have no null)
        if _is_list_field(model, name):
            data.setdefault(name, []).append(value)
        else:
            data[name] = value
    return data


def body_fields(model: type[BaseModel], raw: bytes, content_type: str) -> tuple[dict, bool]:
    """The body as a dict, and whether it came as a form (its values are then text).

    Raises
    ------
    APIError
        400 for an empty body, a body neither JSON nor a form, or JSON that is not an
        object.
    """
    if not raw.strip():
        raise APIError(
            400,
            f"request body is empty; send a JSON object with fields {list(model.model_fields)}",
        )
    media = content_type.split(";", 1)[0].strip().lower()
    if media == FORM_TYPE or _is_form(raw):
        return form_fields(model, raw), True
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise APIError(400, f"request body must be a JSON object, got {type(data).__name__}")
    return data, False
