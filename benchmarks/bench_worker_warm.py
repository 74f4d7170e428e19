"""Service start -> warm dask workers: how long a night's first frame may have to wait for them, beside busy processes.

The job engine's ``DaskExecutor`` starts a LocalCluster of ``--workers`` processes at
``--nice``; the figure is the time from ``start()`` until every worker has loaded the
science stack (``executors.WARM_UP``): the cluster's start, plus the warm-up run after
the connection when the checkout does it that way. ``--load N`` runs N busy-loop
processes meanwhile, each in a session (CPU scheduling group) of its own, as users'
kernels are. ``--compare OTHER`` measures OTHER's code in turn (each run a process of
its own, alternating who goes first) and prints both.

Run: ``.venv/bin/python benchmarks/bench_worker_warm.py --compare ../base --rounds 2``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


async def measure(workers: int, nice: int) -> dict:
    """Start a DaskExecutor; seconds until start() returned and until workers are warm."""
    from gsp_extension.engine.executors import DaskExecutor

    executor = DaskExecutor(n_workers=workers, worker_nice=nice)
    t = time.perf_counter()
    await executor.start()
    started = time.perf_counter() - t
    warming = getattr(executor, "_warming", None)
    if warming is not None:  # a checkout that warms its workers after the connection
        await warming
    warm = time.perf_counter() - t
    nices = await executor.client.run(os.getpriority, os.PRIO_PROCESS, 0)
    await executor.close()
    return {"started": started, "warm": warm, "nice": sorted(nices.values())}


def _run(repo: Path, args) -> dict:
    code = (
        f"import sys, asyncio, json; sys.path.insert(0, {str(repo)!r}); "
        f"sys.path.insert(0, {str(HERE)!r}); from bench_worker_warm import measure; "
        f"print(json.dumps(asyncio.run(measure({args.workers}, {args.nice}))))"
    )
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=repo
    )
    if done.returncode:
        raise RuntimeError(f"{repo} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--nice", type=int, default=10, help="worker_nice")
    parser.add_argument("--load", type=int, default=2, help="busy processes beside")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--compare", type=Path, help="another checkout, measured in turn")
    args = parser.parse_args()
    repos = {"this": HERE.parent}
    if args.compare:
        repos["other"] = args.compare.resolve()
    print("command: " + " ".join(sys.argv) + f"  (load average {os.getloadavg()})")
    busy = [
        subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
        for _ in range(args.load)
    ]
    results: dict[str, list[dict]] = {name: [] for name in repos}
    try:
        for r in range(args.rounds):
            for name in list(repos) if r % 2 else list(repos)[::-1]:
                out = _run(repos[name], args)
                results[name].append(out)
                print(
                    f"round {r} {name:5} ({repos[name]}): start() returned {out['started']:.1f} s, "
                    f"workers warm {out['warm']:.1f} s, worker niceness {out['nice']}; "
                    f"load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    finally:
        for p in busy:
            p.kill()
            p.wait()
    for name, outs in results.items():
        warm = sorted(o["warm"] for o in outs)
        print(f"{name}: workers warm after " + ", ".join(f"{w:.1f}" for w in warm) + " s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
