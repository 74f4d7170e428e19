"""The data browser's speed in a real browser, through the real hub, with 100,000 files.

    .venv/bin/python benchmarks/bench_ui.py [--rows 100000] [--repeat 5]

A database filled by ``benchmarks/store_hot_query.py``'s generator (``--rows`` files over
200 proposals; the PI ``member`` holds ~9 % of them in one proposal), plus a few real FITS
files of that proposal dated today (a raw 2071 x 948 frame, its reduced frame and a
wavelength-calibrated spectrum) so that there is something to draw. Then the project's
hub (``jupyterhub_config.py``) and Debian's chromium driven by playwright:

1. login -> first file list rendered: cold (the user's server is spawned; ``--cold``
   times, the server stopped through the hub API in between; the first once the hub's
   forkserver listens, see ``bench_cold_login.py``) and warm (server running; a new
   browser context logs in again). Every login is in a new browser context: nothing
   cached, a first visit; ``bench_cold_login.py --returning`` times the cold login of a
   returning astronomer, whose browser kept the page's scripts;
2. click on a file in the index -> its plot visible (``gsp-shows-<id>``), first view
   (download + draw) and again;
3. page reload (server running, logged in) -> first file list: the warm page load;
4. table filter change (Obstype) -> updated rows.

``--stream S`` measures under a night's load: the service runs its ingest and job engine
(``GSP_LIVE``) and a simulated night of the member's proposal (dated today: it is the
newest night of the index) is written into ``raw/``, one frame every ``S`` seconds, for
the whole run; its frames are reduced, extracted and calibrated meanwhile, and the
pages receive their live events.

Prints the figures (median and all values, seconds). Targets: 3 s, 1 s, 2 s, 0.5 s.
With each phase, the CPU seconds per action of the processes involved (kernels, user
server, gsp service, hub, proxy, chromium; ``psutil``), which a loaded machine moves
little; ``bench_ui_cpu.py`` splits the kernel's and the service's share further and
counts the API calls. Under a streamed night the service's figure includes its ingest
and job engine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests" / "integration"))

from bench_spawn import stop_servers, user_token, wait_forkserver  # noqa: E402
from gsp_realhub import start_hub, stop_hub  # noqa: E402
from store_hot_query import fill  # noqa: E402

PASSWORD = "Bench-UI-Password-2026!"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]


def _write(path: Path, data: np.ndarray, header: dict, extra=()) -> tuple[str, int]:
    from astropy.io import fits

    path.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(data)
    hdu.header.update(header)
    fits.HDUList([hdu, *extra]).writeto(path, overwrite=True)
    raw = path.read_bytes()
    return hashlib.sha256(raw).hexdigest(), len(raw)


def add_real_files(url: str, root: Path, soar: str) -> list[str]:
    """A raw frame, its reduced frame and a calibrated spectrum, dated today; names."""
    from astropy.io import fits

    from gsp_extension.store import Database
    from gsp_extension.store.accounts import get_user_by_username, set_password_hash
    from gsp_extension.store.files import register_file
    from hub.passwords import PasswordHasher

    rng = np.random.default_rng(3)
    today = dt.date.today()
    # Observed after any frame of a streamed night of today (SOAR's nights end before
    # noon UTC): the index lists a night newest first, so these stay on its first page
    # however many frames arrive. Without DATE-OBS they were listed last, and once 20
    # streamed files came before them the clicks found no row (bench_ui --stream).
    last_obs = f"{today + dt.timedelta(days=1):%Y-%m-%d}T12:00:"
    header = {
        "OBSTYPE": "OBJECT",
        "OBJECT": "BENCH",
        "PROPID": soar,
        "WAVMODE": "400_M2",
        "GRATING": "400_SYZY",
        "ROI": "Spectroscopic 2x2",
    }
    fields = {
        "obstype": "OBJECT",
        "object": "BENCH",
        "proposal_id": soar,
        "date": today,
        "wavmode": "400_M2",
        "grating": "400_SYZY",
        "roi": "Spectroscopic 2x2",
        "technique": "Spectroscopy",
        "saturation_value": 69257,
    }
    db = Database(url)
    names = []
    with db.transaction() as s:
        set_password_hash(s, get_user_by_username(s, "member"), PasswordHasher().hash(PASSWORD))
        for n in range(3):
            image = rng.normal(800, 20, (948, 2071)).astype("f4")
            image[:, 400 + 10 * n : 403 + 10 * n] += 5000
            name = f"{9000 + n:04d}_BENCH_{today:%d-%m-%Y}.fits"
            path = root / "raw" / f"{today:%Y%m%d}" / name
            checksum, size = _write(path, image, {**header, "DATE-OBS": f"{last_obs}{n:02d}"})
            raw = register_file(
                s, path, checksum=checksum, size=size, fields=fields, header=fits.getheader(path)
            ).file
            red = root / "products" / f"{today:%Y%m%d}" / f"cfzst_{name}"
            checksum, size = _write(red, image - 800, {**header, "RLEVEL": 62})
            reduced = register_file(
                s, red, checksum=checksum, size=size, fields=fields, data_type=2, parent=raw
            ).file
            flux = (1000 + 300 * np.sin(np.arange(2000) / 50)).astype("f4")
            spec = root / "products" / f"{today:%Y%m%d}" / f"wecfzst_{name}"
            checksum, size = _write(
                spec,
                flux,
                {
                    **header,
                    "RLEVEL": 64,
                    "CTYPE1": "LINEAR",
                    "CUNIT1": "Angstrom",
                    "CRVAL1": 5000.0,
                    "CDELT1": 2.0,
                    "CRPIX1": 1.0,
                },
                [fits.ImageHDU(np.full(2000, 20, "f4"), name="STD")],
            )
            register_file(
                s, spec, checksum=checksum, size=size, fields=fields, data_type=4, parent=reduced
            )
            names.append(name.removesuffix(".fits"))
    db.dispose()
    return names


class Timeline:
    """When each step of a login happened, seen from the browser (seconds from the click).

    Marks: the hub's redirects (``spawn`` pages when the server is started), the Voila
    page's answer (``page-answer``) and its end (``page-done``, the HTML streamed whole),
    the scripts loaded (``last-script``), the kernel's websocket opened (``kernel-ws``),
    the execution websocket opened (``exec-ws``) and asked to run the notebook
    (``execute-sent``), the notebook executed (``cell-done``:
    the app's imports, first API calls and widgets built in the kernel).
    """

    def __init__(self, page) -> None:
        self.t0 = time.perf_counter()
        self.marks: dict[str, float] = {}
        page.on("request", self._request)
        page.on("response", self._response)
        page.on("requestfinished", self._finished)
        page.on("websocket", self._websocket)

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.marks.clear()

    def mark(self, name: str, once: bool = True) -> None:
        if once and name in self.marks:
            return
        self.marks[name] = time.perf_counter() - self.t0

    def _request(self, request) -> None:
        url = request.url
        if "/hub/spawn" in url:
            self.mark("spawn-page")
        if "/voila/render/" in url and request.is_navigation_request():
            self.mark("page-request")

    def _response(self, response) -> None:
        if "/voila/render/" in response.url:
            self.mark("page-answer")

    def _finished(self, request) -> None:
        url = request.url
        if "/voila/render/" in url and request.resource_type == "document":
            self.mark("page-done", once=False)
        elif request.resource_type == "script":
            self.mark("last-script", once=False)

    def _websocket(self, ws) -> None:
        if "/channels" in ws.url:
            self.mark("kernel-ws")
        elif "/voila/execution/" in ws.url:
            self.mark("exec-ws")

            def frame(payload) -> None:
                if isinstance(payload, str) and '"execution_result"' in payload:
                    self.mark("cell-done")
                elif isinstance(payload, str) and '"finished"' in payload:
                    self.mark("executed")

            ws.on("framereceived", frame)
            ws.on(
                "framesent",
                lambda payload: self.mark("execute-sent") if "execute" in str(payload) else None,
            )

    def line(self, total: float) -> str:
        order = sorted(self.marks.items(), key=lambda kv: kv[1])
        return "  ".join(f"{k} {v:.2f}" for k, v in order) + f"  list {total:.2f}"


#: The plot's drawing count (``gsp-draw-<n>``, voila_apps/widgets/viewer.py), 0 before any.
DRAWS = """() => { const p = document.querySelector('.gsp-plot');
    const m = p && [...p.classList].map(c => /^gsp-draw-(\\d+)$/.exec(c)).find(Boolean);
    return m ? Number(m[1]) : 0; }"""
#: Process groups whose CPU seconds are printed per phase (first match of the command line).
GROUPS = (
    ("kernels", "voila_apps.kernel"),
    ("kernels", "hub.kernel_template"),  # the template the kernels are forked from
    ("chromium", "chrom"),
    ("proxy", "configurable-http-proxy"),
    ("gsp service", "gsp_extension"),
    ("user server", "hub.forkserver"),  # the users' servers are forked from it
    ("user server", "singleuser"),
    ("hub", "jupyterhub"),
)


class CPUMeter:
    """CPU seconds (user + system) of this run's processes by group: the hub's tree (hub,
    proxy, gsp service, user servers and their Voilà kernels) and the browser's. A loaded
    machine stretches wall-clock times; the CPU work of a phase changes much less.
    Processes that ended count through their parent's ``children_*`` times."""

    def __init__(self, *roots: int) -> None:
        import psutil

        self.roots = [psutil.Process(pid) for pid in roots]

    def sample(self) -> dict[str, float]:
        import psutil

        out = dict.fromkeys([g for g, _ in GROUPS] + ["other"], 0.0)  # (names repeat)
        seen = set()
        for root in self.roots:
            for proc in [root, *root.children(recursive=True)]:
                if proc.pid in seen:
                    continue
                seen.add(proc.pid)
                try:
                    cmd = " ".join(proc.cmdline())
                    t = proc.cpu_times()
                except psutil.Error:
                    continue
                group = next((g for g, key in GROUPS if key in cmd), "other")
                out[group] += t.user + t.system + t.children_user + t.children_system
        return out

    @staticmethod
    def line(before: dict[str, float], after: dict[str, float], per: int) -> str:
        parts = [
            f"{g} {(after[g] - before.get(g, 0.0)) / per:.2f}"
            for g in after
            if after[g] - before.get(g, 0.0) > 0.005 * per
        ]
        return ", ".join(parts) or "none"


def open_login(browser, hub_url: str):
    """A fresh browser context on the hub's login page, the member's name and password
    filled in: ``(context, page, timeline)``; the caller clicks submit."""
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    timeline = Timeline(page)
    page.goto(hub_url + "/hub/login")
    page.fill("input[name=username]", "member")
    page.fill("input[name=password]", PASSWORD)
    return context, page, timeline


def _report(label: str, values: list[float], target: float) -> None:
    shown = ", ".join(f"{v:.2f}" for v in values)
    print(f"{label}: median {statistics.median(values):.2f} s (target {target} s)  [{shown}]")


def _phase(label: str, run, page) -> bool:
    """Run one phase of the measures; on a failure print what it was, with the page's
    address and a screenshot (``test-artifacts/``), and return False."""
    try:
        run()
    except Exception as exc:  # noqa: BLE001 - reported, and the next phase runs
        shot = REPO / "test-artifacts" / f"bench_ui_failed_{label.split()[0]}.png"
        try:
            page.screenshot(path=str(shot))
            where = f"{page.url}; screenshot {shot}"
        except Exception as again:  # noqa: BLE001 - the page itself is gone
            where = f"no screenshot: {type(again).__name__}"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"{label}: NOT MEASURED: {type(exc).__name__}: {first} ({where})", flush=True)
        return False
    return True


