"""hub/singleuser_config.py: kernel culling, Voilà settings, the app notebooks in the home."""

from __future__ import annotations

import json
import os
import stat

import pytest
from traitlets.config.loader import PyFileConfigLoader

from hub import platform
from hub.platform import SINGLEUSER_CONFIG, PlatformConfigError, install_app_notebooks


@pytest.fixture
def load(monkeypatch, tmp_path):
    # The user's Jupyter folders and preferences (JupyterLab's theme is written there at
    # start) in the test's home, never the real one; a test may still point them
    # elsewhere before it loads.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTERLAB_SETTINGS_DIR", "JUPYTERLAB_WORKSPACES_DIR"):
        monkeypatch.delenv(name, raising=False)

    def _load(**env):
        for name in list(os.environ):
            if name.startswith("GSP_"):
                monkeypatch.delenv(name)
        monkeypatch.setenv("JUPYTERHUB_ROOT_DIR", str(tmp_path / "home"))
        # the apps' template setup adds to JUPYTER_PATH: restored after the test
        monkeypatch.setenv("JUPYTER_PATH", os.environ.get("JUPYTER_PATH", ""))
        # and to JUPYTER_CONFIG_PATH (JupyterLab's page config): restored too
        monkeypatch.setenv("JUPYTER_CONFIG_PATH", os.environ.get("JUPYTER_CONFIG_PATH", ""))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        loader = PyFileConfigLoader(SINGLEUSER_CONFIG.name, path=str(SINGLEUSER_CONFIG.parent))
        return loader.load_config()

    return _load


def test_production_defaults(load):
    c = load()
    kernels = c.MappingKernelManager
    assert kernels.cull_idle_timeout == 1800
    assert kernels.cull_interval == 120
    assert kernels.cull_connected is False
    assert kernels.cull_busy is False
    # a closed page's kernel goes a minute after its last connection
    # (voila_apps/kernel_reaper.py), whatever its live stream does
    assert c.PageKernelReaper.disconnected_timeout == 60
    assert c.VoilaConfiguration.show_tracebacks is False
    # Voilà renders with the apps' offline template (no CDN links; voila_apps/config.py)
    from voila_apps.config import TEMPLATE, offline_page_config

    assert c.VoilaConfiguration.template == TEMPLATE
    assert c.VoilaConfiguration.page_config_hook is offline_page_config
    assert not [v for v in c.VoilaConfiguration.values() if "cdn" in str(v).lower()]


ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"


def test_jupyterlab_never_calls_out_nor_asks_about_news(load, monkeypatch, tmp_path):
    """No news fetched, no update check, and the announcements plugin (which asks each
    user about Jupyter news) disabled through a labconfig dir on JUPYTER_CONFIG_PATH,
    as `jupyter labextension disable` would; nothing else is disabled."""
    from jupyter_core.paths import jupyter_config_path
    from jupyterlab_server.config import get_static_page_config

    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(tmp_path / "site"))
    c = load()
    assert c.LabApp.news_url is None
    assert c.LabApp.check_for_updates_class == "jupyterlab.NeverCheckForUpdate"
    # nor searches PyPI for extensions; no LSP without language servers
    assert c.LabApp.extension_manager == "readonly"
    assert c.ServerApp.jpserver_extensions.get_value({})["jupyter_lsp"] is False
    ours = SINGLEUSER_CONFIG.with_name("jupyter_config")
    # put before the path the server had, which is kept; loading twice adds it once
    assert os.environ["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [
        str(ours),
        str(tmp_path / "site"),
    ]
    load()
    assert os.environ["JUPYTER_CONFIG_PATH"].split(os.pathsep)[:2] == [
        str(ours),
        str(tmp_path / "site"),
    ]
    assert str(ours) in jupyter_config_path()
    # the dir holds the page config, which disables exactly that plugin, and Voila's own
    # config file (test below)
    assert sorted(
        p.relative_to(ours).as_posix()
        for p in ours.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    ) == ["labconfig/page_config.json", "voila.py"]
    page_config = json.loads((ours / "labconfig" / "page_config.json").read_text())
    assert page_config == {"disabledExtensions": {ANNOUNCEMENTS: True}}
    # what LabApp reads (every labconfig dir of jupyter_config_path(), merged)
    assert get_static_page_config(level="all")["disabledExtensions"][ANNOUNCEMENTS] is True


