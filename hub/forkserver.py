"""Start users' servers by forking a process that has imported them already.

    python -m hub.forkserver --socket /tmp/gsp-forkserver-<id>/sock

A user's server spends most of its start importing: ``jupyterhub.singleuser``,
jupyter_server, Voilà and JupyterLab take ~1.5 s of a ~1.8 s start on a quiet machine
here, 2-3 s under load, and the first login of a night waits for all of it. This
process (run by the hub as a managed service, restarted if it exits) imports them
once; each start is then a ``fork()`` of it, which runs ``jupyterhub.singleuser`` in
the requested directory with exactly the requested environment and arguments, as
``Popen`` would. The server answers ~0.3-0.5 s after the request.

Protocol, on a Unix socket in a directory only this user can enter (0700): the client
sends one JSON line ``{"argv": [...], "env": {...}, "cwd": "..."}`` and gets one JSON
line back, ``{"pid": N}`` or ``{"error": "..."}``. It keeps the connection open: when
the server exits, one more line ``{"exit": status}`` arrives (the exit code, or minus
the signal number, as ``Popen.returncode``) and the connection closes. The forked
servers are reaped here, so a server that exited never lingers as a zombie. A child
starts only once its answer is sent: a forkserver that dies before its answer leaves
nothing running, and its client can start the server by ``Popen``.

The forked servers are in their own session (``setsid``) and outlive this process: if
it stops, running servers are untouched and new starts fall back to ``Popen``
(:class:`hub.spawners.ForkserverStart`). It exits when its parent (the hub) is gone.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path

import setproctitle

#: Imported before the first fork: what a user's server imports at start (the hub
#: extension, the server, and the server extensions this platform enables).
DEFAULT_PRELOAD = (
    "hub.singleuser",
    "jupyterhub.singleuser",
    "jupyterhub.singleuser.extension",
    "jupyter_server.serverapp",
    "jupyter_server_terminals",
    "jupyterlab",
    "jupyterlab.labapp",
    "notebook_shim",
    "voila.server_extension",
    "hub.platform",  # what hub/singleuser_config.py imports
    "voila_apps.config",
)

#: Called once the modules are imported, before the first fork (``module:function``):
#: work a server does once per process, so that each forked server finds it done.
DEFAULT_WARM = (
    "hub.singleuser:warm_up",
    # What the servers' kernel templates import (hub/kernel_template.py): inherited, so
    # that a template is ready as soon as its server is forked.
    "hub.kernel_template:preload_kernel",
)

#: What a forked child runs: ``module:function``; its return value is the exit code.
DEFAULT_ENTRY = "hub.singleuser:main"

#: What the forkserver keeps of the environment the hub gives it (its API token and
#: the rest are dropped, by re-executing itself): a forked server's environment block,
#: readable in /proc, is the forkserver's; the server's own variables are set in it.
KEPT_ENVIRONMENT = (
    "PATH",
    "HOME",
    "LANG",
    "LANGUAGE",
    "TMPDIR",
    "PYTHONPATH",
    "VIRTUAL_ENV",
    # read at import time by jupyterhub.singleuser: the same values as its servers get
    "JUPYTERHUB_SINGLEUSER_APP",
    "JUPYTERHUB_SINGLEUSER_EXTENSION",
)


def kept_environment(environ: dict[str, str]) -> dict[str, str]:
    """The variables of ``environ`` the forkserver runs with."""
    return {k: v for k, v in environ.items() if k in KEPT_ENVIRONMENT or k.startswith("LC_")}


MAX_REQUEST_BYTES = 1 << 20
REQUEST_TIMEOUT = 5.0


class RequestError(ValueError):
    """A start request that cannot be served (answered with its message)."""


def socket_dir_ok(folder: Path) -> None:
    """Create ``folder`` for the socket, private to this user, or refuse one that is not.

    Raises
    ------
    RequestError
        When ``folder`` exists but is a symbolic link, someone else's, or open to others.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise RequestError(f"{folder} is not a directory of this user: choose another socket")
    if info.st_mode & 0o077:
        raise RequestError(f"{folder} is open to other users (mode {info.st_mode & 0o777:o})")


def preload(modules: Iterable[str]) -> dict[str, str]:
    """Import ``modules``; a module that fails is reported and left to the child.

    Returns
    -------
    dict
        Module name to the error, for those that failed.
    """
    failed = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the server itself will say what is wrong
            failed[name] = f"{type(exc).__name__}: {exc}"
    return failed


