"""The navigation bar: user menu (name, logout) and the views (Data, Search, Proposals,
Logs, Management for staff, API Docs, Notebooks)."""

from __future__ import annotations

import html
import os
from collections.abc import Callable

import ipywidgets as w

from .shared_models import shared_layout

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


def lab_url() -> str:
    """JupyterLab in the user's own server, for notebooks (same origin)."""
    return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/").rstrip("/") + "/lab"


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
            description=user_label,
            icon="user-cog",
            tooltip="user details and preferences",
            _dom_classes=("gsp-user",),
        )
        self.user.on_click(lambda _: on_user())
        logout = w.HTML(
            f"<a class='gsp-logout-link' href='{hub_prefix()}logout' style='color:#ef5350;"
            "text-decoration:none;padding:0 10px'><i class='fa fa-sign-out-alt'></i> Logout</a>"
        )
        self.buttons: dict[str, w.Button] = {}
        for key, label, icon in views_for(staff):
            b = w.Button(description=label, icon=icon, layout=shared_layout(width="auto"))
            b.view = key
            b.on_click(lambda _, k=key: self.on_view(k))
            self.buttons[key] = b
        docs = w.HTML(
            f"<a class='gsp-api-docs' href='{service_prefix()}api/docs/' target='_blank' "
            "style='color:inherit;text-decoration:none;padding:0 10px'>"
            "<i class='fa fa-info-circle'></i> API Docs</a>"
            # One widget for both links: every widget costs start-up time.
            f"<a class='gsp-notebooks' href='{lab_url()}' target='_blank' "
            "style='color:inherit;text-decoration:none;padding:0 10px' "
            "title='your notebooks in JupyterLab, with the gsp client and the pipeline'>"
            "<i class='fa fa-book'></i> Notebooks</a>"
        )
        title = w.HTML(
            "<span class='gsp-title'>Goodman Pipeline</span>",
            layout=shared_layout(margin="0 24px 0 0"),
        )
        left = w.HBox([title, self.user, logout], layout=shared_layout(align_items="center"))
        right = w.HBox([*self.buttons.values(), docs], layout=shared_layout(align_items="center"))
        super().__init__(
            [left, right],
            layout=shared_layout(justify_content="space-between", width="100%"),
            _dom_classes=("gsp-nav",),
        )

    def mark(self, key: str) -> None:
        for k, b in self.buttons.items():
            (b.add_class if k == key else b.remove_class)("gsp-active")


def api_url() -> str:
    """The service's URL for scripts outside the hub: the hub's public address (kernels
    may reach the service by an internal one, ``$GSP_API_URL``, useless elsewhere)."""
    from urllib.parse import urlsplit

    # The server's public URL (``https://host/user/<name>/``): only its origin counts.
    public = urlsplit(os.environ.get("JUPYTERHUB_PUBLIC_URL", ""))
    origin = f"{public.scheme}://{public.netloc}" if public.netloc else "https://<this hub>"
    return origin + service_prefix()


def mask(token: str) -> str:
    """A token with all but its last 4 characters hidden."""
    if not token:
        return ""
    return "•" * max(8, len(token) - 4) + token[-4:]


#: Copies the revealed token from the box next to it (no script tag: an attribute handler
#: works inside widget HTML; execCommand covers pages not served over https).
_COPY_BUTTON = (
    "<button class='gsp-copy-token' title='Copy the token' onclick=\""
    "const i=this.closest('.gsp-token-row').querySelector('.gsp-token input');"
    "i.select();(navigator.clipboard&&window.isSecureContext?"
    "navigator.clipboard.writeText(i.value):Promise.resolve(document.execCommand('copy')))"
    ".then(()=>{this.textContent='Copied';});\">Copy</button>"
)


