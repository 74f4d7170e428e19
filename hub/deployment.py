"""The hub's own wiring for ``jupyterhub_config.py``: addresses, proxy, the gsp service, roles.

``jupyterhub_config.py`` builds one :class:`Deployment` from the environment (through
:mod:`gsp_extension.environment`, the one module that reads it) and hands it to the
functions here and in :mod:`hub.platform`; the config file itself holds no setting.

==========================  ==========================================================
``GSP_HUB_BIND_URL``        public address of the proxy (default ``http://127.0.0.1:8000``)
``GSP_HUB_API_PORT``        port of the hub's own API, on 127.0.0.1 (default 8081)
``GSP_PROXY_API_PORT``      port of the proxy's REST API, on 127.0.0.1 (default 8001)
``GSP_SERVICE_PORT``        port of the gsp service, on 127.0.0.1 (default 10101)
``GSP_DATA_ROOT``           data root (default ``./gsp-data``)
``GSP_DATABASE_URL``        app database (default ``sqlite:///$GSP_DATA_ROOT/gsp.sqlite``)
``GSP_INSTRUMENT_TOKEN``    token of the ``gsp-instrument`` service (registers files)
``GSP_ALLOW_ROOT``          ``1`` lets the gsp service and user servers run as root (a
                            root-only machine such as a CI container); default off
==========================  ==========================================================
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gsp_extension import environment

REPO = Path(__file__).resolve().parents[1]

#: The service's configuration file (jupyter_server, locked down to our extension).
SERVICE_CONFIG = REPO / "gsp_extension" / "service_config.py"

#: Variables the hub keeps to itself: the gsp service never needs them, and it holds
#: a privileged hub token already.
HUB_ONLY = frozenset({"GSP_ADMIN_PASSWORD", "GSP_INSTRUMENT_TOKEN", "GSP_HUB_DB_URL"})


@dataclass(frozen=True)
class Deployment:
    """Where things are: data, databases, addresses.

    Attributes
    ----------
    data_root : Path
    database_url : str
        The app database.
    bind_url : str
        The proxy's public address.
    hub_api_port, proxy_api_port, service_port : int
        Internal ports on 127.0.0.1.
    instrument_token : str
        The instrument service's token; empty: no instrument service.
    """

    data_root: Path
    database_url: str
    bind_url: str
    hub_api_port: int
    proxy_api_port: int
    service_port: int
    instrument_token: str = ""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Deployment:
        """The deployment the ``GSP_*`` variables describe (defaults for one machine)."""
        root = environment.data_root(environ)
        return cls(
            data_root=root,
            database_url=environment.database_url(environ, root),
            bind_url=environment.hub_bind_url(environ),
            hub_api_port=environment.whole_number("GSP_HUB_API_PORT", 8081, environ),
            proxy_api_port=environment.whole_number("GSP_PROXY_API_PORT", 8001, environ),
            service_port=environment.whole_number("GSP_SERVICE_PORT", 10101, environ),
            instrument_token=environment.text("GSP_INSTRUMENT_TOKEN", environ=environ),
        )

    @property
    def state_dir(self) -> Path:
        """The hub's own state (its SQLite file, cookie secret, proxy pid)."""
        return self.data_root / "hub"

    @property
    def service_url(self) -> str:
        """The gsp service's own address."""
        return f"http://127.0.0.1:{self.service_port}"


def restore_interrupt() -> None:
    """Let the hub's managed services be stopped by SIGINT, as the hub stops them.

    A hub started in the background by a non-interactive shell (``nohup gsp up &``, a CI
    runner) inherits SIGINT ignored, and so does every service it starts: JupyterHub
    starts its managed services before it installs its own SIGINT handler. The hub
    stops a service with SIGINT and sends SIGTERM only after its grace, so the idle
    culler, ignoring SIGINT, held every shutdown that long (a live hub took 30 s to
    exit after its gsp service had stopped). Python's own handler here is reset to the
    default in every child at exec; the hub replaces it with its own once it runs.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def configure_hub(c, deployment: Deployment) -> None:
    """The hub and its proxy: addresses, state files, the proxy's command."""
    state = deployment.state_dir
    state.mkdir(parents=True, exist_ok=True)
    c.JupyterHub.bind_url = deployment.bind_url
    c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{deployment.hub_api_port}"
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    chp = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
    c.ConfigurableHTTPProxy.command = [str(chp)]
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{deployment.proxy_api_port}"
    c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")


def service_environment(
    deployment: Deployment, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """What the gsp service is started with: every ``GSP_*`` switch but the hub's own.

    The service reads the same variables as the hub (:mod:`gsp_extension.environment`),
    so mail, set-password links and the public address agree; the data root, the
    database and the bind URL are the ones this hub resolved.
    """
    env = {
        name: value
        for name, value in environment.with_prefix(("GSP_",), environ).items()
        if name not in HUB_ONLY
    }
    env.update(
        {
            "GSP_DATA_ROOT": str(deployment.data_root),
            "GSP_DATABASE_URL": deployment.database_url,
            "GSP_HUB_BIND_URL": deployment.bind_url,
        }
    )
    return env


def configure_gsp_service(
    c, deployment: Deployment, environ: Mapping[str, str] | None = None
) -> None:
    """The gsp service (REST API, ingest, job engine) run by the hub, and the
    instrument's service when it has a token."""
    c.JupyterHub.services = [
        {
            "name": "gsp",
            "display": True,
            "url": deployment.service_url,
            "command": [
                str(Path(sys.executable).parent / "jupyterhub-singleuser"),
                f"--config={SERVICE_CONFIG}",
            ],
            "cwd": str(deployment.data_root),
            "environment": service_environment(deployment, environ),
            "oauth_no_confirm": True,
        }
    ]
    if deployment.instrument_token:
        # The instrument's data-transfer script may register raw files (POST api/files/)
        # with this token; the service knows it by name (GSPExtensionApp.instrument_names).
        c.JupyterHub.services.append(
            {"name": "gsp-instrument", "api_token": deployment.instrument_token}
        )


def configure_roles(c, deployment: Deployment) -> None:
    """Users (and their servers' tokens, e.g. a Voila kernel) may call the gsp service;
    the service may create hub users and groups (a new collaborator, a new proposal)."""
    c.JupyterHub.load_roles = [
        {"name": "user", "scopes": ["self", "access:services!service=gsp"]},
        {
            "name": "server",
            "scopes": [
                "users:activity!user",
                "access:servers!server",
                "access:services!service=gsp",
                # the data browser creates the user's personal API tokens (scoped to gsp)
                # on the hub, where they outlive the server and can be revoked
                # (voila_apps/hub_tokens.py); the server's own token is never handed out
                "tokens!user",
            ],
        },
        {
            "name": "gsp-service",
            "description": "The gsp service mirrors app users and proposal groups into the hub",
            "scopes": ["admin:users", "admin:groups", "list:users", "read:users"],
            "services": ["gsp"],
        },
    ]
    if deployment.instrument_token:
        c.JupyterHub.load_roles.append(
            {
                "name": "gsp-instrument",
                "description": "Registers raw files with the gsp service",
                "scopes": ["access:services!service=gsp"],
                "services": ["gsp-instrument"],
            }
        )
