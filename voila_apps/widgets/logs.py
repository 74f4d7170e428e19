"""The logs view: the most relevant messages of the user's proposals, newest first."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from .errors import GSPError

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def logs_html(entries: list[dict]) -> str:
    rows = "".join(
        "<tr class='gsp-log gsp-log-{lvl}'><td>{time}</td><td>{lvl}</td><td>{event}</td>"
        "<td>{msg}</td><td>{file}</td></tr>".format(
            time=html.escape(str(e.get("time", ""))[:19].replace("T", " ")),
            lvl=html.escape(str(e.get("level", ""))),
            event=html.escape(str(e.get("event") or "")),
            msg=html.escape(str(e.get("message", ""))),
            file=html.escape(str(e.get("file_id") or "")),
        )
        for e in entries
    )
    return (
        "<table class='gsp-table gsp-logs-table'><tr><th>Time (UTC)</th><th>Level</th><th>Event</th>"
        f"<th>Message</th><th>File</th></tr>{rows}</table>"
    )


def _choices(proposals: list[dict]) -> list[tuple[str, int | None]]:
    return [("All my proposals", None)] + [(p["soar_id"], p["id"]) for p in proposals]


class LogsView(w.VBox):
    def __init__(self, client: Any, proposals: list[dict], limit: int = 100) -> None:
        self.client = client
        self.limit = limit
        self.entries: list[dict] = []
        self.proposal = w.Dropdown(options=_choices(proposals), description="Proposal")
        self.level = w.Dropdown(options=LEVELS, value="INFO", description="At least")
        self.refresh = w.Button(description="Refresh", icon="refresh")
        self.older = w.Button(description="Older", icon="arrow-down")
        self.table = w.HTML()
        self.message = w.HTML()
        self.refresh.on_click(lambda _: self.load())
        self.older.on_click(lambda _: self.load_older())
        self.proposal.observe(self._proposal_changed, "value")
        self.level.observe(lambda _: self.load(), "value")
        head = w.HTML("<b>Logs</b>")
        head.add_class("gsp-panel-head")
        super().__init__(
            [
                head,
                w.HBox([self.proposal, self.level, self.refresh]),
                self.message,
                self.table,
                self.older,
            ],
            layout=w.Layout(width="100%"),
        )
        self.add_class("gsp-panel")
        self.add_class("gsp-logs-view")

    def _proposal_changed(self, _change=None) -> None:
        self.load()

    def set_proposals(self, proposals: list[dict]) -> None:
        """Offer ``proposals`` in the proposal filter (one was added). The proposal
        chosen stays chosen; the logs reload only if it is gone."""
        current = self.proposal.value
        options = _choices(proposals)
        kept = current if current in [v for _, v in options] else None
        self.proposal.unobserve(self._proposal_changed, "value")
        try:
            self.proposal.options = options
            self.proposal.value = kept
        finally:
            self.proposal.observe(self._proposal_changed, "value")
        if kept != current:
            self.load()

    def _query(self, before_id: int | None = None) -> dict:
        q = {"level": self.level.value, "limit": self.limit}
        if self.proposal.value is not None:
            q["proposal_id"] = self.proposal.value
        if before_id is not None:
            q["before_id"] = before_id
        return q

    def load(self) -> None:
        try:
            self.entries = self.client.logs(**self._query())
        except GSPError as exc:
            detail = exc.detail
            self.message.value = f"<span class='gsp-error'>{html.escape(detail)}</span>"
            return
        self.message.value = (
            "" if self.entries else "<span class='gsp-muted'>No log entries.</span>"
        )
        self.table.value = logs_html(self.entries)

    def load_older(self) -> None:
        if not self.entries:
            return
        try:
            more = self.client.logs(**self._query(before_id=min(e["id"] for e in self.entries)))
        except GSPError as exc:
            self.message.value = f"<span class='gsp-error'>{html.escape(exc.detail)}</span>"
            return
        if not more:
            self.message.value = "<span class='gsp-muted'>No older entries.</span>"
            return
        self.entries += more
        self.table.value = logs_html(self.entries)