def test_voila_server_extension_gets_the_apps_settings(load):
    """Voila's server extension reads its settings with its own loader (voila.py files on
    JUPYTER_CONFIG_PATH; 0.5.8 ignores the server's config): the same as the server's."""
    from voila.server_extension import load_config_file

    from voila_apps.config import TEMPLATE, offline_page_config

    server = load(GSP_VOILA_SHOW_TRACEBACKS="1").VoilaConfiguration
    voila = load_config_file().VoilaConfiguration
    assert voila.template == TEMPLATE
    assert voila.page_config_hook is offline_page_config
    assert voila.progressive_rendering is True
    assert voila.show_tracebacks is True
    # the address cannot pick another template (nor a folder by a path)
    assert voila.allow_template_override == "NO"
    assert dict(voila) == dict(server)


def test_jupyterlab_page_lists_the_announcements_plugin_as_disabled(load, monkeypatch, tmp_path):
    """The list the lab page is served with (jupyterlab_server's get_page_config, which
    replaces any `page_config_data` setting), merged with a user's own labconfig."""
    from jupyterlab_server.config import get_page_config

    home_config = tmp_path / "dot-jupyter"
    (home_config / "labconfig").mkdir(parents=True)
    (home_config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"some-ext:plugin": True}})
    )
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(home_config))
    load()
    disabled = get_page_config([], app_settings_dir=None)["disabledExtensions"]
    assert sorted(disabled) == [ANNOUNCEMENTS, "some-ext:plugin"]


def test_jupyterlab_has_the_users_own_folders_and_theme(load, tmp_path):
    """Settings and workspaces in the user's own home, not those LabApp computed when
    the forkserver imported it (one for all users); the theme there is the user's GSP
    preference."""
    from voila_apps.widgets.preferences import Preferences, save

    home = tmp_path / "home"
    save(Preferences(theme="light"), home / ".gsp" / "preferences.json")
    c = load()
    settings = home / ".jupyter" / "lab" / "user-settings"
    assert c.LabApp.user_settings_dir == str(settings)
    assert c.LabApp.workspaces_dir == str(home / ".jupyter" / "lab" / "workspaces")
    themes = settings / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
    assert json.loads(themes.read_text()) == {"theme": "JupyterLab Light"}


def test_switches(load):
    c = load(
        GSP_KERNEL_CULL_IDLE_TIMEOUT="60",
        GSP_KERNEL_CULL_INTERVAL="10",
        GSP_KERNEL_CULL_CONNECTED="true",
        GSP_VOILA_SHOW_TRACEBACKS="1",
    )
    assert c.MappingKernelManager.cull_idle_timeout == 60
    assert c.MappingKernelManager.cull_interval == 10
    assert c.MappingKernelManager.cull_connected is True
    assert c.VoilaConfiguration.show_tracebacks is True
    with pytest.raises(PlatformConfigError, match="GSP_KERNEL_CULL_CONNECTED='maybe'"):
        load(GSP_KERNEL_CULL_CONNECTED="maybe")
    with pytest.raises(PlatformConfigError, match="GSP_KERNEL_CULL_INTERVAL='-5'"):
        load(GSP_KERNEL_CULL_INTERVAL="-5")


def test_apps_are_copied_into_the_root_dir(load, tmp_path, monkeypatch):
    app = tmp_path / "apps" / "data_browser.ipynb"
    app.parent.mkdir()
    app.write_text('{"cells": [], "v": 1}')
    monkeypatch.setattr(platform, "app_notebooks", lambda: [app])
    load()
    copy = tmp_path / "home" / "data_browser.ipynb"
    assert copy.read_text() == app.read_text()
    assert not copy.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_install_app_notebooks_refreshes_only_outdated_copies(tmp_path):
    app = tmp_path / "apps" / "data_browser.ipynb"
    app.parent.mkdir()
    app.write_text("v1")
    home = tmp_path / "home"
    assert install_app_notebooks(home, [app]) == [home / app.name]
    assert install_app_notebooks(home, [app]) == []  # unchanged: left alone
    app.write_text("v2")
    assert install_app_notebooks(home, [app]) == [home / app.name]
    assert (home / app.name).read_text() == "v2"
    # a symlink made by hand is replaced by a real copy (edits must not reach the app)
    (home / app.name).unlink()
    (home / app.name).symlink_to(app)
    install_app_notebooks(home, [app])
    assert not (home / app.name).is_symlink()
    assert not list(home.glob(".*.partial"))


def test_app_notebooks_come_from_the_package():
    import voila_apps

    expected = sorted(p.name for p in platform.Path(voila_apps.__file__).parent.glob("*.ipynb"))
    assert [p.name for p in platform.app_notebooks()] == expected
