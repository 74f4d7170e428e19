"""Slit-trim detection from a master flat's illumination profile.

The median of each row of a trimmed, bias-subtracted flat gives the illumination along
the slit. The slit edges are where that profile crosses half of its plateau (the
median of rows above half the maximum), found with linear interpolation between rows:
that is the edge position of a slit image blurred by the optics, whatever the blur.
Rows are 0-based row centres of the trimmed frame. The slit section keeps only rows
fully inside the edges, less a margin of one binned row, where the flat is trustworthy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from astropy.nddata import CCDData

from pipeline.reduction.sections import format_section

#: Rows dropped inside each edge, where the penumbra makes the flat unreliable.
EDGE_MARGIN = 1


@dataclass(frozen=True)
class SlitEdges:
    """Slit edges in trimmed rows (``None`` when the slit runs off the detector)."""

    lower: float | None
    upper: float | None
    section: str
    n_rows: int


def _crossing(profile: np.ndarray, level: float, start: int, step: int) -> float | None:
    """First crossing of ``level`` walking from ``start`` in ``step`` direction."""
    i = start
    n = profile.size
    if profile[i] >= level:
        return None  # illuminated from the detector edge on
    while 0 <= i + step < n:
        a, b = profile[i], profile[i + step]
        if a < level <= b:
            return i + step * (level - a) / (b - a)
        i += step
    return None


def detect_slit(flat: CCDData, margin: int = EDGE_MARGIN) -> SlitEdges | None:
    """Find the slit-illuminated rows of a trimmed master flat.

    Parameters
    ----------
    flat : CCDData
        Trimmed, bias-subtracted master flat (dispersion along columns, the slit along
        rows).
    margin : int
        Rows dropped inside each edge (binned rows), where the penumbra makes the flat
        unreliable.

    Returns
    -------
    SlitEdges or None
        ``None`` when the flat shows no illuminated plateau (no signal) or fewer than
        10 rows remain between the edges.
    """
    profile = np.median(flat.data, axis=1).astype(np.float64)
    peak = float(np.max(profile))
    if not np.isfinite(peak) or peak <= 0:
        return None
    plateau = float(np.median(profile[profile > 0.5 * peak]))
    level = 0.5 * plateau
    ny, nx = flat.shape
    lower = _crossing(profile, level, 0, +1)
    upper = _crossing(profile, level, ny - 1, -1)
    first = 0 if lower is None else int(np.ceil(lower)) + margin
    last = ny - 1 if upper is None else int(np.floor(upper)) - margin
    if last - first < 10:
        return None
    section = format_section(slice(first, last + 1), slice(0, nx))
    return SlitEdges(lower=lower, upper=upper, section=section, n_rows=last - first + 1)
