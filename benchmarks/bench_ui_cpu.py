"""CPU seconds and API calls of the data browser's actions, which a loaded machine moves little.

    .venv/bin/python benchmarks/bench_ui_cpu.py [--rows 20000] [--repeat 3] [--stream S]
        [--code DIR ...] [--profile OUT]

Wall-clock figures (``bench_ui.py``) mean nothing on a machine shared with other work;
the CPU time a page costs does. The same world as ``bench_ui.py`` (``--rows`` generated
files, the member's three real FITS frames with their products dated today) behind the
project's real hub and gsp service; then, for each ``--code`` checkout (default: this
one), ``--repeat`` times in a fresh Python process (as Voilà starts a fresh kernel per
page), the page's own code with the real :class:`gsp_extension.client.GSPClient`:

1. ``kernel warm-up``: what the page's kernel does before the notebook runs
   (``voila_apps.kernel.warm_up``: the app's imports and the API's status, with
   ``SCRIPT_NAME`` naming the data browser as Voilà does): off the user's path when
   the kernel starts before the page asks, but CPU of the kernel all the same;
2. ``page -> list``: ``App(client)`` built and started as ``voila_apps.app.main`` does,
   up to both file lists shown;
3. ``page -> plot``: the newest file opened and plotted (what the page shows next);
   ``page opened, total`` is the sum of 1-3;
4. ``click -> plot``: a click on each real file in the index, up to its plot (first view,
   then each again).

Each row prints the page process's CPU seconds (all its threads), the gsp service's
CPU seconds (``psutil``, its process), the API calls made (a counting
``requests.Session``) and the widget messages the kernel would send to the browser
(a counting comm that serializes them as the kernel does) with their size. The browser,
hub and proxy are not in these figures. ``--stream S`` writes a simulated night into
``raw/`` (one frame every ``S`` s) with the service's ingest and job engine running, as
``bench_ui.py --stream`` does. ``--code`` runs the page code of another checkout (e.g. a
``git archive main`` export) against the same service, so that before and after are
measured side by side; the service is this checkout's. ``--profile OUT`` writes a
cProfile of each action of the last run to ``OUT.<label>.<action>.pstats``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# --- the page process (``--child``): runs in a fresh interpreter ------------------------------


def _child(spec: dict) -> None:
    """One page: import, build and start the app, open the first plot, click; JSON out."""
    import cProfile
    import re

    import psutil

    code = spec["code"]
    sys.path.insert(0, code)
    service = psutil.Process(spec["service_pid"])
    rows: list[dict] = []
    calls: list[str] = []
    per_call: dict[str, list[float]] = {}  # service CPU seconds around each call
    messages = [0, 0]

    def service_cpu() -> float:
        times = service.cpu_times()
        return times.user + times.system

    class Meter:
        def __init__(self, action: str) -> None:
            self.action = action

        def __enter__(self):
            self.calls, self.messages = len(calls), list(messages)
            self.profile = cProfile.Profile() if spec.get("profile") else None
            self.t = (time.process_time(), service_cpu(), time.perf_counter())
            if self.profile:
                self.profile.enable()
            return self

        def __exit__(self, *exc) -> None:
            if self.profile:
                self.profile.disable()
            cpu, svc, wall = self.t
            made = calls[self.calls :]
            rows.append(
                {
                    "action": self.action,
                    "cpu": time.process_time() - cpu,
                    "service": service_cpu() - svc,
                    "wall": time.perf_counter() - wall,
                    "calls": made,
                    "messages": messages[0] - self.messages[0],
                    "bytes": messages[1] - self.messages[1],
                }
            )
            if self.profile:
                self.profile.dump_stats(f"{spec['profile']}.{self.action.replace(' ', '_')}.pstats")

    # The kernel's comm: each widget message serialized as the kernel does (JSON), counted.
    import comm
    from comm.base_comm import BaseComm

    class CountingComm(BaseComm):
        kernel = True

        def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys):
            body = json.dumps(
                {"msg_type": msg_type, "data": data, "metadata": metadata}, default=str
            )
            messages[0] += 1
            messages[1] += len(body) + sum(len(memoryview(b).cast("B")) for b in buffers or ())

    comm.create_comm = CountingComm

    # As in the page's kernel (``voila_apps.kernel``): the warm-up thread imports the
    # app (and, where the checkout does so, more) and asks for the status before the
    # notebook runs; its API calls are counted too.
    os.environ.update(
        GSP_API_URL=spec["api"],
        GSP_API_TOKEN=spec["token"],
        SCRIPT_NAME="/user/member/voila/render/data_browser.ipynb",
    )
    ids = re.compile(r"/\d+(?=/|$)")
    with Meter("kernel warm-up"):
        import requests

        class CountingSession(requests.Session):
            def request(self, method, url, *args, **kwargs):
                path = url.split("/api/", 1)[-1].split("?", 1)[0]
                name = f"{method} {ids.sub('/<id>', '/' + path)[1:] or '(status)'}"
                calls.append(name)
                before = service_cpu()
                try:
                    return super().request(method, url, *args, **kwargs)
                finally:
                    per_call.setdefault(name, []).append(service_cpu() - before)

        requests.Session = CountingSession  # the clients made from here on count
        from voila_apps import kernel

        kernel.warm_up()
    import inspect

    from gsp_extension.client import GSPClient
    from voila_apps.app import App

    # What ``voila_apps.app.main`` does (without display and the live feed).
    try:
        from voila_apps.widgets import shared_models
    except ImportError:  # a checkout from before the page's controls shared them
        pass
    else:
        shared_models.install()
    client = GSPClient(timeout=60)
    extra = {}
    if "status" in inspect.signature(App).parameters:
        extra["status"] = kernel.warm_status()
    import threading

    # ``start`` opens the first file on a thread (the page shows the list meanwhile);
    # here that thread's work is kept for the next action, so each is measured whole
    # (and profiled: cProfile sees one thread).
    opening: list = []

    class Deferred(threading.Thread):
        def start(self) -> None:
            opening.append(self._target)

    with Meter("page -> list"):
        app = App(client, prefs_path=Path(spec["prefs"]), live_interval=0, **extra)
        real_thread, threading.Thread = threading.Thread, Deferred
        try:
            app.start("", background=True)
        finally:
            threading.Thread = real_thread
    with Meter("page -> plot"):
        for target in opening:
            target()
    for round_ in range(spec["clicks"]):
        for name in spec["names"]:
            index = app.data.observed
            position = next(i for i, r in enumerate(index.records) if name in r["file_name"])
            with Meter("click -> plot, first view" if round_ == 0 else "click -> plot, again"):
                index.click(position)
            record = app.data.record
            assert record and record["original_file_id"] == index.records[position]["id"], record
            shown = f"gsp-shows-{record['id']}"
            assert shown in app.data.viewer.plot._dom_classes, f"no plot of {record['id']}"
    rows.append({"per_call": per_call})
    print("RESULT " + json.dumps(rows))


# --- the parent: world, service, runs, table ----------------------------------------------


def _service_pid(hub) -> int:
    import psutil

    for child in psutil.Process(hub.process.pid).children(recursive=True):
        cmd = " ".join(child.cmdline())
        if "gsp_extension" in cmd or "gsp-service" in cmd or "service_config" in cmd:
            return child.pid
    raise RuntimeError("the gsp service's process was not found under the hub")


def _summary(rows: list[dict]) -> dict[str, dict]:
    by: dict[str, list[dict]] = {}
    per_call: dict[str, list[float]] = {}
    for row in rows:
        if "per_call" in row:
            for name, values in row["per_call"].items():
                per_call.setdefault(name, []).extend(values)
            continue
        by.setdefault(row["action"], []).append(row)
    out = {}
    for action, group in by.items():
        calls = Counter(c for row in group for c in row["calls"])
        out[action] = {
            "cpu": statistics.median(r["cpu"] for r in group),
            "service": statistics.median(r["service"] for r in group),
            "wall": statistics.median(r["wall"] for r in group),
            "calls": sum(len(r["calls"]) for r in group) / len(group),
            "messages": sum(r["messages"] for r in group) / len(group),
            "kb": sum(r["bytes"] for r in group) / len(group) / 1024,
            "kinds": {k: v / len(group) for k, v in sorted(calls.items())},
        }
    out["_per_call"] = {k: statistics.median(v) for k, v in sorted(per_call.items())}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3, help="pages (fresh processes) per code")
    parser.add_argument("--clicks", type=int, default=2, help="rounds of clicks per page")
    parser.add_argument("--stream", type=float, default=0.0, help="seconds between streamed frames")
    parser.add_argument(
        "--code",
        action="append",
        help="a checkout whose page code runs (repeatable; default: this one)",
    )
    parser.add_argument("--profile", help="cProfile of each action of the last page: path prefix")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(json.loads(args.child))
        return
    if args.stream < 0 or args.repeat < 1 or args.rows < 1:
        parser.error("--stream >= 0, --repeat >= 1 and --rows >= 1, please")
    codes = [str(Path(c).resolve()) for c in (args.code or [str(REPO)])]
    for code in codes:
        if not (Path(code) / "voila_apps" / "app.py").is_file():
            parser.error(f"--code {code}: no voila_apps/app.py there; give a checkout's root")
    print("command: " + " ".join(sys.argv))

    sys.path.insert(0, str(REPO / "benchmarks"))
    sys.path.insert(0, str(REPO / "tests" / "integration"))
    from bench_ui import _start_stream, add_real_files
    from gsp_realhub import start_hub, stop_hub
    from store_hot_query import fill

    from gsp_extension.store import Database, upgrade_database

    with tempfile.TemporaryDirectory(prefix="gsp-bench-ui-cpu-") as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'gsp.sqlite'}"
        upgrade_database(url)
        db = Database(url)
        _member, soar = fill(db, args.rows)
        db.dispose()
        names = add_real_files(url, root, soar)
        hub = start_hub(root, database_url=url, log_level="WARN", live=args.stream > 0)
        stream = _start_stream(root, soar, args.stream) if args.stream > 0 else None
        results: dict[str, list[dict]] = {code: [] for code in codes}
        try:
            spec = {
                "api": hub.url + "/services/gsp/",
                "token": hub.token_for("member"),
                "service_pid": _service_pid(hub),
                "names": names,
                "clicks": args.clicks,
            }
            # Alternate the checkouts page by page: a streamed night's load falls on both.
            for i in range(args.repeat):
                for n, code in enumerate(codes):
                    child = dict(spec, code=code, prefs=str(root / f"prefs-{n}.json"))
                    if args.profile and i == args.repeat - 1:
                        child["profile"] = f"{args.profile}.{n}"
                    env = {**os.environ, "PYTHONPATH": code}
                    done = subprocess.run(
                        [sys.executable, __file__, "--child", json.dumps(child)],
                        capture_output=True,
                        text=True,
                        env=env,
                        cwd=code,
                    )
                    line = next(
                        (x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None
                    )
                    if done.returncode or line is None:
                        raise RuntimeError(f"page run of {code} failed:\n{done.stderr[-4000:]}")
                    page_rows = json.loads(line.removeprefix("RESULT "))
                    opening = [r for r in page_rows if "action" in r and "click" not in r["action"]]
                    page_rows.append(
                        {
                            "action": "page opened, total",
                            "calls": [c for r in opening for c in r["calls"]],
                            **{
                                k: sum(r[k] for r in opening)
                                for k in ("cpu", "service", "wall", "messages", "bytes")
                            },
                        }
                    )
                    results[code].extend(page_rows)
        finally:
            if stream is not None:
                stream[1].set()
                stream[0].join(30)
                print(f"streamed night: {stream[2][0]} frames written during the run")
            stop_hub(hub)

    summaries = {code: _summary(rows) for code, rows in results.items()}
    print(
        f"{args.rows} generated files + 9 real; {args.repeat} pages per checkout; medians "
        "(CPU s of the page process / of the gsp service), means (API calls, widget messages, kB)"
    )
    head = f"{'action':28}" + "".join(f" | {Path(c).name[:34]:>34}" for c in codes)
    print(head)
    print(f"{'':28}" + " | page_cpu svc_cpu calls msgs    kB" * len(codes))
    for action in [a for a in summaries[codes[0]] if not a.startswith("_")]:
        line = f"{action:28}"
        for code in codes:
            s = summaries[code].get(action)
            line += (
                f" | {s['cpu']:8.3f} {s['service']:7.3f} {s['calls']:5.1f} "
                f"{s['messages']:4.0f} {s['kb']:5.0f}"
                if s
                else " | " + " " * 34
            )
        print(line)
    actions = [a for a in summaries[codes[0]] if not a.startswith("_")]
    print("API calls per action (mean):")
    for action in actions:
        for code in codes:
            kinds = summaries[code].get(action, {}).get("kinds", {})
            text = ", ".join(f"{k} x{v:g}" for k, v in kinds.items())
            print(f"  {action} [{Path(code).name}]: {text}")
    print("gsp service CPU seconds per API call (median; calls made together overlap):")
    for code in codes:
        text = ", ".join(f"{k} {v:.3f}" for k, v in summaries[code]["_per_call"].items())
        print(f"  [{Path(code).name}]: {text}")


if __name__ == "__main__":
    main()
