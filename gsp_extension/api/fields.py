"""Field types shared by the request models: ids, e-mail addresses, text.

Each type validates AND documents itself (its JSON schema states the rule the server
applies), so the OpenAPI document and the server agree by construction.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from ..accounts.addresses import EMAIL_PATTERN, MAX_LENGTH, normalize_address

MAX_ID = 2**62

#: Control characters refused in one-line text (C0, DEL, C1, line/paragraph separators).
SINGLE_LINE_PATTERN = "^[^\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029]*$"
#: Control characters refused in multi-line text: the same but tab, newline and return.
TEXT_PATTERN = "^[^\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]*$"


def _integral(value: Any) -> Any:
    """A JSON number with no fraction (``1.0``) is an integer, as JSON Schema says."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _control_characters(value: str, allowed: str) -> list[str]:
    return sorted(
        {
            f"U+{ord(c):04X}"
            for c in value
            if (unicodedata.category(c) == "Cc" or c in "\u2028\u2029") and c not in allowed
        }
    )


def _single_line(value: str) -> str:
    bad = _control_characters(value, "")
    if bad:
        raise ValueError(f"control characters ({', '.join(bad)}) are not allowed in it")
    return value


def _text(value: str) -> str:
    bad = _control_characters(value, "\t\n\r\u2028\u2029")
    if bad:
        raise ValueError(
            f"control characters ({', '.join(bad)}) are not allowed in it (tabs and line "
            "breaks are)"
        )
    return value


def _iso_date(value: Any) -> Any:
    """A date is text ``YYYY-MM-DD`` (not a number of seconds or days)."""
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str) or not re.fullmatch("[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError(f"{value!r} is not a date: write it YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a date: {exc}") from None


def _email(value: str) -> str:
    return normalize_address(value)


#: A positive integer id; ``1.0`` counts as ``1``.
Id = Annotated[int, Field(ge=1, le=MAX_ID), BeforeValidator(_integral)]

#: A calendar date written ``YYYY-MM-DD``.
IsoDate = Annotated[
    dt.date, BeforeValidator(_iso_date), Field(json_schema_extra={"format": "date"})
]

#: A whole number given as a JSON integer or an integral number (``3.0``).
Integral = Annotated[int, BeforeValidator(_integral)]

#: One line of text: no control characters (they could break mail headers and logs).
SingleLine = Annotated[
    str, AfterValidator(_single_line), Field(json_schema_extra={"pattern": SINGLE_LINE_PATTERN})
]

#: Text that may have several lines (tabs and line breaks), no other control characters.
Text = Annotated[str, AfterValidator(_text), Field(json_schema_extra={"pattern": TEXT_PATTERN})]

#: An e-mail address, checked and normalized by the one rule of
#: :func:`gsp_extension.accounts.addresses.normalize_address`.
#: (The pattern is documented, not checked: every address the rule takes matches it,
#: and the rule's own message says better what is wrong.)
EmailAddress = Annotated[
    str,
    Field(max_length=MAX_LENGTH),
    AfterValidator(_email),
    Field(json_schema_extra={"format": "email", "pattern": EMAIL_PATTERN, "minLength": 3}),
]
