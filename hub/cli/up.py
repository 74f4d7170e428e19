"""``gsp up [--demo]``: the whole platform in one command, on embedded defaults.

Prepares the data root, migrates the app database, creates the first superuser when
asked, then runs ``jupyterhub -f <repo>/jupyterhub_config.py`` as a child process (the
hub starts the proxy, the gsp service and the idle culler). Ctrl-C or SIGTERM is passed
to the hub as SIGTERM, so that it stops the proxy, services and user servers itself;
anything the hub left behind is then stopped too. ``--demo`` adds demo accounts (their
passwords printed once) and streams a simulated night into ``raw/``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import psutil

HELP = "start the whole platform (hub, proxy, gsp service); --demo: demo users and a live night"

#: The repository holding jupyterhub_config.py and node_modules (an editable install).
REPO = Path(__file__).resolve().parents[2]

#: Internal ports of jupyterhub_config.py: environment variable, default.
INTERNAL_PORTS = {"GSP_HUB_API_PORT": 8081, "GSP_PROXY_API_PORT": 8001, "GSP_SERVICE_PORT": 10101}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--demo",
        action="store_true",
        help="create demo proposals and accounts (passwords shown once) and stream a "
        "simulated night into raw/",
    )
    parser.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="data root: raw/, products/, homes/, outbox/, logs/, databases "
        "(default: $GSP_DATA_ROOT or ./gsp-data)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="public port on 127.0.0.1 (default: from $GSP_HUB_BIND_URL, else 8000)",
    )
    parser.add_argument(
        "--admin",
        metavar="USERNAME",
        help="create this first superuser if there is none; its password is "
        "$GSP_ADMIN_PASSWORD or a random one shown once",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=REPO / "jupyterhub_config.py",
        help="hub configuration (default: the repository's jupyterhub_config.py)",
    )
    parser.add_argument(
        "--demo-interval",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds between demo frames (default: $GSP_DEMO_INTERVAL, else 5)",
    )
    parser.add_argument(
        "--start-timeout",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="how long to wait for the hub to answer (default 120)",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show the hub's log here instead of only in <data root>/logs/jupyterhub.log",
    )


def _error(message: str) -> int:
    print(f"gsp up: error: {message}", file=sys.stderr)
    return 2


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _ports_problem(env: dict[str, str], bind_url: str) -> str | None:
    """A message naming the first port that is taken, or ``None``."""
    public = urlparse(bind_url).port or (443 if bind_url.startswith("https") else 80)
    checks = [("--port / GSP_HUB_BIND_URL", public)]
    for name, default in INTERNAL_PORTS.items():
        try:
            checks.append((name, int(env.get(name) or default)))
        except ValueError:
            return f"{name}={env[name]!r} is not a port number"
    for name, port in checks:
        if _port_in_use(port):
            return (
                f"port {port} ({name}) is already in use on 127.0.0.1; is another hub "
                f"running? Stop it, or choose another port with {name}"
            )
    return None


def _local_url(bind_url: str) -> str:
    """The bind URL with an all-interfaces host replaced by 127.0.0.1 (to poll it)."""
    parts = urlparse(bind_url)
    host = parts.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    netloc = f"{host}:{parts.port}" if parts.port else host
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return f"{parts.scheme}://{netloc}{path}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _answers(url: str) -> bool:
    """True when the hub's own API answers at ``url`` (``/hub/api/``).

    Redirects are not followed: until the hub has added its route, the proxy sends
    every request to the hub's error page, which answers 200.
    """
    # Our own hub: a self-signed certificate is expected with GSP_SSL_CERT.
    context = ssl._create_unverified_context() if url.startswith("https") else None
    opener = urllib.request.build_opener(
        _NoRedirect(), urllib.request.HTTPSHandler(context=context)
    )
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200 and b'"version"' in response.read(4096)
    except (urllib.error.URLError, OSError, ValueError):
        return False


# --- the processes the hub starts -------------------------------------------------------------


class ProcessTree:
    """The hub and every process it started, remembered while they run.

    The hub starts the proxy, services and user servers in sessions of their own, so a
    process group does not hold them; each is remembered as a :class:`psutil.Process`
    (which knows its start time) so that only those very processes are ever signalled,
    never a newcomer that reused a pid, even once they are orphaned.
    """

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.seen: dict[int, psutil.Process] = {}

    def refresh(self) -> None:
        """Remember the root's descendants that run now."""
        try:
            descendants = psutil.Process(self.root_pid).children(recursive=True)
        except psutil.Error:  # the root is gone: what it started is remembered already
            return
        for process in descendants:
            known = self.seen.get(process.pid)
            if known is None or not known.is_running():
                self.seen[process.pid] = process

    def alive(self) -> list[int]:
        """Remembered descendants that still run (zombies waiting to be reaped do not)."""
        alive = []
        for pid, process in self.seen.items():
            try:
                if process.is_running() and process.status() not in _ENDED:
                    alive.append(pid)
            except psutil.Error:
                continue
        return alive

    def signal_all(self, signum: int) -> None:
        for pid in self.alive():
            with contextlib.suppress(psutil.Error):
                self.seen[pid].send_signal(signum)


