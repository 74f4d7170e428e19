"""Cold login (the user's server spawned) -> first file list, through the real hub in Chromium.

    .venv/bin/python benchmarks/bench_cold_login.py [--rows 100000] [--cold 4]
    .venv/bin/python benchmarks/bench_cold_login.py --compare ../base --rounds 3
    .venv/bin/python benchmarks/bench_cold_login.py --compare ../base --stream 10

The first form times ``--cold`` logins of the PI ``member`` (database and files as
``bench_ui.py`` makes them), the user's server stopped through the hub API before each.
Timing starts once the hub's forkserver listens (``bench_ui.py`` waits for it too): a
night's first login comes long after the hub started, when the forkserver has imported
the server; a login before it listens would measure a ``Popen`` start beside the
forkserver's own imports. The first login is still the one nearest the start: it meets
what the gsp service does then (its dask workers importing the science stack, and with
``--stream`` the night's first jobs). For each login it prints the browser's
timeline (``bench_ui.Timeline``), the hub's "took N seconds to start", and the CPU
seconds of the processes by group; then the median and every value.

Each login is a first visit (a new browser context, nothing cached) unless
``--returning``: then the browser keeps its profile across the logins, as the browser of
an astronomer who logged in on an earlier night (one untimed login fills its cache
first); the server is spawned for each login all the same.

``--stream S`` logs in under a night's load, as ``bench_ui.py --stream``: the service
runs its ingest and job engine, and a simulated night is written into ``raw/`` (one frame
every ``S`` seconds) from the forkserver's ready on; the first login then meets the
engine's start (its dask workers loading the science stack, the night's first jobs).

``--compare OTHER`` measures side by side: rounds alternate this checkout and another
one (``OTHER/.venv/bin/python`` runs this file against ``OTHER``'s code and hub, in a
process of its own, each round with a fresh hub and database), so that the drift of a
shared machine favours neither. It prints both medians, their ratio, the first login
after each hub's start apart from the later ones, and the load average before and after. The checkout measured is the one whose ``hub`` package the
interpreter imports.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import hub

REPO = Path(hub.__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests" / "integration"))

STARTED = re.compile(r"User (\S+) took ([0-9.]+) seconds to start")


def _login_context(p, browser, profile: Path | None):
    """A logged-out browser context: a fresh one (no cache: a first visit), or with
    ``profile`` a browser started on that kept profile, cookies cleared (a returning
    user, logged out: the HTTP cache of the previous visits is kept)."""
    from bench_ui import ARGS

    if profile is None:
        return browser.new_context(viewport={"width": 1500, "height": 1000})
    context = p.chromium.launch_persistent_context(
        str(profile),
        executable_path="/usr/bin/chromium",
        args=ARGS,
        viewport={"width": 1500, "height": 1000},
    )
    context.clear_cookies()
    return context


def cold_logins(rows: int, cold: int, returning: bool = False, stream: float = 0.0) -> dict:
    """Fill a database, start the hub, time ``cold`` cold logins; the figures.

    With ``returning``, the browser keeps its profile (HTTP cache) across the logins,
    and one login before the timed ones fills it: the astronomer who logged in on an
    earlier night. Without, each login is a first visit (an empty cache). With
    ``stream`` > 0, a night is streamed meanwhile (a frame every ``stream`` seconds)."""
    from bench_spawn import stop_servers, user_token, wait_forkserver
    from bench_ui import ARGS, PASSWORD, CPUMeter, Timeline, _start_stream, add_real_files
    from gsp_realhub import start_hub, stop_hub
    from playwright.sync_api import sync_playwright
    from store_hot_query import fill

    from gsp_extension.store import Database, upgrade_database

    out = {"repo": str(REPO), "totals": [], "spawns": [], "timelines": [], "cpu": []}
    with tempfile.TemporaryDirectory(prefix="gsp-bench-cold-") as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'gsp.sqlite'}"
        upgrade_database(url)
        db = Database(url)
        _member, soar = fill(db, rows)
        db.dispose()
        add_real_files(url, root, soar)
        hub_ = start_hub(root, database_url=url, log_level="INFO", live=stream > 0)
        night = None
        try:
            wait_forkserver(hub_, timeout=120)
            night = _start_stream(root, soar, stream) if stream > 0 else None
            token = user_token(hub_, "member")
            cpu = CPUMeter(hub_.process.pid, os.getpid())
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                profile = Path(tmp) / "browser-profile" if returning else None
                first = -1 if returning else 0
                for i in range(first, cold):
                    if i > first:
                        stop_servers(hub_, {"member": token})
                    time.sleep(1.0)  # the stopped server's exit settles
                    context = _login_context(p, browser, profile)
                    page = context.new_page()
                    page.set_default_timeout(120_000)
                    timeline = Timeline(page)
                    page.goto(hub_.url + "/hub/login")
                    page.fill("input[name=username]", "member")
                    page.fill("input[name=password]", PASSWORD)
                    log_start = hub_.log_path.stat().st_size
                    before = cpu.sample()
                    timeline.start()
                    t = time.perf_counter()
                    page.click("input[type=submit], button[type=submit]")
                    page.wait_for_selector(".gsp-file-index .gsp-filelist .jupyter-button")
                    total = time.perf_counter() - t
                    after = cpu.sample()
                    if i < 0:  # the earlier visit that filled the browser's cache
                        context.close()
                        continue
                    with open(hub_.log_path, "rb") as log:
                        log.seek(log_start)
                        started = STARTED.findall(log.read().decode(errors="replace"))
                    out["totals"].append(total)
                    out["spawns"].append(float(started[-1][1]) if started else float("nan"))
                    out["timelines"].append(timeline.line(total))
                    out["cpu"].append(CPUMeter.line(before, after, 1))
                    context.close()
                browser.close()
        finally:
            if night is not None:
                night[1].set()
                night[0].join(30)
            stop_hub(hub_)
    return out


def _print_one(out: dict) -> None:
    for i, (line, cpu, spawn) in enumerate(
        zip(out["timelines"], out["cpu"], out["spawns"], strict=True)
    ):
        print(f"  cold {i}: {line}  (server start {spawn:.2f} s; CPU s: {cpu})")
    shown = ", ".join(f"{v:.2f}" for v in out["totals"])
    print(
        f"login -> first file list, cold: median {statistics.median(out['totals']):.2f} s [{shown}]"
    )


STEP = re.compile(r"([a-z-]+) ([0-9.]+)")


def step_medians(outs: list[dict]) -> dict[str, float]:
    """Median time of each timeline step over the runs' logins, in the timeline's
    order, with the server's start (the hub's figure) and the user server's CPU."""
    steps: dict[str, list[float]] = {}
    for out in outs:
        for line, spawn, cpu in zip(out["timelines"], out["spawns"], out["cpu"], strict=True):
            for key, value in STEP.findall(line):
                steps.setdefault(key, []).append(float(value))
            steps.setdefault("server-start", []).append(spawn)
            server_cpu = re.search(r"user server ([0-9.]+)", cpu)
            if server_cpu:
                steps.setdefault("server-cpu", []).append(float(server_cpu.group(1)))
    return {k: statistics.median(v) for k, v in steps.items()}


