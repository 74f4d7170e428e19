"""Latency and throughput of the API's hot listing with a million file rows.

    .venv/bin/python benchmarks/bench_api.py --rows 1000000 \
        --url sqlite:////tmp/gsp_bench_api/gsp.sqlite \
        --url postgresql+psycopg://postgres@127.0.0.1:5432/gsp_bench_api

For each database: fill it (``benchmarks/store_hot_query.py``'s generator: 200 proposals,
proposal X holds ~9 % of the rows), start the real hub with the project's
``jupyterhub_config.py`` on it, make a token for a member of X, then drive
``GET api/files/?data_type=0&proposal_id=X&page_size=100`` with a closed-loop load
generator (``--connections`` concurrent keep-alive connections for ``--seconds``),
through the proxy and directly at the service's port. Prints p50/p95/p99 latency and
requests per second. The load generator runs on the same (2-core) machine as the hub,
the proxy and the database, so the figures are lower bounds; the CPU time the service
process (and the proxy) spent per request is printed too, read from /proc: it does not
depend on what else runs on the machine, and 1000 / (ms per request) is the service's
capacity in requests per second per core. The databases given are wiped, unless
``--reuse`` finds them already filled with ``--rows`` files.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests" / "integration"))

from gsp_realhub import start_hub, stop_hub  # noqa: E402
from store_hot_query import _reset, fill  # noqa: E402

from gsp_extension.store import Database, upgrade_database  # noqa: E402


async def _load(url: str, token: str, connections: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"token {token}"}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - t)

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors


def _processes(hub) -> dict[str, psutil.Process]:
    """The gsp service and the proxy among the hub's process group."""
    found = {}
    for proc in psutil.Process(hub.process.pid).children(recursive=True):
        try:
            cmd = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "jupyterhub-singleuser" in cmd:
            found["service"] = proc
        elif "configurable-http-proxy" in cmd:
            found["proxy"] = proc
    found["hub"] = psutil.Process(hub.process.pid)
    return found


def _cpu(procs: dict[str, psutil.Process]) -> dict[str, float]:
    return {name: sum(p.cpu_times()[:2]) for name, p in procs.items()}


def measure(label, url, token, connections, seconds, procs) -> None:
    asyncio.run(_load(url, token, connections, 2.0))  # warm up (token cache, pools, pages)
    before = _cpu(procs)
    load_before = psutil.getloadavg()[0]
    t0 = time.perf_counter()
    latencies, errors = asyncio.run(_load(url, token, connections, seconds))
    elapsed = time.perf_counter() - t0
    after = _cpu(procs)
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    cpu = ", ".join(
        f"{name} {(after[name] - before[name]) * 1000 / len(ms):.2f}" for name in sorted(procs)
    )
    print(
        f"  {label:<24} {len(ms) / elapsed:7.1f} req/s   p50 {statistics.median(ms):6.1f} ms   "
        f"p95 {q[94]:6.1f} ms   p99 {q[98]:6.1f} ms   ({len(ms)} requests, {errors} errors, "
        f"{connections} connections, {seconds:g} s)\n"
        f"  {'':<24} CPU ms per request: {cpu}; load average {load_before:.1f} -> "
        f"{psutil.getloadavg()[0]:.1f} on {psutil.cpu_count()} cores"
    )


def _filled(url: str, rows: int) -> str | None:
    """The big proposal's SOAR id when the database already holds ``rows`` files."""
    from sqlalchemy import func, select

    from gsp_extension.store.models import File, Proposal

    try:
        db = Database(url)
        with db.session() as s:
            if s.scalar(select(func.count(File.id))) != rows:
                return None
            return s.scalar(select(Proposal.soar_id).order_by(Proposal.id).limit(1))
    except Exception:  # noqa: BLE001 - any failure means "fill it again"
        return None
    finally:
        db.dispose()


def run(url: str, rows: int, connections: list[int], seconds: float, reuse: bool) -> None:
    print(f"{url.split(':', 1)[0]}: {rows} file rows")
    soar = _filled(url, rows) if reuse else None
    if soar is None:
        _reset(url)
        upgrade_database(url)
        db = Database(url)
        _member_id, soar = fill(db, rows)
        db.dispose()
    else:
        print("  (reusing the filled database)")
    with tempfile.TemporaryDirectory(prefix="gsp-bench-api-") as tmp:
        hub = start_hub(Path(tmp), database_url=url, log_level="WARN")
        try:
            token = hub.token_for("member")
            query = f"api/files/?data_type=0&proposal_id={soar}&page_size=100"
            first = requests.get(
                f"{hub.url}/services/gsp/{query}",
                headers={"Authorization": f"token {token}"},
                timeout=60,
            ).json()
            print(
                f"  answer: count {first['count']} (estimate: {first['count_is_estimate']}), "
                f"{len(first['results'])} records, next {'set' if first['next'] else 'none'}"
            )
            procs = _processes(hub)
            direct = f"http://127.0.0.1:{hub.service_port}/services/gsp/{query}"
            for n in connections:
                measure(
                    f"proxy, {n} conn.", f"{hub.url}/services/gsp/{query}", token, n, seconds, procs
                )
                measure(f"service port, {n} conn.", direct, token, n, seconds, procs)
        finally:
            stop_hub(hub)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--connections", type=int, action="append")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--reuse", action="store_true", help="keep an already filled database")
    parser.add_argument(
        "--count-cache-seconds",
        type=float,
        help="the service's count cache (GSP_COUNT_CACHE_SECONDS; 0 counts every request)",
    )
    args = parser.parse_args()
    if args.count_cache_seconds is not None:
        os.environ["GSP_COUNT_CACHE_SECONDS"] = str(args.count_cache_seconds)
        print(f"count cache: {args.count_cache_seconds:g} s")
    for url in args.url:
        run(url, args.rows, args.connections or [1, 8], args.seconds, args.reuse)


if __name__ == "__main__":
    main()
