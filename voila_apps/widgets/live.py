"""Live updates of an open page from the API's event stream (``GET api/events/``).

A :class:`LiveFeed` follows the stream on a daemon thread and hands each event to a
callback. When the stream drops it reconnects with exponential backoff, resuming after
the last event seen (``after_id``, so nothing is missed), and while it is down it calls
a slow polling fallback instead. The thread ends on :meth:`LiveFeed.stop` (at the next
event or read timeout) and never keeps a culled kernel alive (daemon).
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

from .errors import GSPError, describe, log

#: Events after which the file lists may have changed.
FILE_EVENTS = frozenset({"file.registered", "file.new_version", "file.product", "file.deleted"})
#: Events that end (or restart) a job.
JOB_EVENTS = frozenset({"job.done", "job.failed", "job.retry"})


class LiveFeed:
    """Follow ``api/events/`` in the background.

    Parameters
    ----------
    client : GSPClient-like
        Its ``events(after_id=, read_timeout=)`` yields event records.
    on_event : callable
        Called with each event record (on the feed's thread).
    on_poll : callable
        The fallback: called once when the stream drops and then every ``fallback``
        seconds while it stays down.
    fallback : float
        Seconds between fallback polls while the stream is down.
    read_timeout : float
        Seconds without a byte after which the stream counts as dead (the service
        sends a keep-alive every 15 s by default).
    backoff : (float, float)
        First and longest wait before reconnecting; doubled after each failure.
    on_state : callable, optional
        Called with the feed after each change of state (open, event, drop, poll).
    """

    def __init__(
        self,
        client: Any,
        on_event: Callable[[dict], None],
        on_poll: Callable[[], None],
        *,
        fallback: float = 60.0,
        read_timeout: float = 40.0,
        backoff: tuple[float, float] = (1.0, 60.0),
        on_state: Callable[[LiveFeed], None] | None = None,
    ) -> None:
        self.client = client
        self.on_event = on_event
        self.on_poll = on_poll
        self.fallback = fallback
        self.read_timeout = read_timeout
        self.backoff = backoff
        self.on_state = on_state
        self.events = 0  # events received
        self.last_id: int | None = None
        self.healthy = False  # the stream is open (as far as we know)
        self.failures = 0  # consecutive failed connections
        self.reconnects = 0
        self.polls = 0
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start following (no-op when already running)."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gsp-events", daemon=True)
        self._thread.start()

    def stop(self, wait: float = 0.0) -> None:
        """Ask the thread to end; wait up to ``wait`` seconds for it."""
        self._stop.set()
        if wait and self._thread is not None:
            self._thread.join(wait)

    def follow_once(self) -> None:
        """Read the stream until it ends or fails (raises what the stream raised)."""
        events = self.client.events(after_id=self.last_id, read_timeout=self.read_timeout)
        try:
            self.healthy = True
            self._changed()
            for event in events:
                if self._stop.is_set():
                    return
                self.failures = 0
                self.events += 1
                if isinstance(event.get("id"), int):
                    self.last_id = event["id"]
                try:
                    self.on_event(event)
                except Exception:  # noqa: BLE001 - a broken handler must not end the feed
                    log.exception("live feed: the handler of event %s failed", event.get("id"))
                self._changed()
        finally:
            self.healthy = False
            close = getattr(events, "close", None)
            if close is not None:
                close()

    def _changed(self) -> None:
        if self.on_state is not None:
            try:
                self.on_state(self)
            except Exception:  # noqa: BLE001 - the feed goes on; the bug is in the log
                log.exception("live feed: the state callback failed")

    def _poll(self) -> None:
        self.polls += 1
        try:
            self.on_poll()
        except Exception:  # noqa: BLE001 - the next poll comes; the bug is in the log
            log.exception("live feed: the poll callback failed")
        self._changed()

    def _run(self) -> None:
        first, longest = self.backoff
        last_poll = float("-inf")
        while not self._stop.is_set():
            try:
                self.follow_once()
                self.last_error = "the stream ended"
            # The stream cut or refused (the client's errors), or a line not JSON: reconnect
            # later, showing why (``last_error``).
            except (GSPError, ConnectionError, OSError, ValueError) as exc:
                self.last_error = describe(exc)
            if self._stop.is_set():
                return
            self.failures += 1
            self._changed()
            # Down: catch up at once (events may be lost when no id was seen yet), then
            # poll slowly until a connection holds.
            if self.failures == 1 or time.monotonic() - last_poll >= self.fallback:
                self._poll()
                last_poll = time.monotonic()
            wait = min(longest, first * 2 ** (self.failures - 1))
            deadline = time.monotonic() + wait
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= deadline:
                    break
                if now - last_poll >= self.fallback:
                    self._poll()
                    last_poll = now
                self._stop.wait(min(deadline - now, max(0.01, self.fallback - (now - last_poll))))
            self.reconnects += 1


def status_html(feed: LiveFeed) -> str:
    """A small indicator of the feed: live, or reconnecting (and polling meanwhile)."""
    data = f"data-events='{feed.events}' data-polls='{feed.polls}'"
    if feed.healthy:
        return (
            f"<span class='gsp-live gsp-live-on' {data} title='updates arrive as they happen "
            "(event stream)'>&#9679; live</span>"
        )
    return (
        f"<span class='gsp-live gsp-live-off' {data} title='{html.escape(feed.last_error or '')}'>"
        f"&#9675; reconnecting; checking every {feed.fallback:g} s meanwhile</span>"
    )


def health_banner_html(report: dict | None) -> str:
    """A banner when live processing has stopped or lags (``GET api/health/``); empty
    when all is well or unknown."""
    if not report or report.get("status") == "ok":
        return ""
    stopped = report.get("status") == "stopped"
    title = "Processing has stopped" if stopped else "Processing is degraded"
    items = "".join(f"<li>{html.escape(p)}</li>" for p in report.get("problems") or [])
    kind = "gsp-health-stopped" if stopped else "gsp-health-degraded"
    colour = "#fdecea;border:1px solid #d93025" if stopped else "#fff4e5;border:1px solid #f29900"
    return (
        f"<div class='gsp-health-banner {kind}' role='alert' "
        f"style='background:{colour};padding:4px 8px;margin:4px 0'><b>{title}</b>"
        f"<ul>{items}</ul></div>"
    )
