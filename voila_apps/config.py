"""Voilà settings the apps need in a user's server (called from its config file).

``configure_voila_template(c)`` makes Voilà render with the apps' own template
(``voila_apps/jupyter/voila/templates/gsp``: the lab template without CDN links), so no
request of the page leaves the hub's origin. Voilà finds templates on the Jupyter data
path; the package's folder is added to ``JUPYTER_PATH`` of the server process.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

#: Name of the template (``--template=gsp``).
TEMPLATE = "gsp"


def template_root() -> Path:
    """The Jupyter data folder that holds ``voila/templates/gsp``."""
    return Path(__file__).resolve().parent / "jupyter"


def configure_voila_template(c, environ: MutableMapping[str, str] | None = None) -> None:
    """Put the template on the Jupyter path and make it Voilà's default.

    Parameters
    ----------
    c : traitlets.config.Config
        The single-user server's configuration.
    environ : mapping, optional
        Environment to update (default :data:`os.environ`, read by Voilà at each render).
    """
    env = os.environ if environ is None else environ
    root = str(template_root())
    paths = [p for p in env.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if root not in paths:
        env["JUPYTER_PATH"] = os.pathsep.join([root, *paths])
    c.VoilaConfiguration.template = TEMPLATE
