"""Live latency: raw 2x2 science frame completely written -> wavelength-calibrated product.

The live services (watcher + job engine on a dask LocalCluster, SQLite) watch a
temporary ``raw/``. First the night's calibrations (bias, flats, an arc) are dropped and
processed, so masters and a reduced arc exist. Then:

1. **stream**: science frames arrive one every ``--interval`` s (renamed into place,
   as the instrument does); for each, the time from the rename to the commit of its
   wavelength-calibrated product (the engine's ``job.done`` event of its extraction);
2. **backlog**: ``--backlog`` copies of a science frame (distinct names, IMAGEID and
   OBJECT) dropped at once; frames per second until the last is calibrated.

Each latency is split into stages (from the event bus): watcher (rename -> file
registered), reduce wait + run, extract wait + run. The load average is printed
beside the figures: this machine is shared.

With ``--flux`` (issue 17) the night's calibrations include a standard star (its
sensitivity is made before the stream), and each latency ends at the commit of the
frame's flux-calibrated product (data_type 5), by whichever job made it (the extraction
carries the flux step when a sensitivity is at hand): the stages add the latency to
data_type 4 of the same frame and flux wait + run after it (0 when one job made both),
and the summary the ratio of the two latencies in the same run.

Run: ``.venv/bin/python benchmarks/bench_live.py [--frames 8] [--interval 5]
[--backlog 100] [--workers 2] [--flux]``.
Targets (issue 5): median <= 2 s and p95 <= 4 s on 2 cores; backlog >= 1 frame/s.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

NIGHT = "20261121"


def _night(n_science: int, seed: int, n_standards: int = 0):
    """The night's frames as (name, role, FITS bytes), in observing order."""
    from pipeline.simulate import NightConfig, iter_night

    cfg = NightConfig(
        n_bias=3, n_flats=3, n_arcs=1, n_science=n_science, n_standards=n_standards, seed=seed
    )
    return [(f.name, f.truth["role"], f.fits_bytes()) for f in iter_night(cfg)]


def _copies(data: bytes, n: int, first_id: int):
    """``n`` distinct exposures made from one frame (new IMAGEID, OBJECT and name)."""
    from astropy.io import fits

    out = []
    with fits.open(io.BytesIO(data)) as hdul:
        header = hdul[0].header
        obj = header["OBJECT"]
        for k in range(n):
            header["IMAGEID"] = str(first_id + k)
            header["OBJECT"] = f"{obj}-b{k:03d}"
            buffer = io.BytesIO()
            hdul.writeto(buffer)
            out.append((f"{1000 + k:04d}_backlog_{NIGHT}.fits", buffer.getvalue()))
    return out


def _drop(folder: Path, name: str, data: bytes) -> float:
    """Write under a hidden name, rename into place; the time of the rename."""
    tmp = folder / f".{name}.partial"
    tmp.write_bytes(data)
    os.replace(tmp, folder / name)
    return time.time()


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds (user + system) of this process and of its descendants (dask)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    me = os.getpid()
    children = {me}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in stats.items():
            if ppid in children and pid not in children:
                children.add(pid)
                changed = True
    own = stats.get(me, (0, 0.0))[1]
    return own, sum(stats[p][1] for p in children if p != me)


def _pct(values, q):
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


class Timeline:
    """Times of the bus events, by topic and id."""

    def __init__(self) -> None:
        self.registered: dict[int, float] = {}
        self.jobs: dict[int, dict] = {}

    def __call__(self, event) -> None:
        now = time.time()
        if event.topic == "file.registered":
            self.registered.setdefault(event.payload["id"], now)
        elif event.topic.startswith("job."):
            record = self.jobs.setdefault(event.payload["id"], {"kind": event.payload["kind"]})
            record.setdefault(event.topic, now)
            record["file_id"] = event.payload.get("file_id")


def _chains(db, names: list[str]):
    """raw id by file name, and reduced id -> raw id, from the database."""
    from sqlalchemy import select

    from gsp_extension.store.models import File

    with db.session() as s:
        raw = dict(
            s.execute(
                select(File.file_name, File.id).where(
                    File.data_type == 0, File.file_name.in_(names)
                )
            ).all()
        )
        reduced = dict(
            s.execute(select(File.id, File.parent_file_id).where(File.data_type == 2)).all()
        )
    return raw, reduced


def _calibrated_raw_ids(db, data_type: int = 4) -> set[int]:
    from sqlalchemy import select

    from gsp_extension.store.models import File

    with db.session() as s:
        return set(
            s.scalars(
                # science spectra (each arc used has a calibrated product too)
                select(File.original_file_id).where(
                    File.data_type == data_type,
                    File.superseded_at.is_(None),
                    File.file_name.contains("_target_"),
                )
            )
        )


