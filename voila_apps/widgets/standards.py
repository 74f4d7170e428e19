"""Standard stars for the "Calibrate Flux" chooser: exactly what "Automatic" chooses from.

The service answers ``GET api/files/<id>/standards/`` with the job engine's own
automatic choice (:func:`gsp_extension.engine.flux.automatic_standards`): the
sensitivity masters of the spectrum's proposal or of no proposal, of its night and the
nights before, of its setup, in the order the engine takes them (the proposal's
preferred star first, then nearest in time), and the one its current flux product was
made with. The chooser lists them as they come (no filter nor order of its own, so it
cannot disagree with the engine) and marks the one used.
"""

from __future__ import annotations

from typing import Any

#: Marks the standard the current flux-calibrated product was made with.
USED_MARK = "★"


def age_text(days: float | None) -> str:
    """``|standard - spectrum|`` in words: "same night", "3.0 days apart"..."""
    if days is None:
        return "date unknown"
    if days < 0.5:
        return f"{days * 24:.1f} h apart"
    return f"{days:.1f} days apart"


def standard_label(candidate: dict) -> str:
    """What the chooser shows for one candidate: star, distance in time and file."""
    mark = f"{USED_MARK} " if candidate.get("used") else ""
    star = candidate.get("standard") or "standard"
    age = age_text(candidate.get("days_from_spectrum"))
    return f"{mark}{star} · {age} · {candidate['file_name']}"


def automatic_label(menu: dict) -> str:
    """The "Automatic" entry: the standard the engine would use now (or says there is none)."""
    by_id = {c["id"]: c for c in menu["candidates"]}
    would = by_id.get(menu.get("automatic"))
    if menu.get("standard_frame"):
        return "Automatic (this standard's own sensitivity)"
    if would is not None:
        return f"Automatic (would use {would['file_name']})"
    return "Automatic (no standard of this setup yet)"


def standard_menu(client: Any, spectrum: dict) -> dict:
    """The service's answer for ``spectrum`` (``GET api/files/<id>/standards/``).

    Raises the client's error when the API refuses.
    """
    return client.standards(int(spectrum["id"]))


def standard_options(menu: dict) -> list[tuple[str, int]]:
    """``(label, file id)`` per candidate, in the engine's order (without "automatic")."""
    return [(standard_label(c), int(c["id"])) for c in menu["candidates"]]
