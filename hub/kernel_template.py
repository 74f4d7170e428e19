"""Start the Voilà pages' kernels by forking a process that has imported them already.

A cold login's page waited for its kernel: a new ``python -m voila_apps.kernel`` that
imports ipykernel, ipywidgets, the app, and for the data browser matplotlib and
astropy (~1.5 s of CPU) before it opens its sockets, while the machine is busy with the
rest of the login. Here the user's server forks, as the first thing it does (before
any thread or zmq context exists in it), a *template* process that serves
:class:`hub.forkserver.Forkserver`'s protocol on a private Unix socket; each page's
kernel is then a ``fork()`` of that template. The hub's forkserver imports the
kernel's modules too (:data:`KERNEL_PRELOAD`), so a server forked from it hands them
to its template at no cost; a server started by ``Popen`` has its template import
them beside its own start.

:class:`TemplateKernelProvisioner` (a ``jupyter_client`` kernel provisioner, entry
point ``gsp-template-provisioner``, named by the ``gsp-app`` kernelspec) asks the
template for the kernel, and falls back to jupyter_client's own start (``Popen``) when
there is no template (switched off, not listening, gone), when it refuses, or when the
command is not the app kernel of this Python. The forked kernel runs in its own
session with exactly the environment, arguments and folder ``Popen`` would have given
it; the template reaps it and tells its exit status.

No kernel outlives its server, however the server and the template die. A forked
kernel's parent is the template, not the server: ipykernel's parent poller
(``JPY_PARENT_PID``) and ``prctl(PR_SET_PDEATHSIG)`` would only see the template go.
So the server holds the write end of a pipe (the *lifeline*) that nothing else holds;
the template and every kernel forked from it hold its read end and stop at its end of
file, which the kernel sees the moment the server's process is gone (SIGKILL
included), whether the template still runs or not (:func:`watch_server`). The template
itself is SIGKILLed by Linux when the server's process ends, however it ends
(``PR_SET_PDEATHSIG``): a stopped (SIGSTOP) or hung template never reads the lifeline's
end of file, and would otherwise hold its memory for the rest of the night.

A template that dies while its server runs (crashed, OOM-killed, killed as hung) leaves
its kernels (their pages) running: the server reaps it at once (a thread waits for
it), logs it, and starts another as a new Python (``python -m hub.kernel_template``:
the server runs threads by then, it cannot fork), with a lifeline of its own, on the
same socket; kernels asked meanwhile wait for it as for the first. After
:data:`RESTARTS` of them, the next kernels start by ``Popen`` (logged as a warning). A
template that takes a request and gives no answer within :data:`TIMEOUT` (stopped,
hung) is killed and the kernel started by ``Popen``; one that imports for longer than
:data:`STARTING_WAIT` likewise, and one stopped while it imports at once. A template
that answers without forking (its fork failed: a process limit, memory; a request it
refuses) is kept, and that kernel started by ``Popen``. A kernel forked for a request
the server gave up on is stopped by the template when the server closes the
connection; one forked by a template that dies (or is killed as hung) before its answer
never starts (a forked child waits for its answer, :func:`hub.forkserver._fork_gated`),
so the kernel ``Popen`` starts instead is the only one on its connection file.

Switch (environment of the user's server): ``GSP_KERNEL_TEMPLATE=0`` turns it off.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner

#: Environment of the user's server: the template's socket (set by start_template).
SOCKET_VARIABLE = "GSP_KERNEL_TEMPLATE_SOCKET"
#: Environment switch of the user's server ("0": every kernel starts by Popen).
SWITCH = "GSP_KERNEL_TEMPLATE"
#: The module of the kernel command the template can take over (kernelspec gsp-app).
KERNEL_MODULE = "voila_apps.kernel"
#: What a page's kernel imports before it answers or while it runs the app: imported
#: by the template (and by the hub's forkserver, whose servers pass them on).
KERNEL_PRELOAD = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    # Imported by each kernel's start (debugpy: ~0.1 s of CPU); it starts no thread.
    "ipykernel.debugger",
    "ipywidgets",
    "voila_apps.kernel",
    "voila_apps.app",
    "gsp_extension.client",
    "voila_apps.widgets.viewer",
    "astropy.io.fits",
    "astropy.visualization",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
)
#: Seconds to connect to the template and get its answer (a fork: milliseconds); then
#: the template is taken for hung, killed, and Popen starts the kernel.
TIMEOUT = 2.0
#: Seconds after its fork until which a kernel start waits for a template still
#: importing (a server started by Popen forks it before its own imports: a new Python
#: would import the same again meanwhile); a template not listening by then is hung.
STARTING_WAIT = 10.0
#: Seconds a kernel that has exited waits for its status from the template; then it is
#: taken as 1 (the template hangs).
STATUS_WAIT = 1.0
#: prctl(2) option: the signal this process gets when its parent's thread ends.
PR_SET_PDEATHSIG = 1
#: Templates started by the server after the first one died (crashed, OOM-killed,
#: killed as hung): each is a new Python that imports the kernel once; more than this
#: and the server's kernels start by Popen (a template that keeps dying).
RESTARTS = 3
#: Prefix of the templates' socket folders, in the temporary directory.
FOLDER_PREFIX = "gsp-kernels-"
#: Seconds after which a template's folder where nothing listens is taken as left over.
STALE_AFTER = 60.0


class _Template:
    """In the server: its template process (None before start_template forks one)."""

    pid: int | None = None
    forked_at = 0.0
    exited = threading.Event()  # set by the thread that reaps it (and starts no other)
    status: int | None = None  # its exit status (as Popen.returncode), once reaped
    restarts = 0  # templates started since the first one (RESTARTS at most)


_lifeline: int | None = None  # in the template and its kernels: the server's pipe


def preload_kernel() -> None:
    """Import :data:`KERNEL_PRELOAD` (the hub's forkserver calls it before forking
    servers); raises on the first module that fails."""
    import importlib

    for name in KERNEL_PRELOAD:
        importlib.import_module(name)


def enabled(environ=os.environ) -> bool:
    """Whether the user's server forks its kernels (``GSP_KERNEL_TEMPLATE``, default on)."""
    return environ.get(SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


def start_template(environ=os.environ, modules=KERNEL_PRELOAD) -> Path | None:
    """Fork the kernel template of this (server) process; its socket, also put in
    ``environ[GSP_KERNEL_TEMPLATE_SOCKET]``, or None when it cannot be forked.

    Call it before the process runs any thread or makes any zmq context: ``fork()``
    copies only the calling thread, and a lock or socket of another would be broken in
    the template and its kernels. ``modules``: what the template imports before it
    listens (tests pass a slow one). Returns in the server only: the template serves
    until the server is gone, then exits; its kernels leave through ``SystemExit``
    (their exit status) as any forked child of :class:`hub.forkserver.Forkserver`.
    """
    global _lifeline
    if not enabled(environ) or threading.active_count() > 1:
        return None
    remove_stale_folders()
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))  # 0700, this user's
    path = folder / "sock"
    server = os.getpid()
    # Both ends close on exec: no Popen'd process of the server holds the write end.
    lifeline, keep_alive = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        os.close(lifeline)
        _Template.pid, _Template.forked_at = pid, time.monotonic()
        # Linux kills the template as the server's process ends (_die_with_server),
        # before it can remove its socket.
        atexit.register(_remove_folder, folder, server)
        threading.Thread(
            target=_watch_templates,
            args=(pid, path, server),
            name="gsp-kernel-template",
            daemon=True,
        ).start()
        environ[SOCKET_VARIABLE] = str(path)
        return path
    os.close(keep_alive)  # the server's alone: its exit is the pipe's end of file
    _lifeline = lifeline
    _run_template(path, server, modules)  # only kernels come back, raising SystemExit
    raise AssertionError("unreachable")


