"""Page navigation: ‹ 1 … 9 [10] 11 … 8617 › and a "go to page" box."""

from __future__ import annotations

import math
from collections.abc import Callable

import ipywidgets as w

from .shared_models import shared_layout


def page_count(count: int, page_size: int) -> int:
    """Pages needed for ``count`` rows (at least 1, so an empty list has page 1)."""
    return max(1, math.ceil(count / page_size))


def page_window(current: int, last: int, around: int = 1) -> list[int | None]:
    """Page numbers to show, ``None`` for an ellipsis.

    >>> page_window(10, 8617)
    [1, None, 9, 10, 11, None, 8617]
    """
    if last < 1:
        raise ValueError(f"last page must be >= 1, got {last}")
    current = min(max(current, 1), last)
    shown = sorted({1, last, *range(max(1, current - around), min(last, current + around) + 1)})
    out: list[int | None] = []
    for page in shown:
        if out and page - out[-1] > 1:
            out.append(None)
        out.append(page)
    return out


def parse_page(text: str, last: int) -> int:
    """The page typed in the "go to" box.

    Raises
    ------
    ValueError
        With a message saying which pages exist.
    """
    try:
        page = int(str(text).strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a page number: type a whole number from 1 to {last}"
        ) from None
    if not 1 <= page <= last:
        raise ValueError(f"page {page} does not exist: there are pages 1 to {last}")
    return page


class Pager(w.VBox):
    """Page buttons and a go-to box; calls ``on_page(n)`` when the user picks page n."""

    def __init__(self, on_page: Callable[[int], None]) -> None:
        self.on_page = on_page
        self.current = 1
        self.last = 1
        self.buttons = w.HBox(
            layout=shared_layout(justify_content="center", flex_flow="row wrap"),
            _dom_classes=("gsp-pager",),
        )
        self.goto = w.Text(
            placeholder="page", layout=shared_layout(width="90px"), continuous_update=False
        )
        self.goto_button = w.Button(
            description="Go", layout=shared_layout(width="60px"), _dom_classes=("mod-primary",)
        )
        self.message = w.HTML()
        # The page buttons are remade at each page: they share one layout and one
        # style (a widget each, otherwise three per button).
        self._arrow = shared_layout(width="36px")
        self._number = shared_layout(width="auto", min_width="36px")
        self._gap = shared_layout(margin="0 4px")
        self._style = w.ButtonStyle()
        self._html_style = w.widgets.widget_string.HTMLStyle()
        self.goto_button.on_click(lambda _: self.go_to(self.goto.value))
        self.goto.observe(lambda ch: self.go_to(ch["new"]) if ch["new"] else None, "value")
        super().__init__(
            [
                self.buttons,
                w.HBox(
                    [w.HTML("<i class='fa fa-book-open'></i>&nbsp;"), self.goto, self.goto_button],
                    layout=shared_layout(justify_content="center", align_items="center"),
                ),
                self.message,
            ]
        )

    def update(self, current: int, last: int) -> None:
        """Show ``current`` of ``last`` pages."""
        self.current, self.last = current, last
        children = []
        prev = w.Button(
            description="‹", tooltip="previous page", layout=self._arrow, style=self._style
        )
        prev.disabled = current <= 1
        prev.on_click(lambda _: self._pick(self.current - 1))
        children.append(prev)
        for page in page_window(current, last):
            if page is None:
                children.append(w.HTML("…", layout=self._gap, style=self._html_style))
                continue
            b = w.Button(description=str(page), layout=self._number, style=self._style)
            if page == current:
                b.add_class("gsp-current")
            b.on_click(lambda _, p=page: self._pick(p))
            children.append(b)
        nxt = w.Button(description="›", tooltip="next page", layout=self._arrow, style=self._style)
        nxt.disabled = current >= last
        nxt.on_click(lambda _: self._pick(self.current + 1))
        children.append(nxt)
        self.buttons.children = children

    def go_to(self, text: str) -> None:
        try:
            page = parse_page(text, self.last)
        except ValueError as exc:
            self.message.value = f'<span class="gsp-error">{exc}</span>'
            return
        self.message.value = ""
        self._pick(page)

    def _pick(self, page: int) -> None:
        # The go-to box fires on Enter and on leaving it, the Go button on click: the
        # same page asked twice loads once.
        if 1 <= page <= self.last and page != self.current:
            self.on_page(page)
