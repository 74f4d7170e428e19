"""Every other path under ``api/``: a JSON answer that says what would be right.

Registered after every route of the API, it keeps jupyter_server's HTML 404 page, its
login redirect and its own handlers (``api/``'s version, ``api/me``...) from answering
under the service's prefix.
"""

from __future__ import annotations

import functools
import re

from jupyter_server.base.handlers import APIHandler

from .base import JSONErrors
from .errors import APIError

#: The id segment of the route patterns (ASCII digits only) and a looser one that
#: tells "a bad id" apart from "no such endpoint".
_ID = "([0-9]+)"
_ANY_SEGMENT = "([^/]+)"


@functools.lru_cache(maxsize=1)
def _patterns() -> tuple[tuple[re.Pattern[str], re.Pattern[str]], ...]:
    from .docs import docs_handlers
    from .routes import ROUTES

    patterns = [route.pattern for route in ROUTES] + [h[0] for h in docs_handlers()]
    return tuple((re.compile(p), re.compile(p.replace(_ID, _ANY_SEGMENT))) for p in patterns)


def unknown_path_error(method: str, path: str, base_url: str) -> APIError:
    """The answer to ``method path`` that no route takes (``path`` under ``base_url``).

    Returns
    -------
    APIError
        400 when the path is an endpoint's with an id that is not a positive integer in
        ASCII digits; else 404, pointing at the path with a trailing slash when that
        one exists, or at the documentation.
    """
    relative = "/" + path[len(base_url) :].lstrip("/") if path.startswith(base_url) else path
    for exact, loose in _patterns():
        if exact.fullmatch(relative + "/"):
            return APIError(
                404,
                f"no such endpoint: {path}; the API's paths end with '/': use {path}/",
            )
        if loose.fullmatch(relative) and not exact.fullmatch(relative):
            bad = [g for g in loose.fullmatch(relative).groups() if not _is_id(g)]
            return APIError(
                400,
                f"{bad[0]!r} in {path} is not a valid id: use a positive integer written "
                "with the digits 0-9",
            )
    docs = f"{base_url.rstrip('/')}/api/docs/"
    return APIError(404, f"no such endpoint: {method} {path}; the endpoints are listed at {docs}")


def _is_id(segment: str) -> bool:
    return segment.isascii() and segment.isdigit()


class UnknownPathHandler(JSONErrors, APIHandler):
    """Any method on a path under ``api/`` that no route takes."""

    async def prepare(self) -> None:
        # Nothing is looked up and nobody needs to be known to be told a path does
        # not exist: the routes are public (api/openapi.json).
        raise unknown_path_error(self.request.method or "GET", self.request.path, self.base_url)


def fallback_handlers() -> list[tuple]:
    """The catch-all route; it must come after every other route of the service."""
    return [(r"/api(?:/.*)?", UnknownPathHandler)]
