"""What the app builds before its first picture, and what it leaves for later."""

from __future__ import annotations

from voila_apps.app import App
from voila_apps.widgets.navigation import UserMenu


def test_user_menu_is_built_when_first_opened(client, _private_home):
    app = App(client, live_interval=0)
    assert app.user_slot.children == () and app._user_menu is None
    app._toggle_user()
    menu = app.user_menu
    assert isinstance(menu, UserMenu) and app.user_slot.children == (menu,)
    assert menu.layout.display == "flex"
    app._toggle_user()
    assert app.user_menu is menu and menu.layout.display == "none"
    # Its preferences act on the app as before.
    menu.theme.value = "light"
    assert app.prefs.theme == "light" and "Saved" in menu.message.value


def test_user_menu_shows_the_preferences_of_the_moment(client, _private_home):
    app = App(client, live_interval=0)
    app.update_preferences(colormap="viridis")
    assert app.user_menu.colormap.value == "viridis"


def test_a_status_at_hand_is_not_asked_again(client, _private_home, monkeypatch):
    # The kernel's warm-up asked the API for the status already: the app uses it.
    def refused():
        raise AssertionError("status asked again")

    monkeypatch.setattr(client, "status", refused)
    app = App(client, live_interval=0, status={"user": "zoe", "staff": True})
    assert app.username == "zoe" and app.staff and app.data.staff
