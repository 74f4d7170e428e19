"""Spawners that start users' servers fast and tell the hub as soon as they answer.

After ``Spawner.start()`` returns, JupyterHub polls the new server with an exponential
backoff (0.2 s, doubling, up to 5 s between tries). A server that takes ~2.5 s to
start is then seen up only at the next try, ~3 s later: a cold login waited ~5.5 s for
a server that answered after ~2.6 s. :class:`ReadyWhenUp` polls the server's API
every ``ready_poll_interval`` seconds inside ``start()`` and returns when it answers,
so that the hub's first try succeeds.

:class:`ForkserverStart` asks :mod:`hub.forkserver` (a process that has imported the
server already) to fork the server instead of ``Popen`` running a new Python that
imports it all again: ~1.5 s less per start here, ~2 s under load.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import time

from jupyterhub.httpclient import fetch
from jupyterhub.spawner import SimpleLocalProcessSpawner
from jupyterhub.utils import random_port, url_path_join
from traitlets import Any, Float, HasTraits, Unicode

#: The command whose start the forkserver can take over (hub.platform sets it).
FORKABLE_CMD = [sys.executable, "-m", "hub.singleuser"]


class ReadyWhenUp(HasTraits):
    """Mixin for a spawner whose ``start()`` returns ``(ip, port)`` or a URL."""

    ready_poll_interval = Float(
        0.05,
        config=True,
        help="""Seconds between two tries to reach a starting user server from
        Spawner.start() (0 turns the polling off and leaves it to the hub's backoff).""",
    )

    async def start(self):
        """Start the server, then wait until its API answers (bounded by ``http_timeout``)."""
        where = await super().start()
        # With internal TLS the hub's own backoff (with its certificates) does the waiting.
        if self.ready_poll_interval > 0 and not self.internal_ssl:
            await self._wait_answering(where)
        return where

    async def _wait_answering(self, where) -> None:
        if isinstance(where, str):
            root = where
        else:
            ip, port = where
            ip = f"[{ip}]" if ":" in ip else ip
            root = f"http://{ip}:{int(port)}"
        url = url_path_join(root, self.server.base_url, "api")
        deadline = time.monotonic() + self.http_timeout
        while time.monotonic() < deadline:
            # A server that died is the hub's business (it reports the exit status).
            if await self.poll() is not None:
                return
            try:
                response = await fetch(url, raise_for_status=False, allow_redirects=False)
            except Exception:
                # Not listening yet (refused), or TLS the hub sets up itself: try again.
                pass
            else:
                if response.status < 500:
                    return
            await asyncio.sleep(self.ready_poll_interval)
        self.log.warning("%s's server did not answer at %s from start()", self.user.name, url)


class ForkserverStart(HasTraits):
    """Mixin for ``SimpleLocalProcessSpawner``: start through :mod:`hub.forkserver`.

    Falls back to the spawner's own ``Popen`` start, with the reason logged, when no
    forkserver answers (not started yet, still importing, stopped), when it refuses, or
    when the command is not ``python -m hub.singleuser`` of this Python, or when
    ``popen_kwargs`` or ``shell_cmd`` are configured (only ``Popen`` honours them).
    """

    forkserver_socket = Unicode(
        "",
        config=True,
        help="""Unix socket of a running `python -m hub.forkserver` (a hub-managed
        service set up by hub.platform.configure_spawner). Empty: every server is
        started by Popen.""",
    )
    forkserver_timeout = Float(
        5.0,
        config=True,
        help="""Seconds to wait to connect to the forkserver (then Popen starts the
        server instead), and for its answer once asked (then the spawn fails: a server
        may be starting on the port).""",
    )

    _exit_watch = Any(None, allow_none=True)

    async def start(self):
        """Fork the server from the forkserver, or start it as a new process."""
        if (
            not self.forkserver_socket
            or self.shell_cmd
            or self.popen_kwargs  # deployer's Popen options (log files...) need Popen
            or list(self.cmd) != FORKABLE_CMD
        ):
            return await super().start()
        if self.port == 0:
            self.port = random_port()
        request = {"argv": self.get_args(), "env": self.get_env(), "cwd": self.home_dir}
        try:
            conn = await asyncio.wait_for(_connect(self.forkserver_socket), self.forkserver_timeout)
        except OSError as exc:  # none listening (yet): not started, importing, stopped
            self.log.info(
                "%s's server starts as a new process (no forkserver at %s: %s)",
                self.user.name,
                self.forkserver_socket,
                exc or type(exc).__name__,
            )
            return await super().start()
        try:
            pid, watch = await asyncio.wait_for(_fork(conn, request), self.forkserver_timeout)
        except ForkRefused as exc:  # nothing was forked: Popen is safe
            self.log.warning("%s's server starts as a new process: %s", self.user.name, exc)
            return await super().start()
        except (OSError, ValueError) as exc:
            # The request went out: a server may be starting on this port, and a second
            # one would fail on it. Fail this spawn; the hub reports it and a retry works.
            raise RuntimeError(
                f"the forkserver at {self.forkserver_socket} took the request to start "
                f"{self.user.name}'s server but gave no pid ({exc or type(exc).__name__})"
            ) from exc
        self.log.info("%s's server forked by the forkserver: pid %i", self.user.name, pid)
        self.proc = None
        self.pid = pid
        self._exit_watch = watch
        return (self.ip or "127.0.0.1", self.port)

    async def poll(self):
        """The exit status the forkserver reported, else the pid check of the base class."""
        watch = self._exit_watch
        if watch is not None:
            if not watch.done():
                return None
            self._exit_watch = None
            status = None if watch.cancelled() or watch.exception() else watch.result()
            if status is not None:
                self.clear_state()
                return status
            # The forkserver went away: whether the server runs is told by its pid.
        return await super().poll()

    def clear_state(self):
        """Forget the server, and stop watching for its exit."""
        super().clear_state()
        if self._exit_watch is not None:
            self._exit_watch.cancel()
            self._exit_watch = None


