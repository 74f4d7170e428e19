"""hub/forkserver.py and the spawner's use of it, with real processes and sockets.

The real hub path (login, spawn through the forkserver, data browser) runs in
tests/browser and benchmarks/bench_ui.py; tests/integration checks the hub's servers
are the forkserver's children.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from hub.spawners import FORKABLE_CMD, ForkserverStart

HERE = Path(__file__).parent


def _wait(predicate, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _start_forkserver(folder: Path, warm: str) -> types.SimpleNamespace:
    """A real forkserver whose children run tests/platform/forkserver_child.py; its
    stderr lines gather in ``lines``."""
    path = folder / "sock"
    # A secret of the hub's, as the managed service's API token is: it must not reach
    # the forked servers, not even their environment block in /proc.
    env = dict(os.environ, PYTHONPATH=str(HERE), JUPYTERHUB_API_TOKEN="the-forkservers-own")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hub.forkserver",
            f"--socket={path}",
            "--preload=json",
            f"--warm={warm}",
            "--entry=forkserver_child:main",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Its "ready" line comes once it listens (the socket file exists from bind(), a
    # moment before listen(): a connection then would be refused).
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    _wait(lambda: any("gsp forkserver: ready on" in x for x in lines), what="the forkserver")
    return types.SimpleNamespace(path=path, proc=proc, lines=lines)


@pytest.fixture
def forkserver(tmp_path):
    folder = Path("/tmp") / f"gsp-fs-test-{os.getpid()}-{tmp_path.name[-20:]}"
    server = _start_forkserver(folder, "forkserver_child:warm")
    yield server
    server.proc.terminate()
    try:
        assert server.proc.wait(10) == 0
        assert not folder.exists()  # its socket and folder gone with it
    finally:
        server.proc.kill()
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def _request(path, request: bytes) -> tuple[dict, socket.socket]:
    conn = socket.socket(socket.AF_UNIX)
    conn.connect(str(path))
    conn.sendall(request)
    reader = conn.makefile("rb")
    return json.loads(reader.readline()), conn


def _exit_of(conn: socket.socket) -> dict:
    conn.settimeout(30)
    return json.loads(conn.makefile("rb").readline())


def test_a_child_gets_exactly_the_requested_argv_env_and_cwd(forkserver, tmp_path):
    report = tmp_path / "report.json"
    home = tmp_path / "homes" / "ana"  # made by the forkserver, as Popen's preexec does
    env = {"PATH": os.environ["PATH"], "JUPYTERHUB_API_TOKEN": "t0k", "HOME": str(home)}
    answer, conn = _request(
        forkserver.path,
        json.dumps({"argv": [str(report), "7"], "env": env, "cwd": str(home)}).encode() + b"\n",
    )
    pid = answer["pid"]
    assert _exit_of(conn) == {"exit": 7}  # its own exit status, told on the connection
    got = json.loads(report.read_text())
    assert got["env"] == env  # nothing of the forkserver's environment
    assert got["cwd"] == str(home) and got["argv"] == [str(report), "7"]
    assert got["session_leader"] and got["ppid"] == forkserver.proc.pid
    # the warm-up ran once, in the forkserver before it forked, not in the child
    assert got["warmed_in"] == [forkserver.proc.pid]
    # what it imported is out of the child's garbage collections (gc.freeze)
    assert got["frozen_objects"] > 1000
    # only stdin/stdout/stderr (and the listing's own fd): no socket of the forkserver
    assert len(got["open_fds"]) <= 4, got["open_fds"]
    assert not Path(f"/proc/{pid}").exists()  # reaped, no zombie
    assert Path(f"{report}.atexit").exists()  # its exit ran its atexit handlers, as Popen's


def test_a_killed_child_reports_the_signal_and_is_reaped(forkserver, tmp_path):
    report = tmp_path / "report.json"
    answer, conn = _request(
        forkserver.path,
        json.dumps({"argv": [str(report), "sleep"], "env": {}, "cwd": str(tmp_path)}).encode()
        + b"\n",
    )
    _wait(report.exists, what="the child's report")
    pid = answer["pid"]
    assert b"the-forkservers-own" not in Path(f"/proc/{pid}/environ").read_bytes()
    assert b"the-forkservers-own" not in Path(f"/proc/{forkserver.proc.pid}/environ").read_bytes()
    # ps shows the server's command, as Popen would have started it
    title = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0")
    assert title == f"{sys.executable} -m hub.singleuser {report} sleep".encode(), title
    os.kill(pid, signal.SIGTERM)
    assert _exit_of(conn) == {"exit": -signal.SIGTERM}
    assert not Path(f"/proc/{answer['pid']}").exists()


@pytest.mark.parametrize(
    ("request_line", "message"),
    [
        (b"not json\n", "not JSON"),
        (b"[1, 2]\n", "must be an object"),
        (b'{"argv": "x", "env": {}, "cwd": "/"}\n', '"argv" must be a list'),
        (b'{"argv": [], "env": {"A=B": "1"}, "cwd": "/"}\n', '"env" must map'),
        (b'{"argv": [], "env": {}, "cwd": "relative"}\n', '"cwd" must be an absolute path'),
    ],
)
def test_a_bad_request_is_refused_and_the_next_one_served(
    forkserver, tmp_path, request_line, message
):
    answer, conn = _request(forkserver.path, request_line)
    assert message in answer["error"], answer
    conn.close()
    report = tmp_path / "report.json"
    answer, conn = _request(
        forkserver.path,
        json.dumps({"argv": [str(report), "0"], "env": {}, "cwd": str(tmp_path)}).encode() + b"\n",
    )
    assert _exit_of(conn) == {"exit": 0}


def test_it_refuses_a_socket_directory_open_to_others(tmp_path):
    folder = Path("/tmp") / f"gsp-fs-open-{os.getpid()}"
    folder.mkdir(mode=0o755, exist_ok=True)
    folder.chmod(0o755)
    try:
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "hub.forkserver",
                f"--socket={folder / 'sock'}",
                "--preload=json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        folder.rmdir()
    assert out.returncode == 2
    assert "open to other users" in out.stderr


def test_it_stops_when_its_parent_is_gone(tmp_path):
    folder = Path("/tmp") / f"gsp-fs-orphan-{os.getpid()}"
    # A parent that starts the forkserver, waits until it listens, says its pid and exits.
    code = (
        "import os, subprocess, sys, time\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'hub.forkserver', '--socket={folder}/sock',"
        " '--preload=json'], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        f"while not os.path.exists('{folder}/sock'): time.sleep(0.02)\n"
        "print(p.pid)\n"
    )
    parent = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    pid = int(parent.stdout)
    try:
        _wait(lambda: not _alive(pid), timeout=30, what="the orphaned forkserver to stop")
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


# --- the spawner side -------------------------------------------------------------------


class PopenBase:
    """What ForkserverStart needs of SimpleLocalProcessSpawner, with Popen as its start."""

    def setup(self, home: Path, args: list[str]) -> None:
        self.cmd, self.shell_cmd, self.port, self.ip = list(FORKABLE_CMD), [], 0, ""
        self.popen_kwargs = {}
        self.home_dir, self.args, self.proc, self.pid = str(home), args, None, 0
        self.user = types.SimpleNamespace(name="ana")
        self.log = logging.getLogger("test")
        self.popen_started = False
        self.extra_env: dict[str, str] = {}

    def get_args(self):
        return self.args

    def get_env(self):
        return {"PATH": os.environ["PATH"], "PYTHONPATH": str(HERE), **self.extra_env}

    async def start(self):
        self.popen_started = True
        code = "import sys, forkserver_child; sys.exit(forkserver_child.main())"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *self.args], env=self.get_env(), cwd=HERE
        )
        self.pid = self.proc.pid
        return ("127.0.0.1", self.port)

    async def poll(self):
        if self.proc is not None:
            return self.proc.poll()
        return None if _alive(self.pid) else 0

    def clear_state(self):
        self.pid = 0


class Spawner(ForkserverStart, PopenBase):
    def __init__(self, home, args, socket_path):
        super().__init__(forkserver_socket=str(socket_path))
        self.setup(home, args)


def test_the_spawner_forks_through_the_forkserver_and_sees_the_exit(forkserver, tmp_path):
    report = tmp_path / "report.json"
    spawner = Spawner(tmp_path / "home", [str(report), "3"], forkserver.path)

    async def scenario():
        ip, port = await spawner.start()
        assert ip == "127.0.0.1" and port > 0  # a port chosen, as LocalProcessSpawner does
        for _ in range(600):
            status = await spawner.poll()
            if status is not None:
                return status
            await asyncio.sleep(0.05)

    assert asyncio.run(scenario()) == 3
    assert not spawner.popen_started
    assert json.loads(report.read_text())["ppid"] == forkserver.proc.pid
    assert spawner.pid == 0  # state cleared once it exited


def test_the_spawner_falls_back_to_popen_without_a_forkserver(tmp_path, caplog):
    report = tmp_path / "report.json"
    spawner = Spawner(tmp_path / "home", [str(report), "0"], tmp_path / "none" / "sock")
    with caplog.at_level(logging.INFO, logger="test"):
        asyncio.run(spawner.start())
    assert spawner.popen_started
    assert spawner.proc.wait(60) == 0
    assert "starts as a new process (no forkserver at" in caplog.text


def test_the_spawner_falls_back_when_the_forkserver_refuses(forkserver, tmp_path, caplog):
    report = tmp_path / "report.json"
    spawner = Spawner(tmp_path / "home", [str(report), "0"], forkserver.path)
    spawner.home_dir = "relative/home"  # refused: nothing forked, Popen is safe
    with caplog.at_level(logging.INFO, logger="test"):
        asyncio.run(spawner.start())
    assert spawner.popen_started
    assert spawner.proc.wait(60) == 0
    assert '"cwd" must be an absolute path' in caplog.text


def test_an_oversized_request_falls_back_to_popen_and_the_next_is_forked(
    forkserver, tmp_path, caplog
):
    """The forkserver stops reading a request over its limit and closes the connection
    after its answer: the spawner's send then fails (broken pipe), and it failed the
    spawn as if a server might be starting. Popen takes any environment exec does."""
    from hub.forkserver import MAX_REQUEST_BYTES

    report = tmp_path / "report.json"
    spawner = Spawner(tmp_path / "home", [str(report), "0"], forkserver.path)
    # Many variables, each under exec's limit for one string (128 KiB), 1.5 MiB in all
    # (under exec's 2 MiB in all): more than the socket buffers take past the limit.
    spawner.extra_env = {f"BIG_{i}": "x" * 8000 for i in range(200)}
    assert sum(map(len, spawner.extra_env.values())) > MAX_REQUEST_BYTES
    with caplog.at_level(logging.INFO, logger="test"):
        asyncio.run(spawner.start())
    assert spawner.popen_started
    assert spawner.proc.wait(60) == 0
    assert f"larger than {MAX_REQUEST_BYTES} bytes" in caplog.text, caplog.text
    # the forkserver is up and forks the next server
    spawner = Spawner(tmp_path / "home", [str(report), "0"], forkserver.path)
    asyncio.run(spawner.start())
    assert not spawner.popen_started and spawner.pid > 0


def test_a_forkserver_killed_before_its_answer_leaves_no_server_and_popen_starts(tmp_path, caplog):
    """Its client got no pid and starts the server by Popen: the forked child, which
    would be a second server on the same port that nobody stops, must not start."""
    folder = Path("/tmp") / f"gsp-fs-dies-{os.getpid()}"
    server = _start_forkserver(folder, "forkserver_child:die_after_fork")
    report = tmp_path / "report.json"
    spawner = Spawner(tmp_path / "home", [str(report), "0"], server.path)
    try:
        with caplog.at_level(logging.INFO, logger="test"):
            asyncio.run(spawner.start())
        assert server.proc.wait(10) == -signal.SIGKILL
        assert "closed the connection without an answer" in caplog.text, caplog.text
        assert spawner.popen_started and spawner.proc.wait(60) == 0
        # the forked child said it stops (its last act), and wrote no report: this one
        # is the Popen'd server's (the forkserver's warm-up is not in it)
        _wait(
            lambda: any("its child does not start" in x for x in server.lines),
            10,
            "the forked child to stop unstarted",
        )
        assert json.loads(report.read_text())["warmed_in"] == []
    finally:
        server.proc.kill()
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_the_spawner_leaves_configured_popen_options_to_popen(forkserver, tmp_path):
    report = tmp_path / "report.json"
    spawner = Spawner(tmp_path / "home", [str(report), "0"], forkserver.path)
    spawner.popen_kwargs = {"close_fds": True}
    asyncio.run(spawner.start())
    assert spawner.popen_started
    assert spawner.proc.wait(60) == 0


def test_the_servers_warm_up_leaves_the_app_pages_nothing_to_compile(monkeypatch):
    """hub.singleuser.warm_up (the forkserver's default --warm) compiles the notebook
    validators a server's first Voila page needs: validating the apps' notebooks as the
    server does (strictly, and with added properties allowed) then compiles nothing."""
    import fastjsonschema
    import nbformat

    from hub.platform import app_notebooks
    from hub.singleuser import warm_up

    warm_up()

    def compile_again(*args, **kwargs):
        raise AssertionError("a validator compiled after the warm-up")

    monkeypatch.setattr(fastjsonschema, "compile", compile_again)
    notebooks = app_notebooks()
    assert notebooks
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        nbformat.validate(notebook, relax_add_props=True)
