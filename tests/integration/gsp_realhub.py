"""A real JupyterHub, started from the project's ``jupyterhub_config.py``, for tests.

The hub runs as a subprocess in its own session (process group) on free ports with a
temporary data root; teardown kills the hub and every process it started. Test users get
hub API tokens through a test-only service with a fixed token and an admin role, added
by an overlay config; the project's config is loaded unchanged underneath it.
(Imported by name: tests/ is not a package.)
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import requests

REPO = Path(__file__).resolve().parents[2]

OVERLAY = """\
c = get_config()  # noqa: F821
load_subconfig({project!r})  # noqa: F821
c.JupyterHub.services = list(c.JupyterHub.services) + [
    {{"name": "gsp-test-admin", "api_token": {token!r}}},
]
c.JupyterHub.load_roles = list(c.JupyterHub.load_roles) + [
    {{
        "name": "gsp-test-admin",
        "scopes": ["admin:users", "admin:groups", "tokens", "list:users", "read:users"],
        "services": ["gsp-test-admin"],
    }},
]
c.JupyterHub.log_level = {log_level!r}
{extra_config}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RealHub:
    """A running hub; ``url`` is the proxy's public address."""

    url: str
    data_root: Path
    database_url: str
    admin_token: str
    process: subprocess.Popen
    log_path: Path
    service_port: int = 0
    instrument_token: str = ""
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def api(self) -> str:
        """The gsp API base (``.../services/gsp/api/``)."""
        return f"{self.url}/services/gsp/api/"

    def hub_api(self, method: str, path: str, **kwargs) -> requests.Response:
        """Call the hub's REST API as the test admin service."""
        headers = {"Authorization": f"token {self.admin_token}"}
        return requests.request(
            method, f"{self.url}/hub/api{path}", headers=headers, timeout=30, **kwargs
        )

    def token_for(self, username: str) -> str:
        """An API token of hub user ``username`` (created in the hub when missing)."""
        if username not in self.tokens:
            r = self.hub_api("POST", f"/users/{quote(username)}")
            assert r.status_code in (201, 409), r.text
            r = self.hub_api("POST", f"/users/{quote(username)}/tokens", json={"note": "gsp tests"})
            assert r.status_code == 201, r.text
            self.tokens[username] = r.json()["token"]
        return self.tokens[username]

    def log_tail(self, n: int = 80) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


class PortTaken(RuntimeError):
    """The hub could not bind a port ``free_port`` had found free."""


def start_hub(
    data_root: Path,
    database_url: str | None = None,
    timeout: float = 90,
    log_level: str = "INFO",
    live: bool = False,
    public_url: bool = True,
    extra_config: str = "",
) -> RealHub:
    """Start the hub and wait until the gsp service answers through the proxy.

    ``live=False`` (the default here) keeps the service from running ingest and the job
    engine, so that queued jobs stay queued while the API tests look at them.
    ``public_url=False`` leaves ``GSP_PUBLIC_URL`` unset: mailed links take the bind URL.
    ``extra_config``: lines of hub config (``c`` is the config object) run after the
    project's config and the test overlay, e.g. a spawner setting that makes a test
    user's server slow to start or fail (tests/integration/test_login_spawn.py).

    A port found free can be taken by another process before the hub binds it (other
    test runs on the machine probe ports the same way): only that failure, recognised in
    the hub's log, is retried with new ports, twice at most. Any other exit raises.
    """
    for attempt in range(3):
        try:
            return _start_hub_once(
                data_root, database_url, timeout, log_level, live, public_url, extra_config
            )
        except PortTaken:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _errors(log_path: Path) -> str:
    """The hub log's error and critical lines (the tail alone may hide the first cause)."""
    try:
        lines = log_path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    marked = [ln for ln in lines if ln.startswith(("[E ", "[C ")) or "Error" in ln[:120]]
    return "\n".join(marked[:20])


