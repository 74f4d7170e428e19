"""Users' server start: forked from the preloaded forkserver vs. Popen of a new Python.

    .venv/bin/python benchmarks/bench_spawn.py [--users 5] [--rounds 2]

Each round starts the project's real hub (``tests/integration/gsp_realhub.py``, its own
temporary data root) twice, one after the other: first as configured by default, where
:class:`hub.spawners.ReadySimpleLocalProcessSpawner` forks users' servers from the
``forkserver`` service (:mod:`hub.forkserver`), and once with
``GSP_SPAWN_FORKSERVER=0``, where each server is a ``Popen`` of ``python -m
hub.singleuser``. The hubs alternate (forkserver, Popen, forkserver, Popen, ...) so that
slow drift of a busy machine favours neither side.

With the forkserver hub, timing begins once the forkserver listens on its socket
(:func:`hub.platform.forkserver_socket`). Then ``--users`` users are created through the
hub's REST API (and in the app database, which the hub's authenticator checks) and
their servers started one at a time: for each, the seconds from the
``POST /hub/api/users/<name>/server`` to the hub reporting ``servers[""]["ready"]``
(``GET /hub/api/users/<name>`` every 20 ms, both with a token of the user). The servers are then stopped and the hub
too. The hub's log tells how each server started; a forkserver hub whose servers were
not all forked is reported (its figures would not measure the forkserver).

Prints per mode the median, min, max and every value (seconds), the ratio Popen median
/ forkserver median, and the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shlex
import socket
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "integration"))

from gsp_realhub import RealHub, start_hub, stop_hub  # noqa: E402

from hub.platform import forkserver_socket  # noqa: E402

FORKSERVER, POPEN = "forkserver", "popen"
POLL = 0.02
SPAWN_TIMEOUT = 120.0
FORKED_LOG = "server forked by the forkserver"
FALLBACK_LOG = "server starts as a new process"


@contextmanager
def spawn_switch(mode: str):
    """``GSP_SPAWN_FORKSERVER`` for the hub started inside (``start_hub`` copies
    ``os.environ``): unset for the forkserver (the default), ``0`` for Popen."""
    name = "GSP_SPAWN_FORKSERVER"
    saved = os.environ.get(name)
    if mode == POPEN:
        os.environ[name] = "0"
    else:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved


def wait_forkserver(hub: RealHub, timeout: float) -> float:
    """Wait until the hub's forkserver accepts connections on its socket; seconds waited.

    The socket file appears at ``bind()``, just before ``listen()``: a connection is
    tried too (the forkserver answers an empty request with an error and forks nothing).
    """
    path = forkserver_socket(hub.data_root)
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if hub.process.poll() is not None:
            raise RuntimeError(f"the hub exited with {hub.process.returncode}:\n{hub.log_tail()}")
        if path.is_socket():
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                try:
                    probe.connect(str(path))
                except OSError:
                    pass
                else:
                    return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(
        f"the forkserver's socket {path} did not accept connections within {timeout:.0f} s "
        f"of the hub's start (is the 'forkserver' service running? see the hub's log):\n"
        f"{hub.log_tail()}"
    )


def user_request(hub: RealHub, token: str, method: str, path: str) -> requests.Response:
    return requests.request(
        method,
        f"{hub.url}/hub/api{path}",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )


def spawn_seconds(hub: RealHub, name: str, token: str) -> float:
    """Seconds from the POST that starts ``name``'s server to the hub saying it is ready."""
    user = f"/users/{quote(name)}"
    t0 = time.perf_counter()
    r = user_request(hub, token, "POST", f"{user}/server")
    if r.status_code not in (201, 202):
        raise RuntimeError(f"starting {name}'s server: {r.status_code} {r.text}")
    deadline = time.monotonic() + SPAWN_TIMEOUT
    while time.monotonic() < deadline:
        r = user_request(hub, token, "GET", user)
        r.raise_for_status()
        model = r.json()
        server = model["servers"].get("")  # the token's read:servers shows them
        if server and server.get("ready"):
            return time.perf_counter() - t0
        if not server and not model.get("pending"):
            raise RuntimeError(f"{name}'s server stopped while starting:\n{hub.log_tail()}")
        time.sleep(POLL)
    raise RuntimeError(f"{name}'s server not ready after {SPAWN_TIMEOUT:.0f} s:\n{hub.log_tail()}")


def stop_servers(hub: RealHub, tokens: dict[str, str], timeout: float = 60) -> None:
    """DELETE every user's server and wait until the hub has none left."""
    for name, token in tokens.items():
        r = user_request(hub, token, "DELETE", f"/users/{quote(name)}/server")
        if r.status_code not in (202, 204, 400, 404):
            print(f"  stopping {name}'s server: {r.status_code} {r.text}", file=sys.stderr)
    deadline = time.monotonic() + timeout
    pending = set(tokens)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            model = user_request(hub, tokens[name], "GET", f"/users/{quote(name)}").json()
            if not model.get("servers") and not model.get("pending"):
                pending.discard(name)
        time.sleep(0.1)
    if pending:
        print(f"  servers still stopping after {timeout:.0f} s: {sorted(pending)}", file=sys.stderr)


