"""The search / table view: the seed's filters, sortable columns, pages; a row opens the
file in the data view."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from gsp_extension.client import NEWEST_FIRST

from .errors import GSPError, describe
from .pager import Pager, page_count

TYPE_NAMES = {
    "0": "Observed Raw",
    "1": "Calibration",
    "2": "Reduced",
    "3": "Extracted",
    "4": "Wavelength Calibrated",
    "5": "Flux Calibrated",
}
#: Text filters (API parameter, label) offered with suggestions.
TEXT_FILTERS = (
    ("obstype", "Obstype"),
    ("filter", "Filter"),
    ("filter_2", "Filter 2"),
    ("grating", "Grating"),
    ("wavmode", "Wavmode"),
    ("slit", "Slit"),
    ("roi", "ROI"),
)
KNOWN_VALUES = {
    "obstype": ["OBJECT", "COMP", "ARC", "BIAS", "FLAT", "LAMPFLAT", "SPECTRUM", "EXPOSE", "DARK"],
    "roi": [
        "Spectroscopic 2x2",
        "Spectroscopic 1x1",
        "Spectroscopic 3x3",
        "Imaging 2x2",
        "Imaging 1x1",
    ],
}
#: Table columns: record key, title, width, API ordering field (None: not sortable).
#: The widths add up to 100%: the grid's cells have no margin and keep their padding
#: inside (theme.py), so the last column ends at the table's edge; a long value wraps
#: rather than being cut ("Wavelength Calibrated" in Type).
COLUMNS = (
    ("file_name", "File Name", "16%", "file_name"),
    ("proposal_id", "Proposal ID", "11%", "proposal_id"),
    ("obstype", "Obstype", "7%", "obstype"),
    ("wavmode", "Wavmode", "8%", None),
    ("filter", "Filter", "8%", None),
    ("filter_2", "Filter 2", "6%", None),
    ("grating", "Grating", "8%", None),
    ("slit", "Slit", "9%", None),
    ("roi", "ROI", "10%", None),
    ("date", "Date", "8%", "date"),
    ("data_type", "Type", "9%", "data_type"),
)
#: Latest night first and, within a night, the frames in the order they were taken
#: (DATE-OBS, then frame number), latest first, as the file index.
DEFAULT_ORDERING = NEWEST_FIRST


def build_query(
    values: dict[str, Any], ordering: str = DEFAULT_ORDERING, page: int = 1, page_size: int = 20
) -> dict[str, Any]:
    """API parameters from the filter values (empty and "All" left out).

    Raises
    ------
    ValueError
        When the date range is reversed.
    """
    q: dict[str, Any] = {"page": page, "page_size": page_size, "ordering": ordering}
    for key, value in values.items():
        if value is None or value == "" or value == "All":
            continue
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        if isinstance(value, dt.date):
            value = value.isoformat()
        q[key] = value
    after, before = q.get("date_after"), q.get("date_before")
    if after and before and after > before:
        raise ValueError(f"the date range is reversed: from {after} is after to {before}")
    return q


def toggle_ordering(current: str, field: str) -> str:
    """Ordering after clicking column ``field``: descending first, then ascending."""
    first = current.split(",")[0]
    sign = "" if first == f"-{field}" else "-"
    if field == "date":  # within a night, the frames in the order they were taken
        return ",".join(f"{sign}{part.lstrip('-')}" for part in NEWEST_FIRST.split(","))
    return f"{sign}{field},-id"


def cell_text(record: dict, key: str) -> str:
    value = record.get(key)
    if key == "data_type":
        return TYPE_NAMES.get(str(value), str(value))
    return "" if value is None else str(value)


class SearchTable(w.VBox):
    """Filters + table.

    Parameters
    ----------
    client : GSPClient-like
    proposals : list of str
        SOAR ids offered in the proposal filter.
    on_open : callable
        Called with the record of a clicked row.
    page_size : int
    """

    def __init__(
        self,
        client: Any,
        proposals: list[str],
        on_open: Callable[[dict], None],
        page_size: int = 20,
    ) -> None:
        self.client = client
        self.on_open = on_open
        self.page_size = page_size
        self.page = 1
        self.count = 0
        self.ordering = DEFAULT_ORDERING
        #: Called after each page shown (the app puts the query in the address).
        self.on_query: Callable[[], None] | None = None
        self.records: list[dict] = []
        self.shown: list[dict] = []
        self._suggestions = {k: set(KNOWN_VALUES.get(k, [])) for k, _ in TEXT_FILTERS}
        filters = self._filter_panel(proposals)
        table = self._table_panel()
        super().__init__(
            [w.HBox([table, filters], layout=w.Layout(align_items="flex-start", width="100%"))],
            layout=w.Layout(width="100%"),
        )
        self.add_class("gsp-search-view")

    def _filter_panel(self, proposals: list[str]) -> w.VBox:
        """The filter inputs, each observed (a change reloads the table)."""
        self.proposal = w.Dropdown(options=["All", *proposals], description="Proposal")
        self.text_filters = {
            key: w.Combobox(
                description=label,
                options=sorted(self._suggestions[key]),
                ensure_option=False,
                continuous_update=False,
            )
            for key, label in TEXT_FILTERS
        }
        for key, box in self.text_filters.items():
            box.add_class(f"gsp-filter-{key}")
        self.technique = w.Dropdown(
            options=["All", "Spectroscopy", "Imaging"], description="Technique"
        )
        self.data_type = w.Dropdown(
            options=[("All", "All")] + [(v, int(k)) for k, v in TYPE_NAMES.items()],
            description="Type",
        )
        self.data_type.add_class("gsp-filter-data_type")
        self.date_after = w.DatePicker(description="From")
        self.date_before = w.DatePicker(description="To")
        self.search = w.Text(
            description="Search", placeholder="file or object name", continuous_update=False
        )
        self.hide_raw_cal = w.Checkbox(description="Hide raw calibrations", value=False)
        self.reset = w.Button(description="Reset all filters", icon="undo")
        self.reset.on_click(lambda _: self.reset_filters())
        self._inputs = [
            self.proposal,
            *self.text_filters.values(),
            self.technique,
            self.data_type,
            self.date_after,
            self.date_before,
            self.search,
            self.hide_raw_cal,
        ]
        for box in self._inputs:
            box.observe(self._filter_changed, "value")
        filters = w.VBox(
            [w.HTML("<b>Filters</b>"), *self._inputs, self.reset],
            layout=w.Layout(width="22%", min_width="260px", padding="8px"),
        )
        filters.add_class("gsp-panel")
        filters.add_class("gsp-filters")
        return filters

    def _table_panel(self) -> w.VBox:
        """Head with the count, sortable column headers, rows, status and pager."""
        self.badge = w.HTML()
        head = w.HBox([w.HTML("<b>Data Files</b>&nbsp;"), self.badge])
        head.add_class("gsp-panel-head")
        self.header_row = w.HBox([self._header_cell(c) for c in COLUMNS])
        self.header_row.add_class("gsp-grid")
        self.rows = w.VBox()
        self.rows.add_class("gsp-grid")
        self._row_widgets: list[w.HBox] = []
        self.status = w.HTML()
        self.pager = Pager(self.load)
        table = w.VBox(
            [head, self.header_row, self.rows, self.status, self.pager],
            # The room the filters leave (a fixed share plus the panels' margins
            # overflowed the page at 1280 px and cut the filters off).
            layout=w.Layout(flex="1 1 0", width="auto", min_width="0"),
        )
        table.add_class("gsp-panel")
        return table

    # --- filters ----------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {"proposal_id": self.proposal.value}
        out.update({k: box.value for k, box in self.text_filters.items()})
        out.update(
            technique=self.technique.value,
            data_type=self.data_type.value,
            date_after=self.date_after.value,
            date_before=self.date_before.value,
            search=self.search.value,
        )
        # The API drops them before paging and counting, so pages stay full and the
        # count is right; an unchecked box sends nothing.
        if self.hide_raw_cal.value:
            out["hide_raw_calibrations"] = True
        return out

    def reset_filters(self) -> None:
        for box in self._inputs:
            box.unobserve(self._filter_changed, "value")
        self.proposal.value = "All"
        for box in self.text_filters.values():
            box.value = ""
        self.technique.value = "All"
        self.data_type.value = "All"
        self.date_after.value = None
        self.date_before.value = None
        self.search.value = ""
        self.hide_raw_cal.value = False
        for box in self._inputs:
            box.observe(self._filter_changed, "value")
        self.load(1)

    def _filter_changed(self, _change=None) -> None:
        self.load(1)

    # --- the address ---------------------------------------------------------------------------

    def query_state(self) -> dict[str, str]:
        """The filters, ordering and page as the page's address carries them."""
        state: dict[str, str] = {}
        for key, value in self.values().items():
            if value is None or value == "" or value == "All" or value is False:
                continue
            if isinstance(value, dt.date):
                value = value.isoformat()
            state[key] = "1" if value is True else str(value).strip()
        if self.ordering != DEFAULT_ORDERING:
            state["ordering"] = self.ordering
        if self.page > 1:
            state["page"] = str(self.page)
        return state

    def apply_state(self, state: dict[str, str]) -> None:
        """Set the filters, ordering and page from an address (see :meth:`query_state`)
        and load. Raises ValueError, naming the parameter, for a value that cannot be
        used; nothing is changed then."""
        proposal = state.get("proposal_id", "All")
        if proposal not in self.proposal.options:
            raise ValueError(f"proposal_id={proposal!r} is not a proposal you can see")
        technique = state.get("technique", "All")
        if technique not in self.technique.options:
            raise ValueError(f"technique={technique!r}: use Spectroscopy or Imaging")
        data_type: Any = state.get("data_type", "All")
        if data_type != "All":
            if not (data_type.isdigit() and data_type in TYPE_NAMES):
                kinds = ", ".join(f"{k} ({v})" for k, v in TYPE_NAMES.items())
                raise ValueError(f"data_type={data_type!r}: use one of {kinds}")
            data_type = int(data_type)
        dates = {}
        for key in ("date_after", "date_before"):
            raw = state.get(key)
            try:
                dates[key] = dt.date.fromisoformat(raw) if raw else None
            except ValueError:
                raise ValueError(f"{key}={raw!r} is not a date: use YYYY-MM-DD") from None
        page = state.get("page", "1")
        if not page.isdigit() or int(page) < 1:
            raise ValueError(f"page={page!r}: use a page number from 1")
        ordering = state.get("ordering", DEFAULT_ORDERING)
        # the default order's own fields too (a copied address of a date-sorted table)
        fields = {col[3] for col in COLUMNS if col[3]} | {"id", "date_obs", "frame_number"}
        if any(part.strip().lstrip("-") not in fields for part in ordering.split(",")):
            raise ValueError(f"ordering={ordering!r}: sort by {', '.join(sorted(fields))}")
        for box in self._inputs:
            box.unobserve(self._filter_changed, "value")
        try:
            self.proposal.value = proposal
            for key, box in self.text_filters.items():
                box.value = state.get(key, "")
            self.technique.value = technique
            self.data_type.value = data_type
            self.date_after.value = dates["date_after"]
            self.date_before.value = dates["date_before"]
            self.search.value = state.get("search", "")
            self.hide_raw_cal.value = state.get("hide_raw_calibrations") in ("1", "true")
        finally:
            for box in self._inputs:
                box.observe(self._filter_changed, "value")
        self.ordering = ordering
        self._mark_sorted()
        self.load(int(page))

    def set_proposals(self, proposals: list[str]) -> None:
        """Offer ``proposals`` in the proposal filter (one was added). The proposal
        chosen stays chosen; the table reloads only if it is gone."""
        current = self.proposal.value
        options = ["All", *proposals]
        kept = current if current in options else "All"
        self.proposal.unobserve(self._filter_changed, "value")
        try:
            self.proposal.options = options
            self.proposal.value = kept
        finally:
            self.proposal.observe(self._filter_changed, "value")
        if kept != current:
            self.load(1)

    # --- table -------------------------------------------------------------------------------

    def load(self, page: int = 1) -> None:
        try:
            query = build_query(self.values(), self.ordering, page, self.page_size)
            answer = self.client.files(**query)
        except (GSPError, ValueError) as exc:  # refused by the API, or a filter mistyped
            detail = describe(exc)
            self.status.value = f"<span class='gsp-error'>{html.escape(detail)}</span>"
            return
        self.page = page
        self.count = int(answer["count"])
        self.records = list(answer["results"])
        self.shown = self.records
        self.status.value = (
            "" if self.records else "<span class='gsp-muted'>No file matches these filters.</span>"
        )
        approx = "≈" if answer.get("count_is_estimate") else ""
        self.badge.value = f"<span class='gsp-badge'>{approx}{self.count}</span>"
        self._learn(self.records)
        self._render_rows()
        self.pager.update(page, page_count(self.count, self.page_size))
        if self.on_query is not None:
            self.on_query()

    def sort_by(self, field: str) -> None:
        self.ordering = toggle_ordering(self.ordering, field)
        self._mark_sorted()
        self.load(1)

    def _mark_sorted(self) -> None:
        """The arrow on the column the table is sorted by."""
        for cell, col in zip(self.header_row.children, COLUMNS, strict=True):
            arrow = ""
            if col[3] and self.ordering.split(",")[0].lstrip("-") == col[3]:
                arrow = " ▼" if self.ordering.startswith("-") else " ▲"
            cell.description = col[1] + arrow

    def _header_cell(self, col) -> w.Widget:
        key, title, width, field = col
        b = w.Button(
            description=title + (" ▼" if field == "date" else ""), layout=w.Layout(width=width)
        )
        b.add_class("gsp-sort")
        if field:
            b.on_click(lambda _, f=field: self.sort_by(f))
        else:
            b.disabled = True
        return b

    def _render_rows(self) -> None:
        # Row widgets are made once and reused: a page change only sends new values.
        while len(self._row_widgets) < len(self.shown):
            name = w.Button(layout=w.Layout(width=COLUMNS[0][2]))
            name.on_click(self._row_clicked)
            cells = [w.HTML(layout=w.Layout(width=c[2])) for c in COLUMNS[1:]]
            for c in cells:
                c.add_class("gsp-cell")
            self._row_widgets.append(w.HBox([name, *cells]))
        for row, record in zip(self._row_widgets, self.shown, strict=False):
            name, *cells = row.children
            name.description = record["file_name"]
            name.tooltip = record["file_name"]
            name.record = record
            for cell, col in zip(cells, COLUMNS[1:], strict=True):
                # A long value may break after "_" (NO_FILTER, 1.0_LONG_SLIT) or at a
                # space, never in the middle of a word.
                cell.value = html.escape(cell_text(record, col[0])).replace("_", "_<wbr>")
        self.rows.children = self._row_widgets[: len(self.shown)]

    def _row_clicked(self, button) -> None:
        self.on_open(button.record)

    def _learn(self, rows: list[dict]) -> None:
        """Offer the values seen in results as suggestions of the text filters."""
        for key, box in self.text_filters.items():
            before = len(self._suggestions[key])
            self._suggestions[key].update(str(r[key]) for r in rows if r.get(key))
            if len(self._suggestions[key]) != before:
                box.options = sorted(self._suggestions[key])
