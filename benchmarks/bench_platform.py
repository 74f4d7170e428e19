"""Time `gsp up --demo`: hub start, gsp service up, user server spawn, Voilà render, stop.

Usage: ``.venv/bin/python benchmarks/bench_platform.py [--runs N]``. Each run starts the
platform on free ports with a temporary data root, logs the demo PI in, spawns their
server, renders the data browser when ``voila_apps/data_browser.ipynb`` exists, then
stops everything with SIGTERM. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[1]
XSRF = re.compile(r'name="_xsrf" value="([^"]+)"')
CREDENTIAL = re.compile(r"^\s+(demo-pi)\s+(\S+)\s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what}: not within {timeout} s")


def one_run(root: Path) -> dict[str, float]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSP_", "JUPYTERHUB_"))}
    env.update(
        GSP_HUB_API_PORT=str(free_port()),
        GSP_PROXY_API_PORT=str(free_port()),
        GSP_SERVICE_PORT=str(free_port()),
        GSP_DEMO_INTERVAL="30",
    )
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gsp"),
            "up",
            "--demo",
            "--data-root",
            str(root),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    figures = {}
    try:
        wait(lambda: any("GSP Live is running" in x for x in lines), 180, "hub start")
        figures["gsp up to hub answering (s)"] = time.monotonic() - t0
        started = next(
            re.search(r"hub answered after ([0-9.]+) s", x) for x in lines if "hub answered" in x
        )
        figures["  of which the hub process (s)"] = float(started[1])
        wait(
            lambda: requests.get(f"{url}services/gsp/api/", timeout=5).status_code == 401,
            60,
            "gsp service",
        )
        figures["gsp service answers (s)"] = time.monotonic() - t0
        password = next(m[2] for m in map(CREDENTIAL.match, lines) if m)
        s = requests.Session()
        page = s.get(f"{url}hub/login", timeout=30)
        t1 = time.monotonic()
        s.post(
            f"{url}hub/login",
            timeout=30,
            allow_redirects=False,
            data={"username": "demo-pi", "password": password, "_xsrf": XSRF.search(page.text)[1]},
        )
        figures["login (s)"] = time.monotonic() - t1
        t1 = time.monotonic()
        s.post(
            f"{url}hub/api/users/demo-pi/server",
            timeout=30,
            headers={"X-XSRFToken": s.cookies.get("_xsrf", path="/hub/")},
        )
        wait(
            lambda: (
                s.get(f"{url}hub/api/user", timeout=30).json()["servers"].get("", {}).get("ready")
            ),
            120,
            "spawn",
        )
        figures["user server spawn (s)"] = time.monotonic() - t1
        if (REPO / "voila_apps" / "data_browser.ipynb").exists():
            t1 = time.monotonic()
            r = s.get(f"{url}user/demo-pi/voila/render/data_browser.ipynb", timeout=120)
            figures[f"Voilà render, HTTP {r.status_code} (s)"] = time.monotonic() - t1
    finally:
        t1 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(90)
        figures["stop after SIGTERM (s)"] = time.monotonic() - t1
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    runs = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(one_run(Path(tmp) / "data"))
    print(f"gsp up --demo, {args.runs} run(s), load average {os.getloadavg()[0]:.1f}:")
    for key in runs[0]:
        values = [r[key] for r in runs if key in r]
        print(
            f"  {key:<32} median {statistics.median(values):6.1f}   all "
            + " ".join(f"{v:.1f}" for v in values)
        )


if __name__ == "__main__":
    main()
