"""The offset between the two bulbs of Goodman's HgArNe lamp, measured on an arc's lines.

Goodman's ``HgArNe`` arc is two pen lamps lit together: the HgAr bulb (Hg and its Ar
fill gas) and the Ne bulb, whose light reaches the slit by its own path. In one
exposure the two bulbs' lines can sit apart as groups. Fitted with a zero point per
bulb beside the correction's own Chebyshev, real arcs give Ne minus HgAr of
+0.33 +- 0.02 unbinned px (``sp_400m1``), +0.31 (1200 M7 library lamp), +0.20 (600
Red), +0.16 (1200 CaNIR; PypeIt's Blue 400 and the M1 part of its Red 400), +0.09 (a
1200 M5 RED arc of 2016), -0.09 (400 M2) and 0 within 0.02-0.04 px in others
(``benchmarks/bulb_offsets.py``). Those library lamps are single exposures of 1-5 s
with both bulbs on, not composites; Hg against Ar, one bulb, agree within two of
their errors in every arc. The offset changes from one exposure to the next (both
signs, within a night and a slit) and in some arcs along the detector (600 Red: a
term linear in pixel of +0.27 +- 0.03 px over the half-detector; 400 M2 -0.09).

It is reported, not fitted: a zero point per bulb, fitted, moved the solutions of
real arcs away from the independent ones (PypeIt's Blue 400 from 0.022 to 0.062 binned
px RMS, its Red 400 M1 part from 0.013 to 0.067), brought ``sp_400m1`` from a
perturbed first guess 0.02-0.03 px away from its library-started solution (0.002
before), and against the Ne-only lamp of the same mode taken minutes later improved
one library lamp's shape (1200 M7: 0.061 to 0.033 px) and worsened another's (600
Red: 0.043 to 0.056). What it tells the user is that the lamp light has no single
zero point: the science light's may be either bulb's, up to the offset apart, unless
its own sky lines set it (:mod:`pipeline.wavelength.sky`).

The library's lamps of one mode, taken minutes apart with one grating setting, tell
the bulbs' paths apart (``benchmarks/bulb_paths.py``). Each bulb of the HgArNe lamp
puts its lines where the lamp of that bulb alone puts them (Ne lines on the Ne
lamp's pixels within 0.02 px, Ar lines on the HgAr and Ar lamps'), so the offset is
the bulbs', not the exposure's. It is no constant: in 600 Red it grows from 0 to 0.5
px across the detector, as the Ne lines' width does (+0.22 px FWHM per 1000 px; the Ar
lines' stays flat), the mark of light filling the camera's pupil off its centre where
the focus drifts. Placed by the hollow-cathode lamps' solutions (CuHeAr, FeHeAr:
another light path) and by the Ar and HgAr lamps', the HgAr bulb's lines lie flat and
the Ne bulb's on a slope (600 Red +0.13-0.20 px per 1000 px, 1200 M6 +0.11, 1200 M7
+0.15-0.19); by the Ne lamp's, the reverse. Three light paths against one: where the
lines tell the bulbs apart, the library refit solves on the HgAr bulb and carries the
Ne bulb's lines with an offset and slope (:func:`separate_bulbs`).

A user's arc has its bulbs' terms measured and reported (``GSP_WNBO``, ``GSP_WNBS``; their
standard errors ``GSP_WNBE``, ``GSP_WNSE``), its solution fitted to every used line at
its NIST wavelength; solving it on its HgAr bulb is asked for
(``calibrate_arc(..., separate_bulbs="apply")``, the reduction setting
``bulb_separation``). Graded as outsiders grade an arc (every used line's NIST
wavelength against the solution; another team's solution of it), the joint solution was
the better in every arc the bulbs' terms touched (``benchmarks/bulb_default.py``): the
library's 1200M7, CaNIR, 600Red and 400M2 HgArNe lamps as users' arcs 0.145, 0.067,
0.127, 0.057 px RMS against 0.345, 0.129, 0.154, 0.070 apart; PypeIt's Blue 400 0.022 px
from PypeIt's solution against 0.051; goodman's 1200M5 RED arc (from its linearised
lamp) 0.048 against 0.086. Which bulb's path a science target's light takes is not known: the joint solution is
the one NIST and the other pipelines agree with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import chebyshev

from pipeline.wavelength.robust_fit import scaled_covariance

#: Elements of the Ne bulb, and of the other bulb of a two-bulb lamp (the HgAr pen
#: lamp, or the Ar lamp).
NE_BULB = frozenset({"Ne"})
OTHER_BULB = frozenset({"Hg", "Ar"})
#: Fewest identified lines per bulb to measure an offset.
MIN_LINES_PER_BULB = 3
#: Lines farther than this many robust sigmas from the joint fit are left out of the
#: estimate (misidentified or blended lines).
CLIP_SIGMA = 4.0


@dataclass(frozen=True)
class BulbOffset:
    """Offset of the Ne bulb's lines against the other bulb's, binned px.

    Attributes
    ----------
    offset : float
        Ne minus HgAr, binned px towards longer wavelengths.
    error : float
        Its standard error, binned px.
    n_ne, n_other : int
        Lines of each bulb that measured it.
    """

    offset: float
    error: float
    n_ne: int
    n_other: int


def bulb_sides(lamp, ion) -> np.ndarray | None:
    """Which bulb of a two-bulb lamp each line comes from.

    Parameters
    ----------
    lamp : iterable of str
        The lamp's elements (``{"Hg", "Ar", "Ne"}``).
    ion : array of str
        Each line's spectrum (``"Ne I"``), ``""`` when unidentified.

    Returns
    -------
    ndarray or None
        Per line, +1 for the Ne bulb, -1 for the other bulb, 0 otherwise
        (unidentified); ``None`` when the lamp is not two bulbs.
    """
    lamp = frozenset(lamp)
    if not (NE_BULB <= lamp and lamp & OTHER_BULB and lamp <= NE_BULB | OTHER_BULB):
        return None
    element = np.array([str(s).split(" ")[0] for s in np.asarray(ion)])
    ne = np.isin(element, list(NE_BULB))
    return np.where(ne, 1.0, np.where(np.isin(element, list(OTHER_BULB)), -1.0, 0.0))


def measure_offset(x, resid_px, err, side, order: int) -> BulbOffset | None:
    """The bulbs' offset from lines' residuals, fitted beside a Chebyshev of ``order``.

    A zero point of +-half the offset per bulb and the Chebyshev over ``x``, weighted
    least squares, lines far from the fit clipped.

    Parameters
    ----------
    x : ndarray
        Line positions in [-1, 1].
    resid_px : ndarray
        Residuals against NIST, binned px (solution minus NIST, towards longer
        wavelengths).
    err : ndarray
        1-sigma errors of the residuals, binned px (their ratios weigh the lines; the
        scale is the residuals' own).
    side : ndarray
        +1 (Ne bulb) or -1 (the other bulb) per line.
    order : int
        Order of the correction the solution was fitted with.

    Returns
    -------
    BulbOffset or None
        ``None`` when a bulb has fewer than :data:`MIN_LINES_PER_BULB` lines.
    """
    x, y, side = (np.asarray(a, float) for a in (x, resid_px, side))
    w = 1.0 / np.maximum(np.asarray(err, float), 1e-3)
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & (side != 0)
    fit = None
    for _ in range(5):
        n_ne, n_other = int(np.sum(keep & (side > 0))), int(np.sum(keep & (side < 0)))
        k = min(int(order), int(keep.sum()) - 3)
        if min(n_ne, n_other) < MIN_LINES_PER_BULB or k < 0:
            return None
        a = np.hstack([chebyshev.chebvander(x, k), 0.5 * side[:, None]])
        aw = a[keep] * w[keep, None]
        coef, *_ = np.linalg.lstsq(aw, y[keep] * w[keep], rcond=None)
        resid = y - a @ coef
        dof = max(int(keep.sum()) - a.shape[1], 1)
        chi2 = float(np.sum((resid[keep] * w[keep]) ** 2)) / dof
        cov = np.linalg.pinv(aw.T @ aw) * chi2
        fit = BulbOffset(float(coef[-1]), float(np.sqrt(cov[-1, -1])), n_ne, n_other)
        scale = 1.4826 * float(np.median(np.abs(resid[keep])))
        new = keep & (np.abs(resid) <= CLIP_SIGMA * max(scale, 1e-3))
        if np.array_equal(new, keep):
            break
        keep = new
    return fit


def _offset_loo_rms(x, y, w, side, keep, k) -> float:
    """Leave-one-out RMS (binned px) of the ``keep`` lines about a Chebyshev of order
    ``k`` and the bulbs' zero points."""
    a = np.hstack([chebyshev.chebvander(x, k), 0.5 * side[:, None]])[keep]
    q, _ = np.linalg.qr(a * w[keep, None])
    hat = np.sum(q * q, axis=1)
    yw = y[keep] * w[keep]
    resid = (yw - q @ (q.T @ yw)) / w[keep]
    return float(np.sqrt(np.mean((resid / np.clip(1.0 - hat, 1e-6, None)) ** 2)))


def best_offset(x, resid_px, err, side, order: int) -> BulbOffset | None:
    """The bulbs' offset beside a Chebyshev of the order the lines choose.

    The solution's correction was fitted across the two bulbs' mismatch, which passes
    for noise there and may keep its order low: ``sp_400m1``'s solution took order 1
    once the faint lines on bright wings were centred over a sloped level, and beside
    order 1 the offset came out 0.24 +- 0.03 px, beside 2-8 0.28-0.32 (0.33 +- 0.02
    at order 2 before). As :func:`separate_bulbs` does, the order is the solution's
    or up to :data:`EXTRA_ORDERS` more: the lowest whose leave-one-out RMS the next
    does not better by :data:`ORDER_GAIN`, with :data:`LINES_PER_TERM` lines per
    coefficient.

    Parameters
    ----------
    x, resid_px, err, side, order
        As for :func:`measure_offset`.

    Returns
    -------
    BulbOffset or None
        :func:`measure_offset` at the chosen order.
    """
    fit = measure_offset(x, resid_px, err, side, order)
    if fit is None:
        return None
    x, y, side = (np.asarray(a, float) for a in (x, resid_px, side))
    w = 1.0 / np.maximum(np.asarray(err, float), 1e-3)
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & (side != 0)
    top = min(int(order) + EXTRA_ORDERS, int(keep.sum()) // LINES_PER_TERM - 2)
    k = int(order)
    loo = _offset_loo_rms(x, y, w, side, keep, k)
    while k < top:
        loo1 = _offset_loo_rms(x, y, w, side, keep, k + 1)
        if loo1 > ORDER_GAIN * loo:
            break
        k, loo = k + 1, loo1
    return fit if k == int(order) else measure_offset(x, y, err, side, k)


#: Standard errors (joint, of the Ne bulb's offset and slope) from which the two bulbs
#: are solved apart (:func:`separate_bulbs`). Below it the terms are noise a joint fit
#: averages better than two more coefficients.
SEPARATE_SIGMA = 4.0
#: Fewest used lines of each bulb to solve the bulbs apart: the other bulb's lines set
#: the solution's zero point and scale on their own.
MIN_LINES_SEPARATE = 4
#: Orders above the joint fit's the bulbs' own fit may take (see :func:`separate_bulbs`),
#: the leave-one-out RMS improving by this factor at each step, with at least this
#: many lines per coefficient.
EXTRA_ORDERS = 2
ORDER_GAIN = 0.9
LINES_PER_TERM = 3
#: Smallest robust scatter (binned px) the bulbs' fit assumes when it sets lines
#: aside: a lamp whose lines fit to 0.02 px keeps those 0.1 px off.
SCATTER_FLOOR_PX = 0.025


@dataclass(frozen=True)
class BulbTerms:
    """The Ne bulb's lines carried beside the other bulb's solution.

    The lamp's solution is the other bulb's (HgAr, or Ar): the library's real lamps of
    a mode (``benchmarks/bulb_paths.py``) show the hollow-cathode lamps (CuHeAr,
    FeHeAr), the Ar and the HgAr lamps placing the HgAr bulb's lines on one straight
    line and the Ne bulb's on a sloped one (600 Red: +0.14 px per 1000 px; 1200 M6
    +0.11, 1200 M7 +0.15-0.19), and the Ne lamp alone the reverse: three light paths
    against one. The Ne bulb's lines join the fit through an offset and a slope of
    their own, so they shape its curvature without setting its zero point or scale.

    Attributes
    ----------
    shape : ndarray
        Chebyshev coefficients over x in [-1, 1] of the joint solution minus the
        other bulb's, binned px towards longer wavelengths.
    offset, slope : float
        The Ne lines against the other bulb's solution, ``offset + slope * x``, binned px.
    offset_error, slope_error : float
        Their standard errors, binned px: the fit's covariance, its lines' weights scaled
        by its reduced chi-square. On physical-truth HgArNe arcs with a known offset and
        slope (``tests/wavelength/test_bulb_errors.py``) the terms' departures from the
        truth in these errors have an RMS of 1.05 at 2x2 (0.35-1.3 by mode) and 1.26 at
        1x1: the shape beside which the terms are fitted, of the order the lines choose,
        leaves some misfit in them (400_M2: -0.006 px in an offset of 0.15 at that
        order, 0.001 two orders up).
    kept : ndarray of bool
        The lines given that fitted it (the others lie farther than
        :data:`CLIP_SIGMA` robust sigmas from it).
    """

    shape: np.ndarray
    offset: float
    slope: float
    offset_error: float
    slope_error: float
    kept: np.ndarray

    def ne_pixel(self, x) -> np.ndarray:
        """Where the Ne bulb's lines sit against the other bulb's solution, binned px."""
        return self.offset + self.slope * np.asarray(x, float)


def _fit_apart(x, y, w, ne, keep, k):
    """Weighted fit of a Chebyshev of order ``k`` and the Ne terms to the ``keep`` lines:
    coefficients, design matrix, and leave-one-out residuals of the lines kept."""
    a = np.hstack([chebyshev.chebvander(x, k), np.column_stack([ne, ne * x])])
    aw = a[keep] * w[keep, None]
    q, r = np.linalg.qr(aw)
    coef = np.linalg.lstsq(r, q.T @ (y[keep] * w[keep]), rcond=None)[0]
    resid = y[keep] - a[keep] @ coef
    hat = np.sum(q * q, axis=1)
    return coef, a, resid / np.clip(1.0 - hat, 1e-6, None)


def _ne_terms(y, w, keep, coef, a) -> tuple[np.ndarray, np.ndarray]:
    """The Ne bulb's offset and slope of a fit (``coef``, design ``a``) to the ``keep``
    lines, and their covariance (scaled by the fit's reduced chi-square)."""
    cov = scaled_covariance(y, w, keep, coef, a)
    return coef[-2:], cov[-2:, -2:]


def _significant(terms, cov) -> bool:
    """Whether the Ne bulb's terms stand :data:`SEPARATE_SIGMA` standard errors from zero."""
    return float(terms @ np.linalg.pinv(cov) @ terms) >= SEPARATE_SIGMA**2


def separate_bulbs(x, resid_px, err, side, order: int) -> BulbTerms | None:
    """The other bulb's solution and the Ne bulb's offset and slope, from used lines.

    Weighted least squares of the residuals on a Chebyshev plus, for the Ne lines, an
    offset and a term linear in x; lines farther than :data:`CLIP_SIGMA` robust sigmas
    from it left out. The Chebyshev's order is the joint fit's or up to
    :data:`EXTRA_ORDERS` more, the lowest whose leave-one-out RMS the next does not
    better by :data:`ORDER_GAIN`: a joint fit across the bulbs' mismatch chooses a low
    order (600 Red: 1), the mismatch passing for noise.

    Parameters
    ----------
    x : ndarray
        Line positions in [-1, 1].
    resid_px : ndarray
        Residuals of the joint solution against NIST, binned px.
    err : ndarray
        1-sigma errors of the residuals, binned px (their ratios weigh the lines).
    side : ndarray
        +1 (Ne bulb), -1 (the other bulb) or 0 (left out) per line.
    order : int
        Order of the joint solution's correction.

    Returns
    -------
    BulbTerms or None
        ``None`` when a bulb has fewer than :data:`MIN_LINES_SEPARATE` lines or the
        Ne bulb's terms are within :data:`SEPARATE_SIGMA` standard errors of zero, with
        all the lines kept or with any one of them left out.
    """
    x, y, side = (np.asarray(a, float) for a in (x, resid_px, side))
    w = 1.0 / np.maximum(np.asarray(err, float), 1e-3)
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & (side != 0)
    ne = (side > 0).astype(float)
    for _ in range(5):
        n = int(keep.sum())
        if min(int(np.sum(keep & (side > 0))), int(np.sum(keep & (side < 0)))) < (
            MIN_LINES_SEPARATE
        ):
            return None
        top = min(int(order) + EXTRA_ORDERS, n // LINES_PER_TERM - 3)
        k = min(int(order), top)
        if k < 0:
            return None
        coef, a, loo = _fit_apart(x, y, w, ne, keep, k)
        while k < top:
            c1, a1, loo1 = _fit_apart(x, y, w, ne, keep, k + 1)
            if np.sqrt(np.mean(loo1**2)) > ORDER_GAIN * np.sqrt(np.mean(loo**2)):
                break
            k, coef, a, loo = k + 1, c1, a1, loo1
        resid = y - a @ coef
        scale = 1.4826 * float(np.median(np.abs(resid[keep])))
        new = keep & (np.abs(resid) <= CLIP_SIGMA * max(scale, SCATTER_FLOOR_PX))
        if np.array_equal(new, keep):
            break
        keep = new
    terms, cov_terms = _ne_terms(y, w, keep, coef, a)
    if not _significant(terms, cov_terms):
        return None
    # ... with any one line left out: a separation one line makes is that line's
    # (930_M4 HgArNe, its DCR-altered lines set aside: the Ne bulb 0.25 px off at
    # the blue end on Hg I 5769.60 alone, the only HgAr line below 6750 A; solved
    # apart, its shape left its mode's CuHeAr and Ne lamps, 0.007 px from each other,
    # from 0.014/0.016 to 0.024/0.030 px)
    for i in np.flatnonzero(keep):
        drop = keep.copy()
        drop[i] = False
        c1, a1, _ = _fit_apart(x, y, w, ne, drop, k)
        if not _significant(*_ne_terms(y, w, drop, c1, a1)):
            return None
    return BulbTerms(
        shape=np.asarray(coef[:-2], float),
        offset=float(terms[0]),
        slope=float(terms[1]),
        offset_error=float(np.sqrt(cov_terms[0, 0])),
        slope_error=float(np.sqrt(cov_terms[1, 1])),
        kept=keep,
    )
