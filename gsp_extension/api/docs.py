"""The API's own documentation: ``api/openapi.json`` and Swagger UI at ``api/docs/``.

Both are public (the API is described, not opened); the UI's files are served from the
package (``gsp_extension/static/swagger``), never from a CDN. ``api/docs/login`` is an
authenticated HTML page: a browser that opens it goes through the hub's OAuth login and
comes back to the docs with a session cookie, so "Try it out" works without a token.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web

from .base import JSONErrors
from .openapi import openapi_document

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "swagger"

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>GSP Live API</title>
<link rel="icon" type="image/png" href="{static}/favicon-32x32.png">
<link rel="stylesheet" href="{static}/swagger-ui.css">
<style>.gsp-bar{{font-family:sans-serif;padding:8px 20px;background:#1b1b1b;color:#eee}}
.gsp-bar a{{color:#8fd3ff}}</style>
</head>
<body data-openapi="{openapi}">
<div class="gsp-bar">GSP Live API &mdash; {who}</div>
<div id="swagger-ui"></div>
<script src="{static}/swagger-ui-bundle.js"></script>
<script src="{static}/swagger-init.js"></script>
</body>
</html>
"""


@functools.lru_cache(maxsize=4)
def _document_text(server_url: str) -> str:
    from .. import __version__

    return json.dumps(openapi_document(server_url=server_url, version=__version__))


class OpenAPIHandler(JSONErrors, APIHandler):
    """``GET api/openapi.json`` (built once per base URL: the routes do not change)."""

    @allow_unauthenticated
    def get(self) -> None:
        self.set_header("Access-Control-Allow-Origin", "*")
        self.finish(_document_text(self.base_url))


class SwaggerUIHandler(JSONErrors, JupyterHandler):
    """``GET api/docs/``: the Swagger UI page."""

    @allow_unauthenticated
    def get(self) -> None:
        self.xsrf_token  # noqa: B018 - sets the _xsrf cookie "Try it out" sends back
        base = self.base_url.rstrip("/")
        user = self.current_user
        if user is not None:
            who = f"signed in as {html.escape(user.username)}: “Try it out” uses your login"
        else:
            who = (
                f'<a href="{base}/api/docs/login">log in through the hub</a> '
                "or use “Authorize” with an API token"
            )
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(
            PAGE.format(
                static=f"{base}/api/docs/static",
                openapi=f"{base}/api/openapi.json",
                who=who,
            )
        )


class DocsLoginHandler(JSONErrors, JupyterHandler):
    """``GET api/docs/login``: log in through the hub, then back to the docs."""

    @web.authenticated
    def get(self) -> None:
        self.redirect(f"{self.base_url.rstrip('/')}/api/docs/")


class SwaggerStaticHandler(JSONErrors, web.StaticFileHandler):
    """The Swagger UI files bundled in the package (a missing one: a JSON 404)."""

    def set_extra_headers(self, path: str) -> None:
        self.set_header("Cache-Control", "public, max-age=86400")


def docs_handlers() -> list[tuple]:
    return [
        (r"/api/openapi.json", OpenAPIHandler),
        (r"/api/docs/?", SwaggerUIHandler),
        (r"/api/docs/login", DocsLoginHandler),
        (r"/api/docs/static/(.*)", SwaggerStaticHandler, {"path": str(STATIC_DIR)}),
    ]
