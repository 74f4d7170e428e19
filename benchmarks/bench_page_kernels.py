"""Kernels and memory of a user's server through a night of page reloads.

    .venv/bin/python benchmarks/bench_page_kernels.py [--minutes 30] [--every 60] [--report 300]

The browser tests' world (a real hub, accounts, a simulated night processed by the
project's engine: ``tests/browser/live_world.py``) is started, or an already running one
is used (``--url``, as ``GSP_BROWSER_WORLD_URL`` for the tests). While new science frames
keep arriving (one simulated frame every ``--frame-every`` seconds, ingested and
reduced by the engine, pushed to the page by the live stream), alice's data browser is
reloaded every ``--every`` seconds in Chromium; every ``--report`` seconds the number of
kernels of her server (its ``api/kernels``) and the resident memory of her page kernels
(the processes of those kernels) are printed. Flat figures mean closed pages
do not leak kernels; before voila_apps/kernel_reaper.py they grew by one per reload
whose shutdown beacon was lost.

Reloads alternate between a normal reload (Voilà's shutdown beacon) and a page closed
without it (a crashed or killed tab), the case the reaper exists for.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "browser"))

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def kernel_rss_mb(kernel_ids: list[str]) -> tuple[int, float]:
    """(count, total resident MB) of the processes of these kernels (found by their
    connection file, ``kernel-<id>.json``, on the command line: other servers' kernels
    on the machine are not counted)."""
    import psutil

    count, rss = 0, 0
    for proc in psutil.process_iter(["cmdline", "memory_info"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if any(f"kernel-{k}.json" in cmd for k in kernel_ids):
            count += 1
            rss += proc.info["memory_info"].rss
    return count, rss / 2**20


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--every", type=float, default=60, help="seconds between reloads")
    parser.add_argument("--report", type=float, default=300, help="seconds between figures")
    parser.add_argument("--frame-every", type=float, default=120, help="seconds per new frame")
    parser.add_argument("--url", help="a running world (live_world.start_world), reused")
    parser.add_argument("--data-root", help="that world's data root (new frames go there)")
    args = parser.parse_args(argv)
    # Closed pages' kernels go after 60 s without a connection, as in production.
    os.environ.setdefault("GSP_PAGE_KERNEL_TIMEOUT", "60")

    from live_world import P1, PASSWORD, simulate, start_world, stop_world
    from playwright.sync_api import sync_playwright

    world = None
    if args.url:
        url = args.url.rstrip("/") + "/"
        raw_root = Path(args.data_root) / "raw" if args.data_root else None
    else:
        world = start_world(Path(tempfile.mkdtemp(prefix="gsp-bench-kernels-")))
        url = world.url
        raw_root = world.hub.data_root / "raw"
    print(f"world: {url}; {args.minutes:g} min, reload every {args.every:g} s", flush=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            page.set_default_timeout(180_000)
            page.goto(url + "hub/login")
            page.fill("input[name=username]", "alice")
            page.fill("input[name=password]", PASSWORD)
            page.click("input[type=submit], button[type=submit]")
            page.wait_for_selector(".gsp-file-index .jupyter-button")
            app_url = url + "user/alice/voila/render/data_browser.ipynb"

            def api_kernels() -> list[str]:
                r = context.request.get(url + "user/alice/api/kernels")
                return [k["id"] for k in r.json()] if r.ok else []

            start = time.monotonic()
            next_reload = start + args.every
            next_report = start
            next_frame = start + args.frame_every
            reloads = frames = 0
            print("minute  reloads  frames  api_kernels  kernel_procs  kernels_rss_MB", flush=True)
            while True:
                now = time.monotonic()
                if now >= next_report:
                    ids = api_kernels()
                    n, rss = kernel_rss_mb(ids)
                    print(
                        f"{(now - start) / 60:6.1f}  {reloads:7d}  {frames:6d}  "
                        f"{len(ids):11d}  {n:12d}  {rss:14.0f}",
                        flush=True,
                    )
                    next_report += args.report
                if now - start >= args.minutes * 60:
                    break
                if raw_root is not None and now >= next_frame:
                    frames += 1
                    simulate(
                        raw_root / f"20201127-{frames:03d}",
                        P1,
                        "ZTF20actqfpc",
                        100 + frames,
                        n_bias=0,
                        n_flats=0,
                        n_arcs=0,
                        n_science=1,
                        n_standards=0,
                    )
                    next_frame += args.frame_every
                if now >= next_reload:
                    # Alternate: a normal close (the beacon) and a vanished tab (none).
                    page.close(run_before_unload=reloads % 2 == 0)
                    page = context.new_page()
                    page.set_default_timeout(180_000)
                    page.goto(app_url)
                    page.wait_for_selector(".gsp-file-index .jupyter-button")
                    reloads += 1
                    next_reload += args.every
                time.sleep(1)
            browser.close()
    finally:
        if world is not None:
            stop_world(world)
    return 0


if __name__ == "__main__":
    sys.exit(main())