def remove_stale_folders(root: Path | None = None) -> list[Path]:
    """Remove this user's template socket folders in ``root`` (the temporary directory)
    where no template listens any more; the folders removed.

    Left by servers that were killed: their templates, killed with them, cannot remove
    their own (see :func:`_die_with_server`). Kept: a folder younger than
    :data:`STALE_AFTER`, one without a socket (its template still imports), and one
    whose socket takes a connection (a template listens, or is stopped).
    """
    import shutil
    import stat

    removed = []
    now = time.time()
    with contextlib.suppress(OSError):
        for folder in Path(root or tempfile.gettempdir()).glob(FOLDER_PREFIX + "*"):
            with contextlib.suppress(OSError):
                info = folder.lstat()
                mine = stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
                if mine and now - info.st_mtime > STALE_AFTER and not _listened(folder / "sock"):
                    shutil.rmtree(folder)
                    removed.append(folder)
    return removed


def _listened(path: Path) -> bool:
    """Whether ``path`` is a socket that takes a connection (or may: anything but a
    refusal counts as yes)."""
    if not path.is_socket():
        return True  # not bound yet: its template still imports
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
        except ConnectionRefusedError:
            return False
        except OSError:
            return True
    return True


def _remove_folder(folder: Path, server: int) -> None:
    """At the server's exit: remove its template's socket and folder."""
    import shutil

    if os.getpid() == server:  # not in a process forked from it since
        shutil.rmtree(folder, ignore_errors=True)


