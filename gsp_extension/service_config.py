"""jupyter_server configuration of the hub service "gsp".

The hub runs ``jupyterhub-singleuser --config=<this file>`` (see ``jupyterhub_config.py``).
That process holds a privileged hub token, so it exposes our extension only: no
Jupyter frontends, no terminals, and an Authorizer that refuses every jupyter_server
resource (contents, kernels, sessions...) but the API's own (``gsp``). The API itself
authorizes each request against the app database (:mod:`gsp_extension.security`).
"""

# ruff: noqa: F821 - `c` is provided by the traitlets config loader
import os

from jupyterhub.singleuser.extension import JupyterHubAuthorizer

from gsp_extension import environment
from gsp_extension.api.access_log import log_request

#: The jupyter_server resource name of every GSP API handler.
API_RESOURCE = "gsp"


class GSPServiceAuthorizer(JupyterHubAuthorizer):
    """The hub's scope check, then: only the ``gsp`` resource, whatever the scopes."""

    def is_authorized(self, handler, user, action, resource):
        if resource != API_RESOURCE:
            self.log.warning(
                "gsp service: refused %s on %r for %s (only the GSP API is served here)",
                action,
                resource,
                getattr(user, "username", user),
            )
            return False
        return super().is_authorized(handler, user, action, resource)


c = get_config()  # noqa: F821

c.ServerApp.jpserver_extensions = {
    "gsp_extension": True,
    "jupyterlab": False,
    "voila": False,
    "voila.server_extension": False,
    "jupyter_lsp": False,
    "notebook": False,
    "notebook_shim": False,
    "jupyter_server_terminals": False,
    "nbclassic": False,
}
c.ServerApp.terminals_enabled = False
# The hub stops its services with SIGINT first: stop cleanly on it (engine, dask workers).
c.GSPExtensionApp.stop_on_interrupt = True
# jupyter_server's own services (api, contents, kernels, sessions, view, nbconvert...)
# are dropped by the extension (GSPExtensionApp.jupyter_services, empty); the contents
# manager adds its raw-file handler (files/) on its own, so it is switched off here.
c.ContentsManager.files_handler_class = None
# Successful requests are not logged one line each (failures and slow ones are): see
# gsp_extension.api.access_log. jupyterhub-singleuser keeps a log_function set here.
c.ServerApp.tornado_settings = {"log_function": log_request}
c.ServerApp.authorizer_class = GSPServiceAuthorizer
c.ServerApp.default_url = "/api/docs/"
# Running as root is refused unless the deployer asks for it (GSP_ALLOW_ROOT=1: a
# root-only machine such as a CI container; `gsp up` sets it when run as root): this
# process holds a privileged hub token.
c.ServerApp.allow_root = environment.flag("GSP_ALLOW_ROOT", False)
# Nothing of the file system is browsable here; the contents API is refused anyway.
c.ServerApp.root_dir = environment.text("GSP_SERVICE_ROOT_DIR", os.path.expanduser("~"))
# How long the hub's answer about a token is trusted here: a token revoked on the hub's
# Token page stops working at the latest this many seconds later (JupyterHub's default,
# 300 s, let a revoked script token read data for five more minutes).
c.HubOAuth.cache_max_age = environment.seconds("GSP_TOKEN_CACHE_SECONDS", 30)
