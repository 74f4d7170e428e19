"""A real hub with a real night: the world of the browser tests.

The hub is the project's own (``tests/integration/gsp_realhub.py`` starts it). Two
proposals with password accounts; a simulated raw night of the first proposal is written
under the hub's data root and processed by the project's job engine
(:class:`gsp_extension.engine.live.LiveServices`, run in this process on threads
while the gsp service does not start it itself), so the browser sees real products:
reduced frames, extracted and wavelength-calibrated spectra, extracted arcs.
(Imported by name: tests/ is not a package.)
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "integration"))

from gsp_realhub import RealHub, start_hub, stop_hub  # noqa: E402

PASSWORD = "Gsp-Browser-Test-2026!"
P1, P2 = "SOAR2020B-101", "SOAR2020B-102"
NIGHT = "2020-11-26"


@dataclass
class LiveWorld:
    hub: RealHub
    proposals: dict[str, int] = field(default_factory=dict)
    other_file_names: list[str] = field(default_factory=list)
    engine_thread: threading.Thread | None = None
    stop_engine: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return self.hub.url + "/"


def make_accounts(hub: RealHub) -> dict[str, int]:
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import create_user
    from gsp_extension.store.proposals import create_proposal
    from hub.passwords import PasswordHasher

    db = Database(hub.database_url)
    hashed = PasswordHasher().hash(PASSWORD)
    with db.transaction() as s:
        users = {
            name: create_user(
                s, name, email=f"{name}@example.org", first_name=name.title(), password_hash=hashed
            )
            for name in ("alice", "bob", "carol")
        }
        users["staffer"] = create_user(
            s, "staffer", email="staffer@example.org", is_staff=True, password_hash=hashed
        )
        p1 = create_proposal(
            s,
            P1,
            semester="2020B",
            title="Live spectra",
            pi=users["alice"],
            collaborators=[users["bob"]],
        )
        p2 = create_proposal(s, P2, semester="2020B", title="Someone else's", pi=users["carol"])
        ids = {"p1": p1.id, "p2": p2.id}
    db.dispose()
    return ids


def simulate(night_dir: Path, proposal: str, obj: str, seed: int, **counts) -> list[Path]:
    """A raw night from the project's simulator (`gsp simulate`)."""
    from pipeline.cli import simulate as cli

    parser = __import__("argparse").ArgumentParser()
    cli.add_arguments(parser)
    args = [
        str(night_dir),
        "--proposal",
        proposal,
        "--object",
        obj,
        "--seed",
        str(seed),
        "--date",
        NIGHT,
        "--force",
    ]
    for key, value in counts.items():
        args += [f"--{key.replace('_', '-')}", str(value)]
    rc = cli.run(parser.parse_args(args))
    if rc:
        raise RuntimeError(f"gsp simulate failed with {rc}")
    return sorted(night_dir.glob("*.fits"))


def run_engine(world: LiveWorld) -> None:
    """The job engine and raw watcher of the project, on threads, until stopped."""
    from gsp_extension.engine.executors import ThreadExecutor
    from gsp_extension.engine.live import LiveServices
    from gsp_extension.store import Database

    async def main():
        db = Database(world.hub.database_url)
        live = LiveServices(
            db,
            world.hub.data_root,
            executor=ThreadExecutor(2),
            watch_mode="poll",
            settle_seconds=0.5,
        )
        await live.start()
        try:
            while not world.stop_engine.is_set():
                await asyncio.sleep(0.2)
        finally:
            await live.stop()
            db.dispose()

    asyncio.run(main())


def count_files(hub: RealHub, data_type: int, proposal: str, obstype: str | None = None) -> int:
    from sqlalchemy import func, select

    from gsp_extension.store import Database, File

    db = Database(hub.database_url)
    try:
        with db.transaction() as s:
            query = (
                select(func.count())
                .select_from(File)
                .where(File.data_type == data_type, File.proposal_id == proposal)
            )
            if obstype:
                query = query.where(File.obstype == obstype)
            return s.scalar(query)
    finally:
        db.dispose()


def engine_busy(hub: RealHub) -> bool:
    """Jobs still queued or running (the night is not processed yet)."""
    from sqlalchemy import func, select

    from gsp_extension.store import Database, Job

    db = Database(hub.database_url)
    try:
        with db.transaction() as s:
            active = select(func.count()).select_from(Job)
            return bool(s.scalar(active.where(Job.state.in_(("queued", "running")))))
    finally:
        db.dispose()


def night_processed(hub: RealHub) -> bool:
    """Both science frames calibrated, the reduced arcs there, and the engine idle."""
    return (
        count_files(hub, 4, P1) >= 2
        and count_files(hub, 2, P1, "COMP") >= 2
        and not engine_busy(hub)
    )


def _engine_log(root: Path) -> logging.Handler:
    """The engine's log (it runs in this process) into ``<root>/engine.log``."""
    handler = logging.FileHandler(root / "engine.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    for name in ("gsp_extension", "pipeline"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    return handler


def _simulate_nights(raw: Path) -> list[Path]:
    """The first proposal's night (calibrations, arcs, two science frames) and one frame
    of the second proposal's; the names of the latter."""
    simulate(
        raw / "20201126",
        P1,
        "ZTF20actqfpc",
        1,
        n_bias=3,
        n_flats=3,
        n_arcs=2,
        n_science=2,
        n_standards=0,
    )
    return simulate(
        raw / "20201126b",
        P2,
        "NGC1234",
        2,
        n_bias=0,
        n_flats=0,
        n_arcs=0,
        n_science=1,
        n_standards=0,
    )


def start_world(root: Path, timeout: float = 420) -> LiveWorld:
    # The raw nights are simulated in this process while the hub starts in its own (both
    # take ~15 s, on different cores); nothing reads raw/ before the engine below starts
    # (the hub's service runs without ingest, GSP_LIVE=0).
    simulated: dict[str, object] = {}

    def simulate_into_raw() -> None:
        try:
            simulated["other"] = _simulate_nights(root / "raw")
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller's thread
            simulated["error"] = exc

    simulating = threading.Thread(target=simulate_into_raw, daemon=True)
    simulating.start()
    try:
        hub = start_hub(root)
    finally:
        simulating.join()
    world = LiveWorld(hub)
    try:
        if "error" in simulated:
            raise simulated["error"]
        _engine_log(hub.data_root)
        world.proposals = make_accounts(hub)
        world.other_file_names = [p.name for p in simulated["other"]]
        world.engine_thread = threading.Thread(target=run_engine, args=(world,), daemon=True)
        world.engine_thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if night_processed(hub):
                return world
            if not world.engine_thread.is_alive():
                raise RuntimeError("the job engine stopped")
            time.sleep(0.5)
        raise RuntimeError(
            f"no wavelength-calibrated product within {timeout} s:\n{hub.log_tail()}"
        )
    except BaseException:
        stop_world(world)
        raise


def stop_world(world: LiveWorld) -> None:
    world.stop_engine.set()
    if world.engine_thread is not None:
        world.engine_thread.join(30)
    stop_hub(world.hub)
