"""Comparison lamps (arcs) compatible with a science file, for the lamp chooser.

Compatible: a visible comparison-lamp exposure (OBSTYPE ARC, COMP or LAMP) with the same grating, slit, wavelength mode
and ROI (binning), taken with the same camera and grating angles. Each exposure is
offered once, at the most useful stage the service has (reduced, else extracted, else
raw: the engine takes any of them as ``lamp_id``), the same night first and then by
time distance to the science exposure (``DATE-OBS`` of the headers when they can be
read, else the distance in frame numbers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gsp_extension.client import ARC_OBSTYPES, DataType
from gsp_extension.client import is_arc as is_arc_obstype

from .errors import GSPError

#: Filters the API applies (same optical setup); the angles are compared here.
SETUP_KEYS = ("grating", "slit", "wavmode", "roi")
ANGLE_KEYS = ("cam_targ", "grt_targ")
#: Degrees within which two camera / grating angles count as the same setup.
ANGLE_TOLERANCE = 0.05
#: Lamp stages the engine accepts, most useful first (keys as the API sends data_type).
STAGES = {
    str(DataType.REDUCED.value): "reduced",
    str(DataType.EXTRACTED.value): "extracted",
    str(DataType.RAW.value): "raw",
}
#: Goodman calibration-unit keywords of the comparison lamps (as in ``pipeline.lamps``).
LAMP_KEYWORDS = {
    "LAMP_HGA": "HgAr",
    "LAMP_NE": "Ne",
    "LAMP_AR": "Ar",
    "LAMP_FE": "FeHeAr",
    "LAMP_CU": "CuHeAr",
}
#: Headers read per chooser (the nearest exposures); the rest are ordered by frame.
MAX_HEADERS = 12


@dataclass
class Arc:
    """One arc exposure offered in the chooser."""

    record: dict
    lamp: str
    time: dt.datetime | None = None

    @property
    def id(self) -> int:
        return int(self.record["id"])

    @property
    def stage(self) -> str:
        return STAGES[str(self.record["data_type"])]


def _angle(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def same_setup(arc: dict, science: dict) -> bool:
    """Same camera and grating angles (when both records state them)."""
    for key in ANGLE_KEYS:
        a, b = _angle(arc.get(key)), _angle(science.get(key))
        if a is not None and b is not None and abs(a - b) > ANGLE_TOLERANCE:
            return False
    return True


def is_arc(record: dict) -> bool:
    """A comparison-lamp file (it needs no lamp chosen for it)."""
    return is_arc_obstype(record.get("obstype"))


def exposure_key(record: dict) -> int:
    """The raw exposure a record comes from (its own id for a raw file)."""
    if int(record.get("data_type", -1)) == DataType.RAW:
        return int(record["id"])
    return int(record.get("original_file_id") or record["id"])


def header_time(cards: list[dict]) -> dt.datetime | None:
    """Start of the exposure from ``DATE-OBS`` (with ``TIME-OBS``/``UT`` if it is a date)."""
    values = {str(c.get("keyword", "")).upper(): c.get("value") for c in cards}
    date = str(values.get("DATE-OBS") or "").strip()
    if not date:
        return None
    if "T" not in date:
        clock = str(values.get("TIME-OBS") or values.get("UT") or "").strip()
        if clock:
            date = f"{date}T{clock}"
    try:
        t = dt.datetime.fromisoformat(date.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t.replace(tzinfo=None) if t.tzinfo else t


def header_lamp(cards: list[dict]) -> str | None:
    """Comparison lamps switched on (``LAMP_*`` = TRUE), e.g. ``"HgAr+Ne"``."""
    on = [
        name
        for key, name in LAMP_KEYWORDS.items()
        for c in cards
        if str(c.get("keyword", "")).upper() == key
        and str(c.get("value")).strip().upper() in {"TRUE", "T", "1", "ON", "YES"}
    ]
    return "+".join(on) or None


def compatible_arcs(client: Any, science: dict, page_size: int = 200) -> list[Arc]:
    """Arc exposures usable for ``science``, one entry per exposure, unordered.

    Raises the client's error when the API refuses the query.
    """
    filters = {k: science[k] for k in SETUP_KEYS if science.get(k)}
    own = exposure_key(science)
    found: dict[int, dict] = {}
    for obstype in ARC_OBSTYPES:
        rows = client.files(obstype=obstype, page_size=page_size, **filters)["results"]
        for r in rows:
            if str(r.get("data_type")) in STAGES and exposure_key(r) != own:
                if same_setup(r, science):
                    found[r["id"]] = r
    best: dict[int, dict] = {}
    order = list(STAGES)
    for r in found.values():
        key = exposure_key(r)
        old = best.get(key)
        if old is None or (order.index(str(r["data_type"])), -r["id"]) < (
            order.index(str(old["data_type"])),
            -old["id"],
        ):
            best[key] = r
    return [Arc(r, lamp=r.get("object") or "lamp") for r in best.values()]


def _frame_distance(arc: dict, science: dict) -> int:
    a, b = arc.get("image_id"), science.get("image_id")
    if a is None or b is None:
        return 1 << 30
    return abs(int(a) - int(b))


def _night_distance(arc: dict, science: dict) -> int:
    try:
        a = dt.date.fromisoformat(str(arc.get("date")))
        b = dt.date.fromisoformat(str(science.get("date")))
    except ValueError:
        return 1 << 20
    return abs((a - b).days)


def rank(arcs: list[Arc], science: dict, science_time: dt.datetime | None) -> list[Arc]:
    """The same night first, then nearest in time (else in frame number), newest id last."""

    def key(arc: Arc):
        nights = _night_distance(arc.record, science)
        if arc.time is not None and science_time is not None:
            return (nights, 0, abs((arc.time - science_time).total_seconds()), -arc.id)
        return (nights, 1, _frame_distance(arc.record, science), -arc.id)

    return sorted(arcs, key=key)


def offset_text(arc: Arc, science: dict, science_time: dt.datetime | None) -> str:
    """How far from the science exposure: ``"12 min before"``, ``"2 nights after"``…"""
    nights = _night_distance(arc.record, science)
    if arc.time is not None and science_time is not None:
        seconds = (arc.time - science_time).total_seconds()
        side = "before" if seconds < 0 else "after"
        seconds = abs(seconds)
        if seconds < 60:
            return f"{seconds:.0f} s {side}"
        if seconds < 3600:
            return f"{seconds / 60:.0f} min {side}"
        if seconds < 2 * 86400:
            return f"{seconds / 3600:.1f} h {side}"
        return f"{seconds / 86400:.0f} days {side}"
    if nights == 0:
        frames = _frame_distance(arc.record, science)
        if frames < 1 << 30:
            side = "before" if int(arc.record["image_id"]) < int(science["image_id"]) else "after"
            return f"same night, {frames} frame{'s' if frames != 1 else ''} {side}"
        return "same night"
    return f"{arc.record.get('date') or 'unknown night'}"


def lamp_label(arc: Arc, science: dict, science_time: dt.datetime | None) -> str:
    """What the chooser shows for one arc."""
    return (
        f"{arc.record['file_name']} · {arc.lamp} · "
        f"{offset_text(arc, science, science_time)} ({arc.stage})"
    )


def _safe_header(client: Any, file_id: int) -> list[dict]:
    try:
        return client.header(file_id)
    except GSPError:  # noqa: BLE001 - a header that cannot be read only loses precision
        return []


def lamp_options(client: Any, science: dict) -> list[tuple[str, int]]:
    """``(label, file id)`` for each compatible arc, best first (without "automatic")."""
    arcs = compatible_arcs(client, science)
    if not arcs:
        return []
    science_time = header_time(_safe_header(client, science["id"]))
    # Headers of the nearest exposures only: a night can hold many arcs.
    for arc in rank(arcs, science, None)[:MAX_HEADERS]:
        cards = _safe_header(client, arc.id)
        arc.time = header_time(cards)
        arc.lamp = header_lamp(cards) or arc.lamp
    return [(lamp_label(a, science, science_time), a.id) for a in rank(arcs, science, science_time)]
