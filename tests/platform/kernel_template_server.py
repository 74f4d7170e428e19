"""A stand-in for a user's server in tests: forks the kernel template as hub.singleuser
does, then starts app kernels through the gsp-app kernelspec (its provisioner).

    python kernel_template_server.py <report path> <scenario>

Scenarios: ``fork`` (one kernel, run code, shut down; then the template stopped, SIGSTOP,
before this process exits), ``starting`` (the same, asked while the template still
imports), ``stopped-starting`` (asked while the template, stopped, imports),
``refused`` (kernels the template cannot fork: a request too large, a fork that fails
under a real process limit; then one it forks again), ``template-gone`` (the template
killed first: the next kernel is forked from the template started in its place),
``template-gone-for-good`` (the same, no restart left: the next kernel by Popen),
``template-hung`` (a forked kernel, then the template stopped, SIGSTOP: the
kernel shut down, another started), ``off``
(GSP_KERNEL_TEMPLATE=0), ``orphan`` (one kernel started, the template stopped, then this
process waits to be killed), ``orphan-template-gone`` (the same, the template killed after the kernel's
start, and a second kernel started after that, forked from the next template), ``abandoned`` (a kernel asked of the
template, whose connection is closed at once). It writes one JSON report per kernel
started.
"""

import asyncio
import contextlib
import json
import logging
import os
import resource
import signal
import sys
import time
from pathlib import Path

import psutil

from hub import kernel_template
from hub.kernel_template import SOCKET_VARIABLE, start_template
from voila_apps.config import template_root

_kept = []  # kernel managers of kernels left running (a dropped one is a kernel abandoned)

CODE = "import os, sys; print(os.getpid(), os.getppid(), os.getcwd(), os.environ.get('QUERY_STRING'), 'voila_apps.app' in sys.modules)"


async def one_kernel(report: dict, stop: bool = True) -> None:
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name="gsp-app")
    _kept.append(km)
    cwd = os.environ["TEST_KERNEL_CWD"]
    t = time.perf_counter()
    await km.start_kernel(env={**os.environ, "QUERY_STRING": "file=42"}, cwd=cwd)
    report["launch_s"] = time.perf_counter() - t
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    report["ready_s"] = time.perf_counter() - t
    out = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    await kc.execute_interactive(CODE, output_hook=hook, timeout=60)
    pid, ppid, kcwd, query, imported = "".join(out).split()
    report.update(
        kernel_pid=int(pid),
        kernel_ppid=int(ppid),
        kernel_cwd=kcwd,
        query=query,
        provisioner=type(km.provisioner).__name__,
        process=type(km.provisioner.process).__name__,
        app_imported=imported == "True",
    )
    report["alive_before"] = await km.is_alive()
    if not stop:
        return
    kc.stop_channels()
    await km.shutdown_kernel(now=False)
    report["alive_after"] = await km.is_alive()
    try:
        os.kill(int(pid), 0)
        report["pid_after"] = True
    except ProcessLookupError:
        report["pid_after"] = False


def _write(report: dict) -> None:
    path = sys.argv[1]
    with open(path + ".tmp", "w") as f:
        json.dump(report, f)
    os.replace(path + ".tmp", path)


def main() -> None:
    scenario = sys.argv[2]
    # The provisioner's warnings, on stderr as in a server's log (its info is not shown)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    if scenario == "off":
        os.environ["GSP_KERNEL_TEMPLATE"] = "0"
    if scenario == "template-gone-for-good":
        kernel_template.RESTARTS = 0
    if scenario in ("starting", "stopped-starting"):  # still importing when a page asks
        socket_path = start_template(modules=("slow_import",))
    else:
        socket_path = start_template()
    os.environ["JUPYTER_PATH"] = str(template_root())  # the gsp-app kernelspec
    report = {"server_pid": os.getpid(), "socket": str(socket_path) if socket_path else None}
    if socket_path is not None:
        if "starting" not in scenario:
            _wait_listening(str(socket_path))
        report["template_pid"] = _template_pid()
    if scenario == "stopped-starting":
        os.kill(report["template_pid"], signal.SIGSTOP)
    if scenario.startswith("template-gone"):
        os.kill(report["template_pid"], signal.SIGKILL)
        report["template_reaped_s"] = _reaped(report["template_pid"])
    if scenario == "template-hung":
        kernel_template.TIMEOUT = 0.5  # the test's time: a fork's answer takes ms
        report["timeout"] = kernel_template.TIMEOUT
        forked: dict = {}  # a kernel forked before the template hangs
        asyncio.run(one_kernel(forked, stop=False))
        report["forked_process"] = forked["process"]
        os.kill(report["template_pid"], signal.SIGSTOP)
        try:
            asyncio.run(shut_down(_kept[0], report))
        except BaseException:
            # a stopped template would hold this process's output open for ever
            os.kill(report["template_pid"], signal.SIGKILL)
            raise
    report["env_socket"] = os.environ.get(SOCKET_VARIABLE)
    if scenario == "abandoned":
        asyncio.run(abandoned(report, str(socket_path)))
        _write(report)
        return
    if scenario == "refused":
        asyncio.run(refused(report))
        _write(report)
        return
    orphan = scenario.startswith("orphan")
    asyncio.run(one_kernel(report, stop=not orphan))
    if scenario in ("template-hung", "stopped-starting"):
        report["template_reaped_s"] = _reaped(report["template_pid"])
    if scenario == "template-gone":
        report["replacement_pid"] = kernel_template._Template.pid
    if scenario in ("fork", "orphan"):  # a stopped template never reads the lifeline
        os.kill(report["template_pid"], signal.SIGSTOP)
    if scenario == "orphan-template-gone":
        os.kill(report["template_pid"], signal.SIGKILL)
        report["template_reaped_s"] = _reaped(report["template_pid"])
        time.sleep(0.5)  # a kernel stopping with its template would be gone by now
        report["kernel_alive_without_template"] = psutil.pid_exists(report["kernel_pid"]) and (
            psutil.Process(report["kernel_pid"]).status() != psutil.STATUS_ZOMBIE
        )
        second: dict = {}  # and a kernel started after the template's death
        asyncio.run(one_kernel(second, stop=False))
        report.update(
            second_kernel_pid=second["kernel_pid"],
            second_process=second["process"],
            second_ppid=second["kernel_ppid"],
            replacement_pid=kernel_template._Template.pid,
        )
    _write(report)
    if orphan:
        time.sleep(600)


