"""The API's error answer: an HTTP status and a ``detail`` that says what is wrong."""

from __future__ import annotations

from tornado import web


class APIError(web.HTTPError):
    """An HTTP error whose ``detail`` goes to the client as ``{"detail": ...}``."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(status, log_message=detail.replace("%", "%%"))
        self.detail = detail
        self.headers = headers or {}
