"""How the widgets tell a failure: the client's error in its own words, anything else logged.

A call to the API fails with :class:`gsp_extension.client.GSPError`, whose ``detail`` says
what went wrong in words fit for the page; widgets catch that (and the local errors of
what they do themselves, such as writing a download), show it, and let everything else
reach the log as the bug it is.
"""

from __future__ import annotations

import html
import logging

from gsp_extension.client import GSPError

__all__ = ["GSPError", "describe", "error_html", "log"]

log = logging.getLogger("voila_apps")


def describe(exc: BaseException) -> str:
    """What to tell the user: the API's explanation; a ``ValueError``'s message (the
    widgets' own checks of what was typed say what would be right); else the error's type
    and message."""
    if isinstance(exc, GSPError):
        return exc.detail
    if isinstance(exc, ValueError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def error_html(exc: BaseException | str, prefix: str = "") -> str:
    """An error line for the page (escaped)."""
    text = exc if isinstance(exc, str) else describe(exc)
    return f"<span class='gsp-error'>{html.escape(prefix + text)}</span>"
