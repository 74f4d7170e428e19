"""hub/kernel_template.py: page kernels forked from the server's template, with real
processes (a stand-in server, tests/platform/kernel_template_server.py, that forks the
template as hub.singleuser does and starts kernels through the gsp-app kernelspec).

The whole path (hub, forked server, its template, Voilà page) runs in tests/browser
(test_page_kernels.py) and benchmarks/bench_cold_login.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from hub.kernel_template import forkable, remove_stale_folders

HERE = Path(__file__).parent
SERVER = HERE / "kernel_template_server.py"


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(autouse=True)
def _no_process_left(tmp_path):
    """Kill what a failed test leaves running (a stopped template outlives a server
    whose code does not kill it)."""
    yield
    report = tmp_path / "report.json"
    out = json.loads(report.read_text()) if report.exists() else {}
    for pid in (out.get("template_pid"), out.get("replacement_pid")):
        with contextlib.suppress(psutil.Error, TypeError, ValueError):
            template = psutil.Process(pid)
            if "hub.kernel_template" in " ".join(template.cmdline()):  # not a pid reused
                template.kill()


def _run(tmp_path: Path, scenario: str) -> dict:
    report = tmp_path / "report.json"
    env = dict(os.environ, TEST_KERNEL_CWD=str(tmp_path))
    env.pop("GSP_KERNEL_TEMPLATE", None)
    log = tmp_path / "stderr.txt"
    with log.open("w") as stderr:  # a file: a template left running would hold a pipe
        done = subprocess.run(
            [sys.executable, str(SERVER), str(report), scenario],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=180,
        )
    assert done.returncode == 0, log.read_text()[-3000:]
    return {**json.loads(report.read_text()), "stderr": log.read_text()}


def _check_kernel_ran(out: dict, tmp_path: Path) -> None:
    # the kernel got the environment, folder and arguments of its start, and ran code
    assert out["query"] == "file=42"
    assert out["kernel_cwd"] == str(tmp_path)
    assert out["app_imported"] and out["alive_before"]
    # shut down by the kernel manager: gone, and seen gone
    assert out["alive_after"] is False and out["pid_after"] is False


def test_page_kernel_is_forked_from_the_servers_template(tmp_path):
    out = _run(tmp_path, "fork")
    assert out["provisioner"] == "TemplateKernelProvisioner"
    assert out["process"] == "ForkedKernel"
    assert out["kernel_ppid"] == out["template_pid"] != out["server_pid"]
    _check_kernel_ran(out, tmp_path)
    # the server has exited: its template follows, its socket's folder removed, even
    # though the template was stopped (SIGSTOP: it could not read the lifeline's end)
    assert _gone(out["template_pid"], 10), "the template outlived its server"
    assert not Path(out["socket"]).parent.exists()


def test_a_kernel_asked_while_the_template_imports_waits_for_it(tmp_path):
    # a server started by Popen forks its template before importing: a page may come
    # before the template listens (here it imports for 2 s); a new Python would import
    # everything again meanwhile
    out = _run(tmp_path, "starting")
    assert out["process"] == "ForkedKernel"
    assert out["kernel_ppid"] == out["template_pid"]
    assert out["ready_s"] > 1.0  # it did wait for the template
    _check_kernel_ran(out, tmp_path)


def test_a_template_stopped_while_it_imports_is_killed_and_not_waited_for(tmp_path):
    out = _run(tmp_path, "stopped-starting")  # SIGSTOP as soon as it was forked
    # not the STARTING_WAIT (10 s) for a template that cannot go on importing
    assert out["process"] == "Popen"
    assert out["launch_s"] < 2.0
    assert out["template_reaped_s"] is not None
    assert "is stopped: killed" in out["stderr"]
    _check_kernel_ran(out, tmp_path)


def test_a_kernel_the_template_cannot_fork_starts_as_a_new_process(tmp_path):
    # The template answers without forking: a request it refuses (more than 1 MiB: it
    # closes the connection while the server still sends) and a fork that fails under
    # a real process limit. Each kernel starts by Popen, with a warning that says why;
    # the template is kept (not taken for hung), forks nothing half-way, and forks the
    # next kernel once the limit is lifted.
    out = _run(tmp_path, "refused")
    assert out["too_large"] == "Popen"
    assert out["template_alive"], "the template was killed for a request it refused"
    assert "WARNING Kernel starts as a new process (the request is larger than" in out["stderr"]
    if out["limit"] is None:
        pytest.skip("no process limit can be set on the template here (pids cgroup, rlimit)")
    assert out["fork_failed"] == "Popen"
    assert "Resource temporarily unavailable" in out["stderr"]
    assert out["children_after_failure"] == []
    assert out["after"] == "ForkedKernel"
    assert "gave no answer" not in out["stderr"]


def test_a_dead_template_is_replaced_and_the_next_kernel_forked_from_the_new_one(tmp_path):
    out = _run(tmp_path, "template-gone")  # SIGKILLed (as by the OOM killer)
    # reaped by the server at once (not a zombie until the next kernel start)
    assert out["template_reaped_s"] is not None and out["template_reaped_s"] < 2.0
    assert "a new template starts (1 of 3)" in out["stderr"]
    # the next page's kernel is forked from a new template of the server's
    assert out["process"] == "ForkedKernel"
    assert out["kernel_ppid"] == out["replacement_pid"] != out["template_pid"]
    _check_kernel_ran(out, tmp_path)
    # which ends with its server as the first did, its socket's folder removed
    assert _gone(out["replacement_pid"], 10), "the new template outlived its server"
    assert not Path(out["socket"]).parent.exists()


def test_with_no_restart_left_the_next_kernel_starts_as_a_new_process_at_once(tmp_path):
    out = _run(tmp_path, "template-gone-for-good")  # RESTARTS = 0
    assert out["template_reaped_s"] is not None and out["template_reaped_s"] < 2.0
    assert not Path(out["socket"]).parent.exists()  # its socket's folder removed
    assert out["env_socket"]  # the server still names the template's socket
    assert out["process"] == "Popen"
    assert out["kernel_ppid"] == out["server_pid"]
    assert out["launch_s"] < 1.0  # no wait for a template that cannot answer
    warning = "WARNING Kernel starts as a new process (the kernel template exited: -9)"
    assert warning in out["stderr"]
    _check_kernel_ran(out, tmp_path)


def test_a_hung_template_is_killed_and_the_kernel_starts_as_a_new_process(tmp_path):
    try:
        out = _run(tmp_path, "template-hung")  # the template stopped (SIGSTOP)
        # a kernel forked before shuts down without its status from the template
        assert out["forked_process"] == "ForkedKernel"
        assert out["forked_shutdown_s"] < 3.0 and out["forked_alive_after"] is False
        assert out["process"] == "Popen"
        assert out["kernel_ppid"] == out["server_pid"]
        # it waited for the answer TIMEOUT s, not more; then Popen
        assert out["timeout"] <= out["launch_s"] < out["timeout"] + 1.0
        # and killed the template, which no later start waits for
        assert out["template_reaped_s"] is not None
        _check_kernel_ran(out, tmp_path)
        assert "gave no answer" in out["stderr"]
    finally:
        report = tmp_path / "report.json"
        if report.exists():  # a stopped template never sees its server go
            with contextlib.suppress(ProcessLookupError, KeyError):
                os.kill(json.loads(report.read_text())["template_pid"], signal.SIGKILL)


def test_a_kernel_the_server_gave_up_on_is_stopped_by_the_template(tmp_path):
    # a request answered too late: the server closed the connection, and nobody would
    # ever stop the kernel forked for it
    out = _run(tmp_path, "abandoned")
    assert out["alive_before"]
    assert out["gone_s"] is not None and out["gone_s"] < 2.0


def test_switched_off_no_template_and_kernels_start_as_new_processes(tmp_path):
    out = _run(tmp_path, "off")
    assert out["socket"] is None and out["env_socket"] is None
    assert "template_pid" not in out
    assert out["process"] == "Popen"
    _check_kernel_ran(out, tmp_path)


def _kill_server(tmp_path: Path, scenario: str) -> dict:
    """Start the stand-in server, which leaves its kernel running; SIGKILL it; check
    that the kernel and the template are gone (exited, or zombies) within 5 s."""
    report = tmp_path / "report.json"
    env = dict(os.environ, TEST_KERNEL_CWD=str(tmp_path))
    env.pop("GSP_KERNEL_TEMPLATE", None)
    server = subprocess.Popen(
        [sys.executable, str(SERVER), str(report), scenario],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not report.exists() and time.monotonic() < deadline:
            assert server.poll() is None, "the stand-in server exited"
            time.sleep(0.1)
        out = json.loads(report.read_text())
        assert out["process"] == "ForkedKernel"
        for pid in ("kernel_pid", "second_kernel_pid"):
            if pid in out:
                assert not _gone(out[pid], 0.1), f"{pid}: stopped before its server"
        # killed: no kernel shutdown by the server, no exit of its own
        server.kill()
        server.wait(10)
        assert _gone(out["template_pid"], 5), "the template outlived its server"
        assert _gone(out["kernel_pid"], 5), "the kernel outlived its server"
        if "second_kernel_pid" in out:
            assert _gone(out["replacement_pid"], 5), "the new template outlived its server"
            assert _gone(out["second_kernel_pid"], 5), "its kernel outlived its server"
        return out
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        if report.exists():  # a failure must not leave a kernel behind
            for pid in ("kernel_pid", "template_pid", "second_kernel_pid", "replacement_pid"):
                with contextlib.suppress(ProcessLookupError, KeyError):
                    os.kill(json.loads(report.read_text())[pid], signal.SIGKILL)


def test_a_servers_forked_kernels_stop_when_the_server_dies(tmp_path):
    # its template too, which was stopped (SIGSTOP) and cannot read the lifeline
    _kill_server(tmp_path, "orphan")


def test_a_kernel_outlives_its_template_but_not_its_server(tmp_path):
    # the template died first (its kernels' parent): the kernel runs on with its page
    # while the server runs, and stops when the server is SIGKILLed, as do the template
    # started in its place and that template's kernel
    out = _kill_server(tmp_path, "orphan-template-gone")
    assert out["template_reaped_s"] is not None and out["template_reaped_s"] < 2.0
    assert out["kernel_alive_without_template"]
    # the kernel started since is forked from the template that replaced it
    assert out["second_process"] == "ForkedKernel"
    assert out["second_ppid"] == out["replacement_pid"] != out["template_pid"]


def test_socket_folders_of_killed_servers_are_removed_and_no_other(tmp_path):
    # a SIGKILLed server's template is killed with it and leaves its folder: the next
    # server's start removes it, not the folders of templates that listen or import
    def folder(name: str, age: float, listen: bool | None) -> Path:
        path = tmp_path / name
        path.mkdir(mode=0o700)
        if listen is not None:
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(path / "sock"))
            if listen:
                sock.listen(1)
                kept.append(sock)
            else:
                sock.close()  # bound, then its process killed
        os.utime(path, (time.time() - age, time.time() - age))
        return path

    kept: list[socket.socket] = []
    left_over = folder("gsp-kernels-left", 120, listen=False)
    others = [
        folder("gsp-kernels-live", 120, listen=True),
        folder("gsp-kernels-importing", 120, listen=None),
        folder("gsp-kernels-young", 1, listen=False),  # bound a moment ago
        folder("other-left", 120, listen=False),
    ]
    assert remove_stale_folders(tmp_path) == [left_over]
    assert not left_over.exists() and all(path.exists() for path in others)
    for sock in kept:
        sock.close()


@pytest.mark.parametrize(
    ("cmd", "expected"),
    [
        ([sys.executable, "-m", "voila_apps.kernel", "-f", "c.json"], ["-f", "c.json"]),
        (["/other/python", "-m", "voila_apps.kernel", "-f", "c.json"], None),
        ([sys.executable, "-m", "ipykernel_launcher", "-f", "c.json"], None),
        ([sys.executable], None),
    ],
)
def test_only_the_app_kernel_of_this_python_is_forked(cmd, expected):
    assert forkable(cmd) == expected


def test_the_hub_forkserver_passes_the_kernel_modules_to_its_servers():
    # a forked server's template then imports nothing (hub/forkserver.py DEFAULT_WARM)
    from hub.forkserver import DEFAULT_ENTRY, DEFAULT_WARM

    assert "hub.kernel_template:preload_kernel" in DEFAULT_WARM
    assert DEFAULT_ENTRY == "hub.singleuser:main"
    code = (
        "import sys, threading; from hub.kernel_template import preload_kernel;"
        "preload_kernel(); import zmq;"
        "print(threading.active_count(), zmq.Context._instance is None)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    # importing them starts no thread and makes no zmq context: a server may still fork
    assert done.stdout.split() == ["1", "True"], done.stderr[-2000:]
