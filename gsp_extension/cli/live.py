"""``gsp live``: watch the raw folder and run the job engine, outside the hub service.

The same :class:`~gsp_extension.engine.live.LiveServices` the service runs: new raw
files are registered and carried through the pipeline; queued jobs (manual actions
from the API too) run on dask. Useful on a processing node or to debug. Ctrl-C stops
it; jobs in flight finish first, and a hard kill loses nothing (they run again at the
next start, without spending an attempt).

One engine runs per database: a second ``gsp live`` (or the hub's service) waits as a
hot standby, says so, and takes over when the first stops or dies. A dask scheduler
that is down (at start or later) is waited for and reconnected to; the health line
(``GET api/health/``) is logged every minute.
"""

from __future__ import annotations

import argparse
import os
import sys

from gsp_extension import environment

HELP = "watch GSP_DATA_ROOT/raw and run the job engine on dask until Ctrl-C"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root",
        default=environment.text("GSP_DATA_ROOT") or None,
        help="default: $GSP_DATA_ROOT",
    )
    parser.add_argument(
        "--db",
        help="database URL (default: $GSP_DATABASE_URL, as the hub's service reads it, "
        "else <data root>/gsp.sqlite)",
    )
    parser.add_argument(
        "--scheduler",
        default=environment.text("GSP_DASK_SCHEDULER") or None,
        help="dask scheduler address (default: $GSP_DASK_SCHEDULER, else a LocalCluster)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=environment.text("GSP_WORKERS", "2"),
        help="LocalCluster worker processes (default: $GSP_WORKERS, else 2)",
    )
    parser.add_argument(
        "--poll", action="store_true", help="walk the tree instead of filesystem events (NFS)"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.3,
        help="seconds a complete FITS file must be unchanged before it is taken (0.3)",
    )
    parser.add_argument(
        "--give-up",
        type=float,
        default=600.0,
        help="seconds after which a file still incomplete is registered as unusable (600)",
    )


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from gsp_extension.engine.live import LiveServices
    from gsp_extension.store import Database, upgrade_database

    if not args.data_root:
        print("gsp live: give --data-root or set GSP_DATA_ROOT", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"gsp live: --workers {args.workers} must be >= 1", file=sys.stderr)
        return 2
    # The same variable as the hub's service (GSP_DATABASE_URL), or two processes would
    # silently work on two different databases.
    url = args.db or environment.database_url(root=args.data_root)
    from pipeline.fluxcal.standards import use_library_dirs

    try:
        use_library_dirs(environment.standards_dirs())
    except ValueError as exc:
        print(f"gsp live: GSP_STANDARDS_DIRS: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    upgrade_database(url)
    db = Database(url)

    async def main() -> None:
        live = LiveServices(
            db,
            args.data_root,
            scheduler_address=args.scheduler,
            n_workers=args.workers,
            watch_mode="poll" if args.poll else "auto",
            settle_seconds=args.settle,
            give_up_seconds=args.give_up,
        )
        live.bus.subscribe(lambda e: logging.info("%s %s", e.topic, e.payload.get("id")))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal() -> None:
            if stop.is_set():
                # Second signal: leave now; running jobs are queued again at next start.
                os._exit(130)
            logging.info("stopping: jobs in flight get 30 s to finish (signal again to quit)")
            stop.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
        await live.start()
        try:
            await stop.wait()
        finally:
            await live.stop()

    try:
        asyncio.run(main())
    finally:
        db.dispose()
    return 0
