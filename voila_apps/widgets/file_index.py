"""The file index: "Observed" raw files newest first, or "Calibrations" (masters).

One page at a time from ``GET api/files/``, with page buttons and a go-to box; a click
calls ``on_select(record)``. Observed frames are in the order they were taken, the
latest first: by night, then by frame number (a Goodman raw file's name starts with
it, and it counts up through the night), not by when they were registered: after a
batch arrives together (a restart, a catch-up) the science frame is no longer among
the bias frames.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from gsp_extension.client import NEWEST_FIRST

from .errors import GSPError, error_html, log
from .pager import Pager, page_count
from .shared_models import shared_layout

#: Observation order, latest first: night, then DATE-OBS and frame number within it.
OBSERVATION_ORDER = NEWEST_FIRST
#: The two indexes of the data view: title and the API filters that define them.
OBSERVED = ("Observed", {"data_type": 0, "ordering": OBSERVATION_ORDER})
CALIBRATIONS = ("Calibrations", {"data_type": 1})


def display_name(file_name: str, limit: int = 48) -> str:
    """File name as listed: without ``.fits``, long names cut with an ellipsis."""
    name = file_name[:-5] if file_name.lower().endswith(".fits") else file_name
    return name if len(name) <= limit else name[: limit - 1] + "…"


def unique_labels(names: list[str]) -> list[str]:
    """``names`` made distinct with trailing zero-width spaces (the buttons of a
    ``ToggleButtons`` are found by label in the browser: two alike would be one)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name + "\u200b" * n)
    return out


class FileIndex(w.VBox):
    """A paginated list of files.

    The rows of a page are the buttons of one ``ToggleButtons`` widget (its active
    button is the file shown): one widget per page instead of one per row, which is
    what the first picture of the page waits for. The browser reports each click (also
    on the button already active) with a ``{"event": "click"}`` message.

    Parameters
    ----------
    client : GSPClient-like
        Used for ``files(page=, page_size=, **filters)``.
    title : str
        Panel title ("Observed", "Calibrations").
    filters : dict
        API filters of this index.
    on_select : callable
        Called with the file record clicked.
    page_size : int
        Rows per page.
    """

    def __init__(
        self,
        client: Any,
        title: str,
        filters: dict[str, Any],
        on_select: Callable[[dict], None],
        page_size: int = 20,
    ) -> None:
        self.client = client
        self.title = title
        self.filters = dict(filters)
        self.on_select = on_select
        self.page_size = page_size
        self.page = 1
        #: Called with the page number when another page is shown (the address).
        self.on_page: Callable[[int], None] | None = None
        self.count = 0
        self.records: list[dict] = []
        self.selected_id: int | None = None
        self.badge = w.HTML()
        # The original app's "View as Table": the same files as a sortable table with
        # every column (offered once a view is there to open, see offer_table).
        self.table_link = w.Button(
            description="View as Table",
            icon="table",
            tooltip="the files as a table with every column, sortable and filterable",
            layout=w.Layout(display="none", width="auto"),
            _dom_classes=("gsp-view-as-table",),
        )
        self.head = w.HBox(
            [w.HTML(f"<b>{html.escape(title)}</b>"), w.HBox([self.table_link, self.badge])],
            layout=shared_layout(justify_content="space-between"),
            _dom_classes=("gsp-panel-head",),
        )
        self.list = w.ToggleButtons(
            options=[],
            index=None,
            layout=shared_layout(width="100%"),
            _dom_classes=("gsp-filelist",),
        )
        self.list.on_msg(self._message)
        self._empty: w.HTML | None = None
        self.rows = w.VBox(layout=shared_layout(padding="6px 10px"))
        self.status = w.HTML()
        self.pager = Pager(self.load)
        super().__init__(
            [self.head, self.rows, self.status, self.pager],
            _dom_classes=("gsp-panel", "gsp-file-index"),
        )

    def offer_table(self, open_table: Callable[[], Any]) -> None:
        """Show the "View as Table" button; a click calls ``open_table()``."""
        self.table_link.on_click(lambda _: open_table())
        self.table_link.layout.display = "flex"

    def load(self, page: int = 1) -> None:
        """Fetch and show ``page``."""
        self.show_page(page, self.fetch(page))

    def fetch(self, page: int = 1) -> Any:
        """The API's answer for ``page``, or the exception it raised (safe to call on
        another thread: it touches no widget)."""
        try:
            return self.client.files(page=page, page_size=self.page_size, **self.filters)
        except GSPError as exc:  # the API's refusal is shown, not raised into the page
            return exc

    def show_page(self, page: int, answer: Any) -> None:
        """Show ``answer`` (from :meth:`fetch`) as page ``page``."""
        if isinstance(answer, BaseException):
            self.status.value = error_html(answer)
            return
        self.status.value = ""
        changed = page != self.page
        self.page = page
        self.count = int(answer["count"])
        self.records = list(answer["results"])
        approx = "≈" if answer.get("count_is_estimate") else ""
        self.badge.value = f'<span class="gsp-badge">{approx}{self.count}</span>'
        labels = unique_labels([display_name(r["file_name"]) for r in self.records])
        with self.list.hold_sync():
            self.list.index = None  # else a new page would select its first row
            self.list.options = [(label, i) for i, label in enumerate(labels)]
            self.list.tooltips = [r["file_name"] for r in self.records]
            self.list.index = self._position(self.selected_id)
        self.rows.children = [self.list] if self.records else [self.empty]
        self.pager.update(page, page_count(self.count, self.page_size))
        if changed and self.on_page is not None:
            self.on_page(page)

    @property
    def empty(self) -> w.HTML:
        """What an empty index shows (made when first needed)."""
        if self._empty is None:
            self._empty = w.HTML('<span class="gsp-muted">No files yet.</span>')
        return self._empty

    @property
    def top_id(self) -> int | None:
        """Id of the newest file of the shown page."""
        return self.records[0]["id"] if self.records else None

    def refresh_first_page(self) -> bool:
        """Reload page 1 if it is shown and a newer file exists; True when it changed."""
        if self.page != 1:
            return False
        try:
            answer = self.client.files(page=1, page_size=1, **self.filters)
        except GSPError as exc:  # the next poll tries again; the page keeps what it shows
            log.info("file index %s: cannot look for new files: %s", self.filters, exc.detail)
            return False
        newest = answer["results"][0]["id"] if answer["results"] else None
        if newest == self.top_id and int(answer["count"]) == self.count:
            return False
        self.load(1)
        return True

    def mark_selected(self, file_id: int | None) -> None:
        """Highlight the row of ``file_id`` (if on this page)."""
        self.selected_id = file_id
        position = self._position(file_id)
        if self.list.index != position:
            self.list.index = position

    @property
    def selected_position(self) -> int | None:
        """Row (0 = top) highlighted, None when the file shown is not on this page."""
        return self.list.index

    def click(self, position: int) -> None:
        """What a click on row ``position`` does (the browser sets the index, then
        reports the click)."""
        self.list.index = position
        self._message(self.list, {"event": "click"}, [])

    def _position(self, file_id: int | None) -> int | None:
        for i, r in enumerate(self.records):
            if r["id"] == file_id:
                return i
        return None

    def _message(self, _widget, content: dict, _buffers) -> None:
        if not isinstance(content, dict) or content.get("event") != "click":
            return
        position = self.list.index
        if position is None or not 0 <= position < len(self.records):
            return
        record = self.records[position]
        self.selected_id = record["id"]
        self.on_select(record)
