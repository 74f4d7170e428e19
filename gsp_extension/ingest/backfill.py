"""Register an existing archive: scan files in parallel, register them in batches."""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from gsp_extension.store import Database

from .register import IngestCounts, register_batch
from .scan import ScannedFile, is_fits_name, scan_file
from .watcher import walk_fits


@dataclass
class BackfillReport:
    """The outcome of :func:`backfill`."""

    files: int = 0
    seconds: float = 0.0
    counts: IngestCounts = field(default_factory=IngestCounts)
    unreadable: list[str] = field(default_factory=list)

    @property
    def files_per_second(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        c = self.counts
        return (
            f"{self.files} files in {self.seconds:.1f} s ({self.files_per_second:.0f} files/s): "
            f"{c.new} new, {c.new_versions} new versions, {c.unchanged} already registered, "
            f"{c.unusable} unusable, {len(c.placeholders)} placeholder proposals, "
            f"{len(c.errors) + len(self.unreadable)} errors"
        )


def find_files(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Raw FITS files named by ``paths`` (files, or folders searched at any depth)."""
    found: list[str] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found.extend(p for p, _ in walk_fits(path))
        elif path.is_file():
            if not is_fits_name(path):
                raise ValueError(f"{path} is not a FITS file name (expected .fits, .fit, ...)")
            found.append(str(path.resolve()))
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return sorted(set(found))


def _scan(path: str) -> ScannedFile | str:
    try:
        return scan_file(path)
    except OSError as exc:
        return f"{path}: {exc}"


def _scanned(paths: list[str], workers: int) -> Iterator[ScannedFile | str]:
    if workers <= 1:
        yield from map(_scan, paths)
        return
    # forkserver: workers do not inherit the parent's DB connections or threads.
    context = multiprocessing.get_context("forkserver")
    # Imported once in the fork server, so each worker starts ready.
    context.set_forkserver_preload(["gsp_extension.ingest.scan", "pipeline.classify"])
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_scan, paths, chunksize=16)


def backfill(
    db: Database,
    paths: Iterable[str | os.PathLike[str]],
    *,
    workers: int | None = None,
    batch_size: int = 200,
    progress: Callable[[int, int], None] | None = None,
) -> BackfillReport:
    """Register every raw file under ``paths`` (idempotent: re-runs change nothing).

    Parameters
    ----------
    db : Database
    paths : iterable of path-like
        Files or folders.
    workers : int, optional
        Scanning processes (checksum, header, classification); default: CPU count.
    batch_size : int
        Files registered per transaction.
    progress : callable, optional
        Called as ``progress(done, total)`` after each batch.
    """
    start = time.perf_counter()
    files = find_files(paths)
    report = BackfillReport(files=len(files))
    workers = workers or os.cpu_count() or 1
    batch: list[ScannedFile] = []
    done = 0
    for item in _scanned(files, workers):
        if isinstance(item, str):
            report.unreadable.append(item)
            done += 1
            continue
        batch.append(item)
        if len(batch) >= batch_size:
            report.counts.add(register_batch(db, batch))
            done += len(batch)
            batch = []
            if progress is not None:
                progress(done, len(files))
    if batch:
        report.counts.add(register_batch(db, batch))
        done += len(batch)
        if progress is not None:
            progress(done, len(files))
    report.seconds = time.perf_counter() - start
    return report
