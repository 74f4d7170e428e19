"""Tracing a target along the dispersion axis.

specreduce's ``FitTrace`` does the same job, but it reports neither which bins were
rejected nor the residual RMS (needed for ``GSP_TERR``), and it cannot start from the
target centre and follow a strongly curved trace outwards. So: columns are collapsed
in bins (median, robust to cosmic rays), the centre in each bin is an iteratively
re-centred flux-weighted centroid over ±1 FWHM (unbiased for a symmetric profile once
centred), bins are walked outwards from the target's column so the window follows the
curvature, and a polynomial is fitted with sigma clipping. The result converts to a
specreduce ``ArrayTrace`` for code that wants one.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import Polynomial

from pipeline.spectroscopy.targets import Target


@dataclass
class Trace:
    """A target's path across the detector.

    Attributes
    ----------
    coefficients : ndarray
        Power-series coefficients ``c0, c1, ...`` of ``row(column)`` (column 0-based),
        as ``GSP_TCnn`` (astropy ``Polynomial1D``).
    columns, centres : ndarray
        Bin centres and the measured sub-pixel centres.
    used : ndarray of bool
        Bins kept by the clipped fit.
    rms : float
        RMS of the fit residuals over the bins used, rows (``GSP_TERR``).
    fwhm : float
        FWHM (rows) of the profile straightened along the trace.
    ncols : int
        Number of columns of the frame.
    profile_model, profile_params : str, dict
        Spatial profile model and its parameters fitted along the trace (used by
        optimal extraction).
    profile_samples : tuple of ndarray, optional
        The measured profile along the trace: row offsets (whole rows) and the median
        over the spectrum's columns, its far ends' level subtracted (the fraction of the
        flux an aperture holds, :func:`enclosed_fraction`).
    """

    coefficients: np.ndarray
    columns: np.ndarray
    centres: np.ndarray
    used: np.ndarray
    rms: float
    fwhm: float
    ncols: int
    profile_model: str = "moffat"
    profile_params: dict | None = None
    profile_samples: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def order(self) -> int:
        return len(self.coefficients) - 1

    def __call__(self, columns=None) -> np.ndarray:
        """Row of the trace at the given columns (every column by default)."""
        x = np.arange(self.ncols, dtype=float) if columns is None else np.asarray(columns, float)
        return Polynomial(self.coefficients)(x)

    def header_cards(self) -> list[tuple[str, object, str]]:
        cards: list[tuple[str, object, str]] = [
            ("GSP_TMOD", "Polynomial1D", "Model name used to fit trace"),
            ("GSP_TORD", int(self.order), "Degree of the model used to fit target trace"),
        ]
        for i, c in enumerate(self.coefficients):
            cards.append((f"GSP_TC{i:02d}", float(c), f"Parameter c{i}"))
        cards.append(("GSP_TERR", float(self.rms), "RMS error of target trace"))
        return cards

    def to_specreduce(self, image):
        """The trace as a ``specreduce.tracing.ArrayTrace`` on ``image``.

        Parameters
        ----------
        image : astropy.nddata.CCDData or ndarray

        Returns
        -------
        specreduce.tracing.ArrayTrace
        """
        from specreduce.tracing import ArrayTrace

        return ArrayTrace(image=image, trace=self())


def _centroid(profile: np.ndarray, guess: float, half: float, n_iter: int = 4):
    """Iteratively re-centred centroid above a local linear background."""
    ny = profile.size
    y = np.arange(ny, dtype=float)
    c = guess
    for _ in range(n_iter):
        lo, hi = int(np.floor(c - 3 * half)), int(np.ceil(c + 3 * half)) + 1
        lo, hi = max(lo, 0), min(hi, ny)
        if hi - lo < 5:
            return np.nan, 0.0
        yy, pp = y[lo:hi], profile[lo:hi]
        left = pp[yy < c - 2 * half]
        right = pp[yy > c + 2 * half]
        if left.size and right.size:
            # straight line through the mean of each wing
            yl, yr = c - 2.5 * half, c + 2.5 * half
            bl, br = float(np.mean(left)), float(np.mean(right))
            bg = bl + (br - bl) * (yy - yl) / (yr - yl)
        else:
            bg = np.full_like(pp, np.nanmin(pp))
        core = np.abs(yy - c) <= half
        w = np.clip(pp[core] - bg[core], 0.0, None)
        if not np.isfinite(w).all() or w.sum() <= 0:
            return np.nan, 0.0
        new = float(np.sum(w * yy[core]) / w.sum())
        if abs(new - c) < 1e-3:
            c = new
            break
        c = new
    return c, float(np.sum(w))


def trace_target(
    ccd,
    target: Target,
    order: int = 2,
    n_bins: int | None = None,
    sigma: float = 3.0,
) -> Trace:
    """Trace a target found by :func:`~pipeline.spectroscopy.targets.find_targets`.

    Parameters
    ----------
    ccd : astropy.nddata.CCDData
        Reduced 2-D spectrum, dispersion along columns.
    target : Target
        Starting centre and FWHM.
    order : int
        Polynomial degree of ``row(column)`` (goodman uses 2).
    n_bins : int, optional
        Column bins; by default from the target's S/N (more bins for bright targets,
        at least 8, at most 40) so each bin still sees the source.
    sigma : float
        Clipping threshold of the fit, in robust standard deviations.

    Returns
    -------
    Trace
    """
    full = np.asarray(ccd.data)
    ny_full, nx = full.shape
    # Only rows a trace starting at the target can reach (slopes of Goodman traces
    # are a few rows across the detector; 40 rows + 8 FWHM is ample).
    reach = int(40 + 8 * max(target.fwhm, 1.0))
    r0 = max(int(target.centre) - reach, 0)
    r1 = min(int(target.centre) + reach + 1, ny_full)
    data = np.asarray(full[r0:r1], dtype=float)
    if getattr(ccd, "mask", None) is not None:
        data = np.where(np.asarray(ccd.mask[r0:r1], bool), np.nan, data)
    has_nan = bool(np.isnan(data).any())
    if n_bins is None:
        n_bins = int(np.clip((target.snr / 10.0) ** 2, 8, 40))
    edges = np.linspace(0, nx, n_bins + 1).astype(int)
    mids = 0.5 * (edges[:-1] + edges[1:] - 1)
    half = max(target.fwhm, 1.0)
    median = np.nanmedian if has_nan else np.median
    with np.errstate(all="ignore"), warnings.catch_warnings():
        # A bin of wholly masked (saturated) pixels, as on real bright stars, is NaN.
        warnings.simplefilter("ignore", RuntimeWarning)
        profiles = [
            median(data[:, a:b], axis=1) for a, b in zip(edges[:-1], edges[1:], strict=True)
        ]
    start = int(np.argmin(np.abs(mids - target.column)))
    centres = np.full(n_bins, np.nan)
    weights = np.zeros(n_bins)
    for direction in (range(start, n_bins), range(start - 1, -1, -1)):
        guess = target.centre - r0
        for i in direction:
            prof = profiles[i]
            if not np.isfinite(prof).any():
                continue
            prof = np.where(np.isfinite(prof), prof, np.nanmedian(prof))
            c, w = _centroid(prof, guess, half)
            # A centre that jumps by more than a FWHM from the last is noise or a
            # neighbour: keep following the last good one.
            if np.isfinite(c) and abs(c - guess) <= max(half, 2.0):
                centres[i], weights[i] = c, w
                guess = c
    centres = centres + r0
    good = np.isfinite(centres)
    if good.sum() < order + 2:
        # Too faint to follow: a flat trace at the profile centre, with the RMS unknown.
        coef = np.zeros(order + 1)
        coef[0] = target.centre
        return Trace(
            coef,
            mids,
            centres,
            good,
            float("nan"),
            target.fwhm,
            nx,
            target.model,
            dict(target.params),
        )
    coef, used, rms = _clipped_fit(mids[good], centres[good], order, sigma)
    used_all = np.zeros(n_bins, bool)
    used_all[np.nonzero(good)[0][used]] = True
    fwhm, params, samples = _straightened_profile(
        data, Polynomial(coef)(np.arange(nx)) - r0, target
    )
    return Trace(coef, mids, centres, used_all, rms, fwhm, nx, target.model, params, samples)


def _clipped_fit(x: np.ndarray, yv: np.ndarray, order: int, sigma: float):
    """A polynomial ``yv(x)`` of degree ``order`` (less with few points), refitted
    without the points beyond ``sigma`` robust deviations.

    Returns
    -------
    coef : ndarray
        ``order + 1`` power-series coefficients (zero-padded).
    used : ndarray of bool
        The points the final fit used.
    rms : float
        RMS of the final fit over the points used.
    """
    used = np.ones(x.size, bool)
    deg = min(order, max(x.size - 2, 0))
    for _ in range(6):
        fit = Polynomial.fit(x[used], yv[used], deg)
        resid = yv - fit(x)
        scale = max(1.4826 * np.median(np.abs(resid[used])), 0.01)
        new = np.abs(resid) <= sigma * scale
        if np.array_equal(new, used) or new.sum() < deg + 2:
            break
        used = new
    fit = Polynomial.fit(x[used], yv[used], deg)
    coef = fit.convert().coef
    coef = np.concatenate([coef, np.zeros(order + 1 - coef.size)])
    rms = float(np.sqrt(np.mean((yv[used] - fit(x[used])) ** 2)))
    return coef, used, rms


def _straightened_profile(data, rows, target: Target):
    """FWHM, model parameters and samples (or None) of the profile along the trace.

    The target finder's profile is a straight median over a band of columns, which a
    sloping trace broadens; sampling each column relative to the trace removes that.
    """
    from scipy import ndimage

    from pipeline.spectroscopy.targets import fit_source_profile

    ny, nx = data.shape
    half = int(max(5 * target.fwhm, 12))
    offsets = np.arange(-half, half + 1, dtype=float)
    cols = np.arange(0, nx, max(nx // 200, 1))
    yy = rows[cols][None, :] + offsets[:, None]
    xx = np.broadcast_to(cols[None, :].astype(float), yy.shape)
    filled = np.where(np.isfinite(data), data, np.nanmedian(data))
    samples = ndimage.map_coordinates(filled, [yy, xx], order=1, mode="nearest")
    prof = np.median(samples, axis=1)
    ends = np.concatenate([prof[:3], prof[-3:]])
    prof = prof - np.median(ends)
    # The measured profile's wings count as flux only where the level of its ends is
    # known: an error of that level adds up over every row (a source of 40 ADU per
    # column on a sky of 80 read 72-81 % inside +-1 FWHM, against 93 %). The fitted
    # model cannot stand in: on such a source its power runs to either bound.
    level_error = np.std(ends) / np.sqrt(ends.size) * offsets.size
    measured = (offsets, prof)
    if not level_error < ENCLOSED_LEVEL_ERROR * max(float(np.sum(prof)), 0.0):
        measured = None
    fit = fit_source_profile(offsets, prof, 0.0, max(target.fwhm, 1.5), target.model)
    if fit is None or not (0.5 * target.fwhm <= fit[1] <= 2.0 * target.fwhm + 2):
        return target.fwhm, dict(target.params), measured
    params = dict(fit[4])
    params["x_0"] = 0.0
    return fit[1], params, measured


#: Largest error of the measured profile's total, from the error of its ends' level,
#: as a fraction of that total, for the measured profile to give the fraction of the
#: flux an aperture holds (else that fraction is not known).
ENCLOSED_LEVEL_ERROR = 0.01


def enclosed_fraction(trace: Trace, half_width: float) -> float:
    """Fraction of the target's measured profile within ``trace ± half_width``.

    The profile is the trace's straightened median over the spectrum
    (``profile_samples``, out to 5 FWHM, where its level counts as sky); each sample
    stands for one row and counts by the part of that row inside the aperture, as the
    fractional extraction weighs pixels.

    Parameters
    ----------
    trace : Trace
        A trace with ``profile_samples``.
    half_width : float
        Aperture half width, rows.

    Returns
    -------
    float
        The fraction (NaN without samples or without positive flux).
    """
    if trace.profile_samples is None:
        return float("nan")
    offsets, values = trace.profile_samples
    total = float(np.sum(values))
    if not total > 0:
        return float("nan")
    inside = np.clip(
        np.minimum(offsets + 0.5, half_width) - np.maximum(offsets - 0.5, -half_width), 0.0, 1.0
    )
    return float(np.sum(inside * values) / total)
