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


#: The server's setting that holds the versioned address of Voilà's static files
#: (:mod:`voila_apps.static_cache`), once this module's extension has routed it.
STATIC_URL_SETTING = "gsp_voila_static_url"


def offline_page_config(page_config: dict, *args, settings=None, **kwargs) -> dict:
    """Voilà's ``page_config_hook``: keep the front end off the MathJax CDN, and load its
    scripts from the address browsers keep.

    Voilà's front end loads MathJax 2 from a public CDN unless both ``fullMathjaxUrl``
    and ``mathjaxConfig`` are the string ``"null"``, in which case it uses the
    MathJax 3 bundled with it (served locally). ``fullStaticUrl`` (where ``voila.js``
    and its chunks are loaded from) becomes the versioned, immutable address
    (:mod:`voila_apps.static_cache`) when the server's ``settings`` hold it.
    """
    out = {**page_config, "fullMathjaxUrl": "null", "mathjaxConfig": "null"}
    versioned = (settings or {}).get(STATIC_URL_SETTING)
    if versioned:
        out["fullStaticUrl"] = versioned
    return out


def configure_voila_template(c, environ: MutableMapping[str, str] | None = None) -> None:
    """Put the template on the Jupyter path, make it Voilà's only one, MathJax local.

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
    # The apps work with their own template only: a `?template=` of the address must not
    # pick another (the lab template links CDNs), nor a folder by a path (Voilà 0.5.8
    # does not check that the name is a plain name; 0.5.13 does).
    c.VoilaConfiguration.allow_template_override = "NO"
    c.VoilaConfiguration.page_config_hook = offline_page_config
    # The page (and its scripts) start loading while the kernel starts and runs the app,
    # instead of after: the first file list shows sooner.
    c.VoilaConfiguration.progressive_rendering = True
    # Browsers keep the widget scripts between pages (see _load_jupyter_server_extension).
    c.ServerApp.jpserver_extensions.update({EXTENSION: True})


#: Name under which jupyter_server loads this module as an extension (the cache below).
EXTENSION = "voila_apps.config"


def labextension_static_urls(base_url: str, labextension_paths: list[str]) -> list[str]:
    """URL prefixes of the labextensions' ``static`` folders as Voilà serves them.

    Every file there is named with its content hash (``remoteEntry.<hash>.js``,
    ``<n>.<hash>.js``) or is loaded through one that is, as JupyterLab assumes when it
    serves the same folders immutable (``jupyterlab_server``'s ``initialize_settings``).

    Parameters
    ----------
    base_url : str
        The server's base URL (``/user/<name>/``).
    labextension_paths : list of str
        Folders holding labextensions (Voilà's ``get_voila_labextensions_path()``).
    """
    root = base_url.rstrip("/") + "/voila/labextensions/"
    urls = set()
    for folder in labextension_paths:
        top = Path(folder)
        if not top.is_dir():
            continue
        for static in top.glob("**/static"):
            if static.is_dir():
                urls.add(root + static.relative_to(top).as_posix() + "/")
    return sorted(urls)


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": EXTENSION}]


def _load_jupyter_server_extension(serverapp) -> None:
    """Let browsers keep Voilà's labextension and front-end scripts (jupyter_server calls
    this).

    Voilà serves ``voila/labextensions/`` with ``Cache-Control: no-cache``: each page
    load asked the server again for its ~20 widget scripts, in two waves (entries,
    then chunks), ~0.15-0.2 s before the page could connect to its kernel on the
    loaded machine. Their names carry content hashes, so they are marked immutable
    (the ``static_immutable_cache`` setting of jupyter_server's file handler).
    """
    from voila.paths import collect_static_paths
    from voila.utils import get_voila_labextensions_path

    from voila_apps.static_cache import versioned_static_handler, versioned_static_url
    from voila_apps.template_cache import install

    # Pages rendered with templates compiled once per process (voila_apps/template_cache.py).
    install()

    settings = serverapp.web_app.settings
    urls = labextension_static_urls(serverapp.base_url, get_voila_labextensions_path())
    settings["static_immutable_cache"] = sorted(
        set(settings.get("static_immutable_cache") or []) | set(urls)
    )
    # The front end itself (voila.js and its chunks): its names carry no hash, so it is
    # served again under an address that names its version (voila_apps/static_cache.py),
    # from the folders Voilà's own voila/static/ serves for this template.
    paths = tuple(collect_static_paths(["voila", "nbconvert"], TEMPLATE))
    serverapp.web_app.add_handlers(".*$", [versioned_static_handler(serverapp.base_url, paths)])
    settings[STATIC_URL_SETTING] = versioned_static_url(serverapp.base_url, paths)