def _start_hub_once(
    data_root: Path,
    database_url: str | None,
    timeout: float,
    log_level: str,
    live: bool,
    public_url: bool,
    extra_config: str = "",
) -> RealHub:
    data_root.mkdir(parents=True, exist_ok=True)
    ports = {name: free_port() for name in ("bind", "hub", "proxy", "service")}
    url = f"http://127.0.0.1:{ports['bind']}"
    token = secrets.token_hex(24)
    overlay = data_root / "test_jupyterhub_config.py"
    overlay.write_text(
        OVERLAY.format(
            project=str(REPO / "jupyterhub_config.py"),
            token=token,
            log_level=log_level,
            extra_config=extra_config,
        )
    )
    database_url = database_url or f"sqlite:///{data_root / 'gsp.sqlite'}"
    env = {
        **os.environ,
        "GSP_HUB_BIND_URL": url,
        "GSP_HUB_API_PORT": str(ports["hub"]),
        "GSP_PROXY_API_PORT": str(ports["proxy"]),
        "GSP_SERVICE_PORT": str(ports["service"]),
        "GSP_DATA_ROOT": str(data_root),
        "GSP_DATABASE_URL": database_url,
        "GSP_PUBLIC_URL": url + "/",
        "CONFIGPROXY_AUTH_TOKEN": secrets.token_hex(16),
        "GSP_INSTRUMENT_TOKEN": secrets.token_hex(24),
        "GSP_LIVE": "1" if live else "0",
    }
    if os.geteuid() == 0:
        # CI containers run as root: the deployer's switch, set explicitly (deploy/README).
        env["GSP_ALLOW_ROOT"] = "1"
    env.pop("GSP_SMTP_HOST", None)
    if not public_url:
        env.pop("GSP_PUBLIC_URL")
    log_path = data_root / "hub.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(overlay)],
        cwd=data_root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    hub = RealHub(
        url,
        data_root,
        database_url,
        token,
        process,
        log_path,
        ports["service"],
        env["GSP_INSTRUMENT_TOKEN"],
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_hub(hub)  # its proxy may have outlived it
            errors = _errors(log_path)
            if "address already in use" in errors.lower():
                raise PortTaken(errors)
            raise RuntimeError(
                f"the hub exited with {process.returncode}; its errors:\n{errors}\n"
                f"its last lines:\n{hub.log_tail()}"
            )
        try:
            r = requests.get(f"{url}/services/gsp/api/openapi.json", timeout=2)
            if r.status_code == 200:
                return hub
        except requests.RequestException:
            pass
        time.sleep(0.3)
    stop_hub(hub)
    raise RuntimeError(f"the gsp service did not answer within {timeout} s:\n{hub.log_tail()}")


def stop_hub(hub: RealHub) -> None:
    """Kill the hub and every process it started, at once.

    The hub's own stop (SIGTERM: it interrupts its services one after the other, then
    stops the proxy) took 6-7 s per hub on this machine, and 20 s and a kill when loaded;
    a test only needs nothing to outlive it. That stop is tested where it is the subject
    (tests/platform/test_platform_up.py::test_sigterm_stops_every_process).

    JupyterHub starts the proxy and its services in sessions of their own, so killing the
    hub's process group is not enough: every descendant seen before the kill is killed
    too, so no test leaves a process behind. The hub goes first: it restarts a service
    or the proxy that it sees exit. The forkserver's socket folder, which the forkserver
    removes when it stops cleanly, goes with them.
    """
    import psutil

    from hub.platform import forkserver_socket

    process = hub.process
    try:
        pgid = os.getpgid(process.pid)
        descendants = psutil.Process(process.pid).children(recursive=True)
    except (ProcessLookupError, psutil.NoSuchProcess):
        return
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(5)
    for child in descendants:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(descendants, timeout=5)
    shutil.rmtree(forkserver_socket(hub.data_root).parent, ignore_errors=True)
