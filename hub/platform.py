"""The platform side of ``jupyterhub_config.py``: spawner, culling, public URL and TLS, switches.

``jupyterhub_config.py`` calls one function per concern, each reading its switches from
the environment (``environ``, by default :data:`os.environ`), so that one config file
serves the demo, the tests and a deployment:

==================================  ===================================================
``GSP_SPAWNER``                     ``simple`` (default: SimpleLocalProcessSpawner, one
                                    home per user, NO isolation between users),
                                    ``systemd`` (``systemdspawner.SystemdSpawner``,
                                    pip ``jupyterhub-systemdspawner``) or ``kube``
                                    (``kubespawner.KubeSpawner``, pip
                                    ``jupyterhub-kubespawner``)
``GSP_USER_API_URL``                the gsp API as user servers reach it (default: the
                                    service's own address for local spawners, the
                                    public URL + ``services/gsp/`` for ``kube``)
``GSP_CULL_IDLE_TIMEOUT``           seconds without activity before a user server is
                                    stopped by ``jupyterhub-idle-culler`` (default
                                    3600; 0 turns server culling off)
``GSP_CULL_EVERY``                  seconds between the culler's rounds (default 300,
                                    or half the timeout when that is shorter)
``GSP_KERNEL_CULL_IDLE_TIMEOUT``    seconds before an idle kernel (e.g. the Voilà
                                    kernel of a closed page) is shut down (default
                                    1800; 0 turns kernel culling off)
``GSP_KERNEL_CULL_INTERVAL``        seconds between kernel-culling rounds (default 120)
``GSP_KERNEL_CULL_CONNECTED``       ``1`` also culls idle kernels with an open page
                                    (default ``0``: a data browser left open all night
                                    keeps working)
``GSP_PAGE_KERNEL_TIMEOUT``         seconds a Voilà page's kernel may stay without a
                                    connection before it is shut down (default 60;
                                    0 off; ``voila_apps/kernel_reaper.py``)
``GSP_VOILA_SHOW_TRACEBACKS``       ``1`` shows Python tracebacks in Voilà pages
                                    (default ``0``: production)
``GSP_PUBLIC_URL``                  the hub's public address (``c.JupyterHub.public_url``;
                                    also used in emailed links); unset: detected from
                                    requests
``GSP_SSL_CERT`` / ``GSP_SSL_KEY``  TLS certificate and key of the public proxy
                                    (``c.JupyterHub.ssl_cert`` / ``ssl_key``); both or
                                    neither; the bind URL becomes ``https://``
``GSP_HUB_DB_URL``                  the hub's own database (default: SQLite in
                                    ``$GSP_DATA_ROOT/hub/``), e.g.
                                    ``postgresql+psycopg://hub@db/jupyterhub``
``GSP_SPAWN_FORKSERVER``            ``1`` (default) starts users' servers by forking
                                    :mod:`hub.forkserver`, which has imported them
                                    already (~1.5 s less per start); ``0``: Popen
                                    (``simple`` spawner only)
``GSP_DASK_SCHEDULER``              address of a Dask scheduler for the job engine
                                    (``tcp://host:8786``); unset: a LocalCluster in
                                    the gsp service
==================================  ===================================================

Also read elsewhere: ``GSP_DATA_ROOT``, ``GSP_DATABASE_URL`` (the app database,
PostgreSQL or SQLite), ``GSP_HUB_BIND_URL`` and the ports (``jupyterhub_config.py``),
``GSP_SMTP_*`` (:class:`hub.email.Mailer`), ``GSP_ADMIN_*``
(:func:`hub.config_helpers.bootstrap_superuser_from_env`).

Where the Voilà apps come from
------------------------------
Each user's server starts in its home (``$GSP_DATA_ROOT/homes/<name>`` with the
default spawner) and its default URL is ``/voila/render/data_browser.ipynb``. The
single-user config (:mod:`hub.singleuser_config`, passed as ``--config``) copies the
app notebooks of the installed :mod:`voila_apps` package into the root of that home at
every server start, read-only, so the URL resolves under every spawner (the copy runs
inside the user's server, as the user, also in a Kubernetes pod), users always get the
current version, and a user's own edits can never change the app everyone uses
(:func:`install_app_notebooks`).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

#: The single-user server's config file (kernel culling, Voilà settings, the apps).
SINGLEUSER_CONFIG = Path(__file__).with_name("singleuser_config.py")

#: Path of the data browser under ``/user/<name>/`` (what users land on).
DEFAULT_URL = "/voila/render/data_browser.ipynb"

#: ``GSP_SPAWNER`` values: class to import, pip package that provides it.
SPAWNERS = {
    # SimpleLocalProcessSpawner that returns once the server answers (hub/spawners.py).
    "simple": ("hub.spawners.ReadySimpleLocalProcessSpawner", "jupyterhub"),
    "systemd": ("systemdspawner.SystemdSpawner", "jupyterhub-systemdspawner"),
    "kube": ("kubespawner.KubeSpawner", "jupyterhub-kubespawner"),
}

#: Scopes jupyterhub-idle-culler needs to find idle servers and stop them.
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]

#: Environment variables passed from the hub to every user server when set.
USER_SERVER_SWITCHES = (
    "GSP_KERNEL_CULL_IDLE_TIMEOUT",
    "GSP_KERNEL_CULL_INTERVAL",
    "GSP_KERNEL_CULL_CONNECTED",
    "GSP_VOILA_SHOW_TRACEBACKS",
    "GSP_PAGE_KERNEL_TIMEOUT",
)


class PlatformConfigError(ValueError):
    """A switch of the environment has a value that cannot work; the message says why."""


# --- reading switches -------------------------------------------------------------------------


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


def env_seconds(environ: Mapping[str, str] | None, name: str, default: int) -> int:
    """A whole number of seconds >= 0 from ``environ[name]`` (``default`` when unset)."""
    raw = _env(environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise PlatformConfigError(f"{name}={raw!r}: give a whole number of seconds >= 0")
    return value


def env_flag(environ: Mapping[str, str] | None, name: str, default: bool = False) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (any case) from ``environ[name]``."""
    raw = _env(environ).get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise PlatformConfigError(f"{name}={raw!r}: give 1/true/yes/on or 0/false/no/off")


