"""Weighted Chebyshev fits with the order chosen by cross-validation and robust rejection.

The order of a wavelength correction is chosen from the lines themselves: the
weighted leave-one-out prediction error (computed exactly from the hat matrix, no
refits) is minimised, and a higher order is kept only when it lowers that error by
more than :data:`MIN_GAIN` for each order it adds (two orders up count as one), or
when the order kept leaves residuals beyond the points' own errors and it does not
(:data:`UNEXPLAINED_P`); an order the lines do not support would swing beyond the
outermost lines. Outliers (misidentified lines, unlisted blends) are rejected when
they are off by more than :data:`CLIP_SIGMA` robust standard deviations of the residuals, and the order
is chosen again on the lines that remain, until nothing changes; a point whose presence
holds the order down, so that its own fit's scatter hides it, is then tested against
the fit of the others (:func:`_unmasked`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import chebyshev
from scipy import special

#: Relative drop of the leave-one-out error a higher order must bring to be kept, for
#: each order it adds to the one kept so far. A flat 5 % let a sparse arc jump over
#: orders its lines did not want: 930_M1 2x2 (seed 6), 21 lines, took order 6 for a
#: 10 % gain over order 3 (orders 4 and 5 were no better than 3), 0.08 px off the truth
#: at its expected lines; compounded (6 needs 14 % over 3), it ends at order 4. Two
#: orders up pay once only (see :func:`_gain_steps`). Not scaled with the number of
#: lines as ``1 / sqrt(2 n)`` (the standard error of one leave-one-out RMS): the orders
#: are scored on the same lines, so their errors largely cancel in the ratio, and 15 %
#: per order at 21 lines would have kept order 1 at 930_M1 2x2 seed 93 (see
#: :func:`_gain_steps`).
MIN_GAIN = 0.05
#: Rejection threshold, in robust standard deviations of the normalised residuals.
CLIP_SIGMA = 4.0
#: ... and in a point's own error, for points given one (``own_error``): a point whose
#: error is all noise lies beyond 2.5 of its sigmas 1.2 % of the time. At 3, a faint
#: Ar I line of the real 600 Blue HgArNe lamp, 3.0 of its sigmas off the others' fit
#: in a 300 px gap between lines, rejoined and bent its NIST refit by 0.1 px.
OWN_CLIP_SIGMA = 2.5
#: ... or, with many such points, the threshold beyond which noise puts one of them
#: with this probability (see :func:`own_clip`).
OWN_FALSE_REJECTION = 0.05
#: Fewer points than this are a sparse fit (see :func:`_lone_ends`).
SPARSE = 9
#: Highest order a sparse fit may reach on ``n - 4`` (see :func:`order_cap`).
SPARSE_ORDER = SPARSE - 5


@dataclass(frozen=True)
class PolyFit:
    """A weighted Chebyshev fit over ``x`` in [-1, 1].

    Attributes
    ----------
    coef : ndarray
        Chebyshev coefficients over ``x``.
    used : ndarray of bool
        Points kept (the others were rejected as outliers).
    order : int
    loo_rms : float
        Leave-one-out RMS of the residuals of the points used (same unit as ``y``).
    """

    coef: np.ndarray
    used: np.ndarray
    order: int
    loo_rms: float
    x_lo: float = -np.inf
    x_hi: float = np.inf
    slope: float = 0.0

    def __call__(self, x):
        """The fit inside the points' range; beyond it, the global linear trend.

        A polynomial of the order the lines support inside their range can swing
        wildly beyond it. Beyond the outermost lines this continues from the fit's
        value there with the slope of a straight-line fit to all the lines. It is the
        second opinion on where a line beyond the ends lies (identification pairs a
        line there by place only where this and :meth:`tangent` agree); it is not the
        solution's continuation: its slope jumps at the outermost lines, a kink the
        written Chebyshev series cannot follow (see :meth:`tangent`).
        """
        x = np.asarray(x, float)
        if self.order <= 1:
            return chebyshev.chebval(x, self.coef)
        inside = np.clip(x, self.x_lo, self.x_hi)
        return chebyshev.chebval(inside, self.coef) + self.slope * (x - inside)

    def tangent(self, x):
        """The fit inside the points' range; beyond it, its tangent at the outermost point.

        Where to look for the next line beyond the outermost one, and the solution's
        continuation there: a dispersion relation is smooth, and so is this one (value
        and slope continuous at the outermost lines), whereas the global trend of
        :meth:`__call__` kinks there. The written solution is a Chebyshev series of
        degree 9 at most (goodman's ``GSP_Cnnn``), which rings about a kink: up to
        0.2 px at the end lines themselves, where the fit was within 0.01 px
        (physical-truth arcs of 2100 l/mm, 1200_M4, 930_M6). The local slope also
        follows the bend of the relation beyond the ends better than the global
        trend: over the pixels past the outermost lines of 552 physical-truth arcs
        the error against the truth was 0.06 px median against 0.16 px.
        """
        x = np.asarray(x, float)
        if self.order <= 1 or not np.isfinite(self.x_lo):
            return self(x)
        inside = np.clip(x, self.x_lo, self.x_hi)
        slope = chebyshev.chebval(inside, chebyshev.chebder(self.coef))
        return chebyshev.chebval(inside, self.coef) + slope * (x - inside)


def _weighted_fit(x, y, w, order):
    """Coefficients, residuals and leave-one-out residuals of one weighted fit."""
    a = chebyshev.chebvander(x, order)
    sw = np.sqrt(w)
    q, r = np.linalg.qr(a * sw[:, None])
    coef = np.linalg.solve(r, q.T @ (y * sw))
    resid = y - a @ coef
    hat = np.sum(q * q, axis=1)
    loo = resid / np.clip(1.0 - hat, 1e-6, None)
    return coef, resid, loo


#: Points of the abscissa farther than this from every line are in a gap (x in [-1, 1]).
GAP = 0.1
#: Fewer points than this are all predictable (see :func:`_predictable`): left out, an
#: isolated end point leaves too few to judge an order by; weighed at its own
#: leave-one-out variance (the robust fit), it still counts, and fewer suffice.
MIN_PREDICTABLE = 8
MIN_PREDICTABLE_WEIGHED = 5
#: A higher order that at least halves the leave-one-out error is a real correction
#: (a poor first guess), kept whatever it does in the gaps.
GAP_GAIN = 0.5
#: Lowest order judged by what it does in a gap (see :func:`choose_order`). A cubic
#: turns at most twice over the whole detector, as a smooth distortion of the optics
#: does: it bends across a gap, it cannot wiggle inside one. Held to order 2, a sparse
#: arc whose lines crowd one side of a wide gap kept the bend it could not follow:
#: 930_M2 HgAr 2x2 (seed 1), 17 lines over 3850-4510 A and Hg II 5425.25 1100 px
#: beyond them, order 3 departing 0.6 px from order 2 in the gap, left 0.1-0.47 guess
#: px off the truth at the lines and 1.6 in the gap; order 3 leaves 0.1 and 0.4. Over
#: 30 seeds of every 930_M1 and 930_M2 lamp (1x1, 2x2), the solution between the
#: outermost lines went from 0.060 to 0.040 binned px RMS (mean over 420 arcs), the
#: worst point in a gap from 1.84 to 1.10 px, the arcs meeting the accuracy from 390
#: to 397. Orders from 4 wiggle (Hg lamps of 930_M2: 3.3 px in the gap at order 4).
GAP_MIN_ORDER = 4
#: Chance below which a fit's residuals are beyond what its points' own errors explain
#: (see :func:`_unexplained`). The lines' centring errors are measured from their
#: noise, so an order whose residuals noise gives less than once in a hundred misses
#: the relation's shape, however little a higher order's leave-one-out error gains on
#: it: a noisy arc's few end lines leave the higher order an extrapolation's error there,
#: and :data:`MIN_GAIN` compounded over three orders (14 %) then held a cubic distortion
#: of the optics model at order 0 (600 l/mm at GRT 7.30 / CAM 17.60, HgAr, Blue 2x2,
#: seed 0: chi-square 40 on 15 degrees of freedom at order 0, 17 on 12 at order 3, an
#: 11 % gain; the solution 0.031 binned px off the truth at the expected lines, 0.011
#: at order 3).
UNEXPLAINED_P = 0.01


def _gap_points(x) -> np.ndarray:
    grid = np.linspace(x.min(), x.max(), 201)
    d = np.min(np.abs(grid[:, None] - x[None, :]), axis=1)
    return grid[d > GAP]


def _predictable(x, weighed: bool = False) -> np.ndarray:
    """Points whose leave-one-out error measures the fit as it is: all but an outermost
    point farther than :data:`GAP` from the next one.

    Left out, such a line is extrapolated to across the gap, not predicted: its error
    grows with the order's extrapolation variance, and counted as it is one isolated
    end line would hold every order down. The robust fit counts it divided by that
    variance's share (``1 - h``, its leverage ``h``), so that it weighs as much as any
    line when the order fits it and says how far the relation bends beyond the others
    when the order does not: left out altogether, 930_M5's blue-end Ar I 6416.3, 220 px
    beyond the next line and 4 of its sigmas off the order-3 fit of the others, could
    not ask for the order 5 that fits it (0.1 px off the truth there at order 3), and
    the rejection, at order 3, then dropped it.

    So weighed (``weighed``), the rule holds from :data:`MIN_PREDICTABLE_WEIGHED`
    points: a sparse arc's lines come in groups, and counted at its full leave-one-out
    error a lone end line 1400 px from five lines held the order at 0, leaving a
    0.3 px bend over them (2100 l/mm at GRT 22.67, 3270-3980 A, ArHg: order 2 fits
    the six within 0.015 px, but left out, the lone line is 1.2 px off its
    extrapolation).
    """
    keep = np.ones(x.size, bool)
    if x.size < (MIN_PREDICTABLE_WEIGHED if weighed else MIN_PREDICTABLE):
        return keep
    k = np.argsort(x)
    if x[k[1]] - x[k[0]] > GAP:
        keep[k[0]] = False
    if x[k[-1]] - x[k[-2]] > GAP:
        keep[k[-1]] = False
    return keep


def _lone_ends(x, used) -> np.ndarray:
    """In a sparse fit, the outermost used points farther than :data:`GAP` from the next.

    Such a point alone pins the fit over its side of the detector: rejected, it leaves
    the solution there an extrapolation across the gap (2100 l/mm at 3900 A: the one
    clean Hg line of the blue group, rejected against a guess 9 px off there, left a
    5 px error). Kept, a wrong shape shows in the leave-one-out error instead.
    """
    keep = np.zeros(x.size, bool)
    idx = np.nonzero(used)[0]
    if idx.size >= SPARSE or idx.size < 3:
        return keep
    k = idx[np.argsort(x[idx])]
    if x[k[1]] - x[k[0]] > GAP:
        keep[k[0]] = True
    if x[k[-1]] - x[k[-2]] > GAP:
        keep[k[-1]] = True
    return keep


def choose_order(
    x, y, w, max_order: int, gap_tolerance: float = np.inf, weigh_ends: bool = False
) -> tuple[int, float]:
    """Choose the order (0..max_order) with the smallest weighted leave-one-out error.

    A higher order short of that gain is still kept when it gains at all and the order
    kept so far leaves residuals the points' own errors (``1 / sqrt(w)``) cannot
    explain, where its own leaves residuals they can (:func:`_unexplained`): the
    lower order is then shown wrong by the errors, not by the comparison of two
    leave-one-out errors that few points measure poorly.

    Leave-one-out errors only see where the lines are: an order from
    :data:`GAP_MIN_ORDER` that gains less than :data:`GAP_GAIN` is also refused when,
    inside a gap between lines, it departs from the order kept so far by more than
    ``gap_tolerance`` (unit of ``y``): nothing there supports the wiggle.

    Parameters
    ----------
    x : numpy.ndarray
        Abscissae of the points (e.g. scaled pixel positions of the lines).
    y : numpy.ndarray
        Values to fit (e.g. wavelengths, Å).
    w : numpy.ndarray
        Weight of each point (> 0).
    max_order : int
        Highest Chebyshev order tried (an order needs at least ``order + 3`` points).
    gap_tolerance : float
        Largest departure allowed in a gap, unit of ``y``; ``inf`` turns the gap test off.
    weigh_ends : bool
        Count an isolated outermost point at its own leave-one-out variance (see
        :func:`_predictable`) instead of leaving it out: the robust fit, whose
        rejection judges that point at the order chosen here.

    Returns
    -------
    order : int
        The order chosen.
    rms : float
        Its weighted leave-one-out RMS, unit of ``y`` (``inf`` when no order could be
        fitted).
    """
    best_order, best, best_coef = 0, np.inf, None
    gaps = _gap_points(x) if np.isfinite(gap_tolerance) and x.size else np.empty(0)
    inner = _predictable(x, weigh_ends)
    for order in range(0, max_order + 1):
        if x.size < order + 3:
            break
        coef, score = _scored_fit(x, y, w, order, weigh_ends, inner)
        gains = score < best * (1.0 - MIN_GAIN) ** _gain_steps(order - best_order)
        if not gains and best_coef is not None and score < best:
            gains = _unexplained(x, y, w, best_coef) and not _unexplained(x, y, w, coef)
        if gains:
            if (
                best_coef is not None
                and order >= GAP_MIN_ORDER
                and gaps.size
                and score > GAP_GAIN * best
            ):
                wiggle = np.abs(chebyshev.chebval(gaps, coef) - chebyshev.chebval(gaps, best_coef))
                if wiggle.max() > gap_tolerance:
                    continue  # unsupported in a gap; a higher order may not be
            best_order, best, best_coef = order, score, coef
    return best_order, best


def _unexplained(x, y, w, coef) -> bool:
    """Whether a fit leaves residuals its points' own errors cannot explain.

    Its chi-square (residuals in the points' errors) is beyond what noise alone gives
    with chance :data:`UNEXPLAINED_P`, for the fit's degrees of freedom. Where the
    errors understate the scatter at every order (unlisted blends, a wrong error
    model), no order explains the points and the leave-one-out choice stands.
    """
    dof = x.size - coef.size
    if dof < 1:
        return False
    chi2 = float(np.sum(w * (y - chebyshev.chebval(x, coef)) ** 2))
    # special.chdtrc is chi2.sf without importing scipy.stats (and scipy.optimize with
    # it) into the reduction chain, which stays light (test_resample_io)
    return bool(special.chdtrc(dof, chi2) < UNEXPLAINED_P)


def _gain_steps(added: int) -> int:
    """Orders of :data:`MIN_GAIN` that ``added`` orders above the one kept must gain.

    Two orders up pay one: a distortion symmetric about the middle of the detector
    leaves the odd (or even) order between unused, so that order cannot show the gain
    and the next one, which can, must not pay for it too. 930_M1 2x2 (seed 93 drawn
    before Hg I 3662.88 was listed, 21
    lines): order 2 was worse than 1 (leave-one-out 0.143 against 0.127 px), order 3
    better by 6 % (0.119), short of the compounded 9.75 %; order 1 left the solution
    0.086 px off the truth at Ar II 4052.92, order 3 0.004 px. A jump of three or more
    orders still compounds (930_M1 2x2 seed 6: 10 % of order 6 over 3 is too little).
    """
    return 1 if added == 2 else added


def _scored_fit(x, y, w, order: int, weigh_ends: bool, inner=None) -> tuple[np.ndarray, float]:
    """Coefficients and weighted leave-one-out RMS of one order (see :func:`choose_order`)."""
    inner = _predictable(x, weigh_ends) if inner is None else inner
    coef, resid, loo = _weighted_fit(x, y, w, order)
    if weigh_ends:
        # an isolated end point counts at its own leave-one-out variance (see
        # :func:`_predictable`): ``w (1 - h) loo**2 = w resid * loo``
        terms = np.where(inner, w * loo**2, w * resid * loo)
        return coef, float(np.sqrt(np.sum(terms) / np.sum(w)))
    return coef, float(np.sqrt(np.sum(w[inner] * loo[inner] ** 2) / np.sum(w[inner])))


def loo_rms(x, y, w, order: int) -> float:
    """Weighted leave-one-out RMS of a polynomial fit of one order.

    Isolated end points are weighed as :func:`choose_order` weighs them.

    Parameters
    ----------
    x, y, w : numpy.ndarray
        Abscissae in [-1, 1], values and weights (> 0) of the points.
    order : int
        The polynomial order.

    Returns
    -------
    float
        The leave-one-out RMS; ``inf`` when the points are too few to leave one out.
    """
    x, y, w = (np.asarray(a, float) for a in (x, y, w))
    if x.size < order + 3:
        return float("inf")
    return _scored_fit(x, y, w, order, True)[1]


def supported_order(x, y, w, order: int) -> int:
    """The lowest order that predicts the points as well as ``order`` does.

    "As well" is within what the points measure the leave-one-out error to.

    The leave-one-out RMS of ``n`` points is known to a relative ``1 / sqrt(2 n)``
    (a sample deviation's standard error); an order that gains less than that over a
    lower one is not shown by the points to be better (:func:`choose_order` asks only
    for :data:`MIN_GAIN` per order, which on few points the noise alone gives).

    Parameters
    ----------
    x, y, w : numpy.ndarray
        Abscissae in [-1, 1], values and weights (> 0) of the points.
    order : int
        The order chosen.

    Returns
    -------
    int
        The lowest order (0..``order``) whose leave-one-out RMS (isolated end points
        weighed as in the robust fit) is within that uncertainty of ``order``'s.
    """
    x, y, w = (np.asarray(a, float) for a in (x, y, w))
    if order <= 0 or x.size < order + 3:
        return order
    limit = _scored_fit(x, y, w, order, True)[1] * (1.0 + 1.0 / np.sqrt(2.0 * x.size))
    for lower in range(order):
        if _scored_fit(x, y, w, lower, True)[1] <= limit:
            return lower
    return order


def prediction_variance(x_eval, x, w, order: int) -> np.ndarray:
    """Variance of a weighted Chebyshev fit's value at ``x_eval``.

    ``a(x)^T (A^T W A)^-1 a(x)`` for the fit of ``order`` to points ``x`` of weights
    ``w`` (inverse variances): the uncertainty of the fit's prediction where a point
    not in it lies, small among many points and large beyond the outermost ones.

    Parameters
    ----------
    x_eval : numpy.ndarray
        Where the fit is evaluated.
    x, w : numpy.ndarray
        Abscissae and weights (1 / variance) of the points fitted.
    order : int
        Order of the fit.

    Returns
    -------
    numpy.ndarray
        The variance at each ``x_eval`` (unit of ``y`` squared); ``inf`` everywhere when
        the points cannot determine the fit.
    """
    x_eval = np.asarray(x_eval, float)
    a = chebyshev.chebvander(np.asarray(x, float), order) * np.sqrt(np.asarray(w, float))[:, None]
    try:
        _, r = np.linalg.qr(a)
        # (A^T W A)^-1 = R^-1 R^-T: the variance is |R^-T a(x)|^2
        z = np.linalg.solve(r.T, chebyshev.chebvander(x_eval, order).T)
    except np.linalg.LinAlgError:
        return np.full(x_eval.shape, np.inf)
    return np.sum(z**2, axis=0)


def own_clip(own) -> float:
    """Threshold, in their own errors, beyond which points judged on them are rejected.

    Each point whose error is all noise is a test of its own: of ``m`` such points,
    noise alone puts one beyond ``t`` with probability ``m * P(|z| > t)``. A fixed
    :data:`OWN_CLIP_SIGMA` rejects good points ever more often as they grow in number
    (30 faint lines: one in three arcs loses one); the threshold is raised so that
    noise costs an arc a good point with :data:`OWN_FALSE_REJECTION` at most
    (Bonferroni), never lowered below :data:`OWN_CLIP_SIGMA`.

    Parameters
    ----------
    own : numpy.ndarray
        Per point its own error (0 for points not judged on it).

    Returns
    -------
    float
        The threshold in sigmas.
    """
    m = int(np.count_nonzero(np.asarray(own) > 0))
    if m == 0:
        return OWN_CLIP_SIGMA
    return max(OWN_CLIP_SIGMA, float(-special.ndtri(0.5 * OWN_FALSE_REJECTION / m)))


def _within_own_error(x, y, w, used, coef, order, own) -> np.ndarray:
    """Points within :func:`own_clip` of their own error of the fit of the ``used`` ones.

    A point left out of a fit lies off it by its own error and the error of the
    fit's prediction there, independent of each other: the threshold is on both in
    quadrature. The prediction's share is small among many lines and grows in a gap
    or towards an end; judged on its own error alone, a faint Hg I 7081.9 of 930_M5
    1x1 (seed 11), centred 3.5 of its photon-noise sigmas off the truth in a
    300-draw noise test whose errors described the scatter (0.98), lay 2.95 sigmas
    off a fit that was itself uncertain by 0.23 of them, against a threshold of 2.91.
    """
    reach = prediction_variance(x, x[used], w[used], order) if used.any() else np.inf
    resid = np.abs(y - chebyshev.chebval(x, coef))
    return resid <= own_clip(own) * np.sqrt(own**2 + reach)


def scaled_covariance(y, w, keep, coef, a) -> np.ndarray:
    """Covariance of a weighted least-squares fit's coefficients, by its reduced chi-square.

    The points' errors give the weights' ratios, the fit's scatter their size.

    Parameters
    ----------
    y : numpy.ndarray
        The data fitted.
    w : numpy.ndarray
        Each point's weight (1 / error).
    keep : numpy.ndarray of bool
        The points that entered the fit.
    coef : numpy.ndarray
        The fitted coefficients.
    a : numpy.ndarray
        The design matrix (points x coefficients).

    Returns
    -------
    numpy.ndarray
        The coefficients' covariance matrix.
    """
    resid = y - a @ coef
    aw = a[keep] * w[keep, None]
    chi2 = float(np.sum((resid[keep] * w[keep]) ** 2)) / max(int(keep.sum()) - a.shape[1], 1)
    return np.linalg.pinv(aw.T @ aw) * chi2


def order_cap(n: int) -> int:
    """Highest order ``n`` points may choose (before rejection), non-decreasing in ``n``.

    Three points per coefficient (``n // 3 - 1``), but never below what a sparse fit
    of fewer points is allowed: ``n - 4`` (three degrees of freedom left) up to
    :data:`SPARSE_ORDER`. The two rules alone met in a cliff (order 4 at eight points,
    2 at nine): one more line found took the bend a sparse arc's groups need away
    (2100 l/mm at 6500 A, 1x1: nine lines, order 2, 1.6 px off over 12 of 13 lines).

    Parameters
    ----------
    n : int
        Number of points.

    Returns
    -------
    int
        The order cap (negative below three points: nothing can be fitted).
    """
    return max(n // 3 - 1, min(n - 4, SPARSE_ORDER))


def _unmasked(x, y, w, used, order, cap, gap_tolerance, floor, loo) -> np.ndarray:
    """``used`` without the one point that masks itself, or ``used`` unchanged.

    An off point chooses its own fit: with it, a higher order predicts the others no
    better (it is the worst predicted at every order), so a low order is kept whose
    scatter hides the point beyond :data:`CLIP_SIGMA` (the real 1200M4 FeHeAr lamp:
    Ar II 6243.12, 0.28 px off the others' order-3 fit, stayed in an order-0
    correction of another lamp's model, 0.08 px RMS, where its own model's order-3
    fit rejected it, 0.03 px). The candidates are the points worst predicted (left
    out) at the order kept and at the highest allowed; one is dropped when the others
    alone predict each other better by more than the leave-one-out RMS is known to
    (a relative ``1 / sqrt(2 n)``) and within their own errors, and the fit they
    choose rejects it as the loop would (beyond :data:`CLIP_SIGMA` of their scatter
    and of the fit's reach there, where that reach is within the point's own error).
    The loop then goes on from the set without it (its cycle guard stands).
    A sparse fit (fewer than ``SPARSE + 1`` points) is left as it is: each of its
    points holds an order up.
    """
    idx = np.nonzero(used)[0]
    n = idx.size
    if n < SPARSE + 1 or not np.isfinite(loo):
        return used
    xs, ys, ws = x[idx], y[idx], w[idx]
    floors = np.broadcast_to(floor, x.shape)[idx]
    candidates = []
    for kept in sorted({order, cap}):
        if n < kept + 4:
            continue
        _, _, deleted = _weighted_fit(xs, ys, ws, kept)
        candidates.append(int(np.argmax(np.abs(deleted))))
    for k in dict.fromkeys(candidates):
        rest = np.ones(n, bool)
        rest[k] = False
        rest_order, rest_loo = choose_order(xs[rest], ys[rest], ws[rest], cap, gap_tolerance, True)
        if not rest_loo < loo * (1.0 - 1.0 / np.sqrt(2.0 * n)):
            continue
        # ... and predict each other within their errors: where the others scatter
        # beyond them, the fit is short of a shape, not of one point (synthetic 930_M4
        # 3x3 and 1200_M5 1x1 arcs: lines 0.4-0.5 px off order-0 fits of 0.09-0.11 px
        # leave-one-out were right, the solution 0.02-0.03 px worse without them)
        if rest_loo > np.sqrt((n - 1) / np.sum(ws[rest])):
            continue
        coef, resid, _ = _weighted_fit(xs[rest], ys[rest], ws[rest], rest_order)
        # the others' residuals are of a fit to them: their spread understates the
        # scatter by ``sqrt((m - p) / m)`` for ``p`` coefficients on ``m`` points, a
        # third on ten points at order 4, where dropping one point and raising the
        # order made each of the others look off in turn (a synthetic 1200M6 CuHeAr
        # arc, 2x2: 11 lines, three dropped, the shift 1.3 px off)
        m = n - 1
        spread = 1.4826 * float(np.median(np.abs(resid))) * np.sqrt(m / max(m - rest_order - 1, 1))
        scale = max(spread, float(floors[k]))
        reach = prediction_variance(xs[k : k + 1], xs[rest], ws[rest], rest_order)[0]
        off = abs(ys[k] - chebyshev.chebval(xs[k], coef))
        # only where the others pin their fit down (its uncertainty there within the
        # point's own): in a gap or past an end, a higher order the point held down
        # swings (the synthetic 1200M6 CuHeAr arc: order 0 to 4, lines 1.8 and 5 px off)
        if reach <= 1.0 / ws[k] and off > CLIP_SIGMA * np.sqrt(scale**2 + reach):
            out = used.copy()
            out[idx[k]] = False
            return out
    return used


def robust_fit(
    x,
    y,
    err,
    max_order: int,
    floor: float = 0.0,
    n_iter: int = 10,
    gap_tolerance=np.inf,
    own_error=None,
) -> PolyFit:
    """Fit ``y(x)`` with order chosen by cross-validation and iterative rejection.

    Parameters
    ----------
    x : ndarray
        Abscissae in [-1, 1].
    y : ndarray
        Values.
    err : ndarray
        1-sigma errors of ``y`` (weights are ``1/err**2``).
    max_order : int
        Highest order tried (it is also capped by the number of points: at least
        three per coefficient).
    floor : float or ndarray
        Smallest robust scatter of the residuals (unit of ``y``) the rejection uses:
        below it nothing is rejected for being a fraction of it. Per point, it lets a
        noise-limited point be judged against its own error.
    n_iter : int
        Rejection iterations at most.
    gap_tolerance : float
        See :func:`choose_order`.
    own_error : ndarray, optional
        Per point, an error (unit of ``y``; 0 for none): a point rejected against the
        common scatter rejoins the fit when the converged fit of the others passes
        within :func:`own_clip` of it (its own error and the fit's there, in
        quadrature). A point whose error is all noise (a faint,
        isolated line) is no outlier for lying two of its own sigmas off; judged
        against the others' fit, not one it pulls, it cannot vouch for itself (an
        isolated line in a gap or at an end would bend the fit its own way).

    Returns
    -------
    PolyFit
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    w = 1.0 / np.asarray(err, float) ** 2
    own = np.zeros(x.size) if own_error is None else np.broadcast_to(own_error, x.shape)
    used = np.ones(x.size, bool)
    coef, order, loo_rms = np.array([float(np.median(y))]), 0, np.inf
    seen: set[bytes] = set()
    for _ in range(n_iter):
        # three points per coefficient, counted before rejection: a cap that fell with
        # each rejected point could drop below the order the lines need, and the
        # rejection then cycle between two orders. A sparse arc's 7-8 lines in three
        # groups (2100 l/mm at 3900 A) bend by a pixel against any guess, which a
        # straight correction leaves: :func:`order_cap` lets few points reach order 4
        # (the leave-one-out error must still accept it).
        cap = min(max_order, order_cap(x.size))
        if cap < 0:
            break
        order, loo_rms = choose_order(
            x[used], y[used], w[used], cap, gap_tolerance, weigh_ends=True
        )
        coef, _, _ = _weighted_fit(x[used], y[used], w[used], order)
        # Rejection on the residuals themselves, not weighted ones: a bright line whose
        # profile a Gaussian fits badly (an unlisted blend) has a large centring error
        # and would otherwise be kept however far off it is.
        resid = y - chebyshev.chebval(x, coef)
        scale = np.maximum(1.4826 * float(np.median(np.abs(resid[used]))), floor)
        # a point left out is compared with the fit's prediction there, which is
        # uncertain too: an end line rejected by a low order (all lines, outliers
        # included, chose it) is an extrapolation's distance from the higher order
        # fitted without it (400_M2 1x1: Ne I 8919.5, 46 px from the red end, centred
        # 0.01 px from the truth, stayed 0.11 px from the order-5 fit of the others,
        # which was 0.09 px off the truth there)
        reach = np.where(used, 0.0, prediction_variance(x, x[used], w[used], order))
        new = np.abs(resid) <= CLIP_SIGMA * np.sqrt(scale**2 + reach)
        new |= _lone_ends(x, used)
        if np.array_equal(new, used):
            new = _unmasked(x, y, w, used, order, cap, gap_tolerance, floor, loo_rms)
        if new.sum() < order + 2 or np.array_equal(new, used) or new.tobytes() in seen:
            break  # converged, too few left, or back to an earlier set (a cycle)
        seen.add(used.tobytes())
        used = new
    # Points rejected against the common scatter but within own_clip() of their own
    # error of the fit the others make rejoin it, at its order (their low weight
    # leaves it all but unchanged where other points constrain it).
    back = ~used & (own > 0) & _within_own_error(x, y, w, used, coef, order, own)
    if back.any() and np.isfinite(loo_rms):
        used = used | back
        coef, _, _ = _weighted_fit(x[used], y[used], w[used], order)
    inside = x[used] if used.any() else x
    slope = 0.0
    if used.sum() >= 3:
        line, _, _ = _weighted_fit(x[used], y[used], w[used], 1)
        slope = float(line[1])
    return PolyFit(
        coef=coef,
        used=used,
        order=order,
        loo_rms=loo_rms,
        x_lo=float(inside.min()) if inside.size else -np.inf,
        x_hi=float(inside.max()) if inside.size else np.inf,
        slope=slope,
    )
