"""The GSP Live app: navigation bar, user menu and the views, in one Voilà page.

``main()`` is all a notebook calls. The page's query string (``QUERY_STRING``, set by
Voilà) chooses what opens: ``?file=<id>`` opens that file in the data view (the links in
notification emails), ``?view=search|proposals|logs|management`` another view.
"""

from __future__ import annotations

import html
import os
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import ipywidgets as w

from .widgets import preferences as prefs_store
from .widgets.account_forms import OwnAccount
from .widgets.address import AddressBar, encode
from .widgets.data_view import DataView
from .widgets.errors import GSPError, error_html, log
from .widgets.logs import LogsView
from .widgets.management import ManagementView
from .widgets.navigation import NavBar, UserMenu
from .widgets.proposals import ProposalsView
from .widgets.search_table import SearchTable
from .widgets.shared_models import shared_layout
from .widgets.theme import apply_theme, style_widget

VIEW_KEYS = ("data", "search", "proposals", "logs", "management")
#: Set when an app is built in this process (the kernel's warm-up then stops importing
#: ahead, see :mod:`voila_apps.kernel`).
STARTED = threading.Event()


def parse_query(query_string: str | None) -> dict[str, Any]:
    """What the page's query string asks for.

    ``{"view": str, "file": int | None, "page": int | None, "search": dict}``: the
    view, the file shown (a product id opens its family on that tab), the page of the
    Observed index (data view) or of the table (search view), and the search view's
    filters and ordering (checked by the table).

    Raises
    ------
    ValueError
        For a file id or page that is not a positive whole number, or an unknown view.
    """
    params = {k: v[0] for k, v in parse_qs(query_string or "", keep_blank_values=False).items()}
    view = params.pop("view", "data")
    if view not in VIEW_KEYS:
        raise ValueError(f"unknown view {view!r}: use one of {', '.join(VIEW_KEYS)}")
    file_id = None
    raw = params.pop("file", None)
    if raw is not None:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"file={raw!r} is not a file id: use ?file=<positive number>")
        file_id = int(raw)
        view = "data"
    page = None
    raw = params.get("page")
    if raw is not None:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"page={raw!r} is not a page number: use ?page=<1, 2, ...>")
        page = int(raw)
    search = params if view == "search" else {}
    return {"view": view, "file": file_id, "page": page, "search": search}


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
    lab_settings_dir : path, optional
        JupyterLab's user settings directory, whose theme follows the theme preference
        (:mod:`voila_apps.lab_theme`). Default: JupyterLab's own when the preferences
        are the user's own (no ``prefs_path``); else JupyterLab is left alone.
    status : dict, optional
        The API's status answer for this client when already at hand (the kernel's
        warm-up asked for it); else the app asks.
    """

    def __init__(
        self,
        client: Any,
        prefs_path=None,
        live_interval: float = 5.0,
        lab_settings_dir=None,
        status: dict | None = None,
    ) -> None:
        STARTED.set()
        self.client = client
        self.prefs_path = prefs_path
        self.lab_settings_dir = lab_settings_dir
        self.prefs = prefs_store.load(prefs_path)
        self.data = DataView(client, self.prefs, live_interval=live_interval)
        # The first file lists are asked for while the rest is built (they are what
        # the first picture of the page waits for); start() shows them.
        self.data.prefetch()
        self.data.observed.offer_table(lambda: self.show_view("search"))
        self.status = status if status is not None else client.status()
        self.username = str(self.status.get("user", ""))
        self.staff = bool(self.status.get("staff"))
        self.data.staff = self.staff
        self.nav = NavBar(self.username, self.staff, self.show_view, self._toggle_user)
        # The user menu (~50 widgets) is built when first opened: the first picture of
        # the page, the file list, does not wait for it.
        self._user_menu: UserMenu | None = None
        self.user_slot = w.Box()
        self.views: dict[str, w.Widget] = {"data": self.data}
        self.content = w.Box([self.data], layout=shared_layout(width="100%"))
        self.message = w.HTML()
        footer = w.HBox(
            [
                w.HTML("Goodman Spectrograph Pipeline Live"),
                w.HTML(f"<span class='gsp-muted'>signed in as {html.escape(self.username)}</span>"),
            ],
            _dom_classes=("gsp-footer",),
        )
        self.current = "data"
        # The page's address follows the view (file, tab, filters, page): Back and
        # Forward work, and a copied address opens the same view.
        self.address = AddressBar(self._navigated)
        self._navigating = False
        self._opening = False  # the start opens a file (not a user's step)
        self.data.on_shown = self.sync_address
        super().__init__(
            [
                style_widget(),
                self.address,
                self.nav,
                self.user_slot,
                self.message,
                self.content,
                footer,
            ],
            layout=shared_layout(width="100%"),
        )
        apply_theme(self, self.prefs.theme)
        self.nav.mark("data")

    # --- views ----------------------------------------------------------------------------------

    def _proposal_list(self) -> list[dict]:
        if not hasattr(self, "_proposals"):
            try:
                self._proposals = list(self.client.proposals())
            except GSPError as exc:
                # The page works without them (no proposal filter); it says why.
                self.message.value = error_html(exc, "Cannot list your proposals: ")
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
            view.on_query = self.sync_address
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
        self.sync_address()
        return self.views[key]

    # --- the address ------------------------------------------------------------------------

    def address_state(self) -> dict[str, Any]:
        """What the page's address says of the view shown (see :func:`parse_query`)."""
        state: dict[str, Any] = {"view": None if self.current == "data" else self.current}
        if self.current == "data":
            record = self.data.record
            state["file"] = record["id"] if record else None
            page = self.data.observed.page
            state["page"] = page if page > 1 else None
        elif self.current == "search" and "search" in self.views:
            state.update(self.views["search"].query_state())
        return state

    def sync_address(self) -> None:
        """Put the view shown in the page's address.

        A user's click (handled on the kernel's main thread) makes a new history
        entry, so that Back returns to what was shown before; what changes by itself
        (the file opened at start, a product that arrived, Follow newest: background
        threads) replaces the current entry instead.
        """
        if self._navigating:
            return
        by_user = threading.current_thread() is threading.main_thread() and not self._opening
        self.address.push(encode(self.address_state()), replace=not by_user)

    def _navigated(self, query: str) -> None:
        """Back or Forward: show what the address says."""
        self._navigating = True
        try:
            self.apply_request(parse_query(query))
        except ValueError as exc:
            self.message.value = f"<span class='gsp-error'>{html.escape(str(exc))}</span>"
        finally:
            self._navigating = False

    def apply_request(self, request: dict[str, Any]) -> None:
        """Show the view, file, page and filters of a parsed address.

        Raises
        ------
        ValueError
            For search filters the table cannot use (the message names them).
        """
        if request["view"] != self.current:
            self.show_view(request["view"])
        if request["view"] == "search" and "search" in self.views:
            self.views["search"].apply_state(request["search"])
        elif request["view"] == "data":
            page = request["page"] or 1
            if page != self.data.observed.page:
                self.data.observed.load(page)
            shown = self.data.record["id"] if self.data.record else None
            if request["file"] is not None and request["file"] != shown:
                self.data.open_file(request["file"])

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
            account = OwnAccount(self.client)
            account.load()
            self._user_menu = UserMenu(
                self.status, self.prefs, self.update_preferences, account=account
            )
            self.user_slot.children = [self._user_menu]
        return self._user_menu

    def _toggle_user(self) -> None:
        self.user_menu.toggle()

    def update_preferences(self, **changes) -> None:
        """Apply and save preference changes (raises ValueError for a bad value)."""
        new = self.prefs.changed(**changes)
        prefs_store.save(new, self.prefs_path)
        if new.theme != self.prefs.theme:
            self._follow_in_jupyterlab(new.theme)
        self.prefs = new
        apply_theme(self, new.theme)
        self.data.set_preferences(new)

    def _follow_in_jupyterlab(self, theme: str) -> None:
        """JupyterLab's theme follows the preference (next time a Lab page opens)."""
        from .lab_theme import user_settings_dir, write_lab_theme

        folder = self.lab_settings_dir
        if folder is None and self.prefs_path is None:
            folder = user_settings_dir()
        if folder is None:
            return
        try:
            write_lab_theme(theme, Path(folder))
        except OSError as exc:  # the preference itself is saved: the page goes on
            log.warning("JupyterLab's theme not changed: %s", exc)

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
            request = {"view": "data", "file": None, "page": None, "search": {}}
        # The address the page was opened with is the current history entry.
        self.address.current = "?" + query_string if query_string else ""
        self.address.install()
        self.data.load()
        if request["view"] != "data":
            self._navigating = True  # the address already says it
            try:
                self.show_view(request["view"])
                if request["view"] == "search" and "search" in self.views:
                    self.views["search"].apply_state(request["search"])
            except ValueError as exc:
                self.message.value = f"<span class='gsp-error'>{html.escape(str(exc))}</span>"
            finally:
                self._navigating = False
        elif request["page"] and request["page"] > 1:
            self._navigating = True
            try:
                self.data.observed.load(request["page"])
            finally:
                self._navigating = False

        def follow() -> None:
            # What opens at start is what the address says (or the newest file): it
            # replaces the address's entry, it is no step to go back to.
            self._opening = True
            try:
                if request["file"] is not None:
                    self.data.open_file(request["file"])
                else:
                    self.data.open_first()
            finally:
                self._opening = False
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

    from .widgets import shared_models

    # The page's controls share their blank layouts and styles: ~200 fewer models
    # for the kernel to send and the browser to build.
    shared_models.install()
    status = None
    if client is None:
        from gsp_extension.client import GSPClient

        from .kernel import warm_status

        client = GSPClient()
        # The same default client's status, asked by the kernel's warm-up: once is enough.
        status = warm_status()
    query = os.environ.get("QUERY_STRING", "")
    if view and "view=" not in query and "file=" not in query:
        query = f"{query}&view={view}" if query else f"view={view}"
    app = App(client, status=status)
    display(app)
    app.start(query)
    return app
