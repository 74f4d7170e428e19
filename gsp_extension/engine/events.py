"""Events: every state change is published to subscribers.

:class:`EventBus` is the interface; :class:`InProcessEventBus` delivers to callbacks in
this process. A broker (Redis, NATS...) can implement the same two methods later. The
events people see are also stored as log entries (the API's event stream reads those),
so a subscriber that misses an in-process event can still catch up from the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One state change: ``topic`` like ``"job.done"`` or ``"file.registered"``."""

    topic: str
    payload: dict[str, Any]
    time: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


class EventBus(Protocol):
    """Publish events; subscribe callbacks (by topic prefix)."""

    def publish(self, topic: str, payload: dict[str, Any]) -> None: ...

    def subscribe(
        self, callback: Callable[[Event], Any], prefix: str = ""
    ) -> Callable[[], None]: ...


class InProcessEventBus:
    """Calls subscribers synchronously, in publication order; thread-safe.

    A subscriber that raises is logged and does not stop delivery to the others.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[tuple[str, Callable[[Event], Any]]] = []

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        event = Event(topic, payload)
        with self._lock:
            subscribers = list(self._subscribers)
        for prefix, callback in subscribers:
            if topic.startswith(prefix):
                try:
                    callback(event)
                except Exception:  # noqa: BLE001 - one bad subscriber must not stop the rest
                    log.exception("event subscriber %r failed on %s", callback, topic)

    def subscribe(self, callback: Callable[[Event], Any], prefix: str = "") -> Callable[[], None]:
        """Call ``callback(event)`` for topics starting with ``prefix``; returns unsubscribe."""
        entry = (prefix, callback)
        with self._lock:
            self._subscribers.append(entry)

        def unsubscribe() -> None:
            with self._lock:
                if entry in self._subscribers:
                    self._subscribers.remove(entry)

        return unsubscribe
