"""The platform side of ``jupyterhub_config.py``: spawner, culling, public URL and TLS, switches.

``jupyterhub_config.py`` calls one function per concern, each reading its switches
through :mod:`gsp_extension.environment` (``environ``, by default :data:`os.environ`),
so that one config file serves the demo, the tests and a deployment:

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
``GSP_KERNEL_TEMPLATE``             ``0``: Voilà pages' kernels start as new processes
                                    instead of forks of the server's pre-imported
                                    template (default ``1``; ``hub/kernel_template.py``)
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
``GSP_ALLOW_ROOT``                  ``1`` passes ``--allow-root`` to user servers
                                    (root-only machines; default off)
==================================  ===================================================

Also used elsewhere: ``GSP_DATA_ROOT``, ``GSP_DATABASE_URL`` (the app database,
PostgreSQL or SQLite), ``GSP_HUB_BIND_URL`` and the ports (:mod:`hub.deployment`),
``GSP_SMTP_*`` (:class:`gsp_extension.accounts.mail.Mailer`), ``GSP_ADMIN_*``
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

from gsp_extension import environment

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

#: Seconds a login waits for the server it starts (local spawners; JupyterHub's
#: ``slow_spawn_timeout`` default).
SPAWN_WAIT_AT_LOGIN = 10.0

#: Scopes jupyterhub-idle-culler needs to find idle servers and stop them.
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]

#: Environment variables passed from the hub to every user server when set.
USER_SERVER_SWITCHES = (
    "GSP_KERNEL_CULL_IDLE_TIMEOUT",
    "GSP_KERNEL_CULL_INTERVAL",
    "GSP_KERNEL_CULL_CONNECTED",
    "GSP_VOILA_SHOW_TRACEBACKS",
    "GSP_PAGE_KERNEL_TIMEOUT",
    "GSP_KERNEL_TEMPLATE",
)


#: A switch of the environment has a value that cannot work; the message says why
#: (the one error of :mod:`gsp_extension.environment`, which reads every switch).
PlatformConfigError = environment.EnvironmentValueError


def _env(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if environ is None else environ


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
    choice = environment.text("GSP_SPAWNER", "simple", environ).lower()
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
    explicit = environment.text("GSP_USER_API_URL", environ=environ)
    if explicit:
        url = explicit
    elif spawner == "kube":
        public = environment.public_url(environ)
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
    server_env = dict(c.Spawner.environment) if "environment" in c.Spawner else {}
    server_env.update({"GSP_API_URL": api, "GSP_SERVICE_URL": api})
    server_env.update({k: env[k] for k in USER_SERVER_SWITCHES if env.get(k, "").strip()})
    c.Spawner.environment = server_env

    if kind != "kube":
        # Local servers start in about a second (hub/forkserver.py): the login starts the
        # server and waits for it (hub/login.py), as long as the hub's own slow-spawn
        # timeout, instead of sending the browser through /hub/spawn and the progress
        # page. A pod may take minutes: there the progress page says what is going on.
        c.ProposalAuthenticator.spawn_wait_at_login = SPAWN_WAIT_AT_LOGIN
    if kind == "kube":
        # The image brings its own jupyterhub-singleuser and its config (deploy/README.md);
        # no local path or root flag of this machine means anything in a pod.
        c.Spawner.args = []
        return dotted
    # The single-user config of this checkout; the python of this venv (systemd-run
    # wants an absolute path).
    # jupyterhub-singleuser through hub/singleuser.py: the command the forkserver takes
    # over (hub.spawners.FORKABLE_CMD).
    c.Spawner.cmd = [sys.executable, "-m", "hub.singleuser"]
    args = [f"--config={SINGLEUSER_CONFIG}"]
    if kind == "simple" and environment.flag("GSP_ALLOW_ROOT", False, env):
        # Root-only machines (CI containers) ask for it: the server refuses root otherwise.
        args.append("--allow-root")
    c.Spawner.args = args
    if kind == "simple":
        c.SimpleLocalProcessSpawner.home_dir_template = str(
            Path(data_root).resolve() / "homes" / "{username}"
        )
        if environment.flag("GSP_SPAWN_FORKSERVER", True, env):
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
    timeout = environment.seconds("GSP_CULL_IDLE_TIMEOUT", 3600, env)
    if timeout == 0:
        return None
    every = environment.seconds("GSP_CULL_EVERY", min(300, max(timeout // 2, 1)), env)
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
    timeout = environment.seconds("GSP_KERNEL_CULL_IDLE_TIMEOUT", 1800, environ)
    c.MappingKernelManager.cull_idle_timeout = timeout
    c.MappingKernelManager.cull_interval = environment.seconds(
        "GSP_KERNEL_CULL_INTERVAL", 120, environ
    )
    c.MappingKernelManager.cull_connected = environment.flag(
        "GSP_KERNEL_CULL_CONNECTED", False, environ
    )
    c.MappingKernelManager.cull_busy = False


def configure_lab_user_dirs(c) -> None:
    """JupyterLab's user settings and workspaces in the user's own Jupyter config dir.

    ``LabApp`` computes the defaults of ``user_settings_dir`` and ``workspaces_dir`` when
    ``jupyterlab.labapp`` is imported, and :mod:`hub.forkserver` imports it before it
    forks: every forked server then had the forkserver's folders, one for all users
    (one user's Lab settings and workspaces, with the names of the files they had open,
    were every user's, and the theme written for each user, :mod:`voila_apps.lab_theme`,
    was never read). Computed again here, in the user's server, from its environment.
    """
    from jupyterlab.commands import get_user_settings_dir, get_workspaces_dir

    c.LabApp.user_settings_dir = get_user_settings_dir()
    c.LabApp.workspaces_dir = get_workspaces_dir()


def configure_voila(c, environ: Mapping[str, str] | None = None) -> None:
    """Voilà in a user server: tracebacks hidden unless ``GSP_VOILA_SHOW_TRACEBACKS=1``.

    Nothing here points Voilà at a CDN; the page's assets are the template's business
    (``voila_apps``).
    """
    c.VoilaConfiguration.show_tracebacks = environment.flag(
        "GSP_VOILA_SHOW_TRACEBACKS", False, environ
    )


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
    public = environment.public_url(environ)
    if public:
        c.JupyterHub.public_url = public if public.endswith("/") else public + "/"
    cert = environment.text("GSP_SSL_CERT", environ=environ)
    key = environment.text("GSP_SSL_KEY", environ=environ)
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
        # The service addresses its mailed links with the hub's bind URL: the same one.
        service = _service(c, "gsp")
        if service is not None and "GSP_HUB_BIND_URL" in service.get("environment", {}):
            service["environment"]["GSP_HUB_BIND_URL"] = c.JupyterHub.bind_url


def configure_switches(c, environ: Mapping[str, str] | None = None) -> None:
    """Production switches: the hub's database and the Dask scheduler of the gsp service.

    ``GSP_HUB_DB_URL`` moves the hub's own tables (users, tokens, servers) out of SQLite;
    ``GSP_DASK_SCHEDULER`` (and any ``DASK_*`` setting) is passed to the gsp service,
    whose job engine then sends work to that scheduler instead of a LocalCluster.
    """
    env = _env(environ)
    hub_db = environment.text("GSP_HUB_DB_URL", environ=env)
    if hub_db:
        c.JupyterHub.db_url = hub_db
    scheduler = environment.text("GSP_DASK_SCHEDULER", environ=env)
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
