"""Voilà settings the apps need in a user's server (called from its config file).

``configure_voila_template(c)`` makes Voilà render with the apps' own template
(``voila_apps/jupyter/voila/templates/gsp``: the lab template without CDN links), so no
request of the page leaves the hub's origin. Voilà finds templates on the Jupyter data
path; the package's folder is added to ``JUPYTER_PATH`` of the server process. The same
folder holds the apps' kernelspec ``gsp-app`` (``kernels/gsp-app``, :mod:`voila_apps.kernel`),
which the app notebooks name.
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


def offline_page_config(page_config: dict, *args, **kwargs) -> dict:
    """Voilà's ``page_config_hook``: keep the front end off the MathJax CDN.

    Voilà's front end loads MathJax 2 from a public CDN unless both ``fullMathjaxUrl``
    and ``mathjaxConfig`` are the string ``"null"``, in which case it uses the
    MathJax 3 bundled with it (served locally).
    """
    return {**page_config, "fullMathjaxUrl": "null", "mathjaxConfig": "null"}


def configure_voila_template(c, environ: MutableMapping[str, str] | None = None) -> None:
    """Put the template on the Jupyter path, make it Voilà's default, MathJax local.

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
    c.VoilaConfiguration.page_config_hook = offline_page_config
    # The page (and its scripts) start loading while the kernel starts and runs the app,
    # instead of after: the first file list shows sooner.
    c.VoilaConfiguration.progressive_rendering = True
