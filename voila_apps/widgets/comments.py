"""Comments on a file: the list, a box to add one, delete for the author (the API decides)."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from .errors import GSPError
from .shared_models import shared_layout


def comment_html(c: dict) -> str:
    when = str(c.get("created_at", ""))[:16].replace("T", " ")
    return (
        f"<div class='gsp-comment'><b>{html.escape(str(c.get('user') or '?'))}</b> "
        f"<span class='gsp-muted'>{html.escape(when)}</span><br>{html.escape(c.get('text', ''))}</div>"
    )


class Comments(w.VBox):
    def __init__(self, client: Any) -> None:
        self.client = client
        self.file_id: int | None = None
        self.items: list[dict] = []
        self.list = w.VBox()
        self.text = w.Textarea(placeholder="Add new comment", layout=shared_layout(width="70%"))
        self.add = w.Button(
            description="Add comment", icon="comment", _dom_classes=("mod-primary",)
        )
        self.message = w.HTML()
        self.add.on_click(lambda _: self.submit())
        super().__init__(
            [
                w.HTML("<b>Comments</b>"),
                self.list,
                w.HBox([self.text, self.add], layout=shared_layout(align_items="flex-end")),
                self.message,
            ],
            layout=shared_layout(padding="8px"),
            _dom_classes=("gsp-comments",),
        )

    def show(self, file_id: int) -> None:
        self.file_id = file_id
        self.message.value = ""
        try:
            self.items = self.client.comments(file_id)
        except GSPError as exc:
            self.items = []
            self.message.value = f"<span class='gsp-error'>{html.escape(exc.detail)}</span>"
        self._render()

    def submit(self) -> None:
        text = self.text.value.strip()
        if not text:
            self.message.value = (
                "<span class='gsp-error'>Write something first: the comment is empty.</span>"
            )
            return
        if self.file_id is None:
            return
        try:
            self.client.add_comment(self.file_id, text)
        except GSPError as exc:
            detail = exc.detail
            self.message.value = f"<span class='gsp-error'>{html.escape(detail)}</span>"
            return
        self.text.value = ""
        self.show(self.file_id)

    def _delete(self, comment_id: int) -> None:
        try:
            self.client.delete_comment(self.file_id, comment_id)
        except GSPError as exc:
            detail = exc.detail
            self.message.value = f"<span class='gsp-error'>{html.escape(detail)}</span>"
            return
        self.show(self.file_id)

    def _render(self) -> None:
        rows = []
        for c in self.items:
            remove = w.Button(
                icon="trash", tooltip="delete this comment", layout=shared_layout(width="36px")
            )
            remove.on_click(lambda _, cid=c["id"]: self._delete(cid))
            rows.append(w.HBox([w.HTML(comment_html(c), layout=shared_layout(flex="1")), remove]))
        self.list.children = rows
