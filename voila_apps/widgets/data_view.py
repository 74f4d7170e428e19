"""The data view (landing page): file indexes on the left, the selected file on the right.

Right side, top to bottom as in the original app: the raw file's name, its related
files as tabs, the header (folded), the plot, the actions, job progress, comments.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as w

from .actions import ActionBar
from .comments import Comments
from .file_index import CALIBRATIONS, OBSERVED, FileIndex
from .header_table import HeaderTable
from .jobs import JobTracker
from .preferences import Preferences
from .related import RelatedTabs, default_choice, family
from .viewer import Viewer


class DataView(w.HBox):
    """File index + detail of the selected file.

    Parameters
    ----------
    client : GSPClient-like
    prefs : Preferences
    live_interval : float
        Seconds between checks for new files (0: no background checks).
    """

    def __init__(self, client: Any, prefs: Preferences, live_interval: float = 5.0) -> None:
        self.client = client
        self.prefs = prefs
        self.record: dict | None = None  # the file shown
        self.family: list[dict] = []
        self.observed = FileIndex(client, OBSERVED[0], OBSERVED[1], self.select, prefs.page_size)
        self.calibrations = FileIndex(
            client, CALIBRATIONS[0], CALIBRATIONS[1], self.select, max(5, prefs.page_size // 2)
        )
        self.title = w.HTML()
        self.title.add_class("gsp-panel-head")
        self.tabs = RelatedTabs(self.choose)
        self.header = HeaderTable(client)
        self.viewer = Viewer(client, prefs)
        self.jobs = JobTracker(client, self._job_finished)
        self.actions = ActionBar(
            client, self.jobs.watch, self.viewer.toggle_advanced, self._deleted
        )
        self.comments = Comments(client)
        self.message = w.HTML()
        self.detail = w.VBox(
            [
                self.title,
                self.tabs,
                self.header,
                self.message,
                self.viewer,
                self.actions,
                self.jobs,
                self.comments,
            ],
            layout=w.Layout(flex="1 1 auto", width="70%"),
        )
        self.detail.add_class("gsp-panel")
        self.detail.add_class("gsp-detail")
        left = w.VBox(
            [self.observed, self.calibrations], layout=w.Layout(width="30%", min_width="280px")
        )
        super().__init__(
            [left, self.detail], layout=w.Layout(width="100%", align_items="flex-start")
        )
        self.add_class("gsp-data-view")
        # Clicks (kernel's main thread), the first file opened at start and finished
        # jobs (background threads) all change what is shown: one at a time.
        self._showing = threading.RLock()
        self._live_interval = live_interval
        self._live_stop = threading.Event()
        self._live_thread: threading.Thread | None = None

    # --- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """First pages of both indexes."""
        self.observed.load(1)
        self.calibrations.load(1)

    def open_first(self) -> None:
        """Show the newest observed file (what the landing page opens), unless the user
        already picked one."""
        with self._showing:
            if self.observed.records and self.record is None:
                self.select(self.observed.records[0])

    def open_file(self, file_id: int) -> bool:
        """Open file ``file_id`` (deep links); False with a message when not visible."""
        try:
            record = self.client.file(int(file_id))
        except Exception as exc:
            detail = getattr(exc, "detail", None) or str(exc)
            self.message.value = f"<span class='gsp-error'>Cannot open file {int(file_id)}: {html.escape(detail)}</span>"
            return False
        self.select(record)
        return True

    def select(self, record: dict) -> None:
        """A file clicked in an index (or opened by link): its family as tabs."""
        with self._showing:
            self._select(record)

    def _select(self, record: dict) -> None:
        self.record = record  # claimed at once: the start-up opening then stands back
        self.message.value = ""
        try:
            self.family = family(self.client, record)
        except Exception as exc:
            self.family = [record]
            self.message.value = f"<span class='gsp-error'>{html.escape(str(exc))}</span>"
        root = next((f for f in self.family if str(f["data_type"]) == "0"), self.family[-1])
        self.title.value = f"<b>{html.escape(root['file_name'])}</b>"
        self.observed.mark_selected(root["id"])
        self.calibrations.mark_selected(record["id"])
        active = default_choice(self.family, record)
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
        self.actions.show(record)
        self.comments.show(record["id"])
        self.viewer.show(record)

    def set_preferences(self, prefs: Preferences) -> None:
        self.prefs = prefs
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
        except Exception:
            return
        self.tabs.show(self.family, self.tabs.active)
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

    def start_live(self) -> None:
        if self._live_interval <= 0 or (self._live_thread and self._live_thread.is_alive()):
            return
        self._live_thread = threading.Thread(target=self._live, name="gsp-live", daemon=True)
        self._live_thread.start()

    def stop_live(self) -> None:
        self._live_stop.set()
        self.jobs.stop()

    def _live(self) -> None:
        while not self._live_stop.wait(self._live_interval):
            try:
                self.poll_new_files()
            except Exception:
                import traceback

                traceback.print_exc()
