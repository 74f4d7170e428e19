"""JupyterHub configuration of GSP Live: proxy, authenticator, roles, the gsp service.

Every address and path comes from an environment variable with a default for a
single machine, so the same file serves the demo, the tests and a deployment:

=====================  =================================================================
``GSP_HUB_BIND_URL``   public address of the proxy (default ``http://127.0.0.1:8000``)
``GSP_HUB_API_PORT``   port of the hub's own API, on 127.0.0.1 (default 8081)
``GSP_PROXY_API_PORT`` port of the proxy's REST API, on 127.0.0.1 (default 8001)
``GSP_SERVICE_PORT``   port of the gsp service, on 127.0.0.1 (default 10101)
``GSP_DATA_ROOT``      data root: raw/, products/, databases, outbox (default ./gsp-data)
``GSP_DATABASE_URL``   app database (default ``sqlite:///$GSP_DATA_ROOT/gsp.sqlite``)
``GSP_ADMIN_*``        first superuser at the first start (see ``hub.config_helpers``)
``GSP_INSTRUMENT_TOKEN`` token of the ``gsp-instrument`` service, which may register files
=====================  =================================================================
"""

# ruff: noqa: F821 - `c` is provided by the traitlets config loader
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent
DATA_ROOT = Path(os.environ.get("GSP_DATA_ROOT", "gsp-data")).resolve()
DATABASE_URL = os.environ.get("GSP_DATABASE_URL") or f"sqlite:///{DATA_ROOT / 'gsp.sqlite'}"
HUB_BIND_URL = os.environ.get("GSP_HUB_BIND_URL", "http://127.0.0.1:8000")
HUB_API_PORT = int(os.environ.get("GSP_HUB_API_PORT", "8081"))
PROXY_API_PORT = int(os.environ.get("GSP_PROXY_API_PORT", "8001"))
SERVICE_PORT = int(os.environ.get("GSP_SERVICE_PORT", "10101"))
STATE_DIR = DATA_ROOT / "hub"
STATE_DIR.mkdir(parents=True, exist_ok=True)

c = get_config()  # noqa: F821

# --- hub, proxy, state ---------------------------------------------------------------------
c.JupyterHub.bind_url = HUB_BIND_URL
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{HUB_API_PORT}"
c.JupyterHub.db_url = f"sqlite:///{STATE_DIR / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE_DIR / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.command = [str(REPO / "node_modules" / ".bin" / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
c.ConfigurableHTTPProxy.pid_file = str(STATE_DIR / "jupyterhub-proxy.pid")

# --- who logs in: accounts of the app database ---------------------------------------------
# The app database is migrated here, before the hub starts the gsp service, so the two
# never migrate at once; GSP_ADMIN_* create the first superuser on the first start.
from hub.config_helpers import (  # noqa: E402
    bootstrap_superuser_from_env,
    configure_accounts,
    prepare_database,
)

prepare_database(DATABASE_URL)
bootstrap_superuser_from_env(DATABASE_URL)
configure_accounts(c, DATABASE_URL)

# --- the gsp service: the REST API, run by the hub -------------------------------------------
SERVICE_ENV = {
    "GSP_DATA_ROOT": str(DATA_ROOT),
    "GSP_DATABASE_URL": DATABASE_URL,
}
# Mail and link settings are shared with the hub so that links made by the service open
# the hub's set-password page; pass them on when set.
for name, value in os.environ.items():
    if name.startswith(("GSP_SMTP_", "GSP_EMAIL_")) or name in (
        "GSP_PUBLIC_URL",
        "GSP_LINK_SECRET_FILE",
        "GSP_COUNT_CACHE_SECONDS",
        "GSP_CALLER_CACHE_SECONDS",
        "GSP_LIVE",
        "GSP_WORKERS",
    ):
        SERVICE_ENV[name] = value

c.JupyterHub.services = [
    {
        "name": "gsp",
        "display": True,
        "url": f"http://127.0.0.1:{SERVICE_PORT}",
        "command": [
            str(Path(sys.executable).parent / "jupyterhub-singleuser"),
            f"--config={REPO / 'gsp_extension' / 'service_config.py'}",
        ],
        "cwd": str(DATA_ROOT),
        "environment": SERVICE_ENV,
        "oauth_no_confirm": True,
    }
]

# The instrument's data-transfer script may register raw files (POST api/files/) with
# this token; the gsp service knows it by name (GSPExtensionApp.instrument_names).
INSTRUMENT_TOKEN = os.environ.get("GSP_INSTRUMENT_TOKEN", "")
if INSTRUMENT_TOKEN:
    c.JupyterHub.services.append({"name": "gsp-instrument", "api_token": INSTRUMENT_TOKEN})

# --- roles -----------------------------------------------------------------------------------
# Users (and the tokens of their servers, e.g. a Voilà kernel) may call the gsp service;
# the service may create hub users and groups (a new collaborator, a new proposal).
c.JupyterHub.load_roles = [
    {"name": "user", "scopes": ["self", "access:services!service=gsp"]},
    {
        "name": "server",
        "scopes": ["users:activity!user", "access:servers!server", "access:services!service=gsp"],
    },
    {
        "name": "gsp-service",
        "description": "The gsp service mirrors app users and proposal groups into the hub",
        "scopes": ["admin:users", "admin:groups", "list:users", "read:users"],
        "services": ["gsp"],
    },
]
if INSTRUMENT_TOKEN:
    c.JupyterHub.load_roles.append(
        {
            "name": "gsp-instrument",
            "description": "Registers raw files with the gsp service",
            "scopes": ["access:services!service=gsp"],
            "services": ["gsp-instrument"],
        }
    )

# --- single-user servers (notebooks, Voilà apps) -------------------------------------------
# The embedded default: local processes, one home folder per user under the data root.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(DATA_ROOT / "home" / "{username}")
# GSPClient() in a notebook or Voilà app finds the API here (and the token in
# $JUPYTERHUB_API_TOKEN).
c.Spawner.environment = {"GSP_API_URL": f"{HUB_BIND_URL.rstrip('/')}/services/gsp/"}
if hasattr(os, "geteuid") and os.geteuid() == 0:
    c.Spawner.args = ["--allow-root"]

# --- platform (hub/platform.py): spawner, culling, public URL and TLS, production switches -
# Switches (environment; table in hub/platform.py and deploy/README.md):
#   GSP_SPAWNER=simple|systemd|kube   GSP_USER_API_URL       GSP_PUBLIC_URL
#   GSP_SSL_CERT / GSP_SSL_KEY        GSP_HUB_DB_URL         GSP_DASK_SCHEDULER
#   GSP_CULL_IDLE_TIMEOUT / GSP_CULL_EVERY (servers)
#   GSP_KERNEL_CULL_IDLE_TIMEOUT / _INTERVAL / _CONNECTED, GSP_VOILA_SHOW_TRACEBACKS (kernels)
# configure_spawner replaces the defaults above: homes in $GSP_DATA_ROOT/homes/<name>,
# the Voilà data browser as landing page, hub/singleuser_config.py for every user server.
from hub import platform as gsp_platform  # noqa: E402

gsp_platform.configure_spawner(c, DATA_ROOT, f"http://127.0.0.1:{SERVICE_PORT}")
gsp_platform.configure_culling(c)
gsp_platform.configure_public_url_and_tls(c)
gsp_platform.configure_switches(c)
