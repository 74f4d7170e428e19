"""``gsp ingest PATH...``: register raw files (an archive backfill), optionally keep watching.

Reads each file once (checksum, header, classification) in parallel worker processes
and registers them in batches; re-running is harmless (registration is idempotent by
path and checksum). Exit code 0 when every file was registered (unusable files are
registered too, with the reason), 1 when some could not be read or registered, 2 on a
usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "register raw FITS files in the app database (backfill an archive, or --watch)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, help="raw files or folders (any depth)")
    parser.add_argument(
        "--db",
        help="database URL (default: $GSP_DATABASE_URL, else $GSP_DATA_ROOT/gsp.sqlite)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="scanning processes (default: CPU count)"
    )
    parser.add_argument("--batch", type=int, default=200, help="files per transaction")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="after the backfill, keep watching the folder for new files (Ctrl-C stops)",
    )
    parser.add_argument(
        "--poll",
        action="store_true",
        help="with --watch: walk the tree instead of filesystem events (network filesystems)",
    )
    parser.add_argument(
        "--settle", type=float, default=2.0, help="with --watch: seconds a file must be unchanged"
    )
    parser.add_argument("--quiet", action="store_true", help="only the summary line")


def _argument_error(args: argparse.Namespace) -> str | None:
    """What is wrong with the options (and what would be right), or ``None``."""
    if args.workers is not None and args.workers < 1:
        return f"--workers {args.workers} must be >= 1"
    if args.batch < 1:
        return f"--batch {args.batch} must be >= 1"
    if args.watch and (len(args.paths) != 1 or not args.paths[0].is_dir()):
        return "--watch needs exactly one folder"
    return None


def run(args: argparse.Namespace) -> int:
    from gsp_extension.store import Database, upgrade_database
    from gsp_extension.store.engine import database_url_from_env

    try:
        url = args.db or database_url_from_env()
    except ValueError as exc:
        print(f"gsp ingest: {exc}", file=sys.stderr)
        return 2
    problem = _argument_error(args)
    if problem is not None:
        print(f"gsp ingest: {problem}", file=sys.stderr)
        return 2
    upgrade_database(url)
    db = Database(url)
    try:
        code = _backfill(db, args)
        if code != 2 and args.watch:
            _watch(db, args)
        return code
    finally:
        db.dispose()


def _backfill(db, args: argparse.Namespace) -> int:
    """Register what the paths hold; 0 if all went well, 1 if some files failed, 2 on a
    bad path."""
    from gsp_extension.ingest.backfill import backfill

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"\r{done}/{total} files", end="", file=sys.stderr, flush=True)

    try:
        report = backfill(
            db, args.paths, workers=args.workers, batch_size=args.batch, progress=progress
        )
    except (FileNotFoundError, ValueError) as exc:
        print(f"gsp ingest: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(file=sys.stderr)
    print(report.summary())
    problems = report.unreadable + report.counts.errors
    for problem in problems:
        print(f"  error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _watch(db, args: argparse.Namespace) -> None:
    import asyncio
    import logging

    from gsp_extension.ingest.watcher import RawWatcher

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")

    def report(counts) -> None:
        print(
            f"registered {counts.new} new, {counts.new_versions} new versions, "
            f"{counts.unusable} unusable",
            flush=True,
        )

    watcher = RawWatcher(
        db,
        args.paths[0],
        mode="poll" if args.poll else "auto",
        settle_seconds=args.settle,
        on_registered=report,
    )
    try:
        asyncio.run(watcher.run())
    except KeyboardInterrupt:
        pass
