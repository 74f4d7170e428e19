"""When is a file that is still being written complete?

A file is taken when its size and modification time have not changed for
``settle_seconds`` *and* it is a complete FITS file (its header is whole and the file
is as long as the header says). Instruments and copies write in pieces; either test
alone can be fooled (a pause mid-copy; a FITS header written before its data).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .scan import check_complete

#: Reasons that more writing cannot cure, once the file has a first byte: such a file
#: is handed back at once (registered as unusable with the reason), not after
#: ``give_up_seconds``. "still being written" reasons (no END card yet, fewer bytes than
#: the header announces) keep waiting.
FINAL_REASONS = ("not a FITS file", "unreadable header")


@dataclass
class _Watch:
    size: int
    mtime_ns: int
    stable_since: float
    first_seen: float
    reason: str = "not checked yet"


class CompletenessTracker:
    """Follows candidate files until each is complete (or given up on).

    Parameters
    ----------
    settle_seconds : float
        How long size and mtime must stay unchanged.
    give_up_seconds : float
        A file unchanged this long that is still not a complete FITS file is handed back
        as given up (ingest registers it as unusable, so it is not silently lost). A file
        that can never become FITS (see :data:`FINAL_REASONS`) is handed back as soon as
        it has settled.
    clock : callable
        Monotonic clock in seconds (injectable for tests).
    """

    def __init__(
        self,
        settle_seconds: float = 2.0,
        give_up_seconds: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settle_seconds = settle_seconds
        self.give_up_seconds = give_up_seconds
        self._clock = clock
        self._pending: dict[str, _Watch] = {}
        # The watcher touches from its event loop and checks from a worker thread.
        self._lock = threading.Lock()

    @property
    def pending(self) -> list[str]:
        """Paths being followed."""
        with self._lock:
            return sorted(self._pending)

    def touch(self, path: str | os.PathLike[str]) -> None:
        """Note that ``path`` appeared or changed; its settling time starts again."""
        path = os.path.abspath(os.fspath(path))
        try:
            stat = os.stat(path)
        except FileNotFoundError:
            with self._lock:
                self._pending.pop(path, None)
            return
        with self._lock:
            self._update(path, stat.st_size, stat.st_mtime_ns)

    def _update(self, path: str, size: int, mtime_ns: int) -> None:
        now = self._clock()
        watch = self._pending.get(path)
        if watch is None:
            self._pending[path] = _Watch(size, mtime_ns, now, now)
        elif (watch.size, watch.mtime_ns) != (size, mtime_ns):
            watch.size, watch.mtime_ns, watch.stable_since = size, mtime_ns, now

    def check(self) -> tuple[list[str], list[tuple[str, str]]]:
        """Stat every followed file once.

        Returns
        -------
        ready : list of str
            Complete files, no longer followed.
        given_up : list of (str, str)
            Files that never became complete FITS, with the last reason.
        """
        with self._lock:
            return self._check()

    def _check(self) -> tuple[list[str], list[tuple[str, str]]]:
        now = self._clock()
        ready: list[str] = []
        given_up: list[tuple[str, str]] = []
        for path, watch in list(self._pending.items()):
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                del self._pending[path]  # deleted or renamed away before completion
                continue
            if (stat.st_size, stat.st_mtime_ns) != (watch.size, watch.mtime_ns):
                watch.size, watch.mtime_ns, watch.stable_since = (
                    stat.st_size,
                    stat.st_mtime_ns,
                    now,
                )
            elif now - watch.stable_since >= self.settle_seconds:
                reason = check_complete(path)
                if reason is None:
                    ready.append(path)
                    del self._pending[path]
                    continue
                watch.reason = reason
                # Any byte on disk already tells a file that does not start like FITS
                # (the check compares the start with SIMPLE's prefix): a short bad file
                # gets its status now, not after give_up_seconds.
                if stat.st_size > 0 and reason.startswith(FINAL_REASONS):
                    given_up.append((path, reason))
                    del self._pending[path]
                    continue
            if now - watch.stable_since >= self.give_up_seconds:
                given_up.append((path, watch.reason))
                del self._pending[path]
        return ready, given_up
