"""What an arc line's neighbours along the detector measure: the local FWHM, and local
quantiles of any per-line figure over the nearest lines (the window shifted inwards at
the detector's ends rather than cut).
"""

from __future__ import annotations

import numpy as np

from pipeline.wavelength.lines import blend_free_width

#: Lines (unsaturated, nearest along the detector) whose median FWHM is the local one.
LOCAL_LINES = 9


def _local_fwhm(j, fwhm, clean, trim: bool = False) -> np.ndarray:
    """FWHM smoothed along the detector over unsaturated lines (focus changes slowly;
    a single line's own width is inflated by its blends, a clipped line's by its
    flat top). ``trim``: the reference lines' widths are well measured (bright lines),
    so blends among them are told by their width
    (:func:`~pipeline.wavelength.lines.blend_free_width`)."""
    ref = clean if clean.sum() >= 5 else np.ones(j.size, bool)
    if ref.sum() < 5:
        return np.full_like(fwhm, np.median(fwhm) if fwhm.size else 2.5)
    jr, fr = j[ref], fwhm[ref]
    k = np.argsort(jr)
    jr, fr = jr[k], fr[k]
    # the median of the LOCAL_LINES nearest in order, the window shifted inwards at the
    # ends rather than cut: at the detector's ends a cut window holds five lines or
    # fewer, and two unresolved blends there (broad fits, 1200 l/mm's blue end) made a
    # clean line's local width 1.7 times its own, and it was set aside as narrow
    lo = np.clip(np.arange(jr.size) - LOCAL_LINES // 2, 0, max(jr.size - LOCAL_LINES, 0))
    windows = [fr[a : a + LOCAL_LINES] for a in lo]
    med = np.array([blend_free_width(w) if trim else np.median(w) for w in windows])
    # each line takes the smoothed width of its nearest reference line
    pos = np.clip(np.searchsorted(jr, j), 1, jr.size - 1)
    nearer_left = (j - jr[pos - 1]) <= (jr[pos] - j)
    return np.where(nearer_left, med[pos - 1], med[pos])


def _local_quantile(j, values, ref, q) -> np.ndarray:
    """Per line, the ``q`` percentile of ``values`` over the LOCAL_LINES ``ref`` lines
    nearest along the detector (the window shifted inwards at the ends)."""
    jr, vr = j[ref], values[ref]
    k = np.argsort(jr)
    jr, vr = jr[k], vr[k]
    n = min(LOCAL_LINES, jr.size)
    out = np.empty(j.size)
    for i, x in enumerate(j):
        a = int(np.clip(np.searchsorted(jr, x) - n // 2, 0, jr.size - n))
        out[i] = np.percentile(vr[a : a + n], q)
    return out
