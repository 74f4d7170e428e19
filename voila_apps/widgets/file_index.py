"""The file index: "Observed" raw files newest first, or "Calibrations" (masters).

One page at a time from ``GET api/files/`` (the API orders newest first by default),
with page buttons and a go-to box; a click calls ``on_select(record)``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .pager import Pager, page_count

#: The two indexes of the data view: title and the API filters that define them.
OBSERVED = ("Observed", {"data_type": 0})
CALIBRATIONS = ("Calibrations", {"data_type": 1})


def display_name(file_name: str, limit: int = 48) -> str:
    """File name as listed: without ``.fits``, long names cut with an ellipsis."""
    name = file_name[:-5] if file_name.lower().endswith(".fits") else file_name
    return name if len(name) <= limit else name[: limit - 1] + "…"


class FileIndex(w.VBox):
    """A paginated list of files.

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
        self.count = 0
        self.records: list[dict] = []
        self.selected_id: int | None = None
        self.badge = w.HTML()
        self.head = w.HBox(
            [w.HTML(f"<b>{html.escape(title)}</b>"), self.badge],
            layout=w.Layout(justify_content="space-between"),
        )
        self.head.add_class("gsp-panel-head")
        self.rows = w.VBox(layout=w.Layout(padding="6px 10px"))
        self.rows.add_class("gsp-filelist")
        self.status = w.HTML()
        self.pager = Pager(self.load)
        super().__init__([self.head, self.rows, self.status, self.pager])
        self.add_class("gsp-panel")
        self.add_class("gsp-file-index")

    def load(self, page: int = 1) -> None:
        """Fetch and show ``page``."""
        try:
            answer = self.client.files(page=page, page_size=self.page_size, **self.filters)
        except Exception as exc:  # the API's refusal is shown, not raised into the page
            self.status.value = f'<span class="gsp-error">{html.escape(str(exc))}</span>'
            return
        self.status.value = ""
        self.page = page
        self.count = int(answer["count"])
        self.records = list(answer["results"])
        approx = "≈" if answer.get("count_is_estimate") else ""
        self.badge.value = f'<span class="gsp-badge">{approx}{self.count}</span>'
        self.rows.children = [self._row(r) for r in self.records] or [
            w.HTML('<span class="gsp-muted">No files yet.</span>')
        ]
        self.pager.update(page, page_count(self.count, self.page_size))

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
        except Exception:
            return False
        newest = answer["results"][0]["id"] if answer["results"] else None
        if newest == self.top_id and int(answer["count"]) == self.count:
            return False
        self.load(1)
        return True

    def mark_selected(self, file_id: int | None) -> None:
        """Highlight the row of ``file_id`` (if on this page)."""
        self.selected_id = file_id
        for row in self.rows.children:
            if isinstance(row, w.Button):
                if getattr(row, "file_id", None) == file_id:
                    row.add_class("gsp-selected")
                else:
                    row.remove_class("gsp-selected")

    def _row(self, record: dict) -> w.Button:
        b = w.Button(
            description=display_name(record["file_name"]),
            tooltip=record["file_name"],
            layout=w.Layout(width="100%"),
        )
        b.file_id = record["id"]
        if record["id"] == self.selected_id:
            b.add_class("gsp-selected")
        b.on_click(lambda _, r=record: self._clicked(r))
        return b

    def _clicked(self, record: dict) -> None:
        self.mark_selected(record["id"])
        self.on_select(record)
