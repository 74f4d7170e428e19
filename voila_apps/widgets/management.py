"""The management view (staff): users and proposals, with forms to add both.

Everything goes through the API (``GET api/users/``, ``POST api/users/``,
``POST api/proposals/``): the service checks the rights (only a superuser makes staff
accounts) and sends the invitations; the forms show its answer next to them.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .errors import GSPError, describe
from .proposals import check_email, person

#: What a field of the management forms accepts, said in words (the API's validation
#: names the regular expression a value failed, which tells a person nothing).
FIELD_HINTS = {
    "email": "give an e-mail address such as name@example.org",
    "pi_email": "give the PI's e-mail address, such as name@example.org",
    "username": "use only letters, digits and @ . + _ - (at most 150 characters)",
    "soar_id": "start with a letter or digit; then letters, digits and . _ + - "
    "(at most 64 characters), e.g. SOAR2026A-012",
    "semester": "give a semester such as 2026A",
}

_PATTERN_ERROR = re.compile(r"(?:(?:body|query)\s+)?(\w+): String should match pattern '[^']*'")


def readable_error(detail: str) -> str:
    """The API's message with each "should match pattern '<regex>'" said in words."""

    def hint(match: re.Match) -> str:
        field = match.group(1)
        label = field.replace("_", " ")
        return f"{label}: {FIELD_HINTS.get(field, 'this value has characters it cannot hold')}"

    return _PATTERN_ERROR.sub(hint, detail)


def _detail(exc: Exception) -> str:
    return readable_error(describe(exc))


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
        f"<td>{'yes' if u.get('is_staff') else ''}</td>"
        f"<td>{'yes' if u.get('is_active', True) else 'no (deactivated)'}</td>"
        f"<td>{html.escape(str(u.get('last_login') or 'never'))}</td>"
        f"<td>{html.escape(', '.join(u.get('proposals') or []))}</td></tr>"
        for u in users
    )
    return (
        "<table class='gsp-table gsp-users'><tr><th>Username</th><th>Name</th><th>Email</th>"
        "<th>Staff</th><th>Active</th><th>Last login</th><th>Proposals</th></tr>"
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


def _text(name: str, description: str, placeholder: str = "") -> w.Text:
    t = w.Text(
        description=description,
        placeholder=placeholder,
        style={"description_width": "110px"},
        layout=w.Layout(width="95%"),
    )
    t.add_class(f"gsp-field-{name}")
    return t


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
        self.user_staff = w.Checkbox(description="Staff (superusers only)", indent=False)
        self.user_staff.add_class("gsp-field-is_staff")
        self.user_form = _Form(
            "gsp-add-user",
            "Add user",
            [self.user_email, self.user_name, self.user_first, self.user_last, self.user_staff],
            "Add user",
        )
        self.user_form.submit.on_click(lambda _: self.add_user())

        self.soar_id = _text("soar_id", "SOAR id", "SOAR2020B-001 (required)")
        self.proposal_title = _text("title", "Title", "required")
        self.semester = _text("semester", "Semester", "2020B (from the id when empty)")
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

        head = w.HTML("<b>Management</b>")
        head.add_class("gsp-panel-head")
        forms = w.HBox([self.user_form, self.proposal_form], layout=w.Layout(width="100%"))
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
        try:
            self.proposals = list(self.client.proposals())
        except GSPError as exc:
            errors.append(f"Proposals: {_detail(exc)}")
        else:
            self.proposals_table.value = proposals_table(self.proposals)
        self.message.value = _error("; ".join(errors)) if errors else ""

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
            )
        except (GSPError, ValueError) as exc:  # refused by the API, or not an address
            form.message.value = _error(_detail(exc))
            return None
        for field in (self.user_email, self.user_name, self.user_first, self.user_last):
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
            soar_id = self.soar_id.value.strip()
            title = self.proposal_title.value.strip()
            if not soar_id or not title:
                raise ValueError("the SOAR id and the title are required")
            pi = self.pi_email.value.strip()
            pi = check_email(pi) if pi else None
            new_pi = pi is not None and not self._known_email(pi)
            proposal = self.client.create_proposal(
                soar_id,
                title,
                abstract=self.abstract.value.strip(),
                semester=self.semester.value.strip() or None,
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
