"""The GSP Live app: navigation bar, user menu and the views, in one Voilà page.

``main()`` is all a notebook calls. The page's query string (``QUERY_STRING``, set by
Voilà) chooses what opens: ``?file=<id>`` opens that file in the data view (the links in
notification emails), ``?view=search|proposals|logs|management`` another view.
"""

from __future__ import annotations

import html
import os
import threading
from typing import Any
from urllib.parse import parse_qs

import ipywidgets as w

from .widgets import preferences as prefs_store
from .widgets.data_view import DataView
from .widgets.logs import LogsView
from .widgets.management import ManagementView
from .widgets.navigation import NavBar, UserMenu
from .widgets.proposals import ProposalsView
from .widgets.search_table import SearchTable
from .widgets.theme import apply_theme, style_widget

VIEW_KEYS = ("data", "search", "proposals", "logs", "management")


def parse_query(query_string: str | None) -> dict[str, Any]:
    """What the page's query string asks for: ``{"view": str, "file": int | None}``.

    Raises
    ------
    ValueError
        For a file id that is not a positive whole number, or an unknown view.
    """
    params = parse_qs(query_string or "", keep_blank_values=False)
    view = (params.get("view") or ["data"])[0]
    if view not in VIEW_KEYS:
        raise ValueError(f"unknown view {view!r}: use one of {', '.join(VIEW_KEYS)}")
    file_id = None
    if params.get("file"):
        raw = params["file"][0]
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"file={raw!r} is not a file id: use ?file=<positive number>")
        file_id = int(raw)
        view = "data"
    return {"view": view, "file": file_id}


