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
the proxy and the database, so the figures are lower bounds. The databases given are
wiped.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
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


def measure(label: str, url: str, token: str, connections: int, seconds: float) -> None:
    asyncio.run(_load(url, token, connections, 2.0))  # warm up (token cache, pools, pages)
    t0 = time.perf_counter()
    latencies, errors = asyncio.run(_load(url, token, connections, seconds))
    elapsed = time.perf_counter() - t0
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    print(
        f"  {label:<22} {len(ms) / elapsed:7.1f} req/s   p50 {statistics.median(ms):6.1f} ms   "
        f"p95 {q[94]:6.1f} ms   p99 {q[98]:6.1f} ms   ({len(ms)} requests, {errors} errors, "
        f"{connections} connections, {seconds:g} s)"
    )


def run(url: str, rows: int, connections: int, seconds: float) -> None:
    print(f"{url.split(':', 1)[0]}: {rows} file rows")
    _reset(url)
    upgrade_database(url)
    db = Database(url)
    _member_id, soar = fill(db, rows)
    db.dispose()
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
            measure(
                "through the proxy", f"{hub.url}/services/gsp/{query}", token, connections, seconds
            )
            direct = f"http://127.0.0.1:{hub.service_port}/services/gsp/{query}"
            measure("service port directly", direct, token, connections, seconds)
        finally:
            stop_hub(hub)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    for url in args.url:
        run(url, args.rows, args.connections, args.seconds)


if __name__ == "__main__":
    main()
