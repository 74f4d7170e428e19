"""Related files: a raw file and every product made from it, as tab handles.

Files are indexed by their raw original (``original_file_id``); its products are
the rows of ``GET api/files/?original_file_id=<raw>``. Tabs go from the most
processed to the raw frame, as in the original app: Wavelength Calibrated,
Extracted, Reduced, Observed Raw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .errors import GSPError
from .shared_models import shared_layout

TYPE_LABELS = {
    "5": "Flux Calibrated",
    "4": "Wavelength Calibrated",
    "3": "Extracted",
    "2": "Reduced",
    "1": "Master Calibration",
    "0": "Observed Raw",
}
#: Tab order: most processed first.
TYPE_ORDER = ("5", "4", "3", "2", "1", "0")


def family(client: Any, record: dict) -> list[dict]:
    """The raw original of ``record`` and all its products, most processed first.

    A master calibration (no raw original) is its own family.
    """
    root = record.get("original_file_id") or record["id"]
    if str(record.get("data_type")) == "1" and not record.get("original_file_id"):
        return [record]
    rows = {r["id"]: r for r in client.iter_files(original_file_id=root, page_size=200)}
    if root not in rows:
        try:
            rows[root] = client.file(root)
        except GSPError:  # the raw may have been hidden from the caller: show what we have
            pass
    rows.setdefault(record["id"], record)
    return sorted(
        rows.values(), key=lambda r: (TYPE_ORDER.index(str(r["data_type"])), r["file_name"])
    )


def tab_labels(files: list[dict]) -> list[str]:
    """A label per file: its type, numbered when a type occurs more than once."""
    totals: dict[str, int] = {}
    for f in files:
        totals[str(f["data_type"])] = totals.get(str(f["data_type"]), 0) + 1
    seen: dict[str, int] = {}
    labels = []
    for f in files:
        t = str(f["data_type"])
        seen[t] = seen.get(t, 0) + 1
        label = TYPE_LABELS.get(t, f"Type {t}")
        labels.append(f"{label} {seen[t]}" if totals[t] > 1 else label)
    return labels


def default_choice(files: list[dict], clicked: dict) -> int:
    """Index of the tab to open: the clicked product, or the most processed for a raw."""
    if str(clicked.get("data_type")) != "0":
        for i, f in enumerate(files):
            if f["id"] == clicked["id"]:
                return i
    return 0


class RelatedTabs(w.HBox):
    """Tab handles of a file family; ``on_choose(record)`` when one is picked."""

    def __init__(self, on_choose: Callable[[dict], None]) -> None:
        self.on_choose = on_choose
        self.files: list[dict] = []
        self.active = 0
        super().__init__(layout=shared_layout(flex_flow="row wrap"))
        self.add_class("gsp-tabs")

    @property
    def labels(self) -> list[str]:
        return [b.description for b in self.children]

    def show(self, files: list[dict], active: int = 0) -> None:
        """Tabs for ``files``, tab ``active`` marked.

        ``files`` is published last: a thread that sees the new files (a product made
        elsewhere) sees the tabs drawn and marked, never the step between.
        """
        files = list(files)
        buttons = []
        for i, (f, label) in enumerate(zip(files, tab_labels(files), strict=True)):
            b = w.Button(
                description=label, tooltip=f["file_name"], layout=shared_layout(width="auto")
            )
            b.on_click(lambda _, i=i: self.choose(i))
            buttons.append(b)
        self.children = buttons
        self._mark(active)
        self.files = files

    def choose(self, index: int) -> None:
        self._mark(index)
        self.on_choose(self.files[index])

    def _mark(self, index: int) -> None:
        self.active = index
        for i, b in enumerate(self.children):
            (b.add_class if i == index else b.remove_class)("gsp-active")