def create_accounts(hub: RealHub, names: list[str]) -> None:
    """Active accounts in the app database: the hub's authenticator refuses (403) the
    tokens of a hub user without one (``refresh_user``)."""
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import create_user

    db = Database(hub.database_url)
    try:
        with db.transaction() as session:
            for name in names:
                create_user(session, name, email=f"{name}@example.org", first_name=name.title())
    finally:
        db.dispose()


def user_token(hub: RealHub, name: str) -> str:
    """Create hub user ``name`` and a token of theirs that may start and stop their server.

    The test admin service of ``gsp_realhub`` holds ``admin:users`` and ``tokens`` but
    neither ``servers`` nor ``read:servers``: the servers are started and watched with
    the user's own token, as a user would (``servers`` includes ``read:servers``).
    """
    r = hub.hub_api("POST", f"/users/{quote(name)}")
    if r.status_code not in (201, 409):
        raise RuntimeError(f"creating user {name}: {r.status_code} {r.text}")
    r = hub.hub_api(
        "POST",
        f"/users/{quote(name)}/tokens",
        json={"note": "bench_spawn", "scopes": [f"servers!user={name}"]},
    )
    if r.status_code != 201:
        raise RuntimeError(f"token of {name}: {r.status_code} {r.text}")
    return r.json()["token"]


def run_mode(mode: str, users: int, round_no: int, work: Path) -> list[float]:
    """Start a hub in ``mode``, time ``users`` server starts, stop it all; the seconds."""
    data_root = work / f"{mode}-{round_no}"
    with spawn_switch(mode):
        hub = start_hub(data_root)
    sock = forkserver_socket(data_root)
    try:
        if mode == FORKSERVER:
            waited = wait_forkserver(hub, timeout=60)
            print(f"  forkserver listening {waited:.2f} s after the gsp service answered")
        tokens = {f"bench{round_no}{mode[0]}{i}": "" for i in range(users)}
        create_accounts(hub, list(tokens))
        for name in tokens:
            tokens[name] = user_token(hub, name)
        seconds = []
        try:
            for name, token in tokens.items():
                seconds.append(spawn_seconds(hub, name, token))
        finally:
            stop_servers(hub, tokens)
        log = hub.log_path.read_text(errors="replace")
        forked, fallback = log.count(FORKED_LOG), log.count(FALLBACK_LOG)
        if mode == FORKSERVER and (forked != users or fallback):
            print(
                f"  WARNING: {forked} of {users} servers forked by the forkserver, "
                f"{fallback} started by Popen instead (see {hub.log_path})"
            )
        if mode == POPEN and forked:
            print(f"  WARNING: {forked} servers forked although GSP_SPAWN_FORKSERVER=0")
        print(
            f"  round {round_no} {mode:10s}: "
            + " ".join(f"{s:.2f}" for s in seconds)
            + f"  (forked {forked}, Popen {users - forked})"
        )
        return seconds
    finally:
        stop_hub(hub)
        try:
            sock.parent.rmdir()  # the forkserver removes its socket, not the folder
        except OSError:
            pass


def summary(values: list[float]) -> str:
    return (
        f"median {statistics.median(values):.3f} s, min {min(values):.3f}, "
        f"max {max(values):.3f}  [" + ", ".join(f"{v:.3f}" for v in values) + "]"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5, help="servers started per hub")
    parser.add_argument("--rounds", type=int, default=2, help="hubs per mode, alternating")
    args = parser.parse_args()
    if args.users < 1 or args.rounds < 1:
        parser.error("--users and --rounds must be at least 1")

    print("$ " + shlex.join([sys.executable, *sys.argv]))
    load_before = os.getloadavg()[0]
    print(f"load average (1 min) before: {load_before:.2f}  ({os.cpu_count()} CPUs)")
    results: dict[str, list[float]] = {FORKSERVER: [], POPEN: []}
    with tempfile.TemporaryDirectory(prefix="gsp-bench-spawn-") as tmp:
        for round_no in range(args.rounds):
            for mode in (FORKSERVER, POPEN):
                print(f"round {round_no + 1}/{args.rounds}: {mode} hub ...", flush=True)
                results[mode] += run_mode(mode, args.users, round_no + 1, Path(tmp))
    load_after = os.getloadavg()[0]

    print()
    print(f"spawn seconds (POST .../server -> ready), {args.users} users x {args.rounds} rounds:")
    print(f"  forkserver: {summary(results[FORKSERVER])}")
    print(f"  Popen:      {summary(results[POPEN])}")
    ratio = statistics.median(results[POPEN]) / statistics.median(results[FORKSERVER])
    print(f"ratio Popen median / forkserver median: {ratio:.2f}")
    print(f"load average (1 min): before {load_before:.2f}, after {load_after:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
