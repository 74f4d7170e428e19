"""The proposals view: the proposals the user may see (PI, title, abstract), their
collaborators (add and remove for the PI and staff) and reduction settings."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .errors import GSPError, error_html
from .settings_form import SettingsForm

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def person(user: dict | None) -> str:
    if not user:
        return "—"
    name = f"{user.get('first_name', '')} {user.get('last_name', '')}".strip()
    return name or user.get("username", "?")


def collaborator_count(proposal: dict) -> str:
    """``1 collaborator``, ``3 collaborators``, ``no collaborators``."""
    n = len(proposal.get("collaborators") or [])
    if n == 0:
        return "no collaborators"
    return f"{n} collaborator{'' if n == 1 else 's'}"


def can_manage(proposal: dict, username: str, staff: bool) -> bool:
    """PI and staff add and remove collaborators and change settings."""
    return staff or (proposal.get("user") or {}).get("username") == username


def check_email(text: str) -> str:
    """The address typed, stripped; ValueError saying what an address looks like."""
    text = text.strip()
    if not EMAIL.match(text):
        raise ValueError(f"{text!r} is not an email address (like name@example.org)")
    return text


class Collaborators(w.VBox):
    def __init__(self, client: Any, on_change: Callable[[dict], None]) -> None:
        self.client = client
        self.on_change = on_change
        self.proposal: dict | None = None
        self.editable = False
        self.title = w.HTML()
        self.title.add_class("gsp-panel-head")
        self.email = w.Text(placeholder="Collaborator Email", layout=w.Layout(width="70%"))
        self.add = w.Button(description="Add", icon="plus")
        self.add.add_class("mod-primary")
        self.add.on_click(lambda _: self.add_collaborator())
        self.form = w.HBox(
            [w.HTML("&#9993;&nbsp;"), self.email, self.add], layout=w.Layout(align_items="center")
        )
        self.rows = w.VBox()
        self.message = w.HTML()
        self.confirm = w.HBox(layout=w.Layout(align_items="center", flex_flow="row wrap"))
        self.confirm.add_class("gsp-confirm")
        super().__init__(
            [
                self.title,
                w.VBox(
                    [self.form, self.message, self.confirm, self.rows],
                    layout=w.Layout(padding="10px"),
                ),
            ]
        )
        self.add_class("gsp-panel")
        self.add_class("gsp-collaborators")

    def show(self, proposal: dict, editable: bool) -> None:
        self.proposal = proposal
        self.editable = editable
        self.confirm.children = []
        self.title.value = (
            f"<b>Collaborators - <span class='gsp-ok'>{html.escape(proposal['soar_id'])}</span></b>"
        )
        self.form.layout.display = "flex" if editable else "none"
        self._render()

    def add_collaborator(self) -> None:
        try:
            email = check_email(self.email.value)
            self.proposal = self.client.add_collaborator(self.proposal["id"], email)
        except (GSPError, ValueError) as exc:  # refused by the API, or not an address
            self.message.value = error_html(exc)
            return
        self.email.value = ""
        self.message.value = f"<span class='gsp-ok'>Added {html.escape(email)}.</span>"
        self._render()
        self.on_change(self.proposal)

    def ask_remove(self, email: str) -> None:
        """Removing someone takes their access away: asked first, with their name."""
        who = next(
            (c for c in self.proposal.get("collaborators", []) if c.get("email") == email), {}
        )
        yes = w.Button(description="Remove", icon="trash")
        yes.add_class("mod-danger")
        yes.add_class("gsp-confirm-remove")
        no = w.Button(description="Cancel")

        def cancel(_=None) -> None:
            self.confirm.children = []

        def confirm(_=None) -> None:
            self.confirm.children = []
            self.remove(email)

        yes.on_click(confirm)
        no.on_click(cancel)
        self.confirm.children = [
            w.HTML(
                f"Remove <b>{html.escape(person(who) or email)}</b> ({html.escape(email)}) "
                f"from {html.escape(str(self.proposal.get('soar_id', 'this proposal')))}? "
                "They will no longer see its data.&nbsp;"
            ),
            yes,
            no,
        ]

    def remove(self, email: str) -> None:
        try:
            self.proposal = self.client.remove_collaborator(self.proposal["id"], email)
        except GSPError as exc:
            detail = exc.detail
            self.message.value = f"<span class='gsp-error'>{html.escape(detail)}</span>"
            return
        self.message.value = f"<span class='gsp-ok'>Removed {html.escape(email)}.</span>"
        self._render()
        self.on_change(self.proposal)

    def _render(self) -> None:
        rows = [
            w.HTML(
                "<table class='gsp-table'><tr><th style='width:40%'>Name</th><th>Email</th></tr></table>"
            )
        ]
        for c in self.proposal.get("collaborators", []):
            cells = w.HTML(
                f"<table class='gsp-table'><tr><td style='width:40%'>{html.escape(person(c))}</td>"
                f"<td class='gsp-collaborator-email'>{html.escape(c.get('email', ''))}</td></tr></table>",
                layout=w.Layout(flex="1"),
            )
            items = [cells]
            if self.editable:
                b = w.Button(
                    icon="trash",
                    tooltip=f"remove {c.get('email', '')}",
                    layout=w.Layout(width="40px"),
                )
                b.add_class("gsp-danger")
                email = c.get("email", "")
                b.email = email
                b.on_click(lambda _, e=email: self.ask_remove(e))
                items.append(b)
            rows.append(w.HBox(items))
        if not self.proposal.get("collaborators"):
            rows.append(w.HTML("<span class='gsp-muted'>No collaborators.</span>"))
        self.rows.children = rows


class ProposalsView(w.HBox):
    """Proposal list on the left; collaborators or settings of the chosen one on the right."""

    def __init__(
        self, client: Any, username: str, staff: bool, on_data: Callable[[str], None]
    ) -> None:
        self.client = client
        self.username = username
        self.staff = staff
        self.on_data = on_data
        self.proposals: list[dict] = []
        self.list = w.VBox()
        self.collaborators = Collaborators(client, self._changed)
        self.settings = SettingsForm(client)
        self.detail = w.HTML()
        self.right = w.VBox([self.detail], layout=w.Layout(width="58%", margin="0 0 0 1%"))
        head = w.HTML("<b>Observing Proposals</b>")
        head.add_class("gsp-panel-head")
        left = w.VBox([head, self.list], layout=w.Layout(width="40%"))
        left.add_class("gsp-panel")
        super().__init__(
            [left, self.right], layout=w.Layout(align_items="flex-start", width="100%")
        )
        self.add_class("gsp-proposals-view")

    def load(self) -> None:
        try:
            self.proposals = list(self.client.proposals())
        except GSPError as exc:
            self.list.children = [
                w.HTML(f"<span class='gsp-error'>{html.escape(exc.detail)}</span>")
            ]
            return
        self.list.children = [self._card(p) for p in self.proposals] or [
            w.HTML("<span class='gsp-muted'>You belong to no proposal yet.</span>")
        ]

    def _card(self, p: dict) -> w.Widget:
        text = w.HTML(
            f"<div class='gsp-proposal' data-soar-id='{html.escape(p['soar_id'])}'>"
            f"<span class='gsp-ok' style='font-size:17px'>{html.escape(p['soar_id'])}</span> "
            f"<span>{html.escape(person(p.get('user')))}</span><br>"
            f"<span>{html.escape(p.get('title') or 'Title not provided')}</span> "
            f"<span class='gsp-muted'>({collaborator_count(p)})</span></div>",
            layout=w.Layout(flex="1"),
        )
        data = w.Button(
            icon="image", tooltip="files of this proposal", layout=w.Layout(width="40px")
        )
        collab = w.Button(icon="user-plus", tooltip="collaborators", layout=w.Layout(width="40px"))
        cogs = w.Button(
            icon="cog", tooltip="data reduction settings", layout=w.Layout(width="40px")
        )
        data.on_click(lambda _: self.on_data(p["soar_id"]))
        collab.on_click(lambda _: self.open_collaborators(p["soar_id"]))
        cogs.on_click(lambda _: self.open_settings(p["soar_id"]))
        for b, name in ((data, "data"), (collab, "collaborators"), (cogs, "settings")):
            b.add_class(f"gsp-proposal-{name}")
        return w.HBox(
            [text, data, collab, cogs],
            layout=w.Layout(border_bottom="1px solid var(--gsp-row-border)", padding="4px"),
        )

    def _find(self, soar_id: str) -> dict:
        for p in self.proposals:
            if p["soar_id"] == soar_id:
                return p
        raise KeyError(f"no proposal {soar_id!r} among yours")

    def _detail_html(self, p: dict) -> str:
        return (
            f"<div class='gsp-panel' style='padding:10px'><b>{html.escape(p['soar_id'])}</b> "
            f"({html.escape(p.get('semester') or '')}) — PI {html.escape(person(p.get('user')))}<br>"
            f"<i>{html.escape(p.get('title') or '')}</i><p>{html.escape(p.get('abstract') or '')}</p></div>"
        )

    def open_collaborators(self, soar_id: str) -> None:
        p = self._find(soar_id)
        self.detail.value = self._detail_html(p)
        self.collaborators.show(p, can_manage(p, self.username, self.staff))
        self.right.children = [self.detail, self.collaborators]

    def open_settings(self, soar_id: str) -> None:
        p = self._find(soar_id)
        self.detail.value = self._detail_html(p)
        self.settings.show(p, can_manage(p, self.username, self.staff))
        self.right.children = [self.detail, self.settings]

    def _changed(self, proposal: dict) -> None:
        self.proposals = [proposal if p["id"] == proposal["id"] else p for p in self.proposals]
        self.list.children = [self._card(p) for p in self.proposals]
