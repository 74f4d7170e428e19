"""jupyter_server configuration of every user's server (``jupyterhub-singleuser --config=``).

Set by :func:`hub.platform.configure_spawner`. It culls idle kernels (the Voilà kernel
of a closed page otherwise lives on), hides tracebacks in Voilà pages unless
``GSP_VOILA_SHOW_TRACEBACKS=1``, and copies the Voilà app notebooks into the server's
root so that ``/user/<name>/voila/render/data_browser.ipynb`` resolves. Switches:
``GSP_KERNEL_CULL_IDLE_TIMEOUT``, ``GSP_KERNEL_CULL_INTERVAL``,
``GSP_KERNEL_CULL_CONNECTED``, ``GSP_VOILA_SHOW_TRACEBACKS`` (see :mod:`hub.platform`).
JupyterLab's theme is set to the user's GSP theme preference (:mod:`voila_apps.lab_theme`).
"""

# ruff: noqa: F821 - `c` is provided by the traitlets config loader
import os
import sys

from hub.platform import (
    SINGLEUSER_CONFIG,
    configure_kernel_culling,
    configure_lab_user_dirs,
    configure_voila,
    install_app_notebooks,
)

c = get_config()  # noqa: F821

configure_kernel_culling(c)
configure_voila(c)
# The apps' Voilà template (voila_apps/config.py): the lab template without CDN links,
# so that no request of the page leaves the hub's origin. Voilà's server extension reads
# its settings from jupyter_config/voila.py (on JUPYTER_CONFIG_PATH, set below), which
# applies the same two functions: Voilà 0.5.8 does not read them from this file.
from voila_apps.config import configure_voila_template  # noqa: E402

configure_voila_template(c)
# A closed page's kernel stops within ~75 s even when its shutdown beacon was lost
# (voila_apps/kernel_reaper.py); the idle cull above cannot see it: the live stream
# keeps it busy.
from voila_apps.kernel_reaper import configure_page_kernel_reaper  # noqa: E402

configure_page_kernel_reaper(c)
# The server's root is the user's home ("~", from Spawner.notebook_dir); the hub sets
# JUPYTERHUB_ROOT_DIR to it. A home that cannot be written must not keep the user out
# of their notebooks: say so and start anyway.
try:
    install_app_notebooks(os.path.expanduser(os.environ.get("JUPYTERHUB_ROOT_DIR") or "~"))
except OSError as exc:
    print(f"gsp: the Voila apps could not be copied into the home folder: {exc}", file=sys.stderr)

# The user's own JupyterLab settings and workspaces (not the forkserver's, computed when
# it imported JupyterLab): where the theme below is written.
configure_lab_user_dirs(c)
# JupyterLab's theme is the user's GSP theme preference (voila_apps/lab_theme.py): a
# preference saved before, or edited by hand, holds from this start on; the data
# browser keeps it in step afterwards.
from voila_apps.lab_theme import sync_lab_theme  # noqa: E402

try:
    sync_lab_theme()
except OSError as exc:
    print(f"gsp: JupyterLab's theme could not follow the preference: {exc}", file=sys.stderr)

# JupyterLab (power users' notebooks) never calls out: an observatory network need not
# reach the internet, and no request should leave the site on a user's behalf.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
# Its extension manager only lists what is installed: the default one ("pypi") searches
# pypi.org and runs pip inside the user's server, and building it (an HTTP client) cost
# every server start ~0.1 s of CPU before the first page could be served.
c.LabApp.extension_manager = "readonly"
# No language server is installed for JupyterLab's LSP features: jupyter_lsp only looked
# for ~30 of them, in a thread, while the server answered its first requests (a cold
# login's page). A deployment that installs one enables it again in its own config.
c.ServerApp.jpserver_extensions.update({"jupyter_lsp": False})
# With nothing fetched, JupyterLab's announcements plugin would still ask each user
# "Would you like to get notified about official Jupyter news?", a question without
# effect here: the plugin is disabled, as `jupyter labextension disable` would, by a
# labconfig/page_config.json in a Jupyter config dir of the repository put on
# JUPYTER_CONFIG_PATH (no file is written into the venv or the home). No config trait
# can do it: LabApp replaces `disabledExtensions` of ServerApp.tornado_settings'
# `page_config_data` with the list it reads from the labconfig dirs. The dirs' files
# are merged, so extensions a user disables in ~/.jupyter/labconfig stay disabled too.
LAB_CONFIG_DIR = str(SINGLEUSER_CONFIG.with_name("jupyter_config"))
_config_path = [p for p in os.environ.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
if LAB_CONFIG_DIR not in _config_path:
    os.environ["JUPYTER_CONFIG_PATH"] = os.pathsep.join([LAB_CONFIG_DIR, *_config_path])
