"""User preferences of the apps (theme, colormap, plot mode, saturated pixels).

They are kept in the user's own home (``~/.gsp/preferences.json``), never in the
app database: the kernel runs as the user and may only touch what the user owns.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

#: Colormaps offered (matplotlib names; the same as the API's visualize endpoint).
COLORMAPS = ("gray", "gray_r", "viridis", "magma", "inferno", "plasma", "cividis", "hot", "bone")
THEMES = ("dark", "light")
PLOT_MODES = ("static", "interactive")
STRETCHES = ("linear", "sqrt", "log", "asinh")


def default_path() -> Path:
    """``$GSP_PREFERENCES`` or ``~/.gsp/preferences.json``."""
    explicit = os.environ.get("GSP_PREFERENCES")
    return Path(explicit) if explicit else Path.home() / ".gsp" / "preferences.json"


@dataclass(frozen=True)
class Preferences:
    """Visual options of one user.

    Parameters
    ----------
    theme : {"dark", "light"}
    colormap : str
        A name of :data:`COLORMAPS`.
    plot_mode : {"static", "interactive"}
        Static PNG, or a matplotlib canvas with zoom and pan.
    show_saturated : bool
        Mark pixels at or above the file's saturation value.
    page_size : int
        Rows of the file index.
    """

    theme: str = "dark"
    colormap: str = "gray"
    plot_mode: str = "static"
    show_saturated: bool = True
    page_size: int = 20

    def __post_init__(self) -> None:
        checks = (
            ("theme", THEMES),
            ("colormap", COLORMAPS),
            ("plot_mode", PLOT_MODES),
        )
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"preference {name}={getattr(self, name)!r} is not one of {list(allowed)}"
                )
        if not isinstance(self.show_saturated, bool):
            raise ValueError("preference show_saturated must be true or false")
        if not isinstance(self.page_size, int) or not 5 <= self.page_size <= 200:
            raise ValueError("preference page_size must be a whole number from 5 to 200")

    def changed(self, **changes) -> Preferences:
        """A copy with ``changes`` (validated)."""
        return replace(self, **changes)


def load(path: Path | None = None) -> Preferences:
    """The saved preferences; defaults for a missing file, unknown keys or bad values."""
    path = path or default_path()
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return Preferences()
    known = {f.name for f in fields(Preferences)}
    values = {k: v for k, v in raw.items() if k in known} if isinstance(raw, dict) else {}
    try:
        return Preferences(**values)
    except (TypeError, ValueError):
        # One bad value must not lose the others: keep those that validate alone.
        good = {}
        for key, value in values.items():
            try:
                Preferences(**{**good, key: value})
            except (TypeError, ValueError):
                continue
            good[key] = value
        return Preferences(**good)


def save(prefs: Preferences, path: Path | None = None) -> Path:
    """Write the preferences (whole file replaced at once)."""
    path = path or default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(asdict(prefs), indent=1))
    os.replace(tmp, path)
    return path