def _append(section, name: str, items: Iterable) -> None:
    """Append to a list option of a config section, keeping what earlier lines put there."""
    from traitlets.config import LazyConfigValue

    current = section[name] if name in section else []
    if isinstance(current, LazyConfigValue):
        current = current.get_value([])
    section[name] = [*current, *items]


def _service(c, name: str) -> dict | None:
    services = c.JupyterHub.services if "services" in c.JupyterHub else []
    for service in services if isinstance(services, list) else []:
        if service.get("name") == name:
            return service
    return None


# --- spawner ------------------------------------------------------------------------------------


def spawner_class(environ: Mapping[str, str] | None = None) -> str:
    """The spawner class chosen by ``GSP_SPAWNER``, checked importable.

    Raises
    ------
    PlatformConfigError
        For an unknown name, or when the chosen spawner's package is not installed
        (the message names the pip package).
    """
    choice = _env(environ).get("GSP_SPAWNER", "").strip().lower() or "simple"
    if choice not in SPAWNERS:
        raise PlatformConfigError(
            f"GSP_SPAWNER={choice!r} is unknown: choose one of {', '.join(SPAWNERS)}"
        )
    dotted, package = SPAWNERS[choice]
    module = dotted.rpartition(".")[0]
    try:
        __import__(module)
    except ImportError as exc:
        raise PlatformConfigError(
            f"GSP_SPAWNER={choice} needs {dotted} from the pip package {package!r}, which "
            f"cannot be imported ({exc}); install it: pip install {package}"
        ) from None
    return dotted


