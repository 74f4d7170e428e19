"""The management view (staff): users and proposals, with forms to add and edit both.

Everything goes through the API (``GET``/``POST api/users/``, ``PATCH api/users/<id>/``,
``POST api/proposals/``, ``PATCH api/proposals/<id>/``): the service checks the rights
(only a superuser makes staff accounts) and sends the invitations; the forms show its
answer next to them. The edit forms are :mod:`.account_forms`'.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .account_forms import ProposalEditor, UserEditor, text_field
from .errors import GSPError, describe, readable_error
from .proposals import check_email, person

__all__ = ["ManagementView", "proposals_table", "readable_error", "users_table"]


def _detail(exc: Exception) -> str:
    return describe(exc)


def _error(text: str) -> str:
    return f"<span class='gsp-error'>{html.escape(text)}</span>"


def _ok(text: str) -> str:
    return f"<span class='gsp-ok'>{html.escape(text)}</span>"


def users_table(users: list[dict]) -> str:
    """HTML table of user records (``client.users()``)."""
    rows = "".join(
        f"<tr data-username='{html.escape(u['username'])}'>"
        f"<td>{html.escape(u['username'])}</td><td>{html.escape(person(u))}</td>"
        f"<td>{html.escape(u.get('email') or '')}</td>"
        f"<td>{html.escape(u.get('partner') or '')}</td>"
        f"<td>{'yes' if u.get('is_staff') else 'no'}</td>"
        f"<td>{'yes' if u.get('is_active', True) else 'no (deactivated)'}</td>"
        f"<td>{html.escape(str(u.get('last_login') or 'never'))}</td>"
        f"<td>{html.escape(', '.join(u.get('proposals') or []))}</td></tr>"
        for u in users
    )
    return (
        "<table class='gsp-table gsp-users'><tr><th>Username</th><th>Name</th><th>Email</th>"
        "<th>Partner</th><th>Staff</th><th>Active</th><th>Last login</th><th>Proposals</th></tr>"
        f"{rows}</table>"
    )


def proposals_table(proposals: list[dict]) -> str:
    """HTML table of proposal records."""
    rows = "".join(
        f"<tr data-soar-id='{html.escape(p['soar_id'])}'><td>{html.escape(p['soar_id'])}</td>"
        f"<td>{html.escape(p.get('semester') or '')}</td>"
        f"<td>{html.escape(person(p.get('user')))}</td><td>{html.escape(p.get('title') or '')}</td>"
        f"<td>{len(p.get('collaborators', []))}</td></tr>"
        for p in proposals
    )
    return (
        "<table class='gsp-table gsp-proposals'><tr><th>SOAR id</th><th>Semester</th><th>PI</th>"
        f"<th>Title</th><th>Collaborators</th></tr>{rows}</table>"
    )


class _Form(w.VBox):
    """Fields, a submit button and the message the API's answer goes to."""

    def __init__(self, css: str, title: str, fields: list[w.Widget], label: str) -> None:
        self.submit = w.Button(description=label, icon="plus")
        self.submit.add_class("mod-primary")
        self.message = w.HTML()
        self.message.add_class("gsp-form-message")
        head = w.HTML(f"<b>{html.escape(title)}</b>")
        super().__init__(
            [head, *fields, w.HBox([self.submit, self.message])],
            layout=w.Layout(padding="8px", width="50%"),
        )
        self.add_class(css)


_text = text_field


