"""The REST API of the gsp service: thin handlers, one module per resource.

:data:`.routes.ROUTES` lists every endpoint with the models that validate it; the same
table registers the routes and generates the OpenAPI document.
"""

from __future__ import annotations


def default_handlers() -> list[tuple]:
    """Every route of the service, relative to its prefix."""
    from .docs import docs_handlers
    from .fallback import fallback_handlers
    from .routes import api_handlers

    return docs_handlers() + api_handlers() + fallback_handlers()
