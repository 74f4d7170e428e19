"""gsp_extension: the jupyter-server extension run as the JupyterHub service "gsp".

It holds the app database (:mod:`gsp_extension.store`), the REST API
(:mod:`gsp_extension.api`) and the Python client (:mod:`gsp_extension.client`).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gsp-live")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"


def _jupyter_server_extension_points() -> list[dict[str, object]]:
    """Entry point jupyter_server uses to find the extension app."""
    from .app import GSPExtensionApp

    return [{"module": "gsp_extension.app", "app": GSPExtensionApp}]
