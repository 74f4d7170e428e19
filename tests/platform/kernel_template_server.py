"""A stand-in for a user's server in tests: forks the kernel template as hub.singleuser
does, then starts app kernels through the gsp-app kernelspec (its provisioner).

    python kernel_template_server.py <report path> <scenario>

Scenarios: ``fork`` (one kernel, run code, shut down), ``starting`` (the same, asked
while the template still imports), ``template-gone`` (the template
killed first), ``off`` (GSP_KERNEL_TEMPLATE=0), ``orphan`` (one kernel started, then
this process waits to be killed). It writes one JSON report per kernel started.
"""

import asyncio
import json
import os
import signal
import sys
import time

from hub.kernel_template import SOCKET_VARIABLE, start_template
from voila_apps.config import template_root

CODE = "import os, sys; print(os.getpid(), os.getppid(), os.getcwd(), os.environ.get('QUERY_STRING'), 'voila_apps.app' in sys.modules)"


async def one_kernel(report: dict, stop: bool = True) -> None:
    from jupyter_client.manager import AsyncKernelManager

    km = AsyncKernelManager(kernel_name="gsp-app")
    cwd = os.environ["TEST_KERNEL_CWD"]
    t = time.perf_counter()
    await km.start_kernel(env={**os.environ, "QUERY_STRING": "file=42"}, cwd=cwd)
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
        _write(report)
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
    if scenario == "off":
        os.environ["GSP_KERNEL_TEMPLATE"] = "0"
    if scenario == "starting":  # a template still importing when the page asks
        socket_path = start_template(modules=("slow_import",))
    else:
        socket_path = start_template()
    os.environ["JUPYTER_PATH"] = str(template_root())  # the gsp-app kernelspec
    report = {"server_pid": os.getpid(), "socket": str(socket_path) if socket_path else None}
    if socket_path is not None:
        if scenario != "starting":
            _wait_listening(str(socket_path))
        report["template_pid"] = _template_pid()
    if scenario == "template-gone":
        os.kill(report["template_pid"], signal.SIGKILL)
        os.waitpid(report["template_pid"], 0)
    report["env_socket"] = os.environ.get(SOCKET_VARIABLE)
    asyncio.run(one_kernel(report, stop=scenario != "orphan"))
    _write(report)
    if scenario == "orphan":
        time.sleep(600)


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
    import psutil

    children = psutil.Process().children()
    return children[0].pid if children else None


if __name__ == "__main__":
    main()
