"""The first alignment bent where the arc's curvature is not the guess's.

The coarse alignment (:func:`pipeline.wavelength.first_guess.align`) finds an offset
and a scale. An arc whose pixels bend away from its guess's by more than a line width
at the ends is then aligned in the middle only, and the identification pairs the ends'
lines with wrong NIST lines: an IRAF-linearised arc (resampled onto a linear
wavelength grid) against a library lamp that carries the optics' curvature (8 px at
400 l/mm, 56 px at 2100 l/mm), a camera model off at the ends, a lamp of another copy
of the grating. A linearised 1200 M2 CuHeAr arc came out 10 px (30 px at an end) wrong.

Here the detector is cut into windows, coarse to fine (quarters, then eighths), and
each window's offset against the reference is measured within the previous level's
map; a cubic through the offsets (weighted by how well each window correlates, a
window that disagrees with the rest set aside) bends the map. The bent map is kept
only when the whole arc then correlates better with the reference than it did
affinely: the whole-arc correlation is the same score :func:`align` maximises.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from pipeline.wavelength.first_guess import (
    Alignment,
    _prepare,
    _render_lines,
    inverse,
)
from pipeline.wavelength.nist import LineCatalogue
from pipeline.wavelength.peaks import correlate_full
from pipeline.wavelength.shift import subsample_peak

#: Largest departure (unbinned px at the detector's ends) of the arc's bend from the
#: guess's that is searched: 2100 l/mm linearised against its library lamp, ~100 px
#: beyond the best affine map.
MAX_BEND_UNBINNED = 130
#: Windows of the coarse-to-fine levels: the detector cut into this many parts, each
#: window two parts wide (consecutive windows overlap by half).
LEVELS = (4, 8, 16)
#: A window whose correlation is below this fraction of the best window's says
#: nothing of the map (too few lines in it).
MIN_WINDOW_PEAK = 0.4
#: The bent map is kept when the whole arc's correlation rises by at least this much
#: (absolute) over the affine map's: below it the bend is noise.
MIN_GAIN = 0.02
#: ... and bends by at least this much (unbinned px, anywhere on the detector) from it.
MIN_BEND_UNBINNED = 2.0


class _Reference:
    """The guess's reference (lamp flux or NIST lines) rendered through any map."""

    def __init__(self, n, binning, guess, catalogue: LineCatalogue, sigma_binned, lamp_flux=True):
        self.n, self.b, self.sigma = n, int(binning), sigma_binned
        self.v = np.arange(n * self.b, dtype=float)
        template_flux = getattr(guess, "flux", None) if lamp_flux else None
        self.template_z = None
        if template_flux is not None:
            self.template_z = _prepare(np.asarray(template_flux, float))
            self.tx = np.arange(self.template_z.size, dtype=float)
        else:
            self.u_lines = inverse(guess, catalogue.wavelength, max(n * self.b, 4060))
            self.weights = np.log1p(np.clip(catalogue.intensity, 0, None))

    def render(self, alignment: Alignment) -> np.ndarray:
        u = alignment(self.v)
        if self.template_z is not None:
            ref = np.interp(u, self.tx, self.template_z, left=0.0, right=0.0)
            ref = ref.reshape(self.n, self.b).sum(axis=1)
        else:
            # the map is monotonic: the lines' arc coordinates by interpolation,
            # continued linearly beyond the detector
            margin = MAX_BEND_UNBINNED * 2.0
            vg = np.concatenate([[self.v[0] - margin], self.v, [self.v[-1] + margin]])
            ug = alignment(vg)
            vk = np.interp(self.u_lines, ug, vg, left=np.nan, right=np.nan)
            ref = _render_lines(
                (vk - (self.b - 1) / 2.0) / self.b, self.weights, self.n, self.sigma
            )
        return ref - ref.mean()


def _window_lags(arc_z, ref, parts: int, max_lag: int):
    """Each window's lag (binned px, arc after reference) and normalised correlation."""
    n = arc_z.size
    width = 2 * n // parts
    starts = np.linspace(0, n - width, 2 * parts - 1).round().astype(int)
    lags = np.arange(-max_lag, max_lag + 1)
    # the reference padded so that every window at every lag reads inside it
    padded = np.concatenate([np.zeros(max_lag), ref, np.zeros(max_lag)])
    energy = np.concatenate([[0.0], np.cumsum(padded * padded)])
    centres, best, peaks = [], [], []
    for a in starts:
        seg = arc_z[a : a + width]
        norm_a = float(np.sqrt(np.sum(seg * seg)))
        if norm_a == 0:
            continue
        # c[m] = sum_i seg[i] * padded[a + m + i]: the reference shifted by lag = L - m
        c = np.correlate(padded[a : a + width + 2 * max_lag], seg, "valid")[::-1]
        first = a + max_lag - lags  # where the reference under the window starts
        norm_r = np.sqrt(np.maximum(energy[first + width] - energy[first], 1e-300))
        score = c / (norm_a * norm_r)
        k = int(np.argmax(score))
        lag = float(lags[k]) + subsample_peak(score, k)
        centres.append(a + (width - 1) / 2.0)
        best.append(lag)
        peaks.append(float(score[k]))
    return np.array(centres), np.array(best), np.array(peaks)


