"""The navigation bar: user menu (name, logout) and the views (Data, Search, Proposals,
Logs, Management for staff, API Docs)."""

from __future__ import annotations

import html
import os
from collections.abc import Callable

import ipywidgets as w

#: View key, label, Font Awesome icon (served by Voilà itself, no CDN).
VIEWS = (
    ("data", "Data", "image"),
    ("search", "Search", "search"),
    ("proposals", "Proposals", "star"),
    ("logs", "Logs", "bug"),
    ("management", "Management", "cog"),
)


def hub_prefix() -> str:
    """The hub's base URL path (``/hub/`` normally)."""
    return os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/") + "/hub/"


def service_prefix() -> str:
    """Where the gsp service is, seen from the browser (same origin)."""
    return os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/") + "/services/gsp/"


def views_for(staff: bool) -> list[tuple[str, str, str]]:
    """The views a user gets: Management only for staff."""
    return [v for v in VIEWS if v[0] != "management" or staff]


class NavBar(w.HBox):
    """Calls ``on_view(key)`` when a view is chosen and ``on_user()`` for the user menu."""

    def __init__(
        self,
        user_label: str,
        staff: bool,
        on_view: Callable[[str], None],
        on_user: Callable[[], None],
    ) -> None:
        self.on_view = on_view
        self.user = w.Button(
            description=user_label, icon="user-cog", tooltip="user details and preferences"
        )
        self.user.add_class("gsp-user")
        self.user.on_click(lambda _: on_user())
        logout = w.HTML(
            f"<a class='gsp-logout-link' href='{hub_prefix()}logout' style='color:#ef5350;"
            "text-decoration:none;padding:0 10px'><i class='fa fa-sign-out-alt'></i> Logout</a>"
        )
        self.buttons: dict[str, w.Button] = {}
        for key, label, icon in views_for(staff):
            b = w.Button(description=label, icon=icon, layout=w.Layout(width="auto"))
            b.view = key
            b.on_click(lambda _, k=key: self.on_view(k))
            self.buttons[key] = b
        docs = w.HTML(
            f"<a class='gsp-api-docs' href='{service_prefix()}api/docs/' target='_blank' "
            "style='color:inherit;text-decoration:none;padding:0 10px'>"
            "<i class='fa fa-info-circle'></i> API Docs</a>"
        )
        title = w.HTML(
            "<span class='gsp-title'>Goodman Pipeline</span>", layout=w.Layout(margin="0 24px 0 0")
        )
        left = w.HBox([title, self.user, logout], layout=w.Layout(align_items="center"))
        right = w.HBox([*self.buttons.values(), docs], layout=w.Layout(align_items="center"))
        super().__init__(
            [left, right], layout=w.Layout(justify_content="space-between", width="100%")
        )
        self.add_class("gsp-nav")

    def mark(self, key: str) -> None:
        for k, b in self.buttons.items():
            (b.add_class if k == key else b.remove_class)("gsp-active")


class UserMenu(w.VBox):
    """User information, API token, change password, and the visual preferences."""

    def __init__(self, status: dict, prefs, on_prefs: Callable) -> None:
        from .preferences import COLORMAPS, PLOT_MODES, THEMES

        self.on_prefs = on_prefs
        user = html.escape(str(status.get("user", "")))
        role = "staff" if status.get("staff") else "astronomer"
        info = w.HTML(
            "<table class='gsp-table'>"
            f"<tr><td>Username</td><td><b class='gsp-username'>{user}</b> ({role})</td></tr>"
            f"<tr><td>API Token</td><td><a href='{hub_prefix()}token' target='_blank'>"
            "create or revoke tokens</a> (use one as <code>Authorization: Token …</code>)</td></tr>"
            f"<tr><td>Password</td><td><a href='{hub_prefix()}change-password'>Change password</a></td></tr>"
            "</table>"
        )
        self.theme = w.Dropdown(options=THEMES, value=prefs.theme, description="Theme")
        self.colormap = w.Dropdown(options=COLORMAPS, value=prefs.colormap, description="Color map")
        self.plot_mode = w.Dropdown(options=PLOT_MODES, value=prefs.plot_mode, description="Format")
        self.show_saturated = w.Checkbox(value=prefs.show_saturated, description="Show saturated")
        self.message = w.HTML()
        for name, box in (
            ("theme", self.theme),
            ("colormap", self.colormap),
            ("plot_mode", self.plot_mode),
            ("show_saturated", self.show_saturated),
        ):
            box.add_class(f"gsp-pref-{name}")
            box.observe(lambda _: self._changed(), "value")
        super().__init__(
            [
                w.HTML("<b>User Information</b>"),
                info,
                w.HTML("<b>Visual Options</b>"),
                w.HBox([self.theme, self.colormap]),
                w.HBox([self.plot_mode, self.show_saturated]),
                self.message,
            ],
            layout=w.Layout(display="none", padding="10px"),
        )
        self.add_class("gsp-panel")
        self.add_class("gsp-user-menu")

    def toggle(self) -> None:
        self.layout.display = "none" if self.layout.display == "flex" else "flex"

    def _changed(self) -> None:
        try:
            self.on_prefs(
                theme=self.theme.value,
                colormap=self.colormap.value,
                plot_mode=self.plot_mode.value,
                show_saturated=self.show_saturated.value,
            )
        except (OSError, ValueError) as exc:
            self.message.value = f"<span class='gsp-error'>{html.escape(str(exc))}</span>"
        else:
            self.message.value = "<span class='gsp-ok'>Saved.</span>"
