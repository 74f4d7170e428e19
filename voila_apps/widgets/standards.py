"""Standard stars for the "Calibrate Flux" chooser: sensitivity masters that may serve a
spectrum.

A sensitivity master (``master_sens_*``, data_type 1) is listed for every account, like
every master calibration; the chooser offers only those of the spectrum's own proposal
or of no proposal (standards taken by staff), the same rule the engine applies
(:meth:`gsp_extension.security.access.AccessPolicy.standards_for`), so that it never
shows another proposal's star or files. It offers those of the same wavelength mode,
binning (ROI) and grating; the engine checks the rest of the setup (camera, filter,
angles) and refuses a sensitivity of another mode with the reason.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

#: File names of sensitivity masters.
SENSITIVITY_PREFIX = "master_sens_"
#: Filters the API applies (same optical setup).
SETUP_KEYS = ("wavmode", "roi", "grating", "filter_2")


def _night_distance(a: dict, b: dict) -> int:
    try:
        return abs(
            (
                dt.date.fromisoformat(str(a.get("date")))
                - dt.date.fromisoformat(str(b.get("date")))
            ).days
        )
    except ValueError:
        return 1 << 20


def compatible_standards(client: Any, spectrum: dict, page_size: int = 200) -> list[dict]:
    """Sensitivity masters that may calibrate ``spectrum``, the nearest night first.

    Raises the client's error when the API refuses the query.
    """
    filters = {k: spectrum[k] for k in SETUP_KEYS if spectrum.get(k)}
    rows = client.files(data_type=1, page_size=page_size, **filters)["results"]
    mine = spectrum.get("proposal_id")
    found = [
        r
        for r in rows
        if str(r.get("file_name", "")).startswith(SENSITIVITY_PREFIX)
        and r.get("proposal_id") in (None, "", mine)
    ]
    return sorted(found, key=lambda r: (_night_distance(r, spectrum), -int(r["id"])))


def standard_label(record: dict, spectrum: dict) -> str:
    """What the chooser shows for one sensitivity: star, night and file."""
    nights = _night_distance(record, spectrum)
    when = "same night" if nights == 0 else f"{record.get('date') or 'unknown night'}"
    return f"{record.get('object') or 'standard'} · {when} · {record['file_name']}"


def standard_options(client: Any, spectrum: dict) -> list[tuple[str, int]]:
    """``(label, file id)`` per compatible sensitivity, best first (without "automatic")."""
    return [
        (standard_label(r, spectrum), int(r["id"])) for r in compatible_standards(client, spectrum)
    ]