def _fit_cubic(x, du, weight):
    """Cubic through the windows' offsets; the window farthest from it set aside while
    it departs by more than 3 robust sigmas (and 2 px)."""
    keep = weight > 0
    coef = None
    while keep.sum() >= 5:
        coef = np.polynomial.polynomial.polyfit(x[keep], du[keep], 3, w=np.sqrt(weight[keep]))
        resid = du - np.polynomial.polynomial.polyval(x, coef)
        scatter = 1.4826 * np.median(np.abs(resid[keep]))
        worst = int(np.argmax(np.where(keep, np.abs(resid), -1.0)))
        if abs(resid[worst]) <= max(3.0 * scatter, 2.0):
            return coef
        keep[worst] = False
    return None


def _bent(alignment: Alignment, coef) -> Alignment:
    """``alignment`` plus the power series ``coef`` in ``x = (v - centre) / centre``."""
    c = alignment.centre
    return dataclasses.replace(
        alignment,
        offset=alignment.offset + float(coef[0]),
        scale=alignment.scale + float(coef[1]) / c,
        bend2=alignment.bend2 + float(coef[2]),
        bend3=alignment.bend3 + float(coef[3]),
    )


def _whole_arc_peak(arc_z, ref, max_lag: int) -> tuple[float, float]:
    """Best lag (binned px) and normalised correlation of the whole arc, small lags."""
    lags = np.arange(-max_lag, max_lag + 1)
    c = correlate_full(arc_z, ref)[lags + ref.size - 1]
    norm = float(np.sqrt(np.sum(arc_z * arc_z) * np.sum(ref * ref)))
    k = int(np.argmax(c))
    return float(lags[k]), float(c[k] / norm) if norm > 0 else 0.0


def bend_alignment(
    flux: np.ndarray,
    binning: int,
    guess,
    catalogue: LineCatalogue,
    sigma_binned: float,
    alignment: Alignment,
    max_bend_unbinned: float = MAX_BEND_UNBINNED,
    lamp_flux: bool = True,
) -> Alignment:
    """The coarse alignment, bent where the arc's curvature departs from the guess's.

    The bend (quadratic and cubic terms) is kept only when the whole arc then
    correlates better.

    Parameters
    ----------
    flux : ndarray
        Binned arc flux.
    binning : int
        Binning along the dispersion axis.
    guess : object with ``wavelength(unbinned_pixel)``
        The first guess :func:`pipeline.wavelength.first_guess.align` aligned with.
    catalogue : LineCatalogue
        NIST lines of the lamp's elements (the reference of a guess without flux).
    sigma_binned : float
        Gaussian sigma of the arc's lines, binned px.
    alignment : Alignment
        The affine alignment to start from.
    max_bend_unbinned : float
        Largest departure searched at a window, unbinned px.
    lamp_flux : bool
        As for :func:`pipeline.wavelength.first_guess.align`.

    Returns
    -------
    Alignment
        ``alignment`` itself when bending does not raise the whole arc's correlation by
        :data:`MIN_GAIN` (or moves no pixel by :data:`MIN_BEND_UNBINNED`), else the bent
        map with its correlation as ``peak``.
    """
    b = int(binning)
    n = np.asarray(flux).size
    if n < 8 * LEVELS[-1]:
        return alignment
    arc_z = _prepare(np.asarray(flux, float))
    reference = _Reference(n, b, guess, catalogue, max(sigma_binned, 1.0), lamp_flux)
    _, base_peak = _whole_arc_peak(arc_z, reference.render(alignment), 2)
    current = alignment
    max_lag = int(np.ceil(max_bend_unbinned / b))
    for parts in LEVELS:
        centres, lags, peaks = _window_lags(arc_z, reference.render(current), parts, max_lag)
        if peaks.size < 5 or peaks.max() <= 0:
            return alignment
        weight = np.where(peaks >= MIN_WINDOW_PEAK * peaks.max(), peaks, 0.0)
        v = b * centres + (b - 1) / 2.0
        x = (v - current.centre) / current.centre
        # arc features sit ``lag`` binned px after the reference's under this map
        du = -current.scale * b * lags
        coef = _fit_cubic(x, du, weight)
        if coef is None:
            return alignment
        current = _bent(current, coef)
        # the next level looks only as far as this one's windows scatter about it
        max_lag = max(4, int(np.ceil(max_lag / 4)))
    lag, peak = _whole_arc_peak(arc_z, reference.render(current), 4)
    current = dataclasses.replace(current, offset=current.offset - current.scale * b * lag)
    v = np.arange(n * b, dtype=float)
    moved = float(np.max(np.abs(current(v) - alignment(v))))
    if peak < base_peak + MIN_GAIN or moved < MIN_BEND_UNBINNED:
        return alignment
    return dataclasses.replace(current, peak=peak)


__all__ = ["MAX_BEND_UNBINNED", "bend_alignment"]