def user_api_url(
    service_url: str, environ: Mapping[str, str] | None = None, *, spawner: str = "simple"
) -> str:
    """Where a user's kernel reaches the gsp API (``GSP_API_URL`` of the user server).

    Local spawners go to the service directly (no proxy, no TLS, works whatever the
    public address is); Kubernetes pods go through the public URL.
    """
    env = _env(environ)
    explicit = env.get("GSP_USER_API_URL", "").strip()
    if explicit:
        url = explicit
    elif spawner == "kube":
        public = env.get("GSP_PUBLIC_URL", "").strip()
        if not public:
            raise PlatformConfigError(
                "GSP_SPAWNER=kube: set GSP_PUBLIC_URL (or GSP_USER_API_URL) so that user "
                "pods can reach the gsp service"
            )
        url = public.rstrip("/") + "/services/gsp/"
    else:
        url = service_url.rstrip("/") + "/services/gsp/"
    return url if url.endswith("/") else url + "/"


def configure_spawner(
    c,
    data_root: str | Path,
    service_url: str,
    environ: Mapping[str, str] | None = None,
) -> str:
    """User servers: spawner class, home per user, the data browser as landing page.

    Parameters
    ----------
    c : traitlets.config.Config
        The hub's configuration.
    data_root : path
        ``$GSP_DATA_ROOT``; homes go to ``<data_root>/homes/<name>`` (simple spawner).
    service_url : str
        The gsp service's own address (``http://127.0.0.1:<port>``).
    environ : mapping, optional
        Where switches are read (default :data:`os.environ`).

    Returns
    -------
    str
        The dotted spawner class configured.
    """
    env = _env(environ)
    dotted = spawner_class(env)
    kind = next(name for name, (cls, _) in SPAWNERS.items() if cls == dotted)
    c.JupyterHub.spawner_class = dotted
    c.Spawner.default_url = DEFAULT_URL
    c.Spawner.notebook_dir = "~"

    # What a user's kernel needs to call the API: the address (GSPClient reads
    # GSP_API_URL; GSP_SERVICE_URL is the same, for code that wants the service root);
    # the token is JUPYTERHUB_API_TOKEN, set by the hub with the `server` role's scopes.
    api = user_api_url(service_url, env, spawner=kind)
    environment = dict(c.Spawner.environment) if "environment" in c.Spawner else {}
    environment.update({"GSP_API_URL": api, "GSP_SERVICE_URL": api})
    environment.update({k: env[k] for k in USER_SERVER_SWITCHES if env.get(k, "").strip()})
    c.Spawner.environment = environment

    if kind == "kube":
        # The image brings its own jupyterhub-singleuser and its config (deploy/README.md);
        # no local path or root flag of this machine means anything in a pod.
        c.Spawner.args = []
        return dotted
    # The single-user config of this checkout; the python of this venv (systemd-run
    # wants an absolute path).
    # jupyterhub-singleuser through hub/singleuser.py, which spares the ~1-2 s import of
    # rfc3987_syntax at every server start (a cold login waits for it).
    c.Spawner.cmd = [sys.executable, "-m", "hub.singleuser"]
    args = [f"--config={SINGLEUSER_CONFIG}"]
    if kind == "simple" and hasattr(os, "geteuid") and os.geteuid() == 0:
        # Root-only machines (CI containers): the server refuses root without this.
        args.append("--allow-root")
    c.Spawner.args = args
    if kind == "simple":
        c.SimpleLocalProcessSpawner.home_dir_template = str(
            Path(data_root).resolve() / "homes" / "{username}"
        )
        if env_flag(env, "GSP_SPAWN_FORKSERVER", True):
            configure_forkserver(c, data_root)
    else:
        # Each hub user runs as a transient system user with its own state directory.
        c.SystemdSpawner.dynamic_users = True
    return dotted