#: Process states of one that has exited (nothing left to stop).
_ENDED = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the hub gets SIGTERM if `gsp up` itself dies (e.g. SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


# --- the command --------------------------------------------------------------------------------


def _bootstrap_admin(username: str, database_url: str) -> str | None:
    """Create the first superuser; returns a generated password when one was made."""
    from ..config_helpers import bootstrap_superuser_from_env
    from ..passwords import PasswordPolicy

    env = {k: v for k, v in os.environ.items() if k.startswith("GSP_ADMIN_")}
    env["GSP_ADMIN_USERNAME"] = username
    generated = None
    if not env.get("GSP_ADMIN_PASSWORD") and not env.get("GSP_ADMIN_EMAIL"):
        policy = PasswordPolicy()
        while True:
            generated = secrets.token_urlsafe(12)
            if not policy.problems(generated, {"username": username}):
                break
        env["GSP_ADMIN_PASSWORD"] = generated
    created = bootstrap_superuser_from_env(database_url, env)
    return generated if created else None


class _Refused(Exception):
    """A reason not to start, said to the user as is."""


def _check_config(args: argparse.Namespace) -> Path:
    config = args.config.resolve()
    if not config.is_file():
        raise _Refused(f"no hub configuration at {config}: pass --config PATH")
    chp = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
    if args.config == REPO / "jupyterhub_config.py" and not chp.exists():
        raise _Refused(f"configurable-http-proxy is missing ({chp}): run `npm ci` in {REPO}")
    return config


def _hub_environment(args: argparse.Namespace, root: Path) -> tuple[dict[str, str], str]:
    """The hub's environment and its public address, the ports checked free."""
    from gsp_extension import environment

    env = dict(os.environ)
    env["GSP_DATA_ROOT"] = str(root)
    if args.port is not None:
        if not 0 < args.port < 65536:
            raise _Refused(f"--port {args.port}: give a port between 1 and 65535")
        env["GSP_HUB_BIND_URL"] = f"http://127.0.0.1:{args.port}"
    bind_url = environment.hub_bind_url(env)
    env.setdefault("CONFIGPROXY_AUTH_TOKEN", secrets.token_hex(32))
    if os.geteuid() == 0 and "GSP_ALLOW_ROOT" not in env:
        # A root-only machine (a container): jupyter_server refuses root unless told.
        # Said aloud, and a deployer's explicit GSP_ALLOW_ROOT=0 is kept.
        print("gsp up: running as root: GSP_ALLOW_ROOT=1 (the service and servers run as root)")
        env["GSP_ALLOW_ROOT"] = "1"
    problem = _ports_problem(env, bind_url)
    if problem:
        raise _Refused(problem)
    if env.get("GSP_SSL_CERT"):
        bind_url = bind_url.replace("http://", "https://", 1)
    return env, bind_url


def _prepare_database(args: argparse.Namespace, root: Path) -> str:
    """Migrate the app database (and make the first superuser when asked); its URL."""
    from gsp_extension import environment

    from ..config_helpers import prepare_database

    # The environment module reads os.environ: this process is the command, so the
    # data root chosen here is the one every helper below uses.
    os.environ["GSP_DATA_ROOT"] = str(root)
    database_url = environment.database_url()
    try:
        prepare_database(database_url)
        if args.admin:
            password = _bootstrap_admin(args.admin, database_url)
            if password:
                print(f"superuser {args.admin!r} created; password (shown once): {password}")
    except ValueError as exc:
        raise _Refused(str(exc)) from None
    return database_url


def _demo_stream(args: argparse.Namespace, database_url: str):
    """``(night, interval)`` of the demo's stream after making its accounts, or ``None``."""
    if not args.demo:
        return None
    from ..demo import demo_interval, demo_night, ensure_demo_accounts, night_semester

    try:
        interval = args.demo_interval if args.demo_interval is not None else demo_interval()
    except ValueError as exc:
        raise _Refused(str(exc)) from None
    if interval < 0:
        raise _Refused(f"--demo-interval {interval}: give seconds >= 0")
    night = demo_night()
    # the proposal of the night's frames is the demo PI's, whatever the date
    _print_credentials(ensure_demo_accounts(database_url, semester=night_semester(night)))
    return night, interval


def run(args: argparse.Namespace) -> int:
    from gsp_extension import environment

    from ..platform import prepare_data_root

    try:
        config = _check_config(args)
        root = prepare_data_root(args.data_root or environment.data_root())
        env, bind_url = _hub_environment(args, root)
        database_url = _prepare_database(args, root)
        stream = _demo_stream(args, database_url)
    except _Refused as exc:
        return _error(str(exc))
    log_path = root / "logs" / "jupyterhub.log"
    return _run_hub(args, config, env, root, bind_url, log_path, stream)


def _print_credentials(created) -> None:
    if not created:
        print("demo accounts: already there (their passwords were shown when they were made)")
        return
    print("demo accounts (passwords are shown this once; keep them):")
    width = max(len(c.username) for c in created)
    for cred in created:
        print(f"  {cred.username:<{width}}  {cred.password}  {cred.role}")


def _run_hub(args, config, env, root, bind_url, log_path, stream) -> int:
    stopping = threading.Event()
    signals = {"count": 0}

    def on_signal(signum, frame):
        signals["count"] += 1
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    log = None if args.verbose else open(log_path, "ab")  # noqa: SIM115 - closed below
    started = time.monotonic()
    print(f"starting the hub ({config.name}); log: {log_path if log else 'here'}", flush=True)
    hub = _spawn_hub(config, env, root, log)
    tree = ProcessTree(hub.pid)
    streamer = None
    ready = False
    try:
        ready = _wait_until_ready(hub, tree, _local_url(bind_url), stopping, started, args)
        if ready:
            print(
                f"\nGSP Live is running at {bind_url.rstrip('/')}/  "
                f"(hub answered after {time.monotonic() - started:.1f} s)\n"
                f"data root: {root}\nCtrl-C stops everything.\n",
                flush=True,
            )
            if stream is not None:
                streamer = _start_streamer(root / "raw", *stream, stopping)
        _watch(hub, tree, stopping, log_path if log is not None else None)
    finally:
        stopping.set()
        code = _stop(hub, tree, signals)
        if streamer is not None:
            streamer.join(timeout=30)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if log is not None:
            log.close()
    if signals["count"]:
        print("gsp up: stopped")
        return 0
    return code or (0 if ready else 1)


def _watch(hub, tree: ProcessTree, stopping, log_path: Path | None) -> None:
    """Follow the hub's processes until a stop is asked or the hub exits by itself
    (then say so, with the end of its log)."""
    while not stopping.is_set() and hub.poll() is None:
        tree.refresh()
        stopping.wait(0.5)
    if hub.poll() is not None and not stopping.is_set():
        print(f"gsp up: the hub exited with code {hub.returncode}", file=sys.stderr)
        if log_path is not None:
            _print_tail(log_path)


def _spawn_hub(config: Path, env: dict[str, str], root: Path, log) -> subprocess.Popen:
    """``jupyterhub -f config`` in a session of its own, its output to ``log`` (or here)."""
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
        start_new_session=True,  # Ctrl-C reaches `gsp up` only; we pass it on as SIGTERM
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )


