"""Users' servers start sooner: start() returns once the server answers; no Lark grammars.

The real hub path (login, spawn, data browser) runs in tests/browser and
benchmarks/bench_ui.py; here the two parts on their own, with real processes.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time
import types

import requests
from traitlets import Any, Float, HasTraits

from hub.spawners import ReadySimpleLocalProcessSpawner, ReadyWhenUp

# A server that listens only after a delay, as jupyter_server does after its imports.
LATE_SERVER = """
import http.server, sys, time
time.sleep(float(sys.argv[2]))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path == "/user/ana/api" else 404
        self.send_response(code); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ProcessBase(HasTraits):
    """What ReadyWhenUp needs of a spawner: start() -> (ip, port), poll(), server, user."""

    http_timeout = Float(30)
    internal_ssl = False
    proc = Any()

    def __init__(self, code: str, delay: float) -> None:
        super().__init__()
        self.code, self.delay, self.port = code, delay, free_port()
        self.server = types.SimpleNamespace(base_url="/user/ana/")
        self.user = types.SimpleNamespace(name="ana")
        self.log = logging.getLogger("test")

    async def start(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.code, str(self.port), str(self.delay)]
        )
        return ("127.0.0.1", self.port)

    async def poll(self):
        return self.proc.poll()


class Quick(ReadyWhenUp, ProcessBase):
    pass


def test_start_returns_once_the_server_answers():
    spawner = Quick(LATE_SERVER, delay=1.0)
    try:
        ip, port = asyncio.run(spawner.start())
        # No retry here: the hub's first try right after start() must succeed.
        r = requests.get(f"http://{ip}:{port}/user/ana/api", timeout=5)
        assert r.status_code == 200
    finally:
        spawner.proc.kill()
        spawner.proc.wait()


def test_start_returns_when_the_server_dies():
    spawner = Quick("import sys; sys.exit(3)", delay=0)
    spawner.http_timeout = 60
    t = time.monotonic()
    asyncio.run(spawner.start())
    # Left to the hub, which reports the exit status; not held for http_timeout.
    assert time.monotonic() - t < 30
    assert spawner.proc.poll() == 3


def test_polling_can_be_turned_off():
    spawner = Quick(LATE_SERVER, delay=2.0)
    spawner.ready_poll_interval = 0
    try:
        ip, port = asyncio.run(spawner.start())
        # Returned at once: nothing listens yet.
        with socket.socket() as s:
            assert s.connect_ex((ip, port)) != 0
    finally:
        spawner.proc.kill()
        spawner.proc.wait()


def test_the_hub_spawner_is_a_simple_local_process_spawner():
    from jupyterhub.spawner import SimpleLocalProcessSpawner

    assert issubclass(ReadySimpleLocalProcessSpawner, SimpleLocalProcessSpawner)
    assert ReadySimpleLocalProcessSpawner().ready_poll_interval == 0.05


def test_singleuser_launcher_runs_jupyterhub_singleuser():
    out = subprocess.run(
        [sys.executable, "-m", "hub.singleuser", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    import jupyterhub

    assert out.stdout.strip() == jupyterhub.__version__
