"""Emission lines of a 1-D arc: detection and sub-pixel centres.

Centres come from a least-squares fit of a *pixel-integrated* Gaussian plus a constant
(the model of a line recorded by pixels of width 1), solved for every line at once with
batched Gauss-Newton steps. Integrating over the pixel matters: Goodman arc lines are
2-3 binned pixels wide, and a point-sampled Gaussian (or a parabola on the peak) then
carries a pixel-phase bias of a few hundredths of a pixel that differs between the
unbinned template and a binned arc.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, special

from pipeline.wavelength.peaks import find_peaks
from pipeline.wavelength.wings import (
    MIN_GAP_FWHM,
    WING_MAX_BROADENING,
    level_at,
    on_wings,
    valley_levels,
)

_SQRT2 = np.sqrt(2.0)
#: FWHM of a Gaussian, in sigmas.
_FWHM = 2.3548


@dataclass(frozen=True)
class LineList:
    """Lines found in a 1-D spectrum (arrays of equal length, sorted by centre)."""

    centre: np.ndarray  # 0-based pixel, sub-pixel
    amplitude: np.ndarray  # integrated counts above the local level
    sigma: np.ndarray  # Gaussian sigma, pixels
    centre_error: np.ndarray  # 1-sigma of the centre, pixels
    #: the pixels' read and photon noise measured on the fits (None: not measured)
    noise: NoiseModel | None = None

    def __len__(self) -> int:
        return int(self.centre.size)

    def select(self, keep) -> LineList:
        return LineList(
            self.centre[keep],
            self.amplitude[keep],
            self.sigma[keep],
            self.centre_error[keep],
            self.noise,
        )


#: Differences in a run of this many (or more) zero differences come from identical
#: pixels (padding, a clipped top), not noise: :func:`robust_noise` leaves them out.
#: Integer counts of one ADU noise repeat a value over five pixels in 0.6 % of places.
FLAT_RUN = 4


def robust_noise(flux: np.ndarray) -> float:
    """Estimate the pixel noise from the median absolute first difference (insensitive to lines).

    Parameters
    ----------
    flux : numpy.ndarray
        A 1-D spectrum (non-finite values left out).

    Returns
    -------
    float
        The standard deviation of one pixel; 0 for fewer than two finite pixels.
    """
    d = np.diff(flux[np.isfinite(flux)])
    # a run of identical pixels is no data (an arc padded with zeros where it was not
    # recorded, a clipped top): its differences are no noise. PypeIt's Red 400 M2 arc,
    # placed on a detector row with 925 zero pixels, measured 0.62 counts for 5.5, and
    # its faint lines, centred to 0.14-0.27 px, were taken for lines 100 sigma high
    flat = d == 0
    if flat.any():
        run = ndimage.uniform_filter1d(flat.astype(float), FLAT_RUN, mode="constant")
        d = d[~ndimage.binary_dilation(run * FLAT_RUN > FLAT_RUN - 0.5, np.ones(FLAT_RUN))]
    if d.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / _SQRT2)


def continuum(flux: np.ndarray, width: int = 61) -> np.ndarray:
    """Estimate a lower envelope of the spectrum (running low percentile), free of lines.

    Parameters
    ----------
    flux : numpy.ndarray
        A 1-D spectrum (NaN allowed: filled with the median).
    width : int
        Window in pixels (made odd, at least 5 and below the spectrum's length).

    Returns
    -------
    numpy.ndarray
        The smoothed 20th percentile in the window, of the spectrum's length.
    """
    width = max(5, min(int(width) | 1, (flux.size // 2) * 2 - 1))
    filled = np.where(np.isfinite(flux), flux, np.nanmedian(flux))
    low = ndimage.percentile_filter(filled, 20, size=width, mode="nearest")
    return ndimage.uniform_filter1d(low, size=width, mode="nearest")


def _integrated_gaussian(x, mu, sigma):
    """Flux of a unit-area Gaussian falling in pixels centred at ``x`` (width 1)."""
    a = (x + 0.5 - mu) / (_SQRT2 * sigma)
    b = (x - 0.5 - mu) / (_SQRT2 * sigma)
    return 0.5 * (special.erf(a) - special.erf(b))


@dataclass(frozen=True)
class LineWindows:
    """The pixels each line is fitted on (one row per line).

    Attributes
    ----------
    x : ndarray
        Pixel index of every window pixel (float).
    y : ndarray
        Flux there (0 where not finite).
    weight : ndarray
        Least-squares weight (0 where not finite; 1/variance when one is given).
    good : ndarray of bool
        Finite pixels.
    """

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    good: np.ndarray


def _windows(flux, guesses, half_width, variance) -> LineWindows:
    n = flux.size
    centre_pix = np.clip(np.round(guesses).astype(int), half_width, n - 1 - half_width)
    idx = centre_pix[:, None] + np.arange(-half_width, half_width + 1)[None, :]
    y = flux[idx]
    good = np.isfinite(y)
    w = good.astype(float)
    if variance is not None:
        var = np.asarray(variance, dtype=float)[idx]
        w = np.where(good & (var > 0), 1.0 / np.where(var > 0, var, 1.0), 0.0)
    return LineWindows(idx.astype(float), np.where(good, y, 0.0), w, good)


def _jacobian(x, params):
    """Model and Jacobian (amplitude, centre, sigma, constant) of every line's window."""
    amp, mu, sig, c = params.T
    g = _integrated_gaussian(x, mu[:, None], sig[:, None])
    # d/dmu and d/dsigma of the integrated profile (derivatives of the erf terms)
    ua = (x + 0.5 - mu[:, None]) / sig[:, None]
    ub = (x - 0.5 - mu[:, None]) / sig[:, None]
    pa = np.exp(-0.5 * ua**2) / np.sqrt(2 * np.pi)
    pb = np.exp(-0.5 * ub**2) / np.sqrt(2 * np.pi)
    dmu = -(pa - pb) / sig[:, None]
    dsig = -(pa * ua - pb * ub) / sig[:, None]
    model = c[:, None] + amp[:, None] * g
    jac = np.stack([g, amp[:, None] * dmu, amp[:, None] * dsig, np.ones_like(g)], axis=2)
    return model, jac


def _solve_each(jtj: np.ndarray, jtr: np.ndarray) -> np.ndarray:
    """Every line's Gauss-Newton step, no step for a line whose system is singular.

    The batched solve fails as a whole on one singular system: every line's step was
    then zero and the iterations stopped, so one run-away fit anywhere in the arc
    left every other line at its start (400_M1 2x2, seed 37: three diverged fits
    stopped the deblending refit of all 90 lines, and Ar I 6059.37, three FWHM from
    Ne I 6074.34, kept its starting width, 1.16 times its neighbours', and was set
    aside as a blend).
    """
    with np.errstate(all="ignore"):
        try:
            return np.linalg.solve(jtj, jtr[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            pass
        step = np.zeros(jtr.shape)
        for i in range(jtj.shape[0]):
            try:
                step[i] = np.linalg.solve(jtj[i], jtr[i])
            except np.linalg.LinAlgError:
                continue
        return step


def _gauss_newton(win: LineWindows, params: np.ndarray, n_iter: int) -> np.ndarray:
    """Damped Gauss-Newton steps for all lines at once; returns the parameters."""
    for _ in range(n_iter):
        model, jac = _jacobian(win.x, params)
        r = (win.y - model) * win.weight
        jtj = np.matmul((jac * win.weight[:, :, None]).transpose(0, 2, 1), jac)
        jtr = np.matmul(jac.transpose(0, 2, 1), r[:, :, None])[:, :, 0]
        # Levenberg damping keeps poorly constrained lines from jumping away; a
        # parameter no pixel constrains (a run-away fit collapsed to a width of a
        # hundredth of a pixel has no centre or width derivative) takes a unit
        # diagonal, and with no gradient no step
        diag = np.diagonal(jtj, axis1=1, axis2=2)
        damping = np.where(diag > 0, 1e-3 * diag, 1.0)
        jtj = jtj + np.eye(4)[None] * damping[:, :, None]
        step = _solve_each(jtj, jtr)
        step[:, 1] = np.clip(step[:, 1], -0.5, 0.5)
        step[:, 2] = np.clip(step[:, 2], -0.5 * params[:, 2], 0.5 * params[:, 2])
        step = np.nan_to_num(step)
        params = params + step
        if np.all(np.abs(step[:, 1]) < 1e-5):
            break
    return params


#: Fewest fitted pixels the pooled noise model (:func:`noise_model`) is measured on.
MIN_NOISE_PIXELS = 40
#: Flux bins (equal counts) of the pooled noise model.
NOISE_BINS = 16
#: Median of a chi-square of one degree of freedom: ``median(r**2) / var``.
_CHI2_1_MEDIAN = 0.454936


@dataclass(frozen=True)
class NoiseModel:
    """Pixel variance as a function of the pixel's flux: ``read + per_count * flux``.

    Attributes
    ----------
    read : float
        Variance of a pixel with no light (read noise, summed rows), flux unit squared.
    per_count : float
        Variance added per unit of flux (photon noise: the inverse of the effective gain).
    """

    read: float
    per_count: float

    def variance(self, flux) -> np.ndarray:
        """Variance of pixels of the given (model) flux."""
        return self.read + self.per_count * np.clip(flux, 0.0, None)


def _binned_variance(flux, r2):
    """Read and photon terms through the binned median variances (see :func:`noise_model`)."""
    order = np.argsort(flux)
    bins = np.array_split(order, NOISE_BINS)
    f = np.clip(np.array([np.median(flux[b]) for b in bins]), 0.0, None)
    v = np.array([np.median(r2[b]) for b in bins]) / _CHI2_1_MEDIAN
    # a bin's median variance scatters by ~1.25 sqrt(2/n) of itself
    sw = np.sqrt(np.array([b.size for b in bins])) / np.maximum(v, 1e-300)
    # read + photon + a misfit term growing with the flux squared (a profile that is
    # no Gaussian leaves residuals in proportion to the line), none negative; the
    # misfit term is measured so as not to be taken for photon noise, and left out
    a = np.stack([np.ones_like(f), f, f**2], axis=1) * sw[:, None]
    b = v * sw
    # non-negative least squares of three terms: the best of the subsets whose
    # unconstrained solution is non-negative (scipy.optimize is too heavy an import here)
    best, coef = np.inf, np.zeros(3)
    for terms in ((0, 1, 2), (0, 1), (0, 2), (1, 2), (0,), (1,), (2,)):
        c, *_ = np.linalg.lstsq(a[:, terms], b, rcond=None)
        if np.any(c < 0):
            continue
        cost = float(np.sum((a[:, terms] @ c - b) ** 2))
        if cost < best:
            best, coef = cost, np.zeros(3)
            coef[list(terms)] = c
    return float(coef[0]), float(coef[1])


def noise_model(flux, resid, dof_factor) -> NoiseModel | None:
    """Read and photon noise measured on the residuals of many line fits at once.

    The pixels are sorted by their model flux into :data:`NOISE_BINS` bins of equal
    count; in each, the median squared residual (a chi-square of one degree of freedom
    times the variance) gives the variance there. Read, photon and a misfit term
    (growing with the flux squared: a profile that is no Gaussian leaves residuals in
    proportion to the line) are fitted through the bins, none negative, and the misfit
    term left out: it moves a symmetric line's centre by nothing. On physical-truth
    arcs of every library mode (3519 expected lines) the errors this gives describe
    the scatter of the centres about the truth (robust spread of the normalised
    offsets 0.95-1.02 from S/N 60 to 1000+), as the simulator's own read noise and
    gain do (0.94-1.00); without the misfit term the bright lines' misfit passed for
    photon noise (0.75-0.85).

    Parameters
    ----------
    flux : numpy.ndarray
        Model flux of every fitted pixel (line + local level).
    resid : numpy.ndarray
        Data minus model there.
    dof_factor : numpy.ndarray or float
        ``1 / (1 - leverage)`` of each pixel in its fit: a least-squares residual is
        smaller than the noise by this factor's square root.

    Returns
    -------
    NoiseModel or None
        ``None`` with fewer than :data:`MIN_NOISE_PIXELS` pixels.
    """
    flux = np.asarray(flux, float)
    r2 = np.asarray(resid, float) ** 2 * dof_factor
    keep = np.isfinite(flux) & np.isfinite(r2)
    if keep.sum() < MIN_NOISE_PIXELS:
        return None
    read, per_count = _binned_variance(flux[keep], r2[keep])
    if not np.isfinite(read + per_count) or read + per_count <= 0:
        return None
    return NoiseModel(read, per_count)


def _inverse_normal(jac, wts):
    jtj = np.matmul((jac * wts[:, :, None]).transpose(0, 2, 1), jac)
    # A tiny ridge keeps one degenerate line from making the batched inverse fail.
    diag = np.diagonal(jtj, axis1=1, axis2=2)
    jtj = jtj + 1e-9 * np.eye(4)[None] * (diag.max(axis=1) + 1)[:, None, None]
    return np.linalg.inv(jtj)


def _centre_errors(win: LineWindows, params: np.ndarray, from_variance: bool, ok):
    """1-sigma centre errors from the covariance of the final Jacobian, and the pixel
    noise model they were measured with (``None`` for none).

    Without a variance the error is the larger of two: the covariance scaled by the
    line's own residuals (which a misfit profile, an unlisted blend, inflates) and
    the one the pixels' read and photon noise give (:func:`noise_model`, measured on
    all the lines at once). The residuals alone understate a faint line's error: its
    window is mostly background, so their mean square misses the photon noise of the
    few peak pixels that place it (the faint Ar I 7353 of a 600 l/mm arc, S/N 11, was
    0.09 px off at 2.5 of its residual-scaled errors; across physical-truth arcs those
    errors were 1.4 times too small at every S/N).
    """
    model, jac = _jacobian(win.x, params)
    if from_variance:
        with np.errstate(all="ignore"):
            try:
                return np.sqrt(np.abs(_inverse_normal(jac, win.weight)[:, 1, 1])), None
            except np.linalg.LinAlgError:
                return np.full(params.shape[0], np.nan), None
    # the pixels fitted: finite, and not left to a brighter neighbour
    fitted = win.weight > 0
    npix = fitted.sum(axis=1)
    dof = np.maximum(npix - 4, 1)
    resid = (win.y - model) * fitted
    s2 = (resid**2).sum(axis=1) / dof
    wts = fitted.astype(float)
    with np.errstate(all="ignore"):
        try:
            inv = _inverse_normal(jac, wts)
        except np.linalg.LinAlgError:
            return np.full(params.shape[0], np.nan), None
        err = np.sqrt(np.abs(inv[:, 1, 1] * s2))
        # each pixel's leverage: a least-squares residual is smaller than the noise by
        # sqrt(1 - leverage), most at the peak pixels that fix the centre and width
        lever = np.einsum("lpi,lij,lpj->lp", jac, inv, jac) * fitted
        # measured on Gaussian lines only: a clipped (saturated) line's or a blend's
        # misfit grows with its flux and would pass for photon noise
        sig = params[:, 2]
        gaussian = ok & (model.max(axis=1) <= 1.05 * win.y.max(axis=1))
        if gaussian.any():
            gaussian &= sig <= 1.5 * np.median(sig[gaussian])
        pix = fitted & gaussian[:, None] & (lever < 0.9)
        noise = noise_model(model[pix], resid[pix], 1.0 / (1.0 - lever[pix]))
        if noise is None:
            return err, None
        # the unweighted fit's covariance under the noise model (the sandwich
        # (J'J)^-1 J'VJ (J'J)^-1)
        var = noise.variance(model) * fitted
        jvj = np.matmul((jac * var[:, :, None]).transpose(0, 2, 1), jac)
        cov = np.matmul(np.matmul(inv, jvj), inv)
        return np.fmax(err, np.sqrt(np.abs(cov[:, 1, 1]))), noise


#: A window pixel where a brighter neighbour's fitted profile exceeds this fraction of
#: a line's own peak is left out of the line's deblended fit (see :func:`_deblend`).
DOMINATED_FRACTION = 0.1
#: Fewest pixels a line keeps for that fit (else none is left out).
MIN_OWN_PIXELS = 6
#: A line this many FWHM or closer to a brighter one is a blend in any case (the
#: identification's ``BLEND_FWHM``): its run-away fit is not restarted.
SHOULDER_FWHM = 2.5
#: Converged fits whose median width measures the arc's FWHM for that test (else the
#: peaks' half-prominence width, the fits' start).
SHOULDER_WIDTH_LINES = 5
#: A measured width above this times the single lines' is a blend's or a clipped line's
#: (also the identification's ``BROAD``, one value for both tests).
BROAD_WIDTH = 1.15


@dataclass(frozen=True)
class NeighbourLight:
    """What the other fitted lines put into each line's window.

    Attributes
    ----------
    light : ndarray
        Flux of the brighter, resolved, Gaussian neighbours (subtracted before refitting).
    dominated : ndarray of bool
        Pixels where any brighter resolved neighbour's fitted profile exceeds
        :data:`DOMINATED_FRACTION` of the line's own peak.
    beyond : ndarray
        The same light as ``light`` at the pixel just before and just after each
        window, shape ``(n, 2)`` (see :func:`_unexplained_flanks`).
    """

    light: np.ndarray
    dominated: np.ndarray
    beyond: np.ndarray


def _neighbour_light(win: LineWindows, params: np.ndarray, ok, centre, height) -> NeighbourLight:
    """Flux the *other*, resolved, fitted lines put into each line's window.

    A faint line a few FWHM from a bright one sits on that line's wing, which a local
    constant does not describe: its fitted centre and width are pulled (a line two
    hundred times fainter, three FWHM away, comes out 30 % too narrow). Subtracting
    the neighbours' fitted profiles before refitting is one step of a joint fit.
    Only brighter neighbours of the instrument's width are subtracted (the wing of a
    faint line moves a bright one's centre by nothing measurable). Fits less than one
    FWHM apart are the same feature found twice (or an unresolved blend, which a joint
    fit could not split either): they are left alone.

    ``ok`` marks the fits that converged (only those are neighbours); ``centre`` and
    ``height`` are each line's place and peak (the fit's, or the data's where the fit
    did not converge: a faint line on a bright wing whose first fit ran away still has
    its own pixels).
    """
    amp, mu, sig, _ = params.T
    light = np.zeros_like(win.y)
    dominated = np.zeros(win.y.shape, bool)
    beyond = np.zeros((win.y.shape[0], 2))
    edges = np.c_[win.x[:, 0] - 1, win.x[:, -1] + 1]
    peak = np.where(ok, amp / np.maximum(sig, 1e-6), 0.0)
    # Only Gaussian lines are subtracted: a much broader fit is no line (a wing or a
    # noise bump) and subtracting it would eat the real line beside it; the Gaussian
    # of a clipped (saturated) line overshoots its flat top and misdraws its wings.
    model, _ = _jacobian(win.x, params)
    clipped = model.max(axis=1) > 1.05 * win.y.max(axis=1)
    line_like = ok & (amp > 0) & ~clipped
    if line_like.any():
        line_like &= sig <= 1.5 * np.median(sig[line_like])
    reach = 5.0 * sig[ok].max(initial=1.0) + win.x.shape[1]
    gap = np.abs(centre[:, None] - mu[None, :])
    resolved = gap > _FWHM * np.maximum(np.where(ok, sig, 0.0)[:, None], sig[None, :])
    own_peak = height * np.sqrt(2.0 * np.pi)  # the unit of ``peak`` (amp / sigma)
    brighter = (peak[None, :] > own_peak[:, None]) & (amp[None, :] > 0)
    i, k = np.nonzero((gap < reach) & resolved & brighter)
    if i.size:
        prof = amp[k, None] * _integrated_gaussian(win.x[i], mu[k, None], sig[k, None])
        sub = line_like[k]
        np.add.at(light, i[sub], prof[sub])
        edge = amp[k, None] * _integrated_gaussian(edges[i], mu[k, None], sig[k, None])
        np.add.at(beyond, i[sub], edge[sub])
        # pixels a neighbour outshines (its wing, even misdrawn, is no part of this
        # line: a saturated or blended neighbour's is not subtracted, and a
        # subtracted one's residual there can still exceed the line's own light),
        # except the line's peak and the pixels beside it
        over = prof > DOMINATED_FRACTION * height[i, None]
        over &= np.abs(win.x[i] - np.round(centre[i, None])) > 1
        np.logical_or.at(dominated, i, over)
    return NeighbourLight(light, dominated, beyond)


def _converged(win: LineWindows, params, guesses, half_width) -> np.ndarray:
    """Fits that ended at a sensible place: centre within 1.5 px of the guess, sigma
    between 0.3 and ``half_width``, positive amplitude, at most one pixel missing."""
    amp, mu, sig, _ = params.T
    return (
        np.all(np.isfinite(params), axis=1)
        & (np.abs(mu - guesses) < 1.5)
        & (sig > 0.3)
        & (sig < half_width)
        & (amp > 0)
        & (win.good.sum(axis=1) >= win.x.shape[1] - 1)
    )


def _keep_own_pixels(dominated, win: LineWindows, centre) -> np.ndarray:
    """The outshone pixels left out of each line's fit, at most all but MIN_OWN_PIXELS.

    A Gaussian and a constant need a few pixels beyond their four parameters. A line
    that its neighbours would leave fewer keeps the pixels nearest its centre (a
    neighbour's wing falls away from it, so those are the least outshone); fitted on
    its whole window instead, the constant took up a bright neighbour's flank: 400_M2
    2x2, Ne I 5748.3 3.2 FWHM from a Ne I + Hg I pair 240 times brighter, whose broad
    fit outshone four of nine pixels, came out with half its width and was set aside
    as narrow.
    """
    free = win.good & ~dominated
    short = free.sum(axis=1) < MIN_OWN_PIXELS
    if not short.any():
        return dominated
    out = dominated.copy()
    dist = np.abs(win.x - centre[:, None])
    for i in np.nonzero(short)[0]:
        need = MIN_OWN_PIXELS - int(free[i].sum())
        cand = np.nonzero(dominated[i] & win.good[i])[0]
        out[i, cand[np.argsort(dist[i, cand], kind="stable")[:need]]] = False
    return out


def _brighter_flanks(
    flux, win: LineWindows, unsubtracted, y=None, beyond=None, valley=None
) -> np.ndarray:
    """Window pixels on the flank of a brighter line beyond the window's edge.

    From an edge inwards, the pixels over which the flux keeps falling towards the
    line, up to the valley between them, when the flux just beyond the edge exceeds
    the line's own brightest pixel: they are that neighbour's wing, which the line's
    constant cannot describe. Only
    ``unsubtracted`` pixels count (where no neighbour's fitted light was taken off:
    a saturated neighbour's fit does not converge, and none is). 930_M1 2x2, Ar II
    4052.92 four pixels from the saturated Ar I + Hg I 4044/4046: one flank pixel
    raised its constant to a tenth of its peak and its centre error to seven times
    its scatter, and the line that places the solution there was all but unweighted.

    ``y`` (default the windows' flux) and ``beyond`` (``(n, 2)``, taken off the flux
    just before and after each window; default nothing) test the flux left once
    the subtracted neighbours' light is taken off (:func:`_unexplained_flanks`);
    ``valley`` (a fraction of the line's height above its window's lowest pixel; default
    any) the highest the valley between flank and line may stand for the flank to count.
    """
    flank = np.zeros(win.y.shape, bool)
    n, width = flux.size, win.x.shape[1]
    first = win.x[:, 0].astype(int)
    y = win.y if y is None else y
    taken = np.zeros((y.shape[0], 2)) if beyond is None else beyond
    peak = y.max(axis=1)
    low = y.min(axis=1)
    for i in range(y.shape[0]):
        sides = ((0, 1, first[i] - 1, 0), (width - 1, -1, first[i] + width, 1))
        for edge, step, out, side in sides:
            if not 0 <= out < n:
                continue
            outer = flux[out] - taken[i, side]
            if not outer > peak[i]:
                continue
            # a flank pixel is below the one beyond it and above the one inside it
            # (the valley between the two lines is the line's own)
            k = edge
            while 0 <= k + step < width and outer > y[i, k] > y[i, k + step]:
                outer = y[i, k]
                k += step
            if valley is not None and y[i, k] - low[i] > valley * (peak[i] - low[i]):
                continue
            run = np.arange(edge, k, step) if step > 0 else np.arange(k + 1, edge + 1)
            flank[i, run] = True
    return flank & unsubtracted


def _unexplained_flanks(flux, win: LineWindows, nb: NeighbourLight) -> np.ndarray:
    """Window pixels on the flank a subtracted brighter neighbour leaves unexplained.

    The flank test of :func:`_brighter_flanks` on the flux less the neighbours'
    subtracted light, at the pixels where some was taken off. A neighbour whose fitted
    Gaussian draws its wings leaves only noise there, below the line's peak: no pixel
    is flanked. One that does not, such as the single Gaussian fitted to an unresolved
    pair, leaves the fainter member's wing: 400_M2 3x3 HgArNe, Ne I 5748.30, whose
    window's edge pixel is the shoulder of Ne I 5764.42 (unresolved from Hg I 5769.60)
    at the line's own height; the pair's Gaussian took off 0.5 % of it, the line's fit
    collapsed to a spike (lost) or stated three times its error (set aside as weak).
    Unlike the unsubtracted flanks, these are left out of every line's fit, run-away or
    not: the neighbour is a converged line fit, not a saturated one (whose flanks,
    trimmed, brought back lines beside saturated ones, see :func:`_outshone`).

    Only a flank that ends before the line counts: the valley between them at most
    :data:`DOMINATED_FRACTION` of the line's height above its window's lowest pixel.
    Where it stands higher the wing runs on under the line, no pixel of its window is
    free of it, and leaving the outer ones out only lets the constant fall below the
    wing at the line: the real 400M1 HgAr lamp, a line on the wing of a saturated one
    (subtracted, its Gaussian far below its wing) with its valley at 0.6 of its height,
    came out twice as broad and 0.6 px off, and the lamp's refit lost it (RMS 0.065 ->
    0.115 px).
    """
    y = win.y - nb.light
    return _brighter_flanks(flux, win, nb.light > 0, y, nb.beyond, DOMINATED_FRACTION)


def blend_free_width(widths, broad: float = BROAD_WIDTH) -> float:
    """The width of the single lines among measured line widths.

    Their median, less those broader than ``broad`` times it, repeated until none is.

    A blend or a clipped (saturated) line is broader than a single line, never
    narrower; where they are half of the lines measured, as among the brightest of a
    Hg lamp (930 l/mm M2 3x3: 2.6 px against the lines' 1.6), the median is theirs.

    Parameters
    ----------
    widths : array_like
        Measured widths (any unit), well measured (bright lines).
    broad : float
        Ratio to the running median above which a width is left out.

    Returns
    -------
    float
        The median of the widths kept (NaN for none).
    """
    w = np.asarray(widths, float)
    w = w[np.isfinite(w)]
    if w.size == 0:
        return float("nan")
    width = float(np.median(w))
    while True:
        keep = w <= broad * width
        if keep.all():
            return width
        w = w[keep]
        width = float(np.median(w))


def _outshone(win: LineWindows, drawn, ok, centre, height, flux, flanked):
    """Window pixels the brighter neighbours outshine (their fitted profile, and the
    flanks of ``flanked`` lines, see :func:`_brighter_flanks`), and their light.

    Only the lines whose first fit converged are flanked: one that ran away there is
    restarted as before (a shoulder of the saturated line, if anything). Flanking the
    restarted ones too found more lines beside saturated ones, which named a custom
    600 l/mm HgArNe arc's blue end wrongly at the coarse stages (0.9 px RMS).
    """
    nb = _neighbour_light(win, drawn, ok, centre, height)
    dominated = nb.dominated
    if flux is not None:
        dominated = dominated | (_brighter_flanks(flux, win, nb.light <= 0) & flanked[:, None])
        dominated = dominated | _unexplained_flanks(flux, win, nb)
    return dominated, nb


def _moved_windows(win: LineWindows, dominated, centre, half_width, flux) -> LineWindows | None:
    """Windows moved away from the outshone pixels of lines left too few of their own.

    A line beside a brighter one whose window keeps fewer than :data:`MIN_OWN_PIXELS`
    free pixels takes the missing ones from beyond its window on the free side (its
    peak and the pixels beside it stay inside), rather than the outshone ones nearest
    it back: binned 3x3, Ar II 4052.92 lies 5 px (3 FWHM) from the saturated Hg I
    4046.56, whose clipped fit is not subtracted; its window of seven pixels kept
    four of its own, took the flank back, and its fit collapsed to a spike or
    broadened to 2.2 px (930_M1 and 930_M2 Hg lamps: lost or set aside in 13 of 40
    arcs). ``None`` when no window moves.
    """
    free = win.good & ~dominated
    need = MIN_OWN_PIXELS - free.sum(axis=1)
    short = np.nonzero((need > 0) & dominated.any(axis=1))[0]
    if short.size == 0:
        return None
    n = flux.size
    x = win.x.copy()
    for i in short:
        left = int(np.count_nonzero(dominated[i] & (win.x[i] < centre[i])))
        right = int(np.count_nonzero(dominated[i] & (win.x[i] > centre[i])))
        if left == right:
            continue
        step = min(int(need[i]), half_width - 1) * (1 if left > right else -1)
        lo = int(np.clip(x[i, 0] + step, 0, n - x.shape[1]))
        x[i] = lo + np.arange(x.shape[1])
    if np.array_equal(x, win.x):
        return None
    idx = x.astype(int)
    y = flux[idx]
    good = np.isfinite(y)
    return LineWindows(x, np.where(good, y, 0.0), good.astype(float), good)


def _deblend(
    win: LineWindows, params, start, guesses, half_width, n_iter, flux=None, line_fwhm=None
):
    """One step of a joint fit: refit each line without its brighter neighbours' light.

    Their fitted profiles are subtracted from its window and the pixels they outshine
    are left out (:func:`_neighbour_light`). A line whose first fit did not converge
    (pulled away by a bright neighbour's wing inside its window) starts again from its
    first guess on its own pixels.
    """
    # only lines that converged are neighbours (a diverged fit is no line)
    ok = _converged(win, params, guesses, half_width)
    c0 = np.minimum(win.y[:, 0], win.y[:, -1])
    data_height = np.maximum(win.y[:, half_width] - c0, 0.0)
    amp, mu, sig, _ = params.T
    height = np.where(ok, amp / (np.sqrt(2.0 * np.pi) * np.maximum(sig, 1e-6)), data_height)
    centre = np.where(ok, mu, guesses)
    # a diverged fit's parameters may be wild: it is drawn as nothing
    drawn = np.where(
        ok[:, None], params, np.c_[0.0 * guesses, guesses, 1.0 + 0.0 * guesses, 0.0 * guesses]
    )
    width = _FWHM * start[:, 2:3] if line_fwhm is None else np.full((guesses.size, 1), line_fwhm)
    if ok.sum() >= SHOULDER_WIDTH_LINES:
        width = np.minimum(width, _FWHM * float(np.median(sig[ok])))
    shoulder = (
        ok[None, :]
        & (height[None, :] > data_height[:, None])
        & (np.abs(guesses[:, None] - mu[None, :]) < SHOULDER_FWHM * width)
    ).any(axis=1)
    dominated, nb = _outshone(win, drawn, ok, centre, height, flux, ok)
    if flux is not None:
        moved = _moved_windows(win, dominated, centre, half_width, flux)
        if moved is not None:
            win = moved
            dominated, nb = _outshone(win, drawn, ok, centre, height, flux, ok)
    # a Gaussian and a constant need a few pixels beyond their four parameters: a line
    # left fewer is a blend, fitted on its whole window as before
    dominated = _keep_own_pixels(dominated, win, centre)
    weight = np.where(dominated, 0.0, win.weight)
    y = win.y - nb.light * win.good
    own = LineWindows(win.x, y, weight, win.good)
    # a fresh start, on its own pixels, for a line that ran away where a brighter
    # neighbour outshines part of its window (a run-away fit with no such neighbour
    # is noise, and stays unconverged)
    # ... unless it lies within SHOULDER_FWHM of a brighter line: a shoulder, a blend
    # whatever its fit, which would only make its other neighbours blends too (FWHM:
    # the arc's lines', not the neighbour's fit, which a saturated top broadens)
    # ... the FWHM measured by the converged fits where there are enough: the peaks'
    # half-prominence width, interpolated between samples, overstates a line a pixel
    # or two wide (3x3: 2.09 px for fits of 1.67), and took lines 3.03 FWHM from a
    # bright one for shoulders (930_M4 HgArNe, Ne I 6328.17 beside Ne I 6334.43;
    # 400_M1, Ar I 6059.37 beside Ne I 6074.34: found in no 3x3 arc)
    # ... and, where the brightest peaks are half saturated or blended, the single
    # lines' width (``line_fwhm``, see :func:`find_lines`)
    again = ~ok & dominated.any(axis=1) & ~shoulder
    if again.any():
        restart = start[again].copy()
        restart[:, 3] = np.min(np.where(weight[again] > 0, y[again], np.inf), axis=1)
        c_fit = np.where(weight[again] > 0, y[again] - restart[:, 3:4], 0.0)
        restart[:, 0] = np.maximum(c_fit.sum(axis=1), 1e-12)
        params = params.copy()
        params[again] = restart
    # a restarted noise bump may collapse to no width (overflowing on the way);
    # :func:`_converged` drops it
    with np.errstate(over="ignore", invalid="ignore"):
        params = _gauss_newton(own, params, n_iter)
    if flux is None or ok.sum() < SHOULDER_WIDTH_LINES:
        return own, params
    return _on_wings(own, params, guesses, half_width, n_iter, flux, ok, centre, height)


def _on_wings(own: LineWindows, params, guesses, half_width, n_iter, flux, ok, centre, height):
    """Refit the faint lines on a much brighter neighbour's wing over a sloped level.

    The level under such a line is the straight line through the valleys on its two
    sides (:mod:`pipeline.wavelength.wings`), measured and taken off its window beyond
    the brighter neighbours' fitted Gaussians (the deblending's): the wing is what
    they do not draw. The constant stays free. A line broader than
    :data:`~pipeline.wavelength.WING_MAX_BROADENING` times the arc's lines is a
    blend and keeps its constant level, as does one whose sloped fit does not converge.
    """
    sig = params[:, 2]
    arc_sigma = blend_free_width(sig[ok])
    fwhm = _FWHM * arc_sigma
    # the lines whose fitted Gaussians (converged, of the arc's width, not clipped:
    # those the deblending draws and takes off the windows) are no part of the level
    model, _ = _jacobian(own.x, params)
    drawn = ok & (sig <= WING_MAX_BROADENING * arc_sigma) & (params[:, 0] > 0)
    drawn &= model.max(axis=1) <= 1.05 * own.y.max(axis=1)
    fit_ok = _converged(own, params, guesses, half_width)
    faint = on_wings(centre, height, ok, fwhm) & fit_ok
    faint &= sig <= WING_MAX_BROADENING * arc_sigma
    idx = np.nonzero(faint)[0]
    if idx.size == 0:
        return own, params

    def light(i, pix):
        k = drawn & (height > height[idx[i]])
        g = _integrated_gaussian(pix[:, None].astype(float), params[k, 1], params[k, 2])
        return g @ params[k, 0]

    # ... and a brighter line the fit does not draw (clipped, blended, run away) keeps
    # the valleys off its core: MIN_GAP_FWHM of its own width, at least the arc's
    core_reach = MIN_GAP_FWHM * np.where(ok, np.maximum(_FWHM * sig, fwhm), fwhm)

    def cores(i):
        k = ~drawn & (height > height[idx[i]])
        return centre[k], core_reach[k]

    def own_light(i, pix):
        p = params[idx[i]]
        return p[0] * _integrated_gaussian(pix.astype(float), p[1], p[2])

    noise = robust_noise(flux)
    valleys = valley_levels(
        flux, params[idx, 1], centre, fwhm, light, cores, height[idx], own_light, noise
    )
    has = np.all(np.isfinite(valleys), axis=1)
    idx, valleys = idx[has], valleys[has]
    if idx.size == 0:
        return own, params
    x = own.x[idx]
    # the window as the deblending fitted it (brighter neighbours' Gaussians taken
    # off), less the wing's straight level
    y = np.where(own.good[idx], own.y[idx] - level_at(x, valleys), 0.0)
    sub = LineWindows(x, y, own.weight[idx], own.good[idx])
    start = params[idx].copy()
    start[:, 3] = 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        fitted = _gauss_newton(sub, start, n_iter)
    good = _converged(sub, fitted, guesses[idx], half_width)
    good &= np.abs(fitted[:, 1] - params[idx, 1]) < 0.5 * fwhm
    idx = idx[good]
    params = params.copy()
    params[idx] = fitted[good]
    y_all = own.y.copy()
    y_all[idx] = sub.y[good]
    return LineWindows(own.x, y_all, own.weight, own.good), params


def fit_centres(
    flux: np.ndarray,
    guesses: np.ndarray,
    sigma_guess: float = 1.0,
    half_width: int = 4,
    variance: np.ndarray | None = None,
    n_iter: int = 12,
    deblend: bool = False,
    line_fwhm: float | None = None,
) -> LineList:
    """Fit a pixel-integrated Gaussian + constant around each guessed peak.

    Parameters
    ----------
    flux : ndarray
        1-D spectrum (continuum need not be removed: a constant is fitted locally).
    guesses : ndarray
        Integer or float peak positions (0-based pixels).
    sigma_guess : float
        Starting Gaussian sigma in pixels.
    half_width : int
        The fit uses pixels ``round(guess) ± half_width``.
    variance : ndarray, optional
        Per-pixel variance, for the centre errors; estimated from the residuals if absent.
    n_iter : int
        Gauss-Newton iterations (all lines are fitted together, vectorised).
    deblend : bool
        Refit each line once more after subtracting its neighbours' fitted profiles
        from its window (see :func:`_neighbour_light`).
    line_fwhm : float, optional
        The arc's line FWHM, pixels, within :data:`SHOULDER_FWHM` of which a brighter
        line makes a line a shoulder (default: that of ``sigma_guess``).

    Returns
    -------
    LineList
        Only the lines whose fit converged to a sensible place: centre within 1.5 px of
        the guess, sigma between 0.3 and ``half_width`` pixels, positive amplitude.
    """
    flux = np.asarray(flux, dtype=float)
    guesses = np.asarray(guesses, dtype=float)
    if guesses.size == 0:
        return LineList(*(np.empty(0) for _ in range(4)))
    win = _windows(flux, guesses, half_width, variance)
    c0 = np.minimum(win.y[:, 0], win.y[:, -1])
    amp = np.maximum((win.y - c0[:, None]).sum(axis=1), 1e-12)
    start = np.stack([amp, guesses, np.full(guesses.size, float(sigma_guess)), c0], axis=1)
    params = _gauss_newton(win, start, n_iter)
    if deblend and guesses.size > 1:
        win, params = _deblend(win, params, start, guesses, half_width, n_iter, flux, line_fwhm)
    ok = _converged(win, params, guesses, half_width)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged fit; dropped below
        err, noise = _centre_errors(win, params, variance is not None, ok)
    amp, mu, sig, _ = params.T
    order = np.argsort(mu[ok])
    return LineList(mu[ok][order], amp[ok][order], sig[ok][order], err[ok][order], noise)


#: Smallest distance (px) between two peaks :func:`find_lines` tells apart: a nearer
#: neighbour merges into the line's fit; a farther one is fitted and subtracted.
MIN_SEPARATION_PX = 3.0


def find_lines(
    flux: np.ndarray,
    threshold: float = 5.0,
    min_separation: float = MIN_SEPARATION_PX,
    fwhm: float | None = None,
    max_lines: int = 150,
) -> LineList:
    """Detect emission lines and measure their sub-pixel centres.

    Parameters
    ----------
    flux : ndarray
        1-D arc spectrum in pixel space.
    threshold : float
        Minimum peak prominence in units of the pixel noise.
    min_separation : float
        Minimum distance between peaks, pixels.
    fwhm : float, optional
        Expected line FWHM in pixels; estimated from the brightest peaks if absent.
    max_lines : int
        Keep at most this many lines (the most prominent).

    Returns
    -------
    LineList
    """
    flux = np.asarray(flux, dtype=float)
    finite = np.isfinite(flux)
    if finite.sum() < 10:
        return LineList(*(np.empty(0) for _ in range(4)))
    base = continuum(flux)
    net = np.where(finite, flux - base, 0.0)
    noise = robust_noise(net)
    if noise <= 0:
        noise = max(float(np.std(net)), 1e-12)
    found = find_peaks(net, threshold * noise, max(1, int(min_separation)))
    peaks = found.index
    if peaks.size == 0:
        return LineList(*(np.empty(0) for _ in range(4)))
    widths_all = found.width
    if peaks.size > max_lines:
        keep = np.sort(np.argsort(found.prominence)[::-1][:max_lines])
        peaks, widths_all = peaks[keep], widths_all[keep]
    line_fwhm = fwhm
    if fwhm is None:
        widths = widths_all[np.argsort(net[peaks])[::-1][:15]]
        fwhm = float(np.median(widths)) if widths.size else 2.5
        # the shoulder test's reach is the single lines' width: the brightest peaks of
        # a Hg lamp are half saturated or blended, and their median (930 l/mm M2, 2x2:
        # 4.1 px against 2.5) made Ar II 4052.92, 3.5 FWHM from saturated Hg I
        # 4046.56, a shoulder, never refitted on its own pixels, and lost
        line_fwhm = blend_free_width(widths) if widths.size else fwhm
    sigma = max(fwhm / 2.3548, 0.5)
    half_width = int(np.clip(np.ceil(2.5 * sigma), 3, 12))
    # Refine the integer peak with a 3-point parabola, as the starting point.
    inner = (peaks > 0) & (peaks < flux.size - 1)
    start = peaks.astype(float)
    p = peaks[inner]
    den = net[p - 1] - 2 * net[p] + net[p + 1]
    with np.errstate(all="ignore"):
        start[inner] = p + np.where(den < 0, 0.5 * (net[p - 1] - net[p + 1]) / den, 0.0)
    return fit_centres(
        flux, start, sigma_guess=sigma, half_width=half_width, deblend=True, line_fwhm=line_fwhm
    )


#: Floor of ``1 - leverage`` in :func:`fit_known_pair`'s error: a pixel that alone
#: fixes a parameter does not make the error infinite.
MIN_ONE_MINUS_LEVERAGE = 0.1


def _pair_model(x, p, offset):
    """A line and a partner ``offset`` px away, one width: amplitudes, centre, sigma, level."""
    return (
        p[4]
        + p[0] * _integrated_gaussian(x, p[2], p[3])
        + p[1] * _integrated_gaussian(x, p[2] + offset, p[3])
    )


def fit_known_pair(flux, centre, offset, sigma, half_width=None, n_iter=30):
    """Centre of a line whose partner lies a known ``offset`` away, both fitted at once.

    Two pixel-integrated Gaussians of one width, the partner's place tied to the
    line's (its separation is known from the catalogue and the dispersion), their
    amplitudes free: a partly resolved pair no longer pulls the centre by a flux
    ratio no one knows (NIST's is not the lamp's).

    Parameters
    ----------
    flux : numpy.ndarray
        The arc.
    centre : float
        The single-Gaussian centre of the feature (binned px).
    offset : float
        Partner's place minus the line's (binned px, signed).
    sigma : float
        Starting Gaussian sigma (binned px).
    half_width : int, optional
        Half-width of the fitted window; default covers both lines' wings.
    n_iter : int
        Damped Gauss-Newton steps at most.

    Returns
    -------
    tuple of (float, float, float) or None
        The line's centre, its 1-sigma error (sandwich estimate from the
        squared residuals over (1 - leverage)**2), and
        the partner-to-line flux ratio; ``None`` when the
        fit fails (no convergence, a negative amplitude, a width off by half).
    """
    flux = np.asarray(flux, float)
    hw = int(half_width or np.ceil(3.0 * sigma + abs(offset)))
    i = int(round(centre))
    lo, hi = max(i - hw, 0), min(i + hw + 1, flux.size)
    x = np.arange(lo, hi, dtype=float)
    y = flux[lo:hi]
    if x.size < 8 or not np.all(np.isfinite(y)):
        return None
    level = float(np.min(y))
    total = max(float(np.sum(y - level)), 1e-12)
    # start: the line where the single fit puts the feature's centroid, moved away
    # from the partner by its share at a typical ratio
    p = np.array([0.8 * total, 0.2 * total, centre - 0.2 * offset, sigma, level])
    for _ in range(n_iter):
        model = _pair_model(x, p, offset)
        jac = np.empty((x.size, 5))
        for k in range(5):
            h = 1e-4 * max(abs(p[k]), 1e-3)
            dp = np.zeros(5)
            dp[k] = h
            jac[:, k] = (_pair_model(x, p + dp, offset) - _pair_model(x, p - dp, offset)) / (2 * h)
        jtj = jac.T @ jac
        jtj = jtj + 1e-6 * np.diag(np.diag(jtj))
        try:
            step = np.linalg.solve(jtj, jac.T @ (y - model))
        except np.linalg.LinAlgError:
            return None
        step[2] = np.clip(step[2], -0.5, 0.5)
        step[3] = np.clip(step[3], -0.3 * p[3], 0.3 * p[3])
        p = p + step
        if abs(step[2]) < 1e-5:
            break
    if not np.all(np.isfinite(p)) or p[0] <= 0 or p[1] < 0 or abs(p[2] - centre) > abs(offset) + 1:
        return None
    if not 0.5 * sigma < p[3] < 1.5 * sigma:
        return None
    # heteroscedasticity-consistent (sandwich) variance of the centre: each pixel's
    # squared residual stands for its variance (photon noise grows with the line)
    resid = y - _pair_model(x, p, offset)
    try:
        inv = np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        return None
    # each pixel's squared residual divided by (1 - leverage)^2 (HC3, MacKinnon and
    # White 1985): five parameters on ~11 pixels at 2x2 leave the peak pixels that
    # place the centre with leverage near 1 and residuals far below their noise; the
    # plain n / (n - 5) scaling stated errors 2.6x below the scatter over 40 draws
    # (2100_3900A 2x2; 1.2x at 1x1), this one 0.86 and 0.99 of it
    lever = np.einsum("pi,ij,pj->p", jac, inv, jac)
    w = resid**2 / np.clip(1.0 - lever, MIN_ONE_MINUS_LEVERAGE, 1.0) ** 2
    cov = inv @ (jac.T * w) @ jac @ inv
    return float(p[2]), float(np.sqrt(max(cov[2, 2], 0.0))), float(p[1] / p[0])
