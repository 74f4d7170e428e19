"""Forms that edit what exists: an account (staff: any; everyone: their own) and a
proposal (staff).

Each form sends only the fields that changed (``PATCH``); the service checks who may
change what and its reason is shown beside the form, in words.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .errors import GSPError, describe
from .proposals import person


def _message(ok: bool, text: str) -> str:
    css = "gsp-ok" if ok else "gsp-error"
    return f"<span class='{css}'>{html.escape(text)}</span>"


def text_field(name: str, description: str, placeholder: str = "") -> w.Text:
    """A labelled text box with the ``gsp-field-<name>`` class tests and CSS find."""
    t = w.Text(
        description=description,
        placeholder=placeholder,
        style={"description_width": "110px"},
        layout=w.Layout(width="95%"),
    )
    t.add_class(f"gsp-field-{name}")
    return t


def changes_of(record: dict, fields: dict[str, w.ValueWidget]) -> dict[str, Any]:
    """The fields whose value differs from ``record`` (text stripped)."""
    out = {}
    for name, box in fields.items():
        value = box.value.strip() if isinstance(box.value, str) else box.value
        before = record.get(name)
        if value != (before if before is not None else ("" if isinstance(value, str) else None)):
            out[name] = value
    return out


class _EditForm(w.VBox):
    """A chooser, the fields, a Save button and the answer's message."""

    def __init__(self, css: str, title: str, chooser: w.Dropdown, fields: list[w.Widget]):
        self.chooser = chooser
        self.save = w.Button(description="Save", icon="save")
        self.save.add_class("mod-primary")
        self.message = w.HTML()
        self.message.add_class("gsp-form-message")
        super().__init__(
            [
                w.HTML(f"<b>{html.escape(title)}</b>"),
                chooser,
                *fields,
                w.HBox([self.save, self.message]),
            ],
            layout=w.Layout(padding="8px", width="50%"),
        )
        self.add_class(css)


class UserEditor(_EditForm):
    """Staff edit an account: names, e-mail, partner, active (deactivation asks first).

    Parameters
    ----------
    client : GSPClient-like
        ``update_user(id, **changes)``.
    on_saved : callable
        Called with the saved record (the view reloads its lists).
    """

    def __init__(self, client: Any, on_saved: Callable[[dict], None]) -> None:
        self.client = client
        self.on_saved = on_saved
        self.records: dict[str, dict] = {}
        chooser = w.Dropdown(description="User", options=[], style={"description_width": "110px"})
        chooser.add_class("gsp-edit-user-choice")
        self.fields = {
            "first_name": text_field("first_name", "First name"),
            "last_name": text_field("last_name", "Last name"),
            "email": text_field("email", "Email"),
            "partner": text_field("partner", "Partner", "e.g. Brazil, Chile, NOIRLab"),
        }
        self.active = w.Checkbox(description="Active (can log in)", indent=False)
        self.active.add_class("gsp-field-is_active")
        # Its own layout: it is shown and hidden (see voila_apps.widgets.shared_models).
        self.confirm = w.Button(
            description="Deactivate",
            icon="user-slash",
            layout=w.Layout(display="none"),
            _dom_classes=("mod-danger", "gsp-confirm-deactivate"),
        )
        super().__init__(
            "gsp-edit-user",
            "Edit user",
            chooser,
            [*self.fields.values(), self.active, self.confirm],
        )
        chooser.observe(lambda _: self.show(), "value")
        self.save.on_click(lambda _: self.submit())
        self.confirm.on_click(lambda _: self.submit(confirmed=True))

    def set_users(self, users: list[dict]) -> None:
        """The accounts to choose from (keeps the chosen one when still there)."""
        self.records = {u["username"]: u for u in users}
        keep = self.chooser.value if self.chooser.value in self.records else None
        self.chooser.options = sorted(self.records)
        self.chooser.value = keep
        self.show()

    def show(self) -> None:
        record = self.records.get(self.chooser.value) or {}
        for name, box in self.fields.items():
            box.value = record.get(name) or ""
        self.active.value = bool(record.get("is_active", True))
        self.confirm.layout.display = "none"

    def _changes(self) -> dict[str, Any]:
        record = self.records.get(self.chooser.value) or {}
        changes = changes_of(record, self.fields)
        if self.active.value != bool(record.get("is_active", True)):
            changes["is_active"] = self.active.value
        return changes

    def submit(self, confirmed: bool = False) -> dict | None:
        """Save the changes; deactivating asks for a second click first."""
        record = self.records.get(self.chooser.value)
        if record is None:
            self.message.value = _message(False, "Choose a user first.")
            return None
        changes = self._changes()
        if not changes:
            self.message.value = _message(True, "Nothing changed.")
            return None
        if changes.get("is_active") is False and not confirmed:
            self.confirm.layout.display = "flex"
            self.message.value = _message(
                False,
                f"Deactivate {record['username']}? They cannot log in and lose access at "
                "once. Click Deactivate to confirm.",
            )
            return None
        try:
            saved = self.client.update_user(record["id"], **changes)
        except GSPError as exc:
            self.message.value = _message(False, describe(exc))
            return None
        self.confirm.layout.display = "none"
        self.message.value = _message(True, f"Saved {saved['username']}: {', '.join(changes)}.")
        self.on_saved(saved)
        return saved