def forkserver_socket(data_root: str | Path) -> Path:
    """Where the forkserver of the hub with this data root listens.

    Under the temporary directory, not the data root: a Unix socket path is limited to
    ~100 bytes. One per data root, so that two hubs on one machine never share one.
    """
    import hashlib
    import tempfile

    key = hashlib.sha256(str(Path(data_root).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"gsp-forkserver-{os.getuid()}-{key}" / "sock"


def configure_forkserver(c, data_root: str | Path) -> dict:
    """Run :mod:`hub.forkserver` as a hub-managed service (restarted if it exits) and
    point the spawner at it. Returns the service added."""
    path = str(forkserver_socket(data_root))
    c.ReadySimpleLocalProcessSpawner.forkserver_socket = path
    service = {
        "name": "forkserver",
        "command": [sys.executable, "-m", "hub.forkserver", f"--socket={path}"],
        "display": False,
    }
    _append(c.JupyterHub, "services", [service])
    return service


# --- culling ------------------------------------------------------------------------------------


def configure_culling(c, environ: Mapping[str, str] | None = None) -> dict | None:
    """Stop idle user servers with ``jupyterhub-idle-culler`` run as a hub service.

    Kernels are culled inside each user server (:mod:`hub.singleuser_config`).
    Returns the service added, or ``None`` when ``GSP_CULL_IDLE_TIMEOUT=0``.
    """
    env = _env(environ)
    timeout = env_seconds(env, "GSP_CULL_IDLE_TIMEOUT", 3600)
    if timeout == 0:
        return None
    every = env_seconds(env, "GSP_CULL_EVERY", min(300, max(timeout // 2, 1)))
    if every == 0:
        raise PlatformConfigError("GSP_CULL_EVERY=0: give the seconds between culling rounds")
    service = {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={timeout}",
            f"--cull-every={every}",
        ],
    }
    _append(c.JupyterHub, "services", [service])
    _append(
        c.JupyterHub,
        "load_roles",
        [
            {
                "name": "idle-culler",
                "description": "Stop user servers idle for longer than GSP_CULL_IDLE_TIMEOUT",
                "scopes": CULLER_SCOPES,
                "services": ["idle-culler"],
            }
        ],
    )
    return service


def configure_kernel_culling(c, environ: Mapping[str, str] | None = None) -> None:
    """Kernel culling of a single-user server (called by :mod:`hub.singleuser_config`).

    A Voilà page that is closed leaves its kernel running; the kernel manager shuts
    down kernels idle for ``GSP_KERNEL_CULL_IDLE_TIMEOUT`` seconds.
    """
    timeout = env_seconds(environ, "GSP_KERNEL_CULL_IDLE_TIMEOUT", 1800)
    c.MappingKernelManager.cull_idle_timeout = timeout
    c.MappingKernelManager.cull_interval = env_seconds(environ, "GSP_KERNEL_CULL_INTERVAL", 120)
    c.MappingKernelManager.cull_connected = env_flag(environ, "GSP_KERNEL_CULL_CONNECTED")
    c.MappingKernelManager.cull_busy = False


def configure_voila(c, environ: Mapping[str, str] | None = None) -> None:
    """Voilà in a user server: tracebacks hidden unless ``GSP_VOILA_SHOW_TRACEBACKS=1``.

    Nothing here points Voilà at a CDN; the page's assets are the template's business
    (``voila_apps``).
    """
    c.VoilaConfiguration.show_tracebacks = env_flag(environ, "GSP_VOILA_SHOW_TRACEBACKS")


def app_notebooks() -> list[Path]:
    """The Voilà app notebooks shipped in the :mod:`voila_apps` package."""
    root = resources.files("voila_apps")
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".ipynb"))


def install_app_notebooks(root_dir: str | Path, notebooks: Iterable[Path] | None = None) -> list:
    """Copy the app notebooks into ``root_dir``, read-only, replacing outdated copies.

    Returns the paths written (unchanged copies are left alone).
    """
    root_dir = Path(root_dir)
    root_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for source in app_notebooks() if notebooks is None else notebooks:
        target = root_dir / source.name
        content = source.read_bytes()
        if target.is_symlink():
            target.unlink()
        elif target.exists():
            if target.read_bytes() == content:
                continue
            target.chmod(target.stat().st_mode | stat.S_IWUSR)
        tmp = target.with_name(f".{target.name}.partial")
        tmp.write_bytes(content)
        tmp.chmod(0o444)
        os.replace(tmp, target)
        written.append(target)
    return written


# --- public URL, TLS, production switches ---------------------------------------------------------


def configure_public_url_and_tls(c, environ: Mapping[str, str] | None = None) -> None:
    """``GSP_PUBLIC_URL`` → ``public_url``; ``GSP_SSL_CERT``/``GSP_SSL_KEY`` → TLS on the proxy."""
    env = _env(environ)
    public = env.get("GSP_PUBLIC_URL", "").strip()
    if public:
        if not public.startswith(("http://", "https://")):
            raise PlatformConfigError(
                f"GSP_PUBLIC_URL={public!r}: give a full URL such as https://gsp.example.org/"
            )
        c.JupyterHub.public_url = public if public.endswith("/") else public + "/"
    cert = env.get("GSP_SSL_CERT", "").strip()
    key = env.get("GSP_SSL_KEY", "").strip()
    if not cert and not key:
        return
    if not (cert and key):
        missing = "GSP_SSL_KEY" if cert else "GSP_SSL_CERT"
        raise PlatformConfigError(
            f"TLS needs both GSP_SSL_CERT and GSP_SSL_KEY; {missing} is unset"
        )
    for name, path in (("GSP_SSL_CERT", cert), ("GSP_SSL_KEY", key)):
        if not Path(path).is_file():
            raise PlatformConfigError(f"{name}={path!r}: no such file")
    c.JupyterHub.ssl_cert = str(Path(cert).resolve())
    c.JupyterHub.ssl_key = str(Path(key).resolve())
    if "bind_url" in c.JupyterHub and c.JupyterHub.bind_url.startswith("http://"):
        c.JupyterHub.bind_url = "https://" + c.JupyterHub.bind_url[len("http://") :]


def configure_switches(c, environ: Mapping[str, str] | None = None) -> None:
    """Production switches: the hub's database and the Dask scheduler of the gsp service.

    ``GSP_HUB_DB_URL`` moves the hub's own tables (users, tokens, servers) out of SQLite;
    ``GSP_DASK_SCHEDULER`` (and any ``DASK_*`` setting) is passed to the gsp service,
    whose job engine then sends work to that scheduler instead of a LocalCluster.
    """
    env = _env(environ)
    hub_db = env.get("GSP_HUB_DB_URL", "").strip()
    if hub_db:
        c.JupyterHub.db_url = hub_db
    scheduler = env.get("GSP_DASK_SCHEDULER", "").strip()
    if scheduler and "://" not in scheduler:
        raise PlatformConfigError(
            f"GSP_DASK_SCHEDULER={scheduler!r}: give the scheduler's address with its "
            "protocol, e.g. tcp://dask-scheduler:8786"
        )
    service = _service(c, "gsp")
    if service is None:
        return
    passed = {k: v for k, v in env.items() if k == "GSP_DASK_SCHEDULER" or k.startswith("DASK_")}
    if passed:
        service["environment"] = {**service.get("environment", {}), **passed}


def prepare_data_root(data_root: str | Path) -> Path:
    """Create the data root's folders (raw/, products/, homes/, outbox/, logs/)."""
    root = Path(data_root).resolve()
    for name in ("raw", "products", "homes", "outbox", "logs"):
        (root / name).mkdir(parents=True, exist_ok=True)
    return root