async def launch(report: dict, key: str, env: dict | None = None) -> None:
    """Start a kernel, note how it was started (``key``) and its pid, kill it."""
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name="gsp-app")
    await km.start_kernel(env={**os.environ, **(env or {})}, cwd=os.environ["TEST_KERNEL_CWD"])
    report[key] = type(km.provisioner.process).__name__
    report[f"{key}_pid"] = km.provisioner.pid
    await km.shutdown_kernel(now=True)


async def refused(report: dict) -> None:
    """Kernels the template answers for without forking, then one it forks."""
    template = psutil.Process(report["template_pid"])
    # 1.6 MB of environment: the template refuses more than 1 MiB, and closes the
    # connection while the server still sends (Popen takes up to 2 MB)
    big = {f"TEST_BIG_{i}": "x" * 100_000 for i in range(16)}
    await launch(report, "too_large", big)
    report["template_alive"] = template.is_running() and template.status() != "zombie"
    if not report["template_alive"]:
        return
    lift = _limit_forks(template.pid)
    if lift is None:
        report["limit"] = None
        return
    try:
        await launch(report, "fork_failed")
        report["children_after_failure"] = [c.pid for c in template.children()]
    finally:
        report["limit"] = lift()
    await launch(report, "after")


def _limit_forks(pid: int):
    """Make ``pid``'s fork() fail for real (EAGAIN); a function that lifts the limit
    and names it, or None when this process cannot.

    RLIMIT_NPROC does not bind root: as root, a pids cgroup of one process (v1).
    """
    if os.geteuid() != 0:
        limits = resource.prlimit(pid, resource.RLIMIT_NPROC)
        resource.prlimit(pid, resource.RLIMIT_NPROC, (0, limits[1]))

        def lift_rlimit() -> str:
            resource.prlimit(pid, resource.RLIMIT_NPROC, limits)
            return "rlimit"

        return lift_rlimit
    mount = Path("/sys/fs/cgroup/pids")
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    home = next((x.split(":", 2)[2] for x in lines if x.split(":")[1] == "pids"), None)
    if home is None:
        return None
    group = mount / home.lstrip("/") / f"gsp-test-{os.getpid()}"
    try:
        group.mkdir()
        (group / "pids.max").write_text("1")  # the template itself: no fork
        (group / "cgroup.procs").write_text(str(pid))
    except OSError:
        with contextlib.suppress(OSError):
            group.rmdir()
        return None

    def lift() -> str:
        (group.parent / "cgroup.procs").write_text(str(pid))
        group.rmdir()
        return "cgroup"

    return lift


async def shut_down(km, report: dict) -> None:
    """Shut the kernel down as the server does (its exit status does not come)."""
    t = time.perf_counter()
    await km.shutdown_kernel(now=False)
    report["forked_shutdown_s"] = time.perf_counter() - t
    report["forked_alive_after"] = await km.is_alive()


async def abandoned(report: dict, path: str) -> None:
    """Ask the template for a kernel (a real connection file), then close the
    connection at once, as a server that gave up waiting for the answer."""
    from jupyter_client.connect import write_connection_file

    from hub.kernel_template import request_fork

    connection, _ = write_connection_file(os.path.join(os.environ["TEST_KERNEL_CWD"], "k.json"))
    kernel = request_fork(path, ["-f", connection], dict(os.environ), os.getcwd())
    report["kernel_pid"] = kernel.pid
    time.sleep(0.3)  # it runs...
    report["alive_before"] = kernel.poll() is None
    kernel._close()  # ...until its client is gone
    report["gone_s"] = _reaped(kernel.pid, zombie_ok=True)


def _reaped(pid: int, zombie_ok: bool = False, timeout: float = 10.0) -> float | None:
    """Seconds until ``pid`` is gone (reaped; or a zombie, with ``zombie_ok``), or None."""
    t = time.perf_counter()
    while time.perf_counter() - t < timeout:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE and zombie_ok:
                return time.perf_counter() - t
        except psutil.NoSuchProcess:
            return time.perf_counter() - t
        time.sleep(0.02)
    return None


def _wait_listening(path: str) -> None:
    """Until the template accepts connections (it listens once it has imported the
    kernel; the socket file exists a moment before). The empty request is refused."""
    import socket

    for _ in range(1200):
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(path)
                return
            except OSError:
                time.sleep(0.05)
    raise TimeoutError(f"no kernel template listens at {path}")


def _template_pid() -> int | None:
    return kernel_template._Template.pid


if __name__ == "__main__":
    main()
