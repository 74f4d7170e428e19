"""The lamp chooser's arcs: exactly those "Automatic" chooses from, the used ones marked.

The service answers ``GET api/files/<id>/lamps/`` with the job engine's own automatic
choice for the science frame behind a spectrum (the proposal's arcs or no proposal's,
of the frame's night and setup, nearest in time first) and the arcs named in its
current calibrated spectra (``GSP_LAMP``). The chooser shows them in that order, a ★ on
those the current calibration used, and says in the "Automatic" entry what it would
take; nothing is filtered or ranked here, so the chooser and the engine cannot
disagree.
"""

from __future__ import annotations

from typing import Any

from gsp_extension.client import is_arc as is_arc_obstype

#: Marks the arcs the frame's current calibrated spectra were made with.
USED_MARK = "★"
#: How many arc names the "Automatic" entry spells out before "and N more".
NAMES_IN_AUTOMATIC = 2


def is_arc(record: dict) -> bool:
    """A comparison-lamp file (it needs no lamp chosen for it)."""
    return is_arc_obstype(record.get("obstype"))


def offset_text(seconds: float | None) -> str:
    """How far from the science exposure: ``"12 min before"``, ``"1.5 h after"``…"""
    if seconds is None:
        return "same night"
    side = "before" if seconds < 0 else "after"
    seconds = abs(seconds)
    if seconds < 60:
        return f"{seconds:.0f} s {side}"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min {side}"
    return f"{seconds / 3600:.1f} h {side}"


def lamp_label(arc: dict) -> str:
    """What the chooser shows for one candidate."""
    mark = f"{USED_MARK} " if arc.get("used") else ""
    lamp = arc.get("lamps") or arc.get("object") or "lamp"
    return f"{mark}{arc['file_name']} · {lamp} · {offset_text(arc.get('seconds_from_science'))}"


def _names(arcs: list[dict]) -> str:
    names = [a["file_name"] for a in arcs[:NAMES_IN_AUTOMATIC]]
    more = len(arcs) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def automatic_label(menu: dict) -> str:
    """The "Automatic" entry: what the engine would use now, or used for the spectra
    shown when it chose them itself."""
    by_id = {a["id"]: a for a in menu["candidates"]}
    used = [by_id[i] for i in menu["used"] if i in by_id]
    if used and menu.get("used_automatically"):
        return f"Automatic (used {_names(used)})"
    would = [by_id[i] for i in menu["automatic"] if i in by_id]
    if would:
        return f"Automatic (would use {_names(would)})"
    return "Automatic (no arc of this setup on the night yet)"


def lamp_menu(client: Any, science: dict) -> dict:
    """The service's answer for ``science`` (``GET api/files/<id>/lamps/``).

    Raises the client's error when the API refuses.
    """
    return client.lamps(int(science["id"]))


def lamp_options(menu: dict) -> list[tuple[str, int]]:
    """``(label, file id)`` per candidate, in the engine's order (without "automatic")."""
    return [(lamp_label(a), int(a["id"])) for a in menu["candidates"]]
