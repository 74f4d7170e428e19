"""Peaks of a 1-D array with their prominence and width, and FFT cross-correlation.

The same definitions as ``scipy.signal.find_peaks`` / ``peak_widths`` / ``correlate``
(prominence: height over the higher of the two lowest points separating the peak from
higher ground, within ``wlen``; width: at half the prominence), in numpy only.
Importing ``scipy.signal`` pulls in ``scipy.stats`` and costs over a second at every
start of ``gsp reduce``; the arrays here have a few thousand points and a few hundred
candidate peaks, so a direct implementation is just as fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Peaks:
    """Peak indices and their properties (arrays of equal length, by index)."""

    index: np.ndarray
    prominence: np.ndarray
    width: np.ndarray  # full width at half prominence, samples
    left_base: np.ndarray
    right_base: np.ndarray


def _empty() -> Peaks:
    e = np.empty(0)
    return Peaks(np.empty(0, int), e, e, np.empty(0, int), np.empty(0, int))


def find_peaks(
    x: np.ndarray,
    prominence: float,
    distance: int = 1,
    wlen: int | None = None,
    min_width: float = 0.0,
) -> Peaks:
    """Local maxima of ``x`` at least ``prominence`` above their surroundings.

    Parameters
    ----------
    x : ndarray
        Finite 1-D values.
    prominence : float
        Minimum prominence.
    distance : int
        Minimum separation; of two closer peaks the higher is kept.
    wlen : int, optional
        Window (samples, centred on the peak) in which the bases are looked for.
    min_width : float
        Minimum full width at half prominence, samples.

    Returns
    -------
    Peaks
        Indices, prominences, bases and widths of the peaks kept, by index.
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 3:
        return _empty()
    interior = np.arange(1, n - 1)
    is_max = (x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:])
    cand = interior[is_max]
    if cand.size == 0:
        return _empty()
    half = (n if wlen is None else max(int(wlen), 3)) // 2
    # Necessary condition, cheap for all candidates: the peak rises by the prominence
    # above the lowest point of its window.
    low = ndimage.minimum_filter1d(x, size=2 * half + 1, mode="nearest")
    cand = cand[x[cand] - low[cand] >= prominence]
    idx, prom, lb, rb = [], [], [], []
    for i in cand:
        lo, hi = max(i - half, 0), min(i + half + 1, n)
        left = x[lo:i][::-1]
        higher = np.nonzero(left > x[i])[0]
        stop = higher[0] if higher.size else left.size
        lseg = left[:stop]
        lmin = lseg.min() if lseg.size else x[i]
        lpos = i - 1 - int(np.argmin(lseg)) if lseg.size else i
        right = x[i + 1 : hi]
        higher = np.nonzero(right > x[i])[0]
        stop = higher[0] if higher.size else right.size
        rseg = right[:stop]
        rmin = rseg.min() if rseg.size else x[i]
        rpos = i + 1 + int(np.argmin(rseg)) if rseg.size else i
        p = x[i] - max(lmin, rmin)
        if p >= prominence:
            idx.append(i)
            prom.append(p)
            lb.append(lpos)
            rb.append(rpos)
    if not idx:
        return _empty()
    idx = np.asarray(idx, int)
    prom = np.asarray(prom)
    lb, rb = np.asarray(lb, int), np.asarray(rb, int)
    if distance > 1 and idx.size > 1:
        keep = np.ones(idx.size, bool)
        for k in np.argsort(x[idx])[::-1]:
            if not keep[k]:
                continue
            near = np.abs(idx - idx[k]) < distance
            near[k] = False
            keep &= ~near
        idx, prom, lb, rb = idx[keep], prom[keep], lb[keep], rb[keep]
    width = half_prominence_widths(x, idx, prom, lb, rb)
    ok = width >= min_width
    return Peaks(idx[ok], prom[ok], width[ok], lb[ok], rb[ok])


def half_prominence_widths(x, idx, prom, left_base, right_base) -> np.ndarray:
    """Measure each peak's full width (samples) at half its prominence, interpolated.

    Parameters
    ----------
    x : array_like
        The 1-D values the peaks were found in.
    idx : sequence of int
        Peak indices.
    prom : sequence of float
        Their prominences.
    left_base, right_base : sequence of int
        Indices of their bases (the search stops there).

    Returns
    -------
    numpy.ndarray
        Width of each peak in samples.
    """
    x = np.asarray(x, float)
    out = np.empty(len(idx))
    for k, (i, p, lb, rb) in enumerate(zip(idx, prom, left_base, right_base, strict=True)):
        level = x[i] - 0.5 * p
        j = i
        while j > lb and x[j] > level:
            j -= 1
        left = j + (level - x[j]) / (x[j + 1] - x[j]) if x[j + 1] != x[j] else float(j)
        j = i
        while j < rb and x[j] > level:
            j += 1
        right = j - (level - x[j]) / (x[j - 1] - x[j]) if x[j - 1] != x[j] else float(j)
        out[k] = right - left
    return out


def correlate_full(a: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Cross-correlate by FFT: ``scipy.signal.correlate(a, r, mode="full")``.

    Parameters
    ----------
    a : numpy.ndarray
        1-D signal.
    r : numpy.ndarray
        1-D reference.

    Returns
    -------
    numpy.ndarray
        ``len(a) + len(r) - 1`` values, for lags ``-len(r)+1 .. len(a)-1`` in order.
    """
    n = a.size + r.size - 1
    size = 1 << (n - 1).bit_length()
    spec = np.fft.rfft(a, size) * np.conj(np.fft.rfft(r, size))
    c = np.fft.irfft(spec, size)
    # positive lags 0..len(a)-1 at the start, negative ones wrapped at the end
    return np.concatenate([c[size - (r.size - 1) :], c[: a.size]])