class TokenPanel(w.VBox):
    """Personal API tokens for scripts: created on the hub, shown once, masked until revealed.

    The page's own token (the server's) is never shown: it dies with the server. A token
    made here is the user's, limited to the gsp service, survives server restarts, and is
    listed and revocable on the hub's Token page.

    Parameters
    ----------
    url : str
        The API's base URL to show in the examples.
    create : callable, optional
        ``create(note, expires_in) -> PersonalToken`` (default: ask the hub,
        :func:`voila_apps.hub_tokens.create_personal_token`).
    """

    def __init__(self, url: str, create: Callable | None = None) -> None:
        from voila_apps.hub_tokens import EXPIRY_CHOICES, create_personal_token

        self._create = create or create_personal_token
        self._token = ""
        self.note = w.Text(
            value="GSP API scripts",
            description="Note",
            layout=shared_layout(width="280px"),
            _dom_classes=("gsp-token-note",),
        )
        self.expiry = w.Dropdown(
            options=EXPIRY_CHOICES,
            value=30 * 86_400,
            description="Expires",
            _dom_classes=("gsp-token-expiry",),
        )
        self.create = w.Button(
            description="Create token",
            icon="key",
            tooltip="ask the hub for a new token",
            _dom_classes=("gsp-create-token",),
        )
        self.create.on_click(lambda _: self._new_token())
        self.message = w.HTML()
        self.box = w.Text(
            value="",
            disabled=True,
            layout=shared_layout(width="360px"),
            _dom_classes=("gsp-token",),
        )
        self.reveal = w.ToggleButton(
            description="Show",
            icon="eye",
            tooltip="show the token",
            layout=shared_layout(width="auto"),
            _dom_classes=("gsp-reveal-token",),
        )
        self.reveal.observe(lambda _: self._render(), "value")
        self.copy = w.HTML()
        self.row = w.HBox(
            [self.box, self.reveal, self.copy],
            layout=w.Layout(align_items="center", display="none"),
            _dom_classes=("gsp-token-row",),
        )
        hub = hub_prefix()
        help_text = w.HTML(
            "<div class='gsp-help'>A token lets scripts call the API as you. It is shown "
            "only once, here; it stays valid when your server stops, and you can see and "
            f"revoke it on the hub's <a class='gsp-token-page' href='{hub}token' "
            "target='_blank'>Token page</a>. Send it as the header "
            "<code>Authorization: token &lt;key&gt;</code>, e.g.<br>"
            f"<code>curl -H 'Authorization: token &lt;key&gt;' {html.escape(url)}api/files/</code>"
            "<br>or in Python:<br><code>from gsp_extension.client import GSPClient<br>"
            f"gsp = GSPClient('{html.escape(url)}', '&lt;key&gt;')</code><br>"
            "(inside a notebook on this hub, <code>GSPClient()</code> finds both).</div>"
        )
        super().__init__(
            [w.HBox([self.note, self.expiry, self.create]), self.message, self.row, help_text],
            _dom_classes=("gsp-token-panel",),
        )

    def _new_token(self) -> None:
        from voila_apps.hub_tokens import HubTokenError

        try:
            made = self._create(self.note.value, self.expiry.value)
        except HubTokenError as exc:
            self.message.value = f"<span class='gsp-error'>{html.escape(str(exc))}</span>"
            return
        self._token = made.token
        until = f"until {made.expires_at[:10]}" if made.expires_at else "until revoked"
        self.message.value = (
            f"<span class='gsp-ok gsp-token-made'>Created “{html.escape(made.note)}” "
            f"(valid {html.escape(until)}). Copy it now: it is not shown again.</span>"
        )
        self.row.layout.display = "flex"
        self.reveal.value = False
        self._render()

    def _render(self) -> None:
        shown = self.reveal.value
        # The real token reaches the browser only when asked for.
        self.box.value = self._token if shown else mask(self._token)
        self.box.disabled = not shown
        self.reveal.description = "Hide" if shown else "Show"
        self.reveal.icon = "eye-slash" if shown else "eye"
        self.copy.value = _COPY_BUTTON if shown else ""


class UserMenu(w.VBox):
    """User information, your details (``account``: name and e-mail), API token, change
    password, and the visual preferences.

    ``url`` defaults to the address scripts use (:func:`api_url`); ``create_token`` to
    asking the hub (:class:`TokenPanel`).
    """

    def __init__(
        self,
        status: dict,
        prefs,
        on_prefs: Callable,
        url: str | None = None,
        create_token: Callable | None = None,
        account: w.Widget | None = None,
    ) -> None:
        from .preferences import COLORMAPS, PLOT_MODES, THEMES

        self.on_prefs = on_prefs
        user = html.escape(str(status.get("user", "")))
        role = "staff" if status.get("staff") else "astronomer"
        info = w.HTML(
            "<table class='gsp-table'>"
            f"<tr><td>Username</td><td><b class='gsp-username'>{user}</b> ({role})</td></tr>"
            f"<tr><td>Password</td><td><a href='{hub_prefix()}change-password'>Change password</a></td></tr>"
            "</table>"
        )
        self.token = TokenPanel(url or api_url(), create_token)
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
                *([w.HTML("<b>Your details</b>"), account] if account is not None else []),
                w.HTML("<b>API Token</b>"),
                self.token,
                w.HTML("<b>Visual Options</b>"),
                w.HBox([self.theme, self.colormap]),
                w.HBox([self.plot_mode, self.show_saturated]),
                self.message,
            ],
            layout=w.Layout(display="none", padding="10px"),
            _dom_classes=("gsp-panel", "gsp-user-menu"),
        )

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