class App(w.VBox):
    """The whole interface.

    Parameters
    ----------
    client : GSPClient-like
        The user's API client (``GSPClient()`` inside a hub server).
    prefs_path : path, optional
        Preferences file (default ``~/.gsp/preferences.json``).
    live_interval : float
        On or off, not a period: 0 turns all background work off (tests drive the app
        by hand); any other value lets the data view follow the API's event stream
        (its fallback polling period, while the stream is down, is DataView's
        ``fallback_interval``).
    """

    def __init__(self, client: Any, prefs_path=None, live_interval: float = 5.0) -> None:
        self.client = client
        self.prefs_path = prefs_path
        self.prefs = prefs_store.load(prefs_path)
        self.data = DataView(client, self.prefs, live_interval=live_interval)
        # The first file lists are asked for while the rest is built (they are what
        # the first picture of the page waits for); start() shows them.
        self.data.prefetch()
        self.status = client.status()
        self.username = str(self.status.get("user", ""))
        self.staff = bool(self.status.get("staff"))
        self.data.staff = self.staff
        self.nav = NavBar(self.username, self.staff, self.show_view, self._toggle_user)
        # The user menu (~50 widgets) is built when first opened: the first picture of
        # the page, the file list, does not wait for it.
        self._user_menu: UserMenu | None = None
        self.user_slot = w.Box()
        self.views: dict[str, w.Widget] = {"data": self.data}
        self.content = w.Box([self.data], layout=w.Layout(width="100%"))
        self.message = w.HTML()
        footer = w.HBox(
            [
                w.HTML("Goodman Spectrograph Pipeline Live"),
                w.HTML(f"<span class='gsp-muted'>signed in as {html.escape(self.username)}</span>"),
            ]
        )
        footer.add_class("gsp-footer")
        self.current = "data"
        super().__init__(
            [style_widget(), self.nav, self.user_slot, self.message, self.content, footer],
            layout=w.Layout(width="100%"),
        )
        apply_theme(self, self.prefs.theme)
        self.nav.mark("data")

    # --- views ----------------------------------------------------------------------------------

    def _proposal_list(self) -> list[dict]:
        if not hasattr(self, "_proposals"):
            try:
                self._proposals = list(self.client.proposals())
            except Exception:
                self._proposals = []
        return self._proposals

    def proposals_changed(self) -> None:
        """Staff added a proposal: the views that offer the proposal list get the new
        one (the list is cached; built views keep their own copy)."""
        self.__dict__.pop("_proposals", None)
        proposals = self._proposal_list()
        if "search" in self.views:
            self.views["search"].set_proposals([p["soar_id"] for p in proposals])
        if "logs" in self.views:
            self.views["logs"].set_proposals(proposals)
        if "proposals" in self.views:
            self.views["proposals"].load()

    def _build(self, key: str) -> w.Widget:
        if key == "search":
            view = SearchTable(
                self.client,
                [p["soar_id"] for p in self._proposal_list()],
                self.open_record,
                page_size=self.prefs.page_size,
            )
        elif key == "proposals":
            view = ProposalsView(self.client, self.username, self.staff, self.search_proposal)
        elif key == "logs":
            view = LogsView(self.client, self._proposal_list())
        elif key == "management":
            if not self.staff:
                raise PermissionError("the management view is for staff only")
            view = ManagementView(self.client, on_proposals_changed=self.proposals_changed)
        else:
            raise ValueError(f"unknown view {key!r}")
        view.load() if key != "search" else view.load(1)
        return view

    def show_view(self, key: str) -> w.Widget:
        """Switch the content to view ``key`` (built on first use)."""
        if key not in self.views:
            try:
                self.views[key] = self._build(key)
            except (PermissionError, ValueError) as exc:
                self.message.value = f"<span class='gsp-error'>{html.escape(str(exc))}</span>"
                return self.content.children[0]
        self.message.value = ""
        self.current = key
        self.content.children = [self.views[key]]
        self.nav.mark(key)
        return self.views[key]

    def open_record(self, record: dict) -> None:
        """A row of the table: open it in the data view."""
        self.show_view("data")
        self.data.select(record)

    def search_proposal(self, soar_id: str) -> None:
        """The "data" button of a proposal: the table filtered to it."""
        table = self.show_view("search")
        table.proposal.value = soar_id

    # --- user menu -------------------------------------------------------------------------------

    @property
    def user_menu(self) -> UserMenu:
        """The user menu (built on first use, hidden until toggled)."""
        if self._user_menu is None:
            self._user_menu = UserMenu(self.status, self.prefs, self.update_preferences)
            self.user_slot.children = [self._user_menu]
        return self._user_menu

    def _toggle_user(self) -> None:
        self.user_menu.toggle()

    def update_preferences(self, **changes) -> None:
        """Apply and save preference changes (raises ValueError for a bad value)."""
        new = self.prefs.changed(**changes)
        prefs_store.save(new, self.prefs_path)
        self.prefs = new
        apply_theme(self, new.theme)
        self.data.set_preferences(new)

    # --- start -----------------------------------------------------------------------------------

    def start(self, query_string: str | None = None, background: bool = True) -> None:
        """Load the first lists, then open what the query string asks for.

        The file list is loaded before returning (it is in the first picture of the
        page); the plot follows on a thread so the page does not wait for it.
        """
        try:
            request = parse_query(query_string)
        except ValueError as exc:
            self.message.value = f"<span class='gsp-error'>{html.escape(str(exc))}</span>"
            request = {"view": "data", "file": None}
        self.data.load()
        if request["view"] != "data":
            self.show_view(request["view"])

        def follow() -> None:
            if request["file"] is not None:
                self.data.open_file(request["file"])
            else:
                self.data.open_first()
            self.data.start_live()

        if background:
            threading.Thread(target=follow, name="gsp-open", daemon=True).start()
        else:
            follow()


def main(view: str | None = None, client: Any = None) -> App:
    """Build, show and start the app (what the notebooks call).

    ``view`` forces a view when the page's query string names none.
    """
    from IPython.display import display

    if client is None:
        from gsp_extension.client import GSPClient

        client = GSPClient()
    query = os.environ.get("QUERY_STRING", "")
    if view and "view=" not in query and "file=" not in query:
        query = f"{query}&view={view}" if query else f"view={view}"
    app = App(client)
    display(app)
    app.start(query)
    return app
