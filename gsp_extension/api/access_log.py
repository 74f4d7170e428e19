"""The service's access log: one line per failed or slow request, not per success.

JupyterHub's ``log_request`` (which ``jupyterhub-singleuser`` installs) writes every
request at INFO level. At hundreds of listing requests a second that line costs about
as much as reading the page from the database, and fills the hub's log with successes.
Here successes faster than :data:`SLOW_MS` are not logged unless the service runs with
``log_level`` DEBUG (then every request is logged as JupyterHub does); redirects,
errors and slow requests are logged by JupyterHub's function as before. The
request-duration metric is recorded for every request.
"""

from __future__ import annotations

import logging

from jupyterhub.log import log_request as hub_log_request
from jupyterhub.metrics import prometheus_log_method

#: A success slower than this (milliseconds) is logged at INFO like a failure.
SLOW_MS = 1000.0


def _debugging(handler) -> bool:
    """Whether the server application logs at DEBUG level.

    (The loggers themselves pass DEBUG records on to handlers that drop them, so
    ``isEnabledFor`` cannot tell.)
    """
    app = handler.settings.get("serverapp")
    level = getattr(app, "log_level", logging.INFO)
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
    return isinstance(level, int) and level <= logging.DEBUG


def log_request(handler) -> None:
    """Tornado's ``log_function`` for the gsp service (see the module docstring)."""
    status = handler.get_status()
    if (
        status < 300
        and 1000.0 * handler.request.request_time() < SLOW_MS
        and not _debugging(handler)
    ):
        prometheus_log_method(handler)
        return
    hub_log_request(handler)