class ProposalEditor(_EditForm):
    """Staff edit a proposal: title, semester, PI (by e-mail) and abstract."""

    def __init__(self, client: Any, on_saved: Callable[[dict], None]) -> None:
        self.client = client
        self.on_saved = on_saved
        self.records: dict[str, dict] = {}
        chooser = w.Dropdown(
            description="Proposal", options=[], style={"description_width": "110px"}
        )
        chooser.add_class("gsp-edit-proposal-choice")
        self.fields = {
            "title": text_field("title", "Title"),
            "semester": text_field("semester", "Semester", "e.g. 2026B"),
            "pi_email": text_field("pi_email", "PI email", "an existing account"),
        }
        self.abstract = w.Textarea(
            description="Abstract",
            style={"description_width": "110px"},
            layout=w.Layout(width="95%", height="80px"),
        )
        self.abstract.add_class("gsp-field-abstract")
        super().__init__(
            "gsp-edit-proposal", "Edit proposal", chooser, [*self.fields.values(), self.abstract]
        )
        chooser.observe(lambda _: self.show(), "value")
        self.save.on_click(lambda _: self.submit())

    def set_proposals(self, proposals: list[dict]) -> None:
        self.records = {p["soar_id"]: p for p in proposals}
        keep = self.chooser.value if self.chooser.value in self.records else None
        self.chooser.options = sorted(self.records)
        self.chooser.value = keep
        self.show()

    def _as_form(self, record: dict) -> dict:
        return {**record, "pi_email": (record.get("user") or {}).get("email") or ""}

    def show(self) -> None:
        record = self._as_form(self.records.get(self.chooser.value) or {})
        for name, box in self.fields.items():
            box.value = record.get(name) or ""
        self.abstract.value = record.get("abstract") or ""

    def submit(self) -> dict | None:
        record = self.records.get(self.chooser.value)
        if record is None:
            self.message.value = _message(False, "Choose a proposal first.")
            return None
        changes = changes_of(self._as_form(record), {**self.fields, "abstract": self.abstract})
        if not changes:
            self.message.value = _message(True, "Nothing changed.")
            return None
        try:
            saved = self.client.update_proposal(record["id"], **changes)
        except GSPError as exc:
            self.message.value = _message(False, describe(exc))
            return None
        pi = f"; PI {person(saved['user'])}" if "pi_email" in changes and saved.get("user") else ""
        self.message.value = _message(True, f"Saved {saved['soar_id']}{pi}.")
        self.on_saved(saved)
        return saved


class OwnAccount(w.VBox):
    """Everyone's own name and e-mail, in the user menu (``PATCH api/users/me/``)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.record: dict = {}
        self.fields = {
            "first_name": text_field("first_name", "First name"),
            "last_name": text_field("last_name", "Last name"),
            "email": text_field("email", "Email"),
        }
        self.save = w.Button(description="Save my details", icon="save")
        self.save.add_class("mod-primary")
        self.save.on_click(lambda _: self.submit())
        self.message = w.HTML()
        super().__init__([*self.fields.values(), w.HBox([self.save, self.message])])
        self.add_class("gsp-own-account")

    def load(self) -> None:
        try:
            self.record = self.client.account("me")
        except GSPError as exc:
            self.message.value = _message(False, f"Cannot read your details: {describe(exc)}")
            return
        for name, box in self.fields.items():
            box.value = self.record.get(name) or ""

    def submit(self) -> dict | None:
        changes = changes_of(self.record, self.fields)
        if not changes:
            self.message.value = _message(True, "Nothing changed.")
            return None
        try:
            self.record = self.client.update_user("me", **changes)
        except GSPError as exc:
            self.message.value = _message(False, describe(exc))
            return None
        self.message.value = _message(True, "Saved.")
        return self.record
