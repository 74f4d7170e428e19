"""JupyterLab's own theme follows the user's GSP preference (dark or light).

The preference is kept in the user's home (:mod:`voila_apps.widgets.preferences`); a
user who opens JupyterLab from the hub (notebooks, the "Notebooks" link) should see the
same theme there, not JupyterLab's bright default at 3 am. JupyterLab reads its theme
from the user's settings (``<user settings dir>/@jupyterlab/apputils-extension/
themes.jupyterlab-settings``, key ``theme``), so that is where it is written: when the
data browser saves the preference, and when the user's server starts (a preference
saved before this existed, or edited by hand). Settings-wide overrides
(``overrides.json``) cannot do it: they live in the shared installation, one for every
user.

Only the ``theme`` key is changed; the file's other settings (scrollbars, font sizes)
are kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: JupyterLab's theme for each GSP theme preference.
LAB_THEMES = {"dark": "JupyterLab Dark", "light": "JupyterLab Light"}
#: The themes plugin's settings file, under the user settings directory.
THEMES_SETTINGS = Path("@jupyterlab", "apputils-extension", "themes.jupyterlab-settings")


def user_settings_dir() -> Path:
    """JupyterLab's user settings directory, found as ``jupyterlab.commands.
    get_user_settings_dir`` finds it: ``$JUPYTERLAB_SETTINGS_DIR``, else
    ``<Jupyter config dir>/lab/user-settings`` (``~/.jupyter/lab/user-settings``).

    Not imported from JupyterLab: ``jupyterlab.commands`` costs a page's kernel
    seconds of CPU to import, for two lines.
    """
    from jupyter_core.paths import jupyter_config_dir

    explicit = os.environ.get("JUPYTERLAB_SETTINGS_DIR")
    return Path(explicit or Path(jupyter_config_dir(), "lab", "user-settings")).absolute()


def _current_settings(path: Path) -> dict:
    """The settings in ``path`` (JSON5: JupyterLab writes comments), ``{}`` when the
    file is missing or unreadable (it is then replaced by the theme alone)."""
    import json5

    try:
        settings = json5.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return settings if isinstance(settings, dict) else {}


def write_lab_theme(theme: str, settings_dir: Path | None = None) -> Path | None:
    """Set JupyterLab's theme to the one of GSP preference ``theme``.

    Parameters
    ----------
    theme : {"dark", "light"}
        The GSP theme preference.
    settings_dir : Path, optional
        JupyterLab's user settings directory (default: :func:`user_settings_dir`).

    Returns
    -------
    Path or None
        The settings file, or None when it already named that theme (nothing written).

    Raises
    ------
    ValueError
        For a theme that is not one of :data:`LAB_THEMES`.
    OSError
        When the settings file cannot be written.
    """
    if theme not in LAB_THEMES:
        raise ValueError(f"theme {theme!r} is not one of {sorted(LAB_THEMES)}")
    path = (settings_dir or user_settings_dir()) / THEMES_SETTINGS
    settings = _current_settings(path)
    if settings.get("theme") == LAB_THEMES[theme]:
        return None
    settings["theme"] = LAB_THEMES[theme]
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: JupyterLab never reads half a file.
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(settings, indent=4) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def sync_lab_theme(
    settings_dir: Path | None = None, preferences: Path | None = None
) -> Path | None:
    """Make JupyterLab's theme the user's saved GSP theme (the server does it as it starts).

    Parameters
    ----------
    settings_dir : Path, optional
        JupyterLab's user settings directory (default: :func:`user_settings_dir`).
    preferences : Path, optional
        The preferences file (default: the user's, ``~/.gsp/preferences.json``).

    Returns
    -------
    Path or None
        The settings file written, or None when it already named that theme.
    """
    from .widgets.preferences import load

    return write_lab_theme(load(preferences).theme, settings_dir)