async def _idle(db, timeout: float) -> None:
    from sqlalchemy import select

    from gsp_extension.store.models import Job

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.session() as s:
            states = set(s.scalars(select(Job.state)))
        if states and states <= {"done", "failed"}:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"jobs not finished after {timeout} s")


def _flux_jobs(db, raw_ids) -> dict[int, int]:
    """raw id -> id of the job that committed the frame's first data_type 5 product
    (an extraction that carried the flux step itself, or a calibrate_flux job)."""
    from sqlalchemy import select

    from gsp_extension.store.models import File, LogEntry

    with db.session() as s:
        rows = s.execute(
            select(File.original_file_id, LogEntry.job_id)
            .join(LogEntry, LogEntry.file_id == File.id)
            .where(
                File.data_type == 5,
                File.file_name.contains("_target_"),
                File.original_file_id.in_(list(raw_ids)),
                LogEntry.event == "file.product",
            )
            .order_by(File.id)
        ).all()
    out: dict[int, int] = {}
    for raw_id, job_id in rows:
        out.setdefault(raw_id, job_id)
    return out


def _stages(
    timeline: Timeline,
    raw_id: int,
    dropped: float,
    reduced_parent: dict,
    flux_job: int | None = None,
    flux: bool = False,
):
    """Seconds per stage of one frame, and the end time (calibrated product committed;
    with ``flux``, the flux-calibrated one: committed by ``flux_job``)."""
    reduce = next(
        (j for j in timeline.jobs.values() if j["kind"] == "reduce" and j["file_id"] == raw_id),
        None,
    )
    extracts = [
        j
        for j in timeline.jobs.values()
        if j["kind"] == "extract"
        and reduced_parent.get(j.get("file_id")) == raw_id
        and "job.done" in j
    ]
    if reduce is None or not extracts or "job.done" not in reduce:
        return None
    extract = min(extracts, key=lambda j: j["job.done"])
    registered = timeline.registered.get(raw_id, float("nan"))
    stages = {
        "total": extract["job.done"] - dropped,
        "watch": registered - dropped,
        "reduce wait": reduce["job.running"] - registered,
        "reduce run": reduce["job.done"] - reduce["job.running"],
        "extract wait": extract["job.running"] - reduce["job.done"],
        "extract run": extract["job.done"] - extract["job.running"],
    }
    if flux:
        job = timeline.jobs.get(flux_job)
        if job is None or "job.done" not in job:
            return None
        stages["to data_type 4"] = stages["total"]
        stages["total"] = job["job.done"] - dropped
        # 0 when the extraction carried the flux step itself (one job, one commit)
        stages["flux wait"] = max(0.0, job["job.running"] - extract["job.done"])
        stages["flux run"] = max(0.0, job["job.done"] - extract["job.done"]) - stages["flux wait"]
        stages["flux job"] = job["kind"]
    return stages


