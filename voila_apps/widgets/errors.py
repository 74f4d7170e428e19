"""How the widgets tell a failure: the client's error in its own words, anything else logged.

A call to the API fails with :class:`gsp_extension.client.GSPError`, whose ``detail`` says
what went wrong in words fit for the page; widgets catch that (and the local errors of
what they do themselves, such as writing a download), show it, and let everything else
reach the log as the bug it is.
"""

from __future__ import annotations

import html
import logging
import re

from gsp_extension.client import GSPError

__all__ = ["GSPError", "describe", "error_html", "log", "readable_error"]

log = logging.getLogger("voila_apps")


#: What a field accepts, said in words (the API's validation names the regular
#: expression a value failed, which tells a person nothing).
FIELD_HINTS = {
    "email": "give an e-mail address such as name@example.org",
    "pi_email": "give the PI's e-mail address, such as name@example.org",
    "username": "use only letters, digits and @ . + _ - (at most 150 characters)",
    "soar_id": "start with a letter or digit; then letters, digits and . _ + - "
    "(at most 64 characters), e.g. SOAR2026A-012",
    "semester": "give a semester such as 2026A",
}

_PATTERN_ERROR = re.compile(r"(?:(?:body|query)\s+)?(\w+): String should match pattern '[^']*'")


def readable_error(detail: str) -> str:
    """The API's message with each "should match pattern '<regex>'" said in words."""

    def hint(match: re.Match) -> str:
        field = match.group(1)
        label = field.replace("_", " ")
        return f"{label}: {FIELD_HINTS.get(field, 'this value has characters it cannot hold')}"

    return _PATTERN_ERROR.sub(hint, detail)


def describe(exc: BaseException) -> str:
    """What to tell the user: the API's explanation (regular expressions said in words);
    a ``ValueError``'s message (the widgets' own checks of what was typed say what would
    be right); else the error's type and message."""
    if isinstance(exc, GSPError):
        return readable_error(exc.detail)
    if isinstance(exc, ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def error_html(exc: BaseException | str, prefix: str = "") -> str:
    """An error line for the page (escaped)."""
    text = exc if isinstance(exc, str) else describe(exc)
    return f"<span class='gsp-error'>{html.escape(prefix + text)}</span>"
