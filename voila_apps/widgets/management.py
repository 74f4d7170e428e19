"""The management view (staff): every proposal, the users found in them, and how to add
users and proposals.

The REST API has no endpoint that creates a bare user or a proposal (only "add
collaborator", which creates the account of a new address); until it does, this view
lists what exists and says which command adds the rest.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from .proposals import person


def users_of(proposals: list[dict]) -> list[dict]:
    """Distinct users named in proposals (PIs and collaborators), with their roles."""
    users: dict[str, dict] = {}
    for p in proposals:
        for role, people in (
            ("PI", [p.get("user")] if p.get("user") else []),
            ("collaborator", p.get("collaborators", [])),
        ):
            for u in people:
                entry = users.setdefault(u["username"], {**u, "roles": []})
                entry["roles"].append(f"{role} {p['soar_id']}")
    return sorted(users.values(), key=lambda u: u["username"])


class ManagementView(w.VBox):
    def __init__(self, client: Any) -> None:
        self.client = client
        self.proposals_table = w.HTML()
        self.users_table = w.HTML()
        self.message = w.HTML()
        head = w.HTML("<b>Management</b>")
        head.add_class("gsp-panel-head")
        how = w.HTML(
            "<div class='gsp-help' style='font-size:13px'>"
            "<b>Add user</b>: in <i>Proposals</i>, add the address as a collaborator (the account is "
            "created and a set-password link mailed), or on the server: "
            "<code>gsp user add USERNAME --email ADDRESS</code>.<br>"
            "<b>Add proposal</b>: on the server, <code>gsp proposal add</code> (new PIs get a "
            "set-password link). The REST API has no endpoint for these two yet.</div>"
        )
        self.tabs = w.Tab([self.users_table, self.proposals_table])
        self.tabs.set_title(0, "Users")
        self.tabs.set_title(1, "Proposals")
        super().__init__(
            [head, how, self.message, self.tabs],
            layout=w.Layout(padding="0 0 10px 0", width="100%"),
        )
        self.add_class("gsp-panel")
        self.add_class("gsp-management-view")

    def load(self) -> None:
        try:
            proposals = list(self.client.proposals())
        except Exception as exc:
            self.message.value = f"<span class='gsp-error'>{html.escape(str(exc))}</span>"
            return
        self.proposals_table.value = (
            "<table class='gsp-table'><tr><th>SOAR id</th><th>Semester</th><th>PI</th><th>Title</th><th>Collaborators</th></tr>"
            + "".join(
                f"<tr><td>{html.escape(p['soar_id'])}</td><td>{html.escape(p.get('semester') or '')}</td>"
                f"<td>{html.escape(person(p.get('user')))}</td><td>{html.escape(p.get('title') or '')}</td>"
                f"<td>{len(p.get('collaborators', []))}</td></tr>"
                for p in proposals
            )
            + "</table>"
        )
        self.users_table.value = (
            "<table class='gsp-table'><tr><th>Username</th><th>Name</th><th>Email</th><th>Staff</th><th>Roles</th></tr>"
            + "".join(
                f"<tr><td>{html.escape(u['username'])}</td><td>{html.escape(person(u))}</td>"
                f"<td>{html.escape(u.get('email', ''))}</td><td>{'yes' if u.get('is_staff') else ''}</td>"
                f"<td>{html.escape(', '.join(u['roles']))}</td></tr>"
                for u in users_of(proposals)
            )
            + "</table>"
        )