def _start_stream(root: Path, soar: str, interval_s: float):
    """Write a simulated night of proposal ``soar`` into ``root/raw`` in a thread;
    returns (thread, stop event, [frames written])."""
    import threading

    from hub.demo import stream_demo_night
    from pipeline.simulate import NightConfig

    cfg = NightConfig(
        n_bias=5,
        n_flats=5,
        n_arcs=2,
        n_science=60,
        date=dt.date.today().isoformat(),
        proposal_id=soar,
        seed=7,
    )
    stop, count = threading.Event(), [0]

    def run() -> None:
        def counted(_path: Path, written: bool) -> None:
            count[0] += written

        stream_demo_night(root / "raw", cfg, interval_s, stop, on_frame=counted)

    thread = threading.Thread(target=run, name="bench-stream", daemon=True)
    thread.start()
    return thread, stop, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--cold", type=int, default=3, help="cold logins (the server stopped before each)"
    )
    parser.add_argument(
        "--stream",
        type=float,
        default=0.0,
        help="seconds between the frames of a night streamed during the run (0: quiet)",
    )
    args = parser.parse_args()
    # SIGTERM leaves through the finally blocks: the stream and the hub are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.stream < 0:
        parser.error(f"--stream {args.stream}: give seconds between frames (>= 0)")
    print("command: " + " ".join(sys.argv))

    from playwright.sync_api import sync_playwright

    from gsp_extension.store import Database, upgrade_database

    with tempfile.TemporaryDirectory(prefix="gsp-bench-ui-") as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'gsp.sqlite'}"
        upgrade_database(url)
        t = time.perf_counter()
        db = Database(url)
        _member, soar = fill(db, args.rows)
        db.dispose()
        names = add_real_files(url, root, soar)
        print(
            f"database: {args.rows} generated rows + 9 real files, filled in {time.perf_counter() - t:.1f} s"
        )
        hub = start_hub(root, database_url=url, log_level="WARN", live=args.stream > 0)
        # A night's first login comes long after the hub's start: timed once the
        # forkserver has imported the server (else the first cold login measured a Popen
        # start beside the forkserver's own imports).
        wait_forkserver(hub, timeout=120)
        stream = _start_stream(root, soar, args.stream) if args.stream > 0 else None
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
                cold, warm, served = [], [], []
                timelines = []
                page = None
                cold_runs = max(args.cold, 1)
                member_token = user_token(hub, "member")
                cpu = CPUMeter(hub.process.pid, __import__("os").getpid())
                cpu_warm = None
                for i in range(cold_runs + args.repeat):
                    if i == cold_runs:
                        cpu_warm = cpu.sample()
                    if 0 < i < cold_runs:
                        stop_servers(hub, {"member": member_token})
                    context, page, timeline = open_login(browser, hub.url)
                    timeline.start()
                    t = time.perf_counter()
                    page.click("input[type=submit], button[type=submit]")
                    # the hub's redirects done and Voila's answer starting
                    page.wait_for_url("**/voila/render/**", wait_until="commit")
                    served.append(time.perf_counter() - t)
                    page.wait_for_selector(".gsp-file-index .gsp-filelist .jupyter-button")
                    (cold if i < cold_runs else warm).append(time.perf_counter() - t)
                    timelines.append(timeline.line(time.perf_counter() - t))
                    if i < cold_runs + args.repeat - 1:
                        context.close()
                # (the last context stays open: its page's kernel is the clicks' one)
                print(
                    "CPU seconds per warm login (up to the first file list), by process: "
                    + CPUMeter.line(cpu_warm, cpu.sample(), args.repeat)
                )
                _report("login -> first file list, cold (server spawned)", cold, 3)
                _report("login -> first file list, warm (server running)", warm, 3)
                _report("  of which login -> Voila page answering (warm)", served[cold_runs:], 3)
                print("timelines, seconds from the login click (cold ones first):")
                for text in timelines:
                    print("  " + text)

                def clicks() -> None:
                    page.wait_for_selector(".gsp-plot.gsp-ready img")
                    first_view, again = [], []
                    before_clicks = cpu.sample()
                    for i in range(args.repeat):
                        for name in names:
                            row = page.locator(
                                ".gsp-file-index .jupyter-button", has_text=name
                            ).first
                            before = page.evaluate(DRAWS)
                            t = time.perf_counter()
                            row.click()
                            # a plot drawn after the click (gsp-draw-<n> past the one before),
                            # of the file the header names: the plot still on the page when
                            # the click leaves is never counted as the answer
                            page.wait_for_function(
                                f"""([n, before]) => {{
                                      const h = document.querySelector('.gsp-detail .gsp-panel-head');
                                      const id = document.querySelector('.gsp-header .gsp-file-id');
                                      return h && h.innerText.includes(n) && id
                                        && ({DRAWS})() > before && document.querySelector(
                                            '.gsp-plot.gsp-ready.gsp-shows-' + id.dataset.fileId + ' img'); }}""",
                                arg=[name, before],
                            )
                            (first_view if i == 0 else again).append(time.perf_counter() - t)
                    print(
                        "CPU seconds per click (up to its plot), by process: "
                        + CPUMeter.line(before_clicks, cpu.sample(), len(first_view) + len(again))
                    )
                    _report("click on a file -> plot visible, first view", first_view, 1)
                    _report("click on a file -> plot visible, seen before", again, 1)

                def reloads() -> None:
                    loads: list[float] = []
                    before_reloads = cpu.sample()
                    for _ in range(args.repeat):
                        t = time.perf_counter()
                        page.reload(wait_until="commit")
                        page.wait_for_selector(".gsp-file-index .gsp-filelist .jupyter-button")
                        loads.append(time.perf_counter() - t)
                    print(
                        "CPU seconds per page reload (up to the first file list), by process: "
                        + CPUMeter.line(before_reloads, cpu.sample(), args.repeat)
                    )
                    _report("page reload -> first file list (warm page load)", loads, 2)

                def filters() -> None:
                    page.locator(".gsp-nav .jupyter-button", has_text="Search").click()
                    page.wait_for_selector(".gsp-search-view .gsp-grid .gsp-cell")
                    box = page.locator(".gsp-filter-obstype input")
                    changes = []
                    for value in ["ARC", "FLAT", "BIAS", "OBJECT"] * args.repeat:
                        t = time.perf_counter()
                        box.fill(value)
                        box.press("Enter")
                        page.wait_for_function(
                            """v => { const rows = [...document.querySelectorAll('.gsp-search-view .gsp-grid .widget-hbox')]
                                       .filter(r => r.querySelector('.gsp-cell'));
                                      return rows.length > 0 && rows.every(r => r.querySelectorAll('.gsp-cell')[1].innerText === v); }""",
                            arg=value,
                        )
                        changes.append(time.perf_counter() - t)
                    count = page.locator(".gsp-search-view .gsp-badge").inner_text()
                    _report(
                        f"table filter change -> updated rows ({count} rows match the last)",
                        changes,
                        0.5,
                    )
                    page.screenshot(path=str(REPO / "test-artifacts" / "bench_ui_table.png"))

                # A phase that fails says why and the next one still runs: the figures
                # of the others are printed, and the run never ends without a word.
                failed = [
                    label
                    for label, phase in (
                        ("click on a file -> plot visible", clicks),
                        ("page reload -> first file list", reloads),
                        ("table filter change -> updated rows", filters),
                    )
                    if not _phase(label, phase, page)
                ]
                if failed:
                    print("not measured: " + "; ".join(failed) + " (see above)")
                browser.close()
        finally:
            if stream is not None:
                stream[1].set()
                stream[0].join(30)
                print(f"streamed night: {stream[2][0]} frames written during the run")
            stop_hub(hub)


if __name__ == "__main__":
    main()