class ForkRefused(ValueError):
    """The forkserver forked nothing that runs: it answered with an error, or died
    before its answer (which its child waits for)."""


#: Longest answer line taken from the forkserver (its answers are a few dozen bytes).
MAX_ANSWER_BYTES = 1 << 16


async def _connect(path: str) -> socket.socket:
    """A non-blocking connection to the forkserver at ``path``."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.setblocking(False)
    try:
        await asyncio.get_running_loop().sock_connect(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


async def _fork(conn: socket.socket, request: dict) -> tuple[int, asyncio.Task]:
    """Send the request on an open forkserver connection; the server's pid and a task
    that ends with its exit status (``None`` if the forkserver goes away first).

    A raw socket, not asyncio's streams: a failed send closes a stream's transport,
    and with it the answer the forkserver sent before it closed the connection.
    """
    loop = asyncio.get_running_loop()
    pending = bytearray()  # what came after the answer's line: the exit line, maybe
    try:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            # The forkserver stops reading a request it refuses (over its size limit)
            # and closes the connection after its answer, which is still there to read.
            await loop.sock_sendall(conn, json.dumps(request).encode() + b"\n")
        answer = json.loads(await _read_line(conn, pending) or b"{}")
    except BaseException:
        conn.close()
        raise
    if "pid" not in answer:
        conn.close()
        if "error" in answer:
            raise ForkRefused(f"the forkserver refused: {answer['error']}")
        # It died before its answer, and its child with it (it starts only once
        # answered for, hub.forkserver._fork_gated): nothing runs, Popen is safe.
        raise ForkRefused("the forkserver closed the connection without an answer")

    async def exit_status() -> int | None:
        try:
            line = await _read_line(conn, pending)
            return int(json.loads(line)["exit"]) if line else None
        except (ValueError, KeyError, TypeError, OSError):
            return None
        finally:
            conn.close()

    return int(answer["pid"]), asyncio.ensure_future(exit_status())


async def _read_line(conn: socket.socket, pending: bytearray) -> bytes:
    """The next line from ``conn`` (``pending``: bytes read past the previous one), or
    what came before the peer closed.

    Raises
    ------
    ValueError
        A line longer than :data:`MAX_ANSWER_BYTES`.
    """
    loop = asyncio.get_running_loop()
    while b"\n" not in pending:
        if len(pending) > MAX_ANSWER_BYTES:
            raise ValueError(f"the forkserver's answer is longer than {MAX_ANSWER_BYTES} bytes")
        try:
            chunk = await loop.sock_recv(conn, 65536)
        except ConnectionResetError:  # closed with our request unread: its end, as EOF
            chunk = b""
        if not chunk:
            line = bytes(pending)
            pending.clear()
            return line
        pending += chunk
    end = pending.index(b"\n") + 1
    line = bytes(pending[:end])
    del pending[:end]
    return line


class ReadySimpleLocalProcessSpawner(ReadyWhenUp, ForkserverStart, SimpleLocalProcessSpawner):
    """``SimpleLocalProcessSpawner`` (config section ``SimpleLocalProcessSpawner``
    applies) started through the forkserver when there is one, that returns from
    ``start()`` once the server answers."""