def _die_with_server(server: int) -> bool:
    """In the template: have Linux SIGKILL it when the server's process ends
    (``PR_SET_PDEATHSIG``; it holds when the template is stopped, where the lifeline
    cannot be read); False when the server is gone already.

    The signal follows the server's thread that started the template: its main thread
    for the first (:func:`start_template` runs before any other thread), the thread
    that waits for them for the next (:func:`_watch_templates`); both end with the
    server's process. Its kernels do not inherit it (they watch the lifeline).
    """
    import ctypes

    with contextlib.suppress(OSError, AttributeError):  # not Linux: the lifeline alone
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    return os.getppid() == server  # else it died before the prctl: nothing would fire


def _watch_templates(pid: int, path: Path, server: int) -> None:
    """In the server (a thread): reap its template when it exits, say so, and start
    the next one (up to :data:`RESTARTS`); kernels ask it once it listens.

    The next templates are started from this thread, which waits for them: their
    ``PR_SET_PDEATHSIG`` follows the thread that started them (:func:`_die_with_server`).
    """
    import shutil
    import subprocess

    process: subprocess.Popen | None = None
    while True:
        try:
            if process is None:
                _pid, status = os.waitpid(pid, 0)
                _Template.status = os.waitstatus_to_exitcode(status)
            else:
                _Template.status = process.wait()
        except ChildProcessError:
            _Template.status = None
        _Template.exited.set()
        if _Template.restarts >= RESTARTS:
            break
        _Template.restarts += 1
        print(
            f"gsp kernel template: pid {pid} exited ({_Template.status}); its kernels run on,"
            f" a new template starts ({_Template.restarts} of {RESTARTS})",
            file=sys.stderr,
            flush=True,
        )
        try:
            process = _start_next_template(path, server)
        except OSError as exc:
            print(f"gsp kernel template: cannot start another: {exc}", file=sys.stderr)
            break
        pid = process.pid
        _Template.pid, _Template.forked_at = pid, time.monotonic()
        _Template.exited.clear()
    shutil.rmtree(path.parent, ignore_errors=True)  # its socket, when it was killed
    print(
        f"gsp kernel template: pid {pid} exited ({_Template.status}); its kernels run on,"
        " new page kernels start as new processes",
        file=sys.stderr,
        flush=True,
    )


def _start_next_template(path: Path, server: int):
    """In the server: start a template as a new Python (the server runs threads now: no
    fork), on the same socket, with a lifeline of its own; its ``Popen``."""
    import subprocess

    lifeline, keep_alive = os.pipe()
    try:
        env = {k: v for k, v in os.environ.items() if k != SOCKET_VARIABLE}
        argv = ["--server", str(server), "--socket", str(path), "--lifeline", str(lifeline)]
        return subprocess.Popen(
            [sys.executable, "-m", "hub.kernel_template", *argv], env=env, pass_fds=[lifeline]
        )
    except BaseException:
        os.close(keep_alive)
        raise
    finally:
        os.close(lifeline)  # keep_alive: the server's, open until its process ends