def compare(
    other: Path, rows: int, cold: int, rounds: int, returning: bool = False, stream: float = 0.0
) -> None:
    """Alternate this checkout and ``other`` for ``rounds`` rounds; print both medians."""
    me = Path(__file__).resolve()
    runs = {"this": (Path(sys.executable), REPO), "other": (other / ".venv/bin/python", other)}
    totals: dict[str, list[float]] = {"this": [], "other": []}
    outs: dict[str, list[dict]] = {"this": [], "other": []}
    print(f"load average before: {os.getloadavg()}")
    for r in range(rounds):
        order = ["other", "this"] if r % 2 == 0 else ["this", "other"]
        for name in order:
            python, repo = runs[name]
            child = subprocess.Popen(
                [str(python), str(me), "--rows", str(rows), "--cold", str(cold), "--json"]
                + (["--returning"] if returning else [])
                + (["--stream", str(stream)] if stream > 0 else []),
                cwd=repo,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            try:
                stdout, stderr = child.communicate()
            finally:
                if child.poll() is None:  # stopped meanwhile: the child stops its hub
                    child.terminate()
                    child.wait(60)
            if child.returncode:
                raise RuntimeError(f"{name} ({repo}) failed:\n{stderr[-3000:]}")
            out = json.loads(stdout.strip().splitlines()[-1])
            print(f"round {r} {name} ({out['repo']}), load {os.getloadavg()[0]:.2f}:")
            _print_one(out)
            totals[name] += out["totals"]
            outs[name].append(out)
    print(f"load average after: {os.getloadavg()}")
    for name, values in totals.items():
        shown = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name} ({runs[name][1]}): median {statistics.median(values):.2f} s [{shown}]")
    for name in totals:
        firsts = [out["totals"][0] for out in outs[name]]
        later = [v for out in outs[name] for v in out["totals"][1:]]
        print(
            f"{name}: first login after the hub's start {_values(firsts)}; "
            f"later logins {_values(later)}"
        )
    print("median seconds from the login click, by step (see bench_ui.Timeline):")
    for name in totals:
        steps = ", ".join(f"{k} {v:.2f}" for k, v in step_medians(outs[name]).items())
        print(f"  {name}: {steps}")
    ratio = statistics.median(totals["this"]) / statistics.median(totals["other"])
    print(f"ratio this / other (medians): {ratio:.2f}")


def _values(values: list[float]) -> str:
    if not values:
        return "none"
    shown = ", ".join(f"{v:.2f}" for v in values)
    return f"median {statistics.median(values):.2f} s [{shown}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cold", type=int, default=4, help="cold logins per hub")
    parser.add_argument("--compare", type=Path, help="another checkout, measured in turn")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of --compare")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--returning",
        action="store_true",
        help="the browser keeps its cache across logins (a returning user; default: "
        "every login a first visit, with an empty cache)",
    )
    parser.add_argument(
        "--stream",
        type=float,
        default=0.0,
        help="seconds between the frames of a night streamed during the logins (0: quiet)",
    )
    args = parser.parse_args()
    # SIGTERM leaves through the finally blocks: the hub and its servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.compare:
        print("command: " + " ".join(sys.argv))
        compare(
            args.compare.resolve(), args.rows, args.cold, args.rounds, args.returning, args.stream
        )
        return
    out = cold_logins(args.rows, args.cold, args.returning, args.stream)
    if args.json:
        print(json.dumps(out))
    else:
        print("command: " + " ".join(sys.argv) + f"  (load {os.getloadavg()})")
        _print_one(out)


if __name__ == "__main__":
    main()