def _wait_until_ready(hub, tree, url: str, stopping, started: float, args) -> bool:
    """Whether the hub's API answered before a stop, an exit or the start timeout."""
    while not stopping.is_set() and hub.poll() is None:
        tree.refresh()
        if _answers(url + "hub/api/"):
            return True
        if time.monotonic() - started > args.start_timeout:
            print(f"gsp up: the hub did not answer within {args.start_timeout:.0f} s")
            stopping.set()
            return False
        stopping.wait(0.25)
    return False


def _stop(hub: subprocess.Popen, tree: ProcessTree, signals: dict, grace: float = 30.0) -> int:
    """SIGTERM to the hub (it stops proxy, services, servers); then clean what is left."""
    tree.refresh()
    if hub.poll() is None:
        hub.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        seen = signals["count"]
        while hub.poll() is None and time.monotonic() < deadline:
            if signals["count"] > max(seen, 1):  # a second Ctrl-C: no more waiting
                break
            time.sleep(0.1)
            tree.refresh()
        if hub.poll() is None:
            hub.kill()
        hub.wait()
    # The hub has stopped what it started; anything still running was orphaned.
    deadline = time.monotonic() + 5
    while tree.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    if tree.alive():
        tree.signal_all(signal.SIGTERM)
        time.sleep(1)
        tree.signal_all(signal.SIGKILL)
    return hub.returncode


def _start_streamer(raw_root: Path, cfg, interval: float, stopping: threading.Event):
    from ..demo import stream_demo_night

    night = raw_root / cfg.date.replace("-", "")
    print(f"demo: streaming a simulated night into {night} (a frame every {interval:g} s)")

    def report(path: Path, written: bool) -> None:
        if written:
            print(f"demo: {path.name}", flush=True)

    def work() -> None:
        try:
            n = stream_demo_night(raw_root, cfg, interval, stopping, on_frame=report)
            if not stopping.is_set():
                print(f"demo: the night is complete ({n} new frames in {night})", flush=True)
        except Exception as exc:  # a broken demo stream must not take the platform down
            print(f"demo: streaming stopped: {exc!r}", file=sys.stderr, flush=True)

    thread = threading.Thread(target=work, name="gsp-demo-stream", daemon=True)
    thread.start()
    return thread


def _print_tail(path: Path, lines: int = 15) -> None:
    """The hub's last errors (or last lines), without the proxy's stack traces."""
    try:
        log = [x for x in path.read_text(errors="replace").splitlines() if x.startswith("[")]
    except OSError:
        return
    errors = [x for x in log if x.startswith(("[E ", "[C "))]
    print(f"last hub log lines ({path}):", file=sys.stderr)
    print("\n".join((errors or log)[-lines:]), file=sys.stderr)