async def main(args) -> int:
    from gsp_extension.engine.live import LiveServices
    from gsp_extension.store import Database, upgrade_database

    t0 = time.perf_counter()
    night = _night(args.frames, args.seed, n_standards=1 if args.flux else 0)
    science = [(n, d) for n, role, d in night if role == "science"]
    calibrations = [(n, d) for n, role, d in night if role != "science"]
    level = 5 if args.flux else 4
    backlog = _copies(science[0][1], args.backlog, 900_000) if args.backlog else []
    print(
        f"simulated {len(night)} frames + {len(backlog)} backlog copies in "
        f"{time.perf_counter() - t0:.1f} s"
    )

    with tempfile.TemporaryDirectory(prefix="gsp-bench-live-") as tmp:
        root = Path(tmp)
        raw = root / "raw" / NIGHT
        raw.mkdir(parents=True)
        url = f"sqlite:///{root / 'gsp.sqlite'}"
        upgrade_database(url)
        db = Database(url)
        live = LiveServices(
            db,
            root,
            scheduler_address=args.scheduler,
            n_workers=args.workers,
            settle_seconds=args.settle,
        )
        timeline = Timeline()
        live.bus.subscribe(timeline)
        t0 = time.perf_counter()
        await live.start()
        print(
            f"live services started in {time.perf_counter() - t0:.1f} s "
            f"({args.workers} dask worker processes)"
        )
        try:
            t0 = time.perf_counter()
            for name, data in calibrations:
                _drop(raw, name, data)
            await asyncio.sleep(1.0)
            await _idle(db, 600)
            print(f"calibrations (masters, reduced arc) ready in {time.perf_counter() - t0:.1f} s")

            # 1. stream
            dropped: dict[str, float] = {}
            loads = []
            cpu0 = _cpu_seconds()
            for k, (name, data) in enumerate(science):
                if k:
                    await asyncio.sleep(args.interval)
                loads.append(os.getloadavg()[0])
                dropped[name] = _drop(raw, name, data)
            raw_ids, _ = _chains(db, list(dropped))
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                raw_ids, _ = _chains(db, list(dropped))
                if len(raw_ids) == len(dropped) and set(raw_ids.values()) <= _calibrated_raw_ids(
                    db, level
                ):
                    break
                await asyncio.sleep(0.2)
            await _idle(db, 300)
            cpu1 = _cpu_seconds()
            raw_ids, reduced_parent = _chains(db, list(dropped))
            flux_jobs = _flux_jobs(db, raw_ids.values()) if args.flux else {}
            rows = []
            for name, when in dropped.items():
                raw_id = raw_ids.get(name)
                stages = _stages(
                    timeline, raw_id, when, reduced_parent, flux_jobs.get(raw_id), args.flux
                )
                if stages is None:
                    print(f"  {name}: no calibrated product")
                    continue
                rows.append(stages)
                print(
                    f"  {name}: {stages['total']:.2f} s  ("
                    + ", ".join(
                        f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in stages.items()
                        if k != "total"
                    )
                    + ")"
                )
            totals = [r["total"] for r in rows]
            print(
                f"STREAM {len(totals)}/{len(science)} frames, one every {args.interval:g} s, "
                f"to data_type {level}: "
                f"latency median {statistics.median(totals):.2f} s, p95 {_pct(totals, 95):.2f} s, "
                f"max {max(totals):.2f} s (targets <= 2 s, <= 4 s); "
                f"load average during the stream {min(loads):.2f}-{max(loads):.2f}"
            )
            n = len(science)
            print(
                f"  CPU per frame: engine process {(cpu1[0] - cpu0[0]) / n:.2f} s, "
                f"dask workers {(cpu1[1] - cpu0[1]) / n:.2f} s"
            )
            if args.flux:
                plain = [r["to data_type 4"] for r in rows]
                kinds = sorted({r["flux job"] for r in rows})
                print(
                    f"  same run, to data_type 4: median {statistics.median(plain):.2f} s, "
                    f"p95 {_pct(plain, 95):.2f} s; data_type 5 / data_type 4: median "
                    f"{statistics.median(totals) / statistics.median(plain):.2f}, p95 "
                    f"{_pct(totals, 95) / _pct(plain, 95):.2f}; data_type 5 made by: "
                    + ", ".join(kinds)
                )
            for stage in rows[0]:
                if stage not in ("total", "flux job"):
                    print(
                        f"  stage {stage:13s} median {statistics.median(r[stage] for r in rows):.2f} s"
                    )

            # 2. backlog
            if backlog:
                load = os.getloadavg()[0]
                cpu0 = _cpu_seconds()
                t_start = time.time()
                for name, data in backlog:
                    tmp_path = raw / f".{name}.partial"
                    tmp_path.write_bytes(data)
                for name, _ in backlog:
                    os.replace(raw / f".{name}.partial", raw / name)
                names = [n for n, _ in backlog]
                deadline = time.monotonic() + args.backlog * 10
                while time.monotonic() < deadline:
                    raw_ids, _ = _chains(db, names)
                    done = set(raw_ids.values()) & _calibrated_raw_ids(db)
                    if len(raw_ids) == len(names) and len(done) == len(names):
                        break
                    await asyncio.sleep(0.2)
                elapsed = time.time() - t_start
                cpu1 = _cpu_seconds()
                raw_ids, _ = _chains(db, names)
                done = len(set(raw_ids.values()) & _calibrated_raw_ids(db))
                print(
                    f"BACKLOG {done}/{len(names)} frames calibrated in {elapsed:.1f} s: "
                    f"{done / elapsed:.2f} frames/s (target >= 1); load average at start "
                    f"{load:.2f}, at end {os.getloadavg()[0]:.2f}; CPU per frame: engine process "
                    f"{(cpu1[0] - cpu0[0]) / len(names):.2f} s, dask workers "
                    f"{(cpu1[1] - cpu0[1]) / len(names):.2f} s"
                )
        finally:
            await live.stop()
            db.dispose()
    return 0


def parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8, help="science frames streamed")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between frames")
    parser.add_argument("--backlog", type=int, default=100, help="frames dropped at once")
    parser.add_argument("--workers", type=int, default=2, help="dask worker processes")
    parser.add_argument("--scheduler", help="a dask scheduler address instead of a LocalCluster")
    parser.add_argument("--settle", type=float, default=0.3, help="watcher settle seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--flux",
        action="store_true",
        help="a standard among the calibrations; latency to the flux-calibrated product",
    )
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
