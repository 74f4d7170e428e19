"""JupyterLab's theme follows the GSP theme preference (voila_apps/lab_theme.py):
the file JupyterLab reads its theme from is written, keeping the user's other settings."""

from __future__ import annotations

import json

import pytest

from voila_apps.lab_theme import (
    THEMES_SETTINGS,
    sync_lab_theme,
    user_settings_dir,
    write_lab_theme,
)
from voila_apps.widgets.preferences import Preferences, save


def test_the_preference_becomes_jupyterlabs_theme(tmp_path):
    path = write_lab_theme("light", tmp_path)
    assert path == tmp_path / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
    assert json.loads(path.read_text()) == {"theme": "JupyterLab Light"}
    assert write_lab_theme("light", tmp_path) is None  # already so: not written again
    write_lab_theme("dark", tmp_path)
    assert json.loads(path.read_text()) == {"theme": "JupyterLab Dark"}


def test_the_users_other_lab_settings_are_kept(tmp_path):
    path = tmp_path / THEMES_SETTINGS
    path.parent.mkdir(parents=True)
    # as JupyterLab writes it: JSON5, with a comment
    path.write_text(
        '{\n    // chosen in JupyterLab\n    "theme": "JupyterLab Light",\n'
        '    "theme-scrollbars": true,\n}\n'
    )
    write_lab_theme("dark", tmp_path)
    assert json.loads(path.read_text()) == {
        "theme": "JupyterLab Dark",
        "theme-scrollbars": True,
    }
    assert not list(path.parent.glob("*.part"))


def test_an_unreadable_settings_file_is_replaced(tmp_path):
    path = tmp_path / THEMES_SETTINGS
    path.parent.mkdir(parents=True)
    path.write_text("{ not json")
    write_lab_theme("light", tmp_path)
    assert json.loads(path.read_text()) == {"theme": "JupyterLab Light"}


def test_a_theme_without_a_lab_theme_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"theme 'pink' is not one of \['dark', 'light'\]"):
        write_lab_theme("pink", tmp_path)
    assert not (tmp_path / THEMES_SETTINGS).exists()


def test_the_server_start_takes_the_saved_preference(tmp_path):
    prefs = tmp_path / "preferences.json"
    save(Preferences(theme="light"), prefs)
    sync_lab_theme(tmp_path / "lab", prefs)
    saved = json.loads((tmp_path / "lab" / THEMES_SETTINGS).read_text())
    assert saved == {"theme": "JupyterLab Light"}
    # no preference saved yet: the apps' default, dark
    sync_lab_theme(tmp_path / "lab", tmp_path / "none.json")
    assert json.loads((tmp_path / "lab" / THEMES_SETTINGS).read_text())["theme"] == (
        "JupyterLab Dark"
    )


def test_the_settings_dir_is_jupyterlabs(tmp_path, monkeypatch):
    from jupyterlab.commands import get_user_settings_dir

    monkeypatch.delenv("JUPYTERLAB_SETTINGS_DIR", raising=False)
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path / "cfg"))
    assert user_settings_dir() == tmp_path / "cfg" / "lab" / "user-settings"
    assert str(user_settings_dir()) == get_user_settings_dir()
    monkeypatch.setenv("JUPYTERLAB_SETTINGS_DIR", str(tmp_path / "explicit"))
    assert str(user_settings_dir()) == get_user_settings_dir() == str(tmp_path / "explicit")
