"""The FITS header as a searchable table (keyword, value, comment), folded by default."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from .errors import GSPError
from .shared_models import shared_layout


def filter_cards(cards: list[dict], text: str) -> list[dict]:
    """Cards whose keyword, value or comment contains ``text`` (case-insensitive)."""
    needle = text.strip().lower()
    if not needle:
        return list(cards)
    return [
        c
        for c in cards
        if needle in str(c.get("keyword", "")).lower()
        or needle in str(c.get("value", "")).lower()
        or needle in str(c.get("comment", "")).lower()
    ]


def cards_html(cards: list[dict]) -> str:
    """An HTML table of header cards (every value escaped)."""
    rows = "".join(
        "<tr><td class='gsp-key'>{}</td><td>{}</td><td class='gsp-comment'>{}</td></tr>".format(
            html.escape(str(c.get("keyword", ""))),
            html.escape("" if c.get("value") is None else str(c.get("value"))),
            html.escape(str(c.get("comment", "") or "")),
        )
        for c in cards
    )
    return (
        "<table class='gsp-table gsp-header-table'><thead><tr><th>Keyword</th><th>Value</th>"
        f"<th>Comment</th></tr></thead><tbody>{rows}</tbody></table>"
    )


class HeaderTable(w.VBox):
    """ "Header" bar with the file name; opens to a filter box and the cards.

    The header is fetched on first opening only (``GET api/files/header/``).
    """

    def __init__(self, client: Any) -> None:
        self.client = client
        self.file: dict | None = None
        self.cards: list[dict] | None = None
        self.toggle = w.ToggleButton(description="Header", icon="chevron-down", value=False)
        self.name = w.HTML()
        bar = w.HBox(
            [self.toggle, self.name],
            layout=shared_layout(align_items="center"),
            _dom_classes=("gsp-panel-head",),
        )
        self.search = w.Text(
            placeholder="Filter header", continuous_update=True, layout=shared_layout(width="100%")
        )
        self.table = w.HTML()
        self.body = w.VBox([self.search, self.table], layout=w.Layout(display="none"))
        self.toggle.observe(self._toggled, "value")
        self.search.observe(lambda _: self._render(), "value")
        super().__init__([bar, self.body], _dom_classes=("gsp-header",))

    def show_file(self, record: dict) -> None:
        """Switch to another file (closed header is not fetched until opened)."""
        self.file = record
        self.cards = None
        # The id is what the API and deep links (?file=<id>) use.
        self.name.value = (
            f"&nbsp;&nbsp;{html.escape(record['file_name'])} "
            f"<span class='gsp-muted gsp-file-id' data-file-id='{int(record['id'])}'>id {int(record['id'])}</span>"
        )
        if self.toggle.value:
            self._load()

    def _toggled(self, change) -> None:
        self.toggle.icon = "chevron-up" if change["new"] else "chevron-down"
        self.body.layout.display = "flex" if change["new"] else "none"
        if change["new"] and self.cards is None:
            self._load()

    def _load(self) -> None:
        if self.file is None:
            return
        try:
            self.cards = self.client.header(self.file["id"])
        except GSPError as exc:
            self.cards = []
            self.table.value = f"<span class='gsp-error'>{html.escape(exc.detail)}</span>"
            return
        self._render()

    def _render(self) -> None:
        if self.cards is None:
            return
        shown = filter_cards(self.cards, self.search.value)
        self.table.value = cards_html(shown)
