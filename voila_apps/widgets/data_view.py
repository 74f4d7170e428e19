"""The data view (landing page): file indexes on the left, the selected file on the right.

Right side, top to bottom as in the original app: the raw file's name, its related
files as tabs, the header (folded), the plot, the actions, job progress, comments.
"""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from gsp_extension.client import DataType, JobKind

from .actions import COMBINED_OBSTYPES
from .errors import GSPError, error_html
from .file_index import CALIBRATIONS, OBSERVED, FileIndex
from .lamps import is_arc
from .live import FILE_EVENTS, JOB_EVENTS, LiveFeed, health_banner_html, status_html
from .preferences import Preferences
from .related import default_choice, family
from .shared_models import shared_layout

if TYPE_CHECKING:  # imported when the detail is built (the viewer imports numpy)
    from .actions import ActionBar
    from .comments import Comments
    from .header_table import HeaderTable
    from .jobs import JobTracker
    from .related import RelatedTabs
    from .viewer import Viewer


class DataView(w.HBox):
    """File index + detail of the selected file.

    Parameters
    ----------
    client : GSPClient-like
    prefs : Preferences
    live_interval : float
        0 turns all background work off (tests drive the view by hand); any other
        value turns live updates on: the page follows the API's event stream.
    fallback_interval : float
        Seconds between checks for new files while the event stream is down.
    """

    def __init__(
        self,
        client: Any,
        prefs: Preferences,
        live_interval: float = 5.0,
        fallback_interval: float = 60.0,
    ) -> None:
        self.client = client
        self.prefs = prefs
        # Whether the user is staff (the app sets it from the API's status before a
        # file is shown): the actions offered depend on it.
        self.staff = False
        #: Called after another file, tab or index page is shown (the app puts it in
        #: the page's address).
        self.on_shown: Any = None
        self.record: dict | None = None  # the file shown
        self.family: list[dict] = []
        self.observed = FileIndex(client, OBSERVED[0], OBSERVED[1], self.select, prefs.page_size)
        self.calibrations = FileIndex(
            client, CALIBRATIONS[0], CALIBRATIONS[1], self.select, max(5, prefs.page_size // 2)
        )
        self.observed.on_page = self._shown
        self.title = w.HTML()
        self.message = w.HTML()
        self.live_status = w.HTML(_dom_classes=("gsp-live-status",))
        # Staff see a banner when live processing stops or lags (api/health/), in the
        # live-status line (no widget more on the landing page).
        self.health_banner = ""
        self.health_interval = 60.0
        self._health_allowed = callable(getattr(client, "health", None))
        self._health_stop = threading.Event()
        # Follow newest: each new science frame's best product opens as it arrives
        # (at the telescope, the frame just taken is the one to look at).
        self.follow = w.ToggleButton(
            value=False,
            description="Follow newest",
            icon="forward",
            tooltip="Open each new science frame (its most processed product) as it arrives",
            layout=shared_layout(width="auto"),
            _dom_classes=("gsp-follow",),
        )
        self.follow.observe(self._follow_changed, "value")
        self.live = LiveFeed(
            client,
            self.handle_event,
            self.poll_everything,
            fallback=fallback_interval,
            on_state=self._live_state,
        )
        # The detail's parts (tabs, header, viewer, actions, jobs, comments: ~140
        # widgets) are built with the first file shown, after the file list is on the
        # screen: each widget costs the kernel a message and the browser a drawing, and
        # the first picture of the page is the list.
        self._parts: dict[str, Any] | None = None
        self._prefetch: list | None = None  # first pages being fetched
        self._background = live_interval > 0
        self.detail = w.VBox(
            [self._title_bar(), self.message, self.live_status],
            layout=shared_layout(flex="1 1 auto", width="70%"),
            _dom_classes=("gsp-panel", "gsp-detail"),
        )
        left = w.VBox(
            [self.observed, self.calibrations], layout=shared_layout(width="30%", min_width="280px")
        )
        super().__init__(
            [left, self.detail],
            layout=shared_layout(width="100%", align_items="flex-start"),
            _dom_classes=("gsp-data-view",),
        )
        # Clicks (kernel's main thread), the first file opened at start and finished
        # jobs (background threads) all change what is shown: one at a time.
        self._showing = threading.RLock()
        self._building = threading.Lock()
        self._live_interval = live_interval
        # File events come in bursts (a night's ingest): one refresh per burst.
        self._refresh_lock = threading.Lock()
        self._refresh_timer: threading.Timer | None = None
        self._refreshing = 0  # refreshes running
        self.file_events = 0  # file events handled
        self._new_products: set[int] = set()
        self.refresh_delay = 0.5

    def _title_bar(self) -> w.HBox:
        if not hasattr(self, "_title_box"):
            self._title_box = w.HBox(
                [self.title, self.follow],
                layout=shared_layout(justify_content="space-between", align_items="center"),
                _dom_classes=("gsp-panel-head",),
            )
        return self._title_box

    # --- the detail's parts, built on first use ---------------------------------------------

    def build_detail(self) -> dict[str, Any]:
        """Build the detail's parts (once) and place them in the panel."""
        with self._building:
            if self._parts is None:
                from .actions import ActionBar
                from .comments import Comments
                from .header_table import HeaderTable
                from .jobs import JobTracker
                from .related import RelatedTabs
                from .viewer import Viewer

                tabs = RelatedTabs(self.choose)
                header = HeaderTable(self.client)
                viewer = Viewer(self.client, self.prefs)
                jobs = JobTracker(self.client, self._job_finished, live=self.live)
                actions = ActionBar(
                    self.client,
                    jobs.watch,
                    viewer.toggle_advanced,
                    self._deleted,
                    background=self._background,
                    staff=self.staff,
                )
                comments = Comments(self.client)
                self._parts = {
                    "tabs": tabs,
                    "header": header,
                    "viewer": viewer,
                    "actions": actions,
                    "jobs": jobs,
                    "comments": comments,
                }
                self.detail.children = [
                    self._title_bar(),
                    tabs,
                    header,
                    self.message,
                    viewer,
                    actions,
                    jobs,
                    self.live_status,
                    comments,
                ]
            return self._parts

    @property
    def detail_built(self) -> bool:
        """Whether the detail's parts exist (they do once a file was shown)."""
        return self._parts is not None

    @property
    def tabs(self) -> RelatedTabs:
        return self.build_detail()["tabs"]

    @property
    def header(self) -> HeaderTable:
        return self.build_detail()["header"]

    @property
    def viewer(self) -> Viewer:
        return self.build_detail()["viewer"]

    @property
    def actions(self) -> ActionBar:
        return self.build_detail()["actions"]

    @property
    def jobs(self) -> JobTracker:
        return self.build_detail()["jobs"]

    @property
    def comments(self) -> Comments:
        return self.build_detail()["comments"]

    # --- loading ---------------------------------------------------------------------------

    def prefetch(self) -> None:
        """Ask for both indexes' first pages now, at once, in the background (the app
        does it before its other start-up calls); :meth:`load` shows them."""
        if self._prefetch is None:
            from concurrent.futures import ThreadPoolExecutor

            pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gsp-first-pages")
            self._prefetch = [
                pool.submit(self.observed.fetch, 1),
                pool.submit(self.calibrations.fetch, 1),
            ]
            pool.shutdown(wait=False)

    def load(self) -> None:
        """First pages of both indexes (fetched together)."""
        self.prefetch()
        (observed, calibrations), self._prefetch = self._prefetch, None
        self.observed.show_page(1, observed.result())
        self.calibrations.show_page(1, calibrations.result())

    def open_first(self) -> None:
        """Show the newest observed file (what the landing page opens), unless the user
        already picked one."""
        with self._showing:
            if self.observed.records and self.record is None:
                self.select(self.observed.records[0])

    def open_file(self, file_id: int) -> bool:
        """Open file ``file_id`` (an address, a link), on its own tab even when it is a
        raw frame with products: the address says what was shown. False with a message
        when it is not visible."""
        try:
            record = self.client.file(int(file_id))
        except GSPError as exc:
            self.message.value = error_html(exc, f"Cannot open file {int(file_id)}: ")
            return False
        self.select(record, exact=True)
        return True

    def select(self, record: dict, exact: bool = False) -> None:
        """A file clicked in an index (or opened by link): its family as tabs, the
        most processed shown for a raw frame, unless ``exact``."""
        with self._showing:
            self._select(record, exact)

    def _select(self, record: dict, exact: bool = False) -> None:
        self.record = record  # claimed at once: the start-up opening then stands back
        self.message.value = ""
        try:
            self.family = family(self.client, record)
        except GSPError as exc:
            self.family = [record]
            self.message.value = error_html(exc)
        root = next((f for f in self.family if str(f["data_type"]) == "0"), self.family[-1])
        self.title.value = f"<b>{html.escape(root['file_name'])}</b>"
        self.observed.mark_selected(root["id"])
        self.calibrations.mark_selected(record["id"])
        active = default_choice(self.family, record)
        if exact:
            active = next((i for i, f in enumerate(self.family) if f["id"] == record["id"]), active)
        self.tabs.show(self.family, active)
        self.choose(self.family[active])

    def choose(self, record: dict) -> None:
        """Show one file of the family."""
        with self._showing:
            self._choose(record)

    def _choose(self, record: dict) -> None:
        self.record = record
        # The quick parts first; the plot (download and drawing) last.
        self.header.show_file(record)
        self.actions.show(record, find_lamps=False)
        self.comments.show(record["id"])
        self.viewer.show(record)
        # The arcs for the lamp chooser are looked up after the plot: it is what the
        # user waits for.
        self.actions.find_lamps()
        self._shown()

    def _shown(self, _page: int | None = None) -> None:
        if self.on_shown is not None:
            self.on_shown()

    def set_preferences(self, prefs: Preferences) -> None:
        self.prefs = prefs
        if self.detail_built:  # else the viewer is built with them
            self.viewer.set_preferences(prefs)

    # --- live updates ---------------------------------------------------------------------------

    def _job_finished(self, job: dict) -> None:
        """A job ended: show its product (refreshing the family) or its error."""
        with self._showing:
            self._show_product(job)

    def _show_product(self, job: dict) -> None:
        if job.get("state") != "done" or self.record is None:
            return
        product = job.get("product_file_id")
        current = self.record
        try:
            self.family = family(self.client, current)
        except GSPError as exc:
            self.message.value = error_html(
                exc, "The job is done, but its products cannot be listed: "
            )
            return
        self.tabs.show(self.family, self.tabs.active)
        if product and job.get("kind") == JobKind.CALIBRATE_WAVELENGTH:
            # Its first product is the spectrum extracted again; what was asked for is
            # the calibrated one made from it.
            product = next(
                (
                    f["id"]
                    for f in self.family
                    if f.get("parent_file_id") == product
                    and int(f["data_type"]) == DataType.WAVELENGTH_CALIBRATED
                ),
                product,
            )
        if job.get("kind") == JobKind.CALIBRATE_FLUX:
            # A standard's job makes its sensitivity first; what was asked for is the
            # flux-calibrated spectrum (the Flux Calibrated tab), when one was made.
            product = next(
                (f["id"] for f in self.family if int(f["data_type"]) == DataType.FLUX_CALIBRATED),
                product,
            )
        if product:
            for i, f in enumerate(self.family):
                if f["id"] == product:
                    self.tabs.choose(i)
                    return

    def _deleted(self, record: dict) -> None:
        rest = [f for f in self.family if f["id"] != record["id"]]
        if rest:
            self.select(rest[-1] if str(rest[-1]["data_type"]) == "0" else rest[0])

    def poll_new_files(self) -> bool:
        """Reload the indexes' first pages when new files arrived; True if any did."""
        a = self.observed.refresh_first_page()
        b = self.calibrations.refresh_first_page()
        return a or b

    def poll_everything(self) -> None:
        """The fallback while the event stream is down: file lists and active jobs."""
        self.poll_new_files()
        if self.detail_built and self.jobs.active:
            self.jobs.tick()

    def handle_event(self, event: dict) -> None:
        """One event of the stream: a job followed here ended, or files changed."""
        kind = event.get("event")
        if kind in JOB_EVENTS:
            if self.detail_built:  # else no job is followed here
                self.jobs.handle_event(event)
        elif kind in FILE_EVENTS:
            with self._refresh_lock:
                self.file_events += 1
                if kind == "file.product" and event.get("file_id") is not None:
                    self._new_products.add(int(event["file_id"]))
                if self._refresh_timer is None:
                    self._refresh_timer = threading.Timer(self.refresh_delay, self.refresh_files)
                    self._refresh_timer.daemon = True
                    self._refresh_timer.start()

    def refresh_files(self) -> None:
        """After file events: the indexes' first pages, and the tabs when a product of
        the family shown appeared (made by a job started elsewhere)."""
        with self._refresh_lock:
            self._refresh_timer = None
            self._refreshing += 1
            products, self._new_products = self._new_products, set()
        try:
            self._refresh_files(products)
        finally:
            with self._refresh_lock:
                self._refreshing -= 1

    @property
    def refresh_idle(self) -> bool:
        """No refresh after file events is waiting or running: the page shows every
        file event handled so far."""
        with self._refresh_lock:
            return self._refresh_timer is None and self._refreshing == 0

    # --- follow newest ------------------------------------------------------------------------

    def _follow_changed(self, change: dict) -> None:
        if change["new"]:
            self.open_newest_science()

    def newest_science(self) -> dict | None:
        """The latest science frame taken (raw; not a bias, flat or arc), or None."""
        try:
            answer = self.client.files(page=1, page_size=50, **OBSERVED[1])
        except GSPError as exc:  # shown; following resumes with the next event
            self.message.value = error_html(exc, "Cannot follow the newest frame: ")
            return None
        for record in answer["results"]:
            obstype = str(record.get("obstype") or "").upper()
            if obstype not in COMBINED_OBSTYPES and not is_arc(record):
                return record
        return None

    def open_newest_science(self) -> bool:
        """Show the newest science frame's most processed product, unless it is shown
        already; True when something else was opened."""
        newest = self.newest_science()
        if newest is None:
            return False
        with self._showing:
            try:
                members = family(self.client, newest)
            except GSPError:  # its raw alone is still worth showing
                members = [newest]
            best = members[default_choice(members, newest)]
            if self.record is not None and self.record["id"] == best["id"]:
                return False
            self._select(newest)
            return True

    def _refresh_files(self, products: set[int]) -> None:
        self.poll_new_files()
        if self.follow.value and self.open_newest_science():
            return
        if self.record is None or not products:
            return
        # The new products are looked up without holding the view: through a night
        # every frame's products arrive (mostly of other families), and a click
        # meanwhile would wait for all these calls before its file could open.
        known = {f["id"] for f in self.family}
        found = []
        for file_id in sorted(products - known):
            try:
                found.append(self.client.file(file_id))
            except GSPError:  # deleted meanwhile, or not ours to see
                continue
        with self._showing:
            if self.record is None:
                return
            roots = {f.get("original_file_id") or f["id"] for f in self.family}
            if any(p.get("original_file_id") in roots for p in found):
                self.family = family(self.client, self.record)
                # The new tab may come before the one looked at: keep that one marked.
                shown = [i for i, f in enumerate(self.family) if f["id"] == self.record["id"]]
                self.tabs.show(self.family, shown[0] if shown else self.tabs.active)

    def _live_state(self, feed: LiveFeed) -> None:
        new = self.health_banner + status_html(feed)
        if self.live_status.value != new:
            self.live_status.value = new

    def refresh_health(self) -> None:
        """Show (or clear) the processing-health banner; only staff may read it, so a
        refusal turns it off for this page."""
        if not self._health_allowed:
            return
        try:
            report = self.client.health()
        except GSPError as exc:
            if getattr(exc, "status", None) in (401, 403):
                self._health_allowed = False  # not staff: no banner on this page
            return
        self.health_banner = health_banner_html(report)
        self._live_state(self.live)

    def _health_loop(self) -> None:
        while self._health_allowed and not self._health_stop.is_set():
            self.refresh_health()
            if self._health_stop.wait(self.health_interval):
                return

    def start_live(self) -> None:
        """Follow the event stream (no-op with ``live_interval`` 0)."""
        if self._live_interval > 0:
            self.live.start()
            if self._health_allowed:
                self._health_stop.clear()
                threading.Thread(target=self._health_loop, daemon=True).start()

    def stop_live(self) -> None:
        """End the background threads (they are daemons: a kernel shutting down or
        culled never waits for them)."""
        self._health_stop.set()
        self.live.stop()
        if self.detail_built:
            self.jobs.stop()

    def close(self) -> None:
        self.stop_live()
        super().close()
