"""The night's first frame against the later ones: raw frame landed -> its product, by worker niceness and CPU load.

The live services (watcher + job engine on a dask LocalCluster of ``--workers``
processes, SQLite) start on a temporary ``raw/``; ``--delay`` seconds later the first
of ``--frames`` science exposures lands (renamed into place, as the instrument writes),
then one every ``--interval`` s. Each is reduced by a job of its own (no masters:
overscan and trim), so the time from its rename to that job's commit is the frame's
latency, and the first frame against the later ones is the figure: a worker still
loading the science stack shows there. Also printed: when the engine ran on warm
workers (``ready``), each job's run, and how long the services took to stop.

Each configuration (``--nice`` x ``--load``) runs with a fresh cluster; ``--load N``
runs N busy-loop processes beside it, each in a session (CPU scheduling group) of its
own at niceness 0, as users' kernels are. ``--repo`` picks the checkout whose code runs
(default this one); ``--compare OTHER`` runs every configuration for this checkout and
OTHER in turn, ``--rounds`` times (alternating who goes first, so that the shared
machine's drift favours neither), and prints them side by side.

Run: ``.venv/bin/python benchmarks/bench_first_job.py --nice 0 10 --load 0 2
[--delay 5] [--compare ../base --rounds 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _busy_loops(n: int) -> list[subprocess.Popen]:
    """``n`` CPU-bound processes, each in a session of its own (as a user's kernel)."""
    return [
        subprocess.Popen(
            [sys.executable, "-c", "while True: pass"],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(n)
    ]


def _first_done(timeline, raw_id: int, after: float, role: str) -> float | None:
    """When the frame's first product was committed: its own job's, else (a bias or a
    flat, which have no job of their own) the first master made after it landed."""
    done = [j for j in timeline.jobs.values() if "job.done" in j and j["job.done"] > after]
    own = [j["job.done"] for j in done if j.get("file_id") == raw_id]
    kind = "master_bias" if "bias" in role else "master_flat" if "flat" in role else None
    masters = [j["job.done"] for j in done if j["kind"] == kind]
    return min(own or masters or [None])


def _science_frames(n: int, seed: int) -> list[tuple[str, bytes]]:
    """``n`` science exposures of a simulated night (each reduced by a job of its own)."""
    from bench_live import _copies, _night

    first = next(d for _, role, d in _night(1, seed) if role == "science")
    return _copies(first, n, 800_000)


async def one_run(args, nice: int, load: int) -> dict:
    """One fresh service and night; the figures as a dict."""
    from bench_live import NIGHT, Timeline, _chains, _drop, _idle

    from gsp_extension.engine.live import LiveServices
    from gsp_extension.store import Database, upgrade_database

    frames = _science_frames(args.frames, args.seed)
    busy = _busy_loops(load)
    out: dict = {"nice": nice, "load": load, "frames": []}
    try:
        with tempfile.TemporaryDirectory(prefix="gsp-bench-first-") as tmp:
            root = Path(tmp)
            raw = root / "raw" / NIGHT
            raw.mkdir(parents=True)
            url = f"sqlite:///{root / 'gsp.sqlite'}"
            upgrade_database(url)
            db = Database(url)
            live = LiveServices(
                db, root, n_workers=args.workers, worker_nice=nice, settle_seconds=0.3
            )
            timeline = Timeline()
            live.bus.subscribe(timeline)
            t0 = time.time()
            await live.start()
            ready = asyncio.create_task(_ready(live, t0))
            try:
                await asyncio.sleep(args.delay)
                dropped: dict[str, float] = {}
                for k, (name, data) in enumerate(frames):
                    if k:
                        await asyncio.sleep(args.interval)
                    dropped[name] = _drop(raw, name, data)
                await asyncio.sleep(1.0)
                await _idle(db, 900)
                out["ready"] = await asyncio.wait_for(ready, 600)
                raw_ids, _ = _chains(db, list(dropped))
                for name, when in dropped.items():
                    job = next(
                        j
                        for j in timeline.jobs.values()
                        if j.get("file_id") == raw_ids[name] and j["kind"] == "reduce"
                    )
                    out["frames"].append(
                        {
                            "after_start": when - t0,
                            "product": job["job.done"] - when,
                            "run": job["job.done"] - job["job.running"],
                        }
                    )
            finally:
                t = time.perf_counter()
                await live.stop()
                out["stop"] = time.perf_counter() - t
                db.dispose()
    finally:
        for p in busy:
            p.kill()
            p.wait()
    out["load_average"] = os.getloadavg()[0]
    return out


async def _ready(live, t0: float) -> float:
    """Seconds from the start until the engine runs on warm workers (a LocalCluster's
    workers warm before they register, or, before that, once the warm-up run on them
    after the connection is over)."""
    await live.wait_started(900)
    warming = getattr(live.executor, "_warming", None)
    if warming is not None:
        await asyncio.shield(warming)
    return time.time() - t0


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def show(label: str, out: dict) -> None:
    frames = out["frames"]
    print(
        f"{label} nice {out['nice']:>2} load {out['load']}: ready (warm) {out['ready']:.1f} s "
        f"after start; first frame (dropped at {frames[0]['after_start']:.1f} s) -> product "
        f"{frames[0]['product']:.2f} s (reduce run {frames[0]['run']:.2f}); later frames "
        + ", ".join(f"{f['product']:.2f}" for f in frames[1:])
        + " s (runs "
        + ", ".join(f"{f['run']:.2f}" for f in frames[1:])
        + f"); stop {out['stop']:.1f} s; load average {out['load_average']:.1f}"
    )


async def run_here(args) -> list[dict]:
    outs = []
    for nice in args.nice:
        for load in args.load:
            outs.append(await one_run(args, nice, load))
    return outs


def _child(repo: Path, args) -> list[dict]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--json", "--repo", str(repo)]
    for key in ("workers", "frames", "interval", "seed", "delay"):
        argv += [f"--{key}", str(getattr(args, key))]
    argv += ["--nice", *map(str, args.nice), "--load", *map(str, args.load)]
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=repo)
    if done.returncode:
        raise RuntimeError(f"{repo} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nice", type=int, nargs="+", default=[0, 10])
    parser.add_argument("--load", type=int, nargs="+", default=[0, 2], help="busy processes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--frames", type=int, default=4, help="science frames of the night")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between frames")
    parser.add_argument(
        "--delay", type=float, default=5.0, help="seconds from the start to the first frame"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of --compare")
    parser.add_argument("--repo", type=Path, default=HERE.parent, help="checkout to run")
    parser.add_argument("--compare", type=Path, help="another checkout, run in turn")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    sys.path.insert(0, str(HERE))
    if args.compare is None:
        outs = asyncio.run(run_here(args))
        if args.json:
            print(json.dumps(outs))
        else:
            for out in outs:
                show(str(args.repo), out)
        return 0
    print("command: " + " ".join(sys.argv) + f"  (load average {os.getloadavg()})")
    repos = {"this": HERE.parent, "other": args.compare.resolve()}
    results: dict[str, list[dict]] = {"this": [], "other": []}
    for r in range(args.rounds):
        for name in ("other", "this") if r % 2 == 0 else ("this", "other"):
            results[name] += _child(repos[name], args)
            print(f"round {r} {name} done, load {os.getloadavg()[0]:.1f}", flush=True)
    for i in range(len(results["this"])):
        for name in ("other", "this"):
            show(f"{name:5}", results[name][i])
    return 0


if __name__ == "__main__":
    sys.exit(main())