def main(argv: list[str] | None = None) -> int:
    """``python -m hub.kernel_template``: a template the server started after the
    first one died (see :func:`_watch_templates`). Its kernels leave through
    ``SystemExit``; the template itself ends with the server."""
    import argparse

    global _lifeline
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", type=int, required=True, help="the server's pid")
    parser.add_argument("--socket", required=True, help="path of the socket to serve on")
    parser.add_argument("--lifeline", type=int, required=True, help="read end of its pipe")
    args = parser.parse_args(argv)
    _lifeline = args.lifeline
    _run_template(Path(args.socket), args.server, KERNEL_PRELOAD)
    return 1  # not reached: the template ends in _run_template


def _run_template(path: Path, server: int, modules) -> None:
    """In the template: import the kernel, serve forks until the server is gone."""
    from hub.forkserver import Forkserver, preload

    template = os.getpid()
    code = 1
    try:
        if not _die_with_server(server):
            return
        # The server's own signal handlers are not the template's: Forkserver sets its
        # own, and a Ctrl-C of a server run in a terminal stops the template too.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.pop(SOCKET_VARIABLE, None)
        import setproctitle

        # ps and top tell it from its server (benchmarks count it with the kernels)
        setproctitle.setproctitle(f"{sys.executable} -m hub.kernel_template --server={server}")
        started = time.monotonic()
        for name, error in preload(modules).items():
            print(f"gsp kernel template: could not preload {name}: {error}", file=sys.stderr)
        print(
            f"gsp kernel template: imported in {time.monotonic() - started:.2f} s",
            file=sys.stderr,
        )
        Forkserver(
            path,
            run_kernel,
            server,
            title=KERNEL_MODULE,
            orphan_signal=signal.SIGTERM,
            lifeline=_lifeline,
            client_gone_signal=signal.SIGKILL,
        ).serve()
        code = 0
    except SystemExit:
        if os.getpid() != template:  # a kernel leaving with its exit status
            raise
    except BaseException:  # noqa: BLE001 - never back into the server's code
        import traceback

        traceback.print_exc()
    finally:
        if os.getpid() == template:
            sys.stderr.flush()
            os._exit(code)


def template_running() -> bool:
    """In the server: whether it forked a template that has not exited (it may still be
    importing, or be hung)."""
    return _Template.pid is not None and not _Template.exited.is_set()


