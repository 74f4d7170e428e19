"""Shut down the kernel of a Voilà page nobody has open any more.

A Voilà page owns one kernel, started for it and for nothing else. Voilà's front end
asks the server to shut it down when the page unloads (a beacon on ``beforeunload``),
but that beacon is lost when the browser crashes or is killed, a laptop sleeps, the
network drops, or the browser skips it. The kernel then lives on, and the server's idle
cull (``MappingKernelManager.cull_idle_timeout``) never takes it: the app's live event
stream updates widgets from a thread, so the kernel is never idle. Through a night that
was 43 kernels and 6 GB.

This server extension (``voila_apps.kernel_reaper``, enabled by
:func:`configure_page_kernel_reaper`) checks every :attr:`PageKernelReaper.interval`
seconds for kernels that belong to no notebook session (Voilà starts its kernels
without one; JupyterLab's notebooks and consoles have one and are left alone) and have
had no websocket connection for :attr:`PageKernelReaper.disconnected_timeout` seconds,
and shuts them down, whatever they are doing. A page that reconnects within that time
(a network hiccup) keeps its kernel.

Switch (environment of the user's server): ``GSP_PAGE_KERNEL_TIMEOUT`` seconds a page's
kernel may stay without a connection (default 60; 0 turns the reaper off).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from typing import Any

from traitlets import Float
from traitlets.config import LoggingConfigurable

#: Name under which jupyter_server loads this module as an extension.
EXTENSION = "voila_apps.kernel_reaper"
#: Environment switch of the user's server (seconds; 0 turns the reaper off).
TIMEOUT_SWITCH = "GSP_PAGE_KERNEL_TIMEOUT"


class PageKernelReaper(LoggingConfigurable):
    """Shut down session-less kernels (Voilà pages) left without a connection.

    Parameters
    ----------
    kernel_manager : jupyter_server MappingKernelManager
        The server's kernels (``kernel_model(id)["connections"]``, ``shutdown_kernel``).
    session_kernels : callable
        Coroutine function returning the ids of kernels that belong to a session
        (JupyterLab's notebooks and consoles): never touched here.
    clock : callable
        Seconds, monotonic (tests pass their own).
    """

    disconnected_timeout = Float(
        60.0,
        config=True,
        help="""Seconds a Voilà page's kernel may stay without any websocket connection
        before it is shut down (its page was closed without the shutdown beacon, or the
        browser went away). Short enough to keep a night's memory flat, long enough
        for a page to reconnect after a network hiccup. 0 turns the reaper off.""",
    )
    interval = Float(
        15.0,
        config=True,
        help="""Seconds between two checks for disconnected page kernels. A closed
        page's kernel stops at most disconnected_timeout + interval seconds after.""",
    )

    def __init__(
        self,
        kernel_manager: Any,
        session_kernels: Callable[[], Any],
        clock: Callable[[], float] = time.monotonic,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kernel_manager = kernel_manager
        self.session_kernels = session_kernels
        self.clock = clock
        self._alone_since: dict[str, float] = {}  # kernel id -> first seen disconnected
        self._callback = None
        self.reaped = 0

    async def reap_once(self) -> list[str]:
        """One round: shut down the kernels disconnected for too long; their ids."""
        now = self.clock()
        in_sessions = set(await self.session_kernels())
        gone: list[str] = []
        alive = set(self.kernel_manager.list_kernel_ids())
        for kernel_id in list(self._alone_since):
            if kernel_id not in alive:  # shut down by its beacon, the cull or a user
                del self._alone_since[kernel_id]
        for kernel_id in alive:
            try:
                connections = self.kernel_manager.kernel_model(kernel_id)["connections"]
            except KeyError:  # shut down while this round ran
                continue
            if kernel_id in in_sessions or connections:
                self._alone_since.pop(kernel_id, None)
                continue
            since = self._alone_since.setdefault(kernel_id, now)
            if now - since < self.disconnected_timeout:
                continue
            self.log.info(
                "Shutting down page kernel %s: no connection for %.0f s (its page is closed)",
                kernel_id,
                now - since,
            )
            try:
                await _maybe_await(self.kernel_manager.shutdown_kernel(kernel_id))
            except KeyError:
                pass  # gone meanwhile
            except Exception:  # noqa: BLE001 - one kernel failing must not stop the others
                self.log.exception("Could not shut down page kernel %s", kernel_id)
                continue
            self._alone_since.pop(kernel_id, None)
            gone.append(kernel_id)
        self.reaped += len(gone)
        return gone

    def start(self) -> None:
        """Check every :attr:`interval` seconds on the server's event loop."""
        if self.disconnected_timeout <= 0 or self._callback is not None:
            return
        from tornado.ioloop import PeriodicCallback

        self._callback = PeriodicCallback(self._round, 1000 * self.interval)
        self._callback.start()
        self.log.info(
            "Shutting down Voila page kernels without a connection for %g s (checked every %g s)",
            self.disconnected_timeout,
            self.interval,
        )

    async def _round(self) -> None:
        try:
            await self.reap_once()
        except Exception:  # noqa: BLE001 - the next round tries again
            self.log.exception("Checking for page kernels without a connection failed")

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None


async def _maybe_await(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": EXTENSION}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Start the reaper in a user's server (jupyter_server calls this)."""

    async def session_kernels() -> list[str]:
        sessions = await serverapp.session_manager.list_sessions()
        return [s["kernel"]["id"] for s in sessions if s.get("kernel")]

    reaper = PageKernelReaper(
        serverapp.kernel_manager, session_kernels, parent=serverapp, log=serverapp.log
    )
    serverapp.web_app.settings["gsp_page_kernel_reaper"] = reaper
    reaper.start()


def configure_page_kernel_reaper(c: Any, environ: Mapping[str, str] | None = None) -> float:
    """Enable the reaper in a user server's config; returns its timeout in seconds.

    ``GSP_PAGE_KERNEL_TIMEOUT`` (seconds, default 60; 0 turns it off).

    Raises
    ------
    ValueError
        When the switch is not a number of seconds >= 0.
    """
    env = os.environ if environ is None else environ
    raw = env.get(TIMEOUT_SWITCH, "").strip()
    try:
        timeout = float(raw) if raw else 60.0
    except ValueError:
        timeout = -1.0
    if not timeout >= 0:
        raise ValueError(f"{TIMEOUT_SWITCH}={raw!r}: give a number of seconds >= 0 (0: off)")
    c.PageKernelReaper.disconnected_timeout = timeout
    # Checked four times per timeout (at most every 15 s): a closed page's kernel stops
    # within 1.25 x the timeout.
    c.PageKernelReaper.interval = min(15.0, max(1.0, timeout / 4))
    c.ServerApp.jpserver_extensions.update({EXTENSION: timeout > 0})
    return timeout