class ManagementView(w.VBox):
    """Users and proposals for staff, with "add user" and "add proposal" forms.

    Parameters
    ----------
    client : GSPClient-like
        ``users()``, ``create_user(...)``, ``proposals()``, ``create_proposal(...)``.
    on_proposals_changed : callable, optional
        Called after a proposal was added (other views cache the proposal list).
    """

    def __init__(self, client: Any, on_proposals_changed: Callable[[], None] | None = None):
        self.client = client
        self.on_proposals_changed = on_proposals_changed
        self.users: list[dict] = []
        self.proposals: list[dict] = []
        self.proposals_table = w.HTML()
        self.users_table = w.HTML()
        self.message = w.HTML()

        self.user_email = _text("email", "Email", "name@example.org (required)")
        self.user_name = _text("username", "Username", "from the email when empty")
        self.user_first = _text("first_name", "First name")
        self.user_last = _text("last_name", "Last name")
        self.user_partner = _text("partner", "Partner", "e.g. Brazil, Chile, NOIRLab")
        self.user_staff = w.Checkbox(description="Staff (superusers only)", indent=False)
        self.user_staff.add_class("gsp-field-is_staff")
        self.user_form = _Form(
            "gsp-add-user",
            "Add user",
            [
                self.user_email,
                self.user_name,
                self.user_first,
                self.user_last,
                self.user_partner,
                self.user_staff,
            ],
            "Add user",
        )
        self.user_form.submit.on_click(lambda _: self.add_user())

        self.soar_id = _text("soar_id", "SOAR id", "the semester's next number when empty")
        self.proposal_title = _text("title", "Title", "required")
        self.semester = _text("semester", "Semester", "e.g. 2026B (from the id when empty)")
        # The default SOAR id follows the semester typed (SOAR<semester>-NNN).
        self.semester.observe(lambda _: self._suggest_soar_id(), "value")
        self.pi_email = _text("pi_email", "PI email", "a new address gets an invitation")
        self.abstract = w.Textarea(
            description="Abstract",
            style={"description_width": "110px"},
            layout=w.Layout(width="95%", height="80px"),
        )
        self.abstract.add_class("gsp-field-abstract")
        self.proposal_form = _Form(
            "gsp-add-proposal",
            "Add proposal",
            [self.soar_id, self.proposal_title, self.semester, self.pi_email, self.abstract],
            "Add proposal",
        )
        self.proposal_form.submit.on_click(lambda _: self.add_proposal())

        self.user_editor = UserEditor(client, lambda _: self.load())
        self.proposal_editor = ProposalEditor(client, lambda _: self._proposal_saved())

        head = w.HTML("<b>Management</b>")
        head.add_class("gsp-panel-head")
        forms = w.VBox(
            [
                w.HBox([self.user_form, self.proposal_form], layout=w.Layout(width="100%")),
                w.HBox([self.user_editor, self.proposal_editor], layout=w.Layout(width="100%")),
            ],
            layout=w.Layout(width="100%"),
        )
        self.tabs = w.Tab([self.users_table, self.proposals_table])
        self.tabs.set_title(0, "Users")
        self.tabs.set_title(1, "Proposals")
        super().__init__(
            [head, forms, self.message, self.tabs],
            layout=w.Layout(padding="0 0 10px 0", width="100%"),
        )
        self.add_class("gsp-panel")
        self.add_class("gsp-management-view")

    # --- lists -------------------------------------------------------------------------------

    def load(self) -> None:
        """(Re)load both lists; a refusal of either is shown above the tabs."""
        errors = []
        try:
            self.users = list(self.client.users())
        except GSPError as exc:
            errors.append(f"Users: {_detail(exc)}")
        else:
            self.users_table.value = users_table(self.users)
            self.user_editor.set_users(self.users)
        try:
            self.proposals = list(self.client.proposals())
        except GSPError as exc:
            errors.append(f"Proposals: {_detail(exc)}")
        else:
            self.proposals_table.value = proposals_table(self.proposals)
            self.proposal_editor.set_proposals(self.proposals)
        self.message.value = _error("; ".join(errors)) if errors else ""
        if not errors:
            self._suggest_soar_id()

    def _suggest_soar_id(self) -> None:
        """Show the SOAR id an empty field gets: the semester's next number."""
        semester = self.semester.value.strip()
        if semester and not (len(semester) == 5 and semester[:4].isdigit()):
            return  # still being typed; the API would refuse it
        try:
            default = self.client.next_soar_id(semester or None)
        except GSPError:
            return  # only a hint: creating the proposal reports any refusal
        self.soar_id.placeholder = f"default: {default['soar_id']}"
        if not semester:
            self.semester.placeholder = f"default: {default['semester']}"

    def _proposal_saved(self) -> None:
        self.load()
        self.tabs.selected_index = 1
        if self.on_proposals_changed is not None:
            self.on_proposals_changed()

    def _known_email(self, email: str) -> bool:
        email = email.lower()
        return any((u.get("email") or "").lower() == email for u in self.users)

    # --- forms -------------------------------------------------------------------------------

    def add_user(self) -> dict | None:
        """Create the user of the form; the API's reason is shown when it refuses."""
        form = self.user_form
        try:
            email = check_email(self.user_email.value)
            user = self.client.create_user(
                email,
                username=self.user_name.value.strip() or None,
                first_name=self.user_first.value.strip(),
                last_name=self.user_last.value.strip(),
                is_staff=self.user_staff.value,
                partner=self.user_partner.value.strip(),
            )
        except (GSPError, ValueError) as exc:  # refused by the API, or not an address
            form.message.value = _error(_detail(exc))
            return None
        for field in (
            self.user_email,
            self.user_name,
            self.user_first,
            self.user_last,
            self.user_partner,
        ):
            field.value = ""
        self.user_staff.value = False
        staff = " (staff)" if user.get("is_staff") else ""
        form.message.value = _ok(
            f"Added user {user.get('username')}{staff}; invitation sent to "
            f"{user.get('email') or email} (a link to set a password)."
        )
        self.load()
        self.tabs.selected_index = 0
        return user

    def add_proposal(self) -> dict | None:
        """Create the proposal of the form; a new PI address gets an account and invitation."""
        form = self.proposal_form
        try:
            soar_id = self.soar_id.value.strip() or None
            title = self.proposal_title.value.strip()
            if not title:
                raise ValueError("the title is required")
            semester = self.semester.value.strip() or None
            if soar_id is None and semester is None:
                # The API numbers it within a semester: today's unless one is typed.
                semester = self.client.next_soar_id()["semester"]
            pi = self.pi_email.value.strip()
            pi = check_email(pi) if pi else None
            new_pi = pi is not None and not self._known_email(pi)
            proposal = self.client.create_proposal(
                soar_id,
                title,
                abstract=self.abstract.value.strip(),
                semester=semester,
                pi_email=pi,
            )
        except (GSPError, ValueError) as exc:  # refused by the API, or a field missing
            form.message.value = _error(_detail(exc))
            return None
        for field in (
            self.soar_id,
            self.proposal_title,
            self.semester,
            self.pi_email,
            self.abstract,
        ):
            field.value = ""
        done = f"Added proposal {proposal.get('soar_id', soar_id)}"
        if proposal.get("user"):
            done += f" with PI {person(proposal['user'])}"
            if new_pi:
                done += f"; new account, invitation sent to {pi}"
        form.message.value = _ok(done + ".")
        self.load()
        self.tabs.selected_index = 1
        if self.on_proposals_changed is not None:
            self.on_proposals_changed()
        return proposal
