"""Parts of `gsp up` that need no running hub: arguments, ports, the superuser, the process tree."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from gsp_extension.store import Database
from gsp_extension.store.accounts import get_user_by_username
from hub.cli import up
from hub.passwords import PasswordHasher
from tests.requirements import require


def parse(*argv):
    parser = argparse.ArgumentParser()
    up.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_a_taken_port_is_refused_before_anything_starts(tmp_path, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        assert up.run(parse("--data-root", str(tmp_path / "d"), "--port", str(taken))) == 2
    err = capsys.readouterr().err
    assert f"port {taken}" in err and "--port / GSP_HUB_BIND_URL" in err
    problem = up._ports_problem({"GSP_SERVICE_PORT": "http"}, "http://127.0.0.1:1")
    assert problem == "GSP_SERVICE_PORT='http' is not a port number"


def test_a_missing_config_is_named(tmp_path, capsys):
    args = parse("--config", str(tmp_path / "nope.py"), "--data-root", str(tmp_path / "d"))
    assert up.run(args) == 2
    assert "no hub configuration at" in capsys.readouterr().err


def test_admin_password_is_generated_once(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("GSP_ADMIN_"):
            monkeypatch.delenv(name)
    url = f"sqlite:///{tmp_path / 'gsp.sqlite'}"
    from hub.config_helpers import prepare_database

    prepare_database(url)
    password = up._bootstrap_admin("alice", url)
    assert password
    db = Database(url)
    try:
        with db.session() as s:
            alice = get_user_by_username(s, "alice")
            assert alice.is_superuser
            assert PasswordHasher().verify(alice.password_hash, password)
    finally:
        db.dispose()
    assert up._bootstrap_admin("bob", url) is None  # a superuser exists: nothing is made


def test_local_url_for_polling():
    assert up._local_url("http://0.0.0.0:8000") == "http://127.0.0.1:8000/"
    assert up._local_url("https://gsp.example.org/base") == "https://gsp.example.org/base/"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_process_tree_follows_grandchildren_in_new_sessions():
    # a child that starts a grandchild in a session of its own, as the hub does
    code = (
        "import subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    tree = up.ProcessTree(child.pid)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(tree.alive()) < 1:
            tree.refresh()
            time.sleep(0.05)
        grandchildren = tree.alive()
        assert len(grandchildren) == 1 and grandchildren[0] != child.pid
        child.terminate()
        child.wait(10)
        assert tree.alive() == grandchildren  # orphaned, still running
        tree.signal_all(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while tree.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tree.alive() == []
    finally:
        child.kill()
        tree.signal_all(signal.SIGKILL)


@pytest.mark.slow
def test_a_service_failing_at_start_stops_everything(tmp_path):
    """The hub gives up (PLATFORM_NOTES: this can orphan the proxy); gsp up cleans up.

    The broken service comes first: the hub starts its services one after the other and
    gives up at the first that fails, so the gsp service (7 s to start and as long to
    stop on this machine) is not started at all; the proxy runs and is orphaned as before.
    """
    from pathlib import Path

    chp = Path(up.REPO) / "node_modules" / ".bin" / "configurable-http-proxy"
    require(chp.exists(), "configurable-http-proxy missing (run `npm ci`)")
    overlay = tmp_path / "overlay.py"
    overlay.write_text(
        "c = get_config()  # noqa\n"
        f"load_subconfig({str(up.REPO / 'jupyterhub_config.py')!r})  # noqa\n"
        "c.JupyterHub.services = [\n"
        f"    {{'name': 'broken', 'url': 'http://127.0.0.1:{free_port()}',\n"
        "      'command': ['/bin/false']}] + list(c.JupyterHub.services)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSP_", "JUPYTERHUB_"))}
    env.update(
        GSP_HUB_API_PORT=str(free_port()),
        GSP_PROXY_API_PORT=str(free_port()),
        GSP_SERVICE_PORT=str(free_port()),
    )
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gsp"),
            "up",
            "--config",
            str(overlay),
            "--data-root",
            str(tmp_path / "data"),
            "--port",
            str(free_port()),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    tree = up.ProcessTree(proc.pid)
    deadline = time.monotonic() + 120
    seen = set()
    while proc.poll() is None and time.monotonic() < deadline:
        tree.refresh()
        seen |= {" ".join(cmdline(pid)) for pid in tree.alive()}
        time.sleep(0.1)
    try:
        output = proc.communicate(timeout=30)[0]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 1, output
    assert "the hub exited with code 1" in output
    assert "Service broken exited with status 1" in output
    assert any("configurable-http-proxy" in command for command in seen), seen
    assert tree.alive() == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().decode(errors="replace").split("\0")
    except OSError:
        return []