def warm(specs: Iterable[str]) -> dict[str, str]:
    """Call each ``module:function`` of ``specs``; one that fails is reported and left
    to the child (which then does that work itself).

    Returns
    -------
    dict
        Spec to the error, for those that failed.
    """
    failed = {}
    for spec in specs:
        module, _, name = spec.partition(":")
        try:
            getattr(importlib.import_module(module), name or "main")()
        except Exception as exc:  # the server itself will say what is wrong
            failed[spec] = f"{type(exc).__name__}: {exc}"
    return failed


def parse_request(raw: bytes) -> tuple[list[str], dict[str, str], str]:
    """``argv``, ``env`` and ``cwd`` of one request line, checked.

    Raises
    ------
    RequestError
        Naming what is wrong and what is expected.
    """
    try:
        request = json.loads(raw)
    except ValueError as exc:
        raise RequestError(f"the request is not JSON ({exc})") from None
    if not isinstance(request, dict):
        raise RequestError('the request must be an object {"argv", "env", "cwd"}')
    argv, env, cwd = request.get("argv"), request.get("env"), request.get("cwd")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise RequestError('"argv" must be a list of strings (the server\'s arguments)')
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k and "=" not in k and "\0" not in v
        for k, v in env.items()
    ):
        raise RequestError('"env" must map variable names to string values')
    if not isinstance(cwd, str) or not os.path.isabs(cwd):
        raise RequestError('"cwd" must be an absolute path (the user\'s home)')
    return argv, env, cwd


def read_line(conn: socket.socket, timeout: float = REQUEST_TIMEOUT) -> bytes:
    """One line of the protocol (a request, or the answer to one) from ``conn``.

    Parameters
    ----------
    conn : socket.socket
        Connected Unix socket.
    timeout : float
        Seconds each read may wait.

    Returns
    -------
    bytes
        The line with its newline, or what came before the peer closed.

    Raises
    ------
    RequestError
        More than :data:`MAX_REQUEST_BYTES` arrived without a newline.
    """
    conn.settimeout(timeout)
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST_BYTES:
            raise RequestError(f"the request is larger than {MAX_REQUEST_BYTES} bytes")
    return data


def _send(conn: socket.socket, message: dict) -> None:
    try:
        conn.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass  # the client went away; the server it asked for runs on regardless


def returncode(status: int) -> int:
    """A ``waitpid`` status as ``Popen.returncode`` (exit code, or minus the signal)."""
    return os.waitstatus_to_exitcode(status)


def run_child(
    entry: Callable[[], object],
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    close_fds: Iterable[int],
    title: str = "hub.singleuser",
) -> int:
    """In the forked child: become the user's server; its exit status when it ends.

    The caller ends the child with ``SystemExit`` of that status: the interpreter then
    exits as the server run by ``Popen`` would (``atexit`` handlers, flushed streams).
    ``title``: the module ``python -m`` would have run, for ps and top.
    """
    code = 1
    try:
        for fd in close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()  # as Popen(start_new_session=True): the hub's signals are not ours
        os.makedirs(cwd, 0o755, exist_ok=True)
        os.chdir(cwd)
        # Exactly the environment the spawner built, nothing of this process's own.
        os.environ.clear()
        os.environ.update(env)
        sys.argv = [sys.argv[0], *argv]
        # What ps and top show: the command Popen would have run, not the forkserver's.
        setproctitle.setproctitle(" ".join([sys.executable, "-m", title, *argv]))
        try:
            result = entry()
            code = result if isinstance(result, int) else 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        code = 1
    return code & 0xFF if code >= 0 else 1


def _fork_gated() -> tuple[int, int]:
    """``fork()``, with a child that starts only once the parent has answered for it.

    A forkserver killed between its fork and its answer leaves its client with no pid:
    the client then starts the server (kernel) by ``Popen``, and a child that ran on
    would be a second one on the same port (connection file) that nobody stops.

    Returns
    -------
    tuple
        The pid (0 in the child), and a pipe end: in the parent the one that lets the
        child start (:func:`_open_gate`), in the child the one it waits on
        (:func:`_wait_for_answer`).
    """
    wait, release = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(wait)
        os.close(release)
        raise
    os.close(release if pid == 0 else wait)
    return pid, (wait if pid == 0 else release)


def _open_gate(release: int) -> None:
    """In the forkserver, once it answered: let the child start."""
    with contextlib.suppress(OSError):  # the child is gone already (killed)
        os.write(release, b"\1")
    os.close(release)