def template_stopped() -> bool:
    """In the server: whether its template is stopped (SIGSTOP, a debugger): it answers
    nothing until continued, and no kernel start waits for it."""
    try:
        stat = Path(f"/proc/{_Template.pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] in ("T", "t")


def stop_template(why: str) -> None:
    """In the server: kill its template (hung), which the reaping thread then reaps;
    its kernels run on (they watch the server, not the template)."""
    if template_running():
        print(f"gsp kernel template: pid {_Template.pid} {why}: killed", file=sys.stderr)
        with contextlib.suppress(OSError):
            os.kill(_Template.pid, signal.SIGKILL)  # type: ignore[arg-type]


def watch_server(fd: int) -> threading.Thread:
    """In a forked kernel: stop its session (itself and what it started) as soon as
    ``fd``, the read end of the server's lifeline, reads end of file: the server's
    process is gone. A thread, as ipykernel's parent poller."""

    def watch() -> None:
        while True:
            try:
                if not os.read(fd, 512):
                    break
            except InterruptedError:
                continue
            except OSError:
                break
        print("gsp kernel: its server is gone, stopping", file=sys.stderr, flush=True)
        if os.getpgid(0) == os.getpid():  # its own session (hub.forkserver.run_child)
            os.killpg(0, signal.SIGKILL)
        os._exit(1)

    thread = threading.Thread(target=watch, name="gsp-server-lifeline", daemon=True)
    thread.start()
    return thread


def run_kernel() -> int:
    """What a forked kernel runs: ``python -m voila_apps.kernel`` (sys.argv is set)."""
    from voila_apps import kernel

    if _lifeline is not None:
        watch_server(_lifeline)
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # as voila_apps.kernel's __main__: the cwd cannot shadow modules
    # ipykernel reads JPY_PARENT_PID when it is imported, which the template did with
    # its own environment: the kernel's value is passed as the option it defaults.
    parent = os.environ.get("JPY_PARENT_PID", "").strip()
    if parent.isdigit():
        sys.argv.append(f"--IPKernelApp.parent_handle={parent}")
    kernel.main()
    return 0


class ForkedKernel:
    """The part of ``Popen`` that :class:`~jupyter_client.provisioning.LocalProvisioner`
    uses, for a kernel forked by the template (not a child of this process).

    Parameters
    ----------
    pid : int
        The kernel's pid (also its process group: it is a session leader).
    conn : socket.socket
        The connection to the template, on which its exit status arrives.

    Without the template (it died), the kernel's exit is seen on a pidfd: the pid of a
    kernel reparented to a process that does not reap it stays a zombie (``kill(pid,
    0)`` succeeds, and a shutdown would wait for it for ever), and a reaped kernel's
    pid may be reused through a night.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, conn: socket.socket) -> None:
        self._pidfd: int | None = None
        self.pid = pid
        self.returncode: int | None = None
        self._conn: socket.socket | None = conn
        self._buffer = b""
        conn.setblocking(False)
        self._exit_seen = 0.0
        with contextlib.suppress(OSError, AttributeError):  # Linux >= 5.3
            self._pidfd = os.pidfd_open(pid)

    def poll(self) -> int | None:
        """The exit status once the kernel has exited, else None."""
        if self.returncode is not None:
            return self.returncode
        if self._conn is not None:
            try:
                chunk = self._conn.recv(4096)
            except (BlockingIOError, InterruptedError):
                return self._exited_untold()
            except OSError:
                chunk = b""
            if chunk:
                self._buffer += chunk
                if b"\n" in self._buffer:
                    line = self._buffer.split(b"\n", 1)[0]
                    try:
                        self.returncode = int(json.loads(line)["exit"])
                    except (ValueError, KeyError, TypeError):
                        self.returncode = 1
                    self._close()
                return self.returncode
            self._close()  # the template is gone: the pid tells
        if self._exited():
            self.returncode = 1  # its status went with the template
            self._close()
        return self.returncode

    def _exited_untold(self) -> int | None:
        """1 when the kernel has exited and the template has not told it within
        :data:`STATUS_WAIT` (hung: a shutdown would wait for it for ever), else None."""
        if not self._exited():
            return None
        now = time.monotonic()
        self._exit_seen = self._exit_seen or now
        if now - self._exit_seen < STATUS_WAIT:
            return None  # the template reaps it and tells its status in milliseconds
        self.returncode = 1
        self._close()
        return self.returncode

    def _exited(self) -> bool:
        if self._pidfd is not None:
            import select

            return bool(select.select([self._pidfd], [], [], 0)[0])
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
        return False

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the kernel's exit (the provisioner calls it once poll() said so)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"kernel {self.pid} still running after {timeout} s")
            time.sleep(0.05)
        return self.returncode  # type: ignore[return-value]

    def send_signal(self, signum: int) -> None:
        """Signal the kernel (ESRCH raised as ProcessLookupError, as Popen would not)."""
        if self.poll() is None:
            if self._pidfd is not None:
                signal.pidfd_send_signal(self._pidfd, signum)
            else:
                os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = None
        if self.returncode is not None and self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None

    def __del__(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)


class TemplateRefused(RuntimeError):
    """The template answered, and forked nothing."""


class TemplateClosed(RuntimeError):
    """The template closed the connection without an answer (it died meanwhile): what
    it forked for the request does not start."""


class TemplateHung(RuntimeError):
    """The template took the request and gave no answer within :data:`TIMEOUT`; the
    connection is closed, so that it stops a kernel it forks for it later."""


def request_fork(path: str, argv: list[str], env: dict[str, str], cwd: str) -> ForkedKernel:
    """Ask the template at ``path`` for a kernel; the forked kernel.

    Raises
    ------
    OSError
        No template listens at ``path`` (nothing was asked).
    TemplateRefused
        It answered with an error (nothing was forked).
    TemplateHung
        It took the request and gave no answer in time (the connection is closed).
    TemplateClosed
        It closed the connection without an answer.
    """
    from hub.forkserver import read_line

    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.settimeout(TIMEOUT)
        conn.connect(path)
    except OSError:
        conn.close()
        raise
    request = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode() + b"\n"
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            # The template stops reading a request it refuses (too large) and closes
            # the connection after its answer, which is still there to read.
            conn.sendall(request)
        message = json.loads(read_line(conn, TIMEOUT) or b"{}")
    except (OSError, ValueError) as exc:
        conn.close()
        raise TemplateHung(
            f"the kernel template took the request and gave no answer ({exc or type(exc).__name__})"
        ) from exc
    if "pid" not in message:
        conn.close()
        if "error" in message:
            raise TemplateRefused(message["error"])
        raise TemplateClosed("the kernel template closed the connection without an answer")
    return ForkedKernel(int(message["pid"]), conn)


def forkable(cmd: list[str]) -> list[str] | None:
    """The kernel's own arguments when ``cmd`` is the app kernel of this Python
    (``python -m voila_apps.kernel ...``), else None."""
    if len(cmd) >= 3 and cmd[0] == sys.executable and cmd[1:3] == ["-m", KERNEL_MODULE]:
        return list(cmd[3:])
    return None


class TemplateKernelProvisioner(LocalProvisioner):
    """``LocalProvisioner`` whose kernels are forked from the server's kernel template
    (see the module), or started by ``Popen`` as before when that cannot be."""

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        """Fork the kernel from the template, or launch it as a new process."""
        import asyncio

        path = os.environ.get(SOCKET_VARIABLE, "")
        argv = forkable(cmd)
        env = kwargs.get("env")
        if not path or argv is None or env is None:
            return await super().launch_kernel(cmd, **kwargs)
        # Popen's kernels watch their parent, the server (JPY_PARENT_PID). A forked one's
        # parent is the template: it watches the server's lifeline instead (see the
        # module); "1" is ipykernel's "no parent to watch" (without it, it prints a
        # console banner), so that a template that died leaves its kernels alone.
        env = {k: v for k, v in env.items() if k != SOCKET_VARIABLE}
        env["JPY_PARENT_PID"] = "1"
        cwd = str(kwargs.get("cwd") or os.getcwd())
        if _Template.exited.is_set():
            # Each such start imports the kernel again (~1.5 s of CPU): worth a look.
            self.log.warning(
                "Kernel starts as a new process (the kernel template exited: %s)",
                _Template.status,
            )
            return await super().launch_kernel(cmd, **kwargs)
        while True:
            try:
                process = await asyncio.to_thread(request_fork, path, argv, env, cwd)
                break
            except OSError as exc:  # none listening: importing still, hung, or gone
                if template_running():
                    if template_stopped():
                        stop_template("is stopped")
                    elif time.monotonic() < _Template.forked_at + STARTING_WAIT:
                        await asyncio.sleep(0.05)
                        continue
                    else:
                        stop_template(f"does not listen {STARTING_WAIT:g} s after its start")
                self.log.warning("Kernel starts as a new process (no kernel template: %s)", exc)
                return await super().launch_kernel(cmd, **kwargs)
            except (TemplateRefused, TemplateClosed) as exc:  # refused, or died: Popen
                self.log.warning("Kernel starts as a new process (%s)", exc)
                return await super().launch_kernel(cmd, **kwargs)
            except TemplateHung as exc:  # it stops what it forks late (connection closed)
                stop_template(f"gave no answer in {TIMEOUT:g} s")
                self.log.warning("Kernel starts as a new process (%s: killed)", exc)
                return await super().launch_kernel(cmd, **kwargs)
        self.process = process
        self.pid = self.pgid = process.pid
        self.cwd = cwd
        self.log.debug("Kernel forked from the template: pid %i", process.pid)
        return self.connection_info


if __name__ == "__main__":
    # Run as the module hub.kernel_template (not __main__): its kernels and the code they
    # import share one copy of it (the lifeline above).
    from hub.kernel_template import main as _main

    sys.exit(_main())
