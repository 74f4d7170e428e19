"""Watch ``GSP_DATA_ROOT/raw/`` at any depth and register each file once it is complete.

Events come from watchfiles (inotify and friends). Network filesystems (NFS, SMB) often
deliver no events, so ``mode="poll"`` walks the tree instead, and the default
``mode="auto"`` uses events *and* a slow safety-net walk; if native watching cannot
start at all, ``auto`` falls back to polling.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from gsp_extension.store import Database
from gsp_extension.store.activity import log_event
from gsp_extension.store.models import File
from pipeline.vocabulary import DataType

from .complete import CompletenessTracker
from .register import IngestCounts, register_batch
from .scan import ScannedFile, is_fits_name, refusal, scan_file

log = logging.getLogger(__name__)

MODES = ("auto", "native", "poll")


def walk_fits(
    root: str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str] | None = None,
    refused: Callable[[str, str], Any] | None = None,
) -> Iterator[tuple[str, os.stat_result]]:
    """Every raw FITS file under ``root`` (any depth, hidden entries skipped), with its stat.

    Entries named like FITS files that are not taken (:func:`~.scan.refusal`: links out
    of ``data_root``, dangling links, directories) are passed to ``refused(path,
    reason)`` instead, and directories so named are not walked into.
    """
    data_root = data_root if data_root is not None else Path(root).resolve().parent
    stack = [os.fspath(root)]
    while stack:
        for entry in _visible_entries(stack.pop()):
            try:
                taken = _take(entry, data_root, refused)
            except FileNotFoundError:
                continue  # gone while we looked
            if taken == "walk":
                stack.append(entry.path)
            elif taken is not None:
                yield os.path.abspath(entry.path), taken


def _visible_entries(folder: str) -> list[os.DirEntry]:
    """A folder's entries, hidden ones left out (none when it cannot be read)."""
    try:
        return [e for e in os.scandir(folder) if not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return []


def _take(entry: os.DirEntry, data_root, refused) -> os.stat_result | str | None:
    """What :func:`walk_fits` does with an entry: its stat (a raw FITS file), ``"walk"``
    (a folder), or ``None`` (not taken; a refused FITS-named entry is reported)."""
    fits_name = is_fits_name(entry.name)
    if fits_name and (entry.is_symlink() or not entry.is_file()):
        reason = refusal(entry.path, data_root)
        if reason is not None:
            if refused is not None:
                refused(os.path.abspath(entry.path), reason)
            return None
    if entry.is_dir(follow_symlinks=False):
        return "walk"
    if fits_name and entry.is_file():
        return entry.stat()
    return None


class RawWatcher:
    """Registers raw files as they become complete.

    Parameters
    ----------
    db : Database
    raw_root : path-like
        The tree to watch (``GSP_DATA_ROOT/raw``).
    mode : {"auto", "native", "poll"}
        Event source, see the module docstring.
    settle_seconds, give_up_seconds : float
        See :class:`~gsp_extension.ingest.complete.CompletenessTracker`.
    poll_seconds : float
        Interval of tree walks in ``poll`` mode.
    safety_poll_seconds : float
        Interval of the safety-net walk in ``auto`` mode.
    tick_seconds : float
        How often followed files are checked for completeness.
    catch_up_seconds : float
        How soon after the native watch starts the tree is walked once, for the files
        that arrived between the initial scan and the watch (they have no event).
    batch_size : int
        Most files registered in one transaction.
    on_registered : callable, optional
        Called with the :class:`IngestCounts` of each batch that registered something
        (sync or async); the job engine hooks in here.
    data_root : path-like, optional
        Nothing outside it is read (links leading out are refused); by default the
        parent of ``raw_root``.
    """

    def __init__(
        self,
        db: Database,
        raw_root: str | os.PathLike[str],
        *,
        mode: str = "auto",
        settle_seconds: float = 0.3,
        give_up_seconds: float = 600.0,
        poll_seconds: float = 5.0,
        safety_poll_seconds: float = 60.0,
        tick_seconds: float = 0.1,
        catch_up_seconds: float = 1.0,
        batch_size: int = 200,
        on_registered: Callable[[IngestCounts], Any] | None = None,
        data_root: str | os.PathLike[str] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"watch mode {mode!r} is not one of {MODES}")
        self.db = db
        self.raw_root = Path(raw_root).resolve()
        self.data_root = Path(data_root).resolve() if data_root else self.raw_root.parent
        #: Paths refused (and the reason), reported once each.
        self.refused: dict[str, str] = {}
        self.mode = mode
        self.poll_seconds = poll_seconds
        self.safety_poll_seconds = safety_poll_seconds
        self.tick_seconds = tick_seconds
        if catch_up_seconds <= 0:
            raise ValueError(f"catch_up_seconds must be > 0 (seconds), not {catch_up_seconds!r}")
        self.catch_up_ms = max(1, round(catch_up_seconds * 1000))
        self.batch_size = batch_size
        self.on_registered = on_registered
        self.tracker = CompletenessTracker(settle_seconds, give_up_seconds)
        self._snapshot: dict[str, tuple[int, int]] = {}
        self.totals = IngestCounts()

    # --- synchronous steps (run in worker threads by :meth:`run`) -------------------------

    def initial_scan(self) -> int:
        """Follow every file that is not registered, or whose size changed, since last run.

        Returns
        -------
        int
            How many files are now followed.
        """
        with self.db.session() as session:
            known = dict(
                session.execute(
                    select(File.full_path, File.size).where(
                        File.data_type == DataType.RAW, File.superseded_at.is_(None)
                    )
                ).all()
            )
        count = 0
        for path, stat in self._walk():
            self._snapshot[path] = (stat.st_size, stat.st_mtime_ns)
            if known.get(path) != stat.st_size:
                self.tracker.touch(path)
                count += 1
        return count

    def _walk(self) -> Iterator[tuple[str, os.stat_result]]:
        return walk_fits(self.raw_root, data_root=self.data_root, refused=self.refuse)

    def refuse(self, path: str, reason: str) -> bool:
        """Report once that ``path`` is not taken, and why (log and the Logs view).

        Returns whether this was the first report (a changed reason is reported again).
        """
        if self.refused.get(path) == reason:
            return False
        self.refused[path] = reason
        log.warning("ingest: %s not taken: %s", path, reason)
        try:
            with self.db.transaction() as session:
                log_event(
                    session,
                    f"{os.path.basename(path)} in raw/ not taken: {reason} ({path})",
                    level="WARNING",
                    event="file.refused",
                )
        except Exception as exc:  # noqa: BLE001 - the log line above says it already
            log.warning("ingest: could not record the refusal of %s: %s", path, exc)
        return True

    def take(self, path: str) -> None:
        """Follow ``path`` (an event said it changed), unless it is refused."""
        reason = refusal(path, self.data_root) if os.path.lexists(path) else None
        if reason is not None:
            self.refuse(os.path.abspath(path), reason)
        else:
            self.tracker.touch(path)

    def poll_once(self) -> int:
        """Walk the tree and follow files that are new or changed since the last walk."""
        seen: dict[str, tuple[int, int]] = {}
        changed = 0
        for path, stat in self._walk():
            seen[path] = (stat.st_size, stat.st_mtime_ns)
            if self._snapshot.get(path) != seen[path]:
                self.tracker.touch(path)
                changed += 1
        self._snapshot = seen
        return changed

    def process_ready(self) -> IngestCounts:
        """Scan and register the files that became complete (and those given up on)."""
        ready, given_up = self.tracker.check()
        for path, reason in given_up:
            log.warning("%s never became a complete FITS file (%s); registering it", path, reason)
        counts = IngestCounts()
        reasons = dict(given_up)
        paths = ready + [p for p, _ in given_up]
        for start in range(0, len(paths), self.batch_size):
            scanned: list[ScannedFile] = []
            for path in paths[start : start + self.batch_size]:
                reason = refusal(path, self.data_root) if os.path.lexists(path) else None
                if reason is not None:  # replaced by a link or a folder meanwhile
                    self.refuse(path, reason)
                    continue
                try:
                    found = scan_file(path)
                    if path in reasons:
                        # Whatever its header says, an incomplete file is not processed.
                        found = dataclasses.replace(
                            found,
                            usable=False,
                            status_reason=f"incomplete or invalid FITS file: {reasons[path]}",
                        )
                    scanned.append(found)
                except OSError as exc:
                    # Vanished or unreadable right now: follow it again.
                    log.warning("cannot read %s now (%s); will retry", path, exc)
                    self.tracker.touch(path)
            if scanned:
                counts.add(self._register(scanned))
        for error in counts.errors:
            log.error("ingest: %s", error)
        if counts.registered_ids:
            log.info("ingest: registered %d raw file(s)", len(counts.registered_ids))
        self.totals.add(counts)
        return counts

    def _register(self, scanned: list[ScannedFile]) -> IngestCounts:
        """Register a batch; if the database refuses it, each file alone, so one odd file
        neither keeps the others out nor stops the watcher (the loop would die with it).

        A file the database still refuses alone is registered as unusable without its
        header (so it is in Logs with the reason); if even that fails (the database is
        away), it is followed again and retried later.
        """
        try:
            return register_batch(self.db, scanned)
        except Exception as exc:  # noqa: BLE001 - redone file by file below
            log.warning("ingest: a batch of %d files failed (%r); one by one", len(scanned), exc)
        counts = IngestCounts()
        for found in scanned:
            try:
                counts.add(register_batch(self.db, [found]))
                continue
            except OperationalError as exc:  # the database is away: not the file's fault
                log.warning("ingest: %s not registered yet (%r); will retry", found.path, exc)
                self.tracker.touch(found.path)
                continue
            except Exception as exc:  # noqa: BLE001 - recorded below, with the reason
                reason = f"cannot be registered: {type(exc).__name__}: {exc}".splitlines()[0]
                log.error("ingest: %s %s", found.path, reason)
            bare = dataclasses.replace(
                found, usable=False, cards=None, fields={}, status_reason=reason[:500]
            )
            try:
                counts.add(register_batch(self.db, [bare]))
            except Exception as exc:  # noqa: BLE001 - e.g. the database is away: retry later
                log.warning("ingest: %s not registered yet (%r); will retry", found.path, exc)
                self.tracker.touch(found.path)
        return counts

    # --- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Watch until ``stop`` is set (forever if not given)."""
        stop = stop or asyncio.Event()
        followed = await asyncio.to_thread(self.initial_scan)
        log.info("watching %s (%s); %d files to (re)check", self.raw_root, self.mode, followed)
        sources = [asyncio.create_task(self._events(stop))]
        if self.mode == "auto":
            sources.append(asyncio.create_task(self._poll_loop(stop, self.safety_poll_seconds)))
        try:
            while not stop.is_set():
                try:
                    counts = await asyncio.to_thread(self.process_ready)
                    if counts.registered_ids and self.on_registered is not None:
                        result = self.on_registered(counts)
                        if inspect.isawaitable(result):
                            await result
                except Exception:  # noqa: BLE001 - the watcher must outlive one bad tick
                    log.exception("ingest: registering new raw files failed; going on")
                try:
                    await asyncio.wait_for(stop.wait(), self.tick_seconds)
                except TimeoutError:
                    pass
        finally:
            for task in sources:
                task.cancel()
            await asyncio.gather(*sources, return_exceptions=True)

    async def _events(self, stop: asyncio.Event) -> None:
        if self.mode in ("auto", "native"):
            # watchfiles sets the event it is given when its task is cancelled: given
            # the service's stop event, a watcher that ends (e.g. on an error) would
            # stop the job engine and the heartbeat too. It gets its own, set with ours.
            own = asyncio.Event()
            follow = asyncio.create_task(self._follow_stop(stop, own))
            try:
                import watchfiles

                caught_up = False
                async for changes in watchfiles.awatch(
                    self.raw_root,
                    stop_event=own,
                    debounce=200,
                    step=50,
                    recursive=True,
                    # awatch yields only once its watches are set: the first (empty)
                    # yield, a second after they are, is the moment to catch up.
                    yield_on_timeout=True,
                    rust_timeout=self.catch_up_ms,
                    watch_filter=self._wanted_change,
                ):
                    if not caught_up:
                        caught_up = True
                        await asyncio.to_thread(self.catch_up)
                    for change, path in changes:
                        if change == watchfiles.Change.added and self._is_folder(path):
                            await asyncio.to_thread(self.take_folder, path)
                        else:
                            await asyncio.to_thread(self.take, path)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.mode == "native":
                    raise
                log.warning("native file watching failed (%s); polling %s", exc, self.raw_root)
            finally:
                follow.cancel()
        await self._poll_loop(stop, self.poll_seconds)

    @staticmethod
    def _is_folder(path: str) -> bool:
        """A visible folder (not a link: the walks do not follow links to folders)."""
        return (
            not os.path.basename(path).startswith(".")
            and os.path.isdir(path)
            and not os.path.islink(path)
        )

    def _wanted_change(self, change: Any, path: str) -> bool:
        """The events the watcher acts on: FITS files and folders, added or changed."""
        if change.name == "deleted":
            return False
        if is_fits_name(path):
            return True
        return change.name == "added" and self._is_folder(path)

    def catch_up(self) -> int:
        """Follow the files that arrived between the initial scan and the watch's start.

        The native watch is set only after the initial scan, while the service starts
        (its dask cluster, its imports): a file dropped in between has no event, and
        waited for the safety-net walk (a minute) before it was registered.

        Returns
        -------
        int
            How many files are newly followed.
        """
        found = self.poll_once()
        if found:
            log.info("ingest: %d file(s) arrived while the watch started", found)
        return found

    def take_folder(self, path: str) -> int:
        """Follow every raw FITS file under a folder that was just created or moved in.

        inotify watches a new folder only once its creation event is handled: a file
        written into it before that (a night's folder made and filled at once) or a
        folder moved in whole has no event of its own, and waited for the safety-net
        walk (a minute; never with ``mode="native"``).

        Returns
        -------
        int
            How many files are followed.
        """
        count = 0
        for file_path, _stat in walk_fits(path, data_root=self.data_root, refused=self.refuse):
            self.tracker.touch(file_path)
            count += 1
        return count

    @staticmethod
    async def _follow_stop(stop: asyncio.Event, own: asyncio.Event) -> None:
        await stop.wait()
        own.set()

    async def _poll_loop(self, stop: asyncio.Event, interval: float) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval)
            except TimeoutError:
                pass
            if not stop.is_set():
                await asyncio.to_thread(self.poll_once)