def _wait_for_answer(wait: int) -> None:
    """In a forked child: return once the forkserver has answered for it; exit at once
    (as a server that never started) if it died before. Raises nothing: an exception
    would send the child back into the forkserver's loop."""
    try:
        answered = os.read(wait, 1)  # microseconds: the parent answers right after fork
        os.close(wait)
    except OSError:
        answered = b""
    if not answered:
        with contextlib.suppress(OSError):
            os.write(2, b"gsp forkserver: died before it answered; its child does not start\n")
        os._exit(1)


def _entry(spec: str) -> Callable[[], object]:
    module, _, name = spec.partition(":")
    function = getattr(importlib.import_module(module), name or "main")
    if not callable(function):
        raise SystemExit(f"--entry {spec}: not a function; give module:function")
    return function


class Forkserver:
    """The accept / fork / reap loop (one thread, no threads at fork time).

    ``title``: the module the children pass for in ps (:func:`run_child`).
    ``orphan_signal``: sent to the children's process groups when the parent is gone
    (None: the children outlive this process, as users' servers outlive the hub).
    ``lifeline``: the read end of a pipe whose write end only the parent holds: its
    end of file tells at once that the parent is gone, however it died (the parent
    check of the loop only runs every 2 s). The children inherit it (see
    :mod:`hub.kernel_template`). ``client_gone_signal``: sent to a child whose client
    closed its connection while the child runs (None: it runs on, as a user's server
    does when the hub stops): a kernel whose server gave up on it (no answer in time,
    see :func:`hub.kernel_template.request_fork`) has nobody to stop it.
    """

    def __init__(
        self,
        path: Path,
        entry: Callable[[], object],
        parent: int,
        title: str = "hub.singleuser",
        orphan_signal: int | None = None,
        lifeline: int | None = None,
        client_gone_signal: int | None = None,
    ) -> None:
        self.path, self.entry, self.parent = path, entry, parent
        self.title, self.orphan_signal = title, orphan_signal
        self.lifeline, self.client_gone_signal = lifeline, client_gone_signal
        self.children: dict[int, socket.socket | None] = {}
        self.selector = selectors.DefaultSelector()
        self.stopping = self.parent_gone = False
        self.pid = os.getpid()

    def serve(self) -> None:
        """Listen on the socket until asked to stop (SIGTERM) or orphaned.

        In a forked child, ``SystemExit`` with the server's status leaves this loop (see
        :func:`run_child`); the listening socket is then left to the forkserver.
        """
        listener, wake_r = self._listen()
        # What is imported now lives as long as every child: out of the collector's
        # reach, a child's full collections no longer walk (and copy, by touching their
        # counts) the ~370,000 objects it inherits, ~0.5 s each on the loaded machine.
        gc.freeze()
        print(f"gsp forkserver: ready on {self.path} (pid {os.getpid()})", file=sys.stderr)
        try:
            while not self.stopping:
                for key, _ in self.selector.select(timeout=2.0):
                    self._dispatch(key, listener, wake_r)
                self._reap()
                if self.parent_gone or os.getppid() != self.parent:
                    print(
                        f"gsp forkserver: parent {self.parent} is gone, stopping", file=sys.stderr
                    )
                    self._signal_children(self.orphan_signal)
                    break
        finally:
            if os.getpid() == self.pid:  # not in a child leaving for its exit
                self._close(listener)

    def _listen(self) -> tuple[socket.socket, int]:
        """Bind the socket and route signals to the select loop; the listener and the
        read end of the wake-up pipe."""
        socket_dir_ok(self.path.parent)
        if self.path.exists() or self.path.is_symlink():
            self.path.unlink()  # left by a forkserver that was killed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        listener.listen(64)
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select through the pipe
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.selector.register(listener, selectors.EVENT_READ, "accept")
        self.selector.register(wake_r, selectors.EVENT_READ, "signal")
        if self.lifeline is not None:
            self.selector.register(self.lifeline, selectors.EVENT_READ, "lifeline")
        self.own_fds = [listener.fileno(), wake_r, wake_w]
        return listener, wake_r

    def _dispatch(self, key: selectors.SelectorKey, listener: socket.socket, wake_r: int) -> None:
        if key.data == "accept":
            self._accept(listener)
        elif key.data == "signal":
            try:
                while os.read(wake_r, 512):
                    pass  # drained: the loop reaps and checks for a stop next
            except BlockingIOError:
                pass
        elif key.data == "lifeline":
            try:
                self.parent_gone = not os.read(self.lifeline, 512)
            except BlockingIOError:
                pass
            except OSError:
                self.parent_gone = True
            if self.parent_gone:
                self.selector.unregister(self.lifeline)
        else:
            self._client_gone(key.fileobj)

    def _close(self, listener: socket.socket) -> None:
        listener.close()
        try:
            if self.path.is_socket():
                self.path.unlink()
            self.path.parent.rmdir()  # made for it; left if anything else is in it
        except OSError:
            pass

    def _stop(self, *_args) -> None:
        self.stopping = True

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        try:
            argv, env, cwd = parse_request(read_line(conn))
            if threading.active_count() > 1:
                # fork() copies only this thread: a lock held by another would hang the child.
                raise RequestError("the forkserver runs threads; start the server with Popen")
            pid, gate = _fork_gated()
            if pid == 0:
                self._drop_in_child(listener, conn)  # conn too: its client sees our death
                _wait_for_answer(gate)
                # Leaves the loop as an ordinary interpreter exit (see serve()).
                raise SystemExit(
                    run_child(self.entry, argv, env, cwd, self.own_fds[1:], self.title)
                )
        except (RequestError, OSError) as exc:
            _send(conn, {"error": str(exc)})
            conn.close()
            return
        _send(conn, {"pid": pid})
        _open_gate(gate)
        conn.setblocking(False)
        self.children[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ, "client")

    def _drop_in_child(self, listener: socket.socket, conn: socket.socket) -> None:
        """In a forked child: close the forkserver's sockets through their objects, so
        that no finalizer closes a descriptor number the server reuses later."""
        # Nothing may raise here: an error would send the child back into the loop.
        with contextlib.suppress(OSError):
            self.selector.close()
        for sock in (listener, conn, *(c for c in self.children.values() if c is not None)):
            with contextlib.suppress(OSError):
                sock.close()
        self.children.clear()

    def _signal_children(self, signum: int | None) -> None:
        """Send ``signum`` to each living child's process group (each is a session
        leader, see :func:`run_child`)."""
        if signum is None:
            return
        for pid in list(self.children):
            self._signal_child(pid, signum)

    @staticmethod
    def _signal_child(pid: int, signum: int) -> None:
        # Its group, and itself: a child forked a moment ago may not have made its own
        # session yet (then it is in this process's group, which is not signalled).
        with contextlib.suppress(OSError):
            os.killpg(pid, signum)
        with contextlib.suppress(OSError):
            os.kill(pid, signum)

    def _client_gone(self, conn: socket.socket) -> None:
        # The client closed its end (or sent something it should not): the server it
        # started runs on; only its exit can no longer be told.
        try:
            if conn.recv(1):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        self.selector.unregister(conn)
        for pid, c in list(self.children.items()):
            if c is conn:
                self.children[pid] = None  # still reaped when it exits
                if self.client_gone_signal is not None:
                    print(
                        f"gsp forkserver: the client of {pid} is gone, stopping it",
                        file=sys.stderr,
                    )
                    self._signal_child(pid, self.client_gone_signal)
        conn.close()

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.children.pop(pid, None)
            if conn is not None:
                conn.setblocking(True)
                _send(conn, {"exit": returncode(status)})
                self.selector.unregister(conn)
                conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--socket", required=True, help="path of the Unix socket to listen on")
    parser.add_argument(
        "--preload",
        action="append",
        help="module to import before forking (repeatable; default: the server's own)",
    )
    parser.add_argument(
        "--warm",
        action="append",
        help="module:function to call once imported, before forking (repeatable; default: "
        "the server's own with the default --preload, none with an explicit one)",
    )
    parser.add_argument("--entry", default=DEFAULT_ENTRY, help="module:function a child runs")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    clean = kept_environment(dict(os.environ))
    if clean != dict(os.environ):
        # The same process (pid, parent) again, with an environment block that holds
        # nothing of the hub's: the forked servers carry this block.
        os.execve(sys.executable, [sys.executable, "-m", "hub.forkserver", *argv], clean)
    parent = os.getppid()  # before the imports: the hub may stop meanwhile
    # Also readies setproctitle for the children, while the environment is intact (it
    # cannot once a child has cleared it).
    setproctitle.setproctitle(" ".join([sys.executable, "-m", "hub.forkserver", *argv]))
    started = time.monotonic()
    failed = preload(args.preload or DEFAULT_PRELOAD)
    if args.warm is not None:
        failed.update(warm(args.warm))
    elif not args.preload:
        failed.update(warm(DEFAULT_WARM))
    for name, error in failed.items():
        print(f"gsp forkserver: could not preload {name}: {error}", file=sys.stderr)
    entry = _entry(args.entry)
    gc.collect()  # the imports' garbage, before serve() freezes what is left
    print(f"gsp forkserver: imported in {time.monotonic() - started:.2f} s", file=sys.stderr)
    try:
        Forkserver(Path(args.socket), entry, parent).serve()
    except RequestError as exc:
        print(f"gsp forkserver: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
