"""The fitted spatial profile corrected from the data along the trace.

Horne's empirical profile (his step 5) in Marsh 1989's geometry:
:func:`corrected_profile` fits the residual of the data, normalised by the spectrum's
level (:mod:`pipeline.spectroscopy.spectrum_level`), from the fitted profile with one
polynomial along the dispersion per bin of trace offset (:func:`_binned_polynomial`),
and gives the noise of that fit
(:class:`~pipeline.spectroscopy.profile_covariance.ProfileError`) for its propagation
into the fluxes. :data:`BRIDGE_ERROR` is the corrected profile's error on the pixels it
bridges.
"""

from __future__ import annotations

import numpy as np

from pipeline.spectroscopy.column_fit import normalised_profile
from pipeline.spectroscopy.profile_covariance import ProfileError
from pipeline.spectroscopy.spectrum_level import normalising_level

#: Width (rows of trace offset) of the bins in which the profile's correction from the
#: data is estimated: a quarter pixel samples the pixel-integrated profile finely
#: enough where the trace crosses rows, and still holds hundreds of pixels per bin.
PROFILE_BIN = 0.25

#: Relative error of the data-corrected profile on the pixels it bridges, per unit of
#: the profile's fraction lost: on the real HD109379 frame, with its 1-10 brightest
#: aperture pixels masked (a saturated core loses 6, at most 10: 4-37 % of the
#: profile), the bridged flux departs from the unmasked sum by 0.6-1.0 % of the
#: fraction lost (rms, beyond the noise), so that without this term the errors of
#: bridged columns were up to 3x too small.
BRIDGE_ERROR = 0.008


def corrected_profile(prof, offset, net, pix_var, weights, good, box, order=2, error=False):
    """The fitted profile corrected by the data: Horne's empirical profile along the trace.

    A parametric profile is never exactly the source's (seeing wings, a Gaussian
    setting on a Moffat star, a FWHM measured on a few bins), and Horne's weights with
    a wrong profile bias the flux: by -4 % for a Gaussian on a Moffat source, by 10-17 %
    for a FWHM 30 % off. The residual of the data, normalised by the running median of
    the aperture sums (not each column's own noisy sum), from the profile is fitted, in
    bins of :data:`PROFILE_BIN` rows of offset from the trace (a curved or tilted trace
    samples the pixel-integrated profile at every sub-pixel offset, as in Marsh 1989),
    by a polynomial of degree ``order`` along the dispersion (the seeing changes with
    wavelength). Each column is weighted by its S/N squared, bright ones capped;
    columns whose sum departs from the running median (emission lines, cosmic rays)
    are left out, and 4-sigma outlying pixels are dropped in a
    second pass. With hundreds of pixels per bin the correction adds little noise even
    for faint sources, and where the data say nothing the fitted shape stays.

    Parameters
    ----------
    prof : numpy.ndarray
        The fitted spatial profile, normalised (rows x columns).
    offset : numpy.ndarray
        Row offset of each pixel from the trace, same shape.
    net : numpy.ndarray
        The sky-subtracted data, same shape.
    pix_var : numpy.ndarray
        The variance of each pixel, same shape.
    weights : numpy.ndarray
        The aperture's fractional weight of each pixel, same shape.
    good : numpy.ndarray of bool
        The usable pixels of the aperture, same shape.
    box : numpy.ndarray
        Per column, the aperture sum.
    order : int
        Degree of the polynomial along the dispersion in each bin of offset.
    error : bool
        Whether to return the noise of the correction as well.

    Returns
    -------
    numpy.ndarray or tuple
        The corrected profile, normalised (``prof`` itself where the data cannot
        correct it); with ``error``, a pair of it and the
        :class:`~pipeline.spectroscopy.profile_covariance.ProfileError` of the
        correction (None when uncorrected).
    """
    ny, nx = net.shape
    use = good & (pix_var > 0)
    unchanged = (prof, None) if error else prof
    if not use.any():
        return unchanged
    reach = float(np.abs(offset[weights > 0]).max()) + 1.0
    nbins = int(np.ceil(2 * reach / PROFILE_BIN)) + 1
    idx = np.clip(((offset + reach) / PROFILE_BIN).astype(int), 0, nbins - 1)
    t = np.broadcast_to(np.linspace(-1.0, 1.0, nx)[None, :], net.shape)
    # Normalised by a smoothed spectrum, not the column's own sum: weighting a column
    # by its own noisy sum correlates weight and data and widens a faint source's
    # profile (+2.6 % flux at 150 ADU per column on a sky of 80).
    # A column that lost aperture pixels (saturated core, bad flat) sums short: its
    # wings over that sum read as a wider profile, which then bridges its own lost
    # core 3-6 % low (real HD109379 frame). Such columns make no part of the profile
    # and their level comes from their complete neighbours.
    complete = ~((weights > 0) & ~good).any(axis=0)
    if not complete.any():
        return unchanged
    level = normalising_level(net, pix_var, prof, weights, use, complete)
    # Columns whose sum departs from the smoothed spectrum (emission lines, cosmic
    # rays) would drag the first pass's mean: they make no part of the profile.
    box_sd = np.sqrt((weights**2 * pix_var).sum(axis=0))
    steady = np.abs(box - level) <= 5 * box_sd + 0.05 * np.abs(level)
    use &= (level > 0)[None, :] & steady[None, :] & complete[None, :]
    if use.sum() < 50:
        return unchanged
    cap = 3.0 * np.median(level[level > 0])
    with np.errstate(all="ignore"):
        r = np.nan_to_num(net / level[None, :] - prof)
        # One weight per column: a pixel's own variance, when it comes from its own
        # counts, would favour the pixels that fell low and narrow the profile.
        col_var = np.where(use, pix_var, 0.0).sum(axis=0) / np.maximum(use.sum(axis=0), 1)
        w = np.where(use, (np.minimum(level, cap) ** 2 / col_var)[None, :], 0.0)
        inv_var = np.where(use, level[None, :] ** 2 / pix_var, 0.0)
    corr = np.zeros_like(prof)
    for _ in range(2):
        fitted = use
        corr = _binned_polynomial(idx[use], t[use], r[use], w[use], nbins, order, idx, t)
        use = use & ((r - corr) ** 2 * inv_var < 16.0)
    # Not clipped at zero: where the profile is faint (a faint source's wings in a wide
    # aperture) the correction's noise takes it below zero as often as above, and
    # clipping kept only the excess. That light, added to the wings, lowered the
    # normalised core, so the weighted flux read high: +14 % for a source of 40 ADU per
    # column on a sky of 80 in a +-2.5 FWHM aperture (600 columns, 60 realisations;
    # +0.8 % at +-1 FWHM). Horne's weights need the profile unbiased, not positive.
    corrected = np.where(weights > 0, prof + corr, 0.0)
    out = normalised_profile(corrected, weights, clip=False)
    if not error:
        return out
    with np.errstate(all="ignore"):
        var_r = np.where(fitted, pix_var / level[None, :] ** 2, 0.0)
        # how much each pixel's own noise moves its bin's coefficients (times A^-1)
        pull = np.nan_to_num(np.where(fitted, w * pix_var / level[None, :], 0.0))
    inv, cov = _coefficient_covariance(
        idx[fitted], t[fitted], w[fitted], var_r[fitted], nbins, order
    )
    norm = (weights * corrected).sum(axis=0)
    flat = (idx * nx + np.arange(nx)[None, :]).ravel()
    with np.errstate(all="ignore"):
        per_level = np.nan_to_num(np.where(fitted, w / level[None, :], 0.0))
    sky_lever = np.stack(
        [
            np.bincount(flat, v.ravel(), nbins * nx).reshape(nbins, nx)
            for v in (per_level, per_level * offset)
        ]
    )
    return out, ProfileError(idx, t[0], inv, cov, pull, sky_lever, np.maximum(norm, 1e-30))


def _normal_matrices(idx, t, w, nbins, order, ridge=True):
    """Per bin ``idx``, the weighted least-squares normal matrix of a polynomial of
    degree ``order`` in ``t`` (regularised as the fit solves it when ``ridge``), and
    its moments."""
    n = order + 1
    powers = [np.ones_like(t)]
    for _ in range(2 * n - 2):
        powers.append(powers[-1] * t)
    moments = np.stack([np.bincount(idx, w * p, nbins) for p in powers])
    a = np.empty((nbins, n, n))
    for i in range(n):
        for j in range(n):
            a[:, i, j] = moments[i + j]
    if ridge:
        # A ridge keeps bins sampled at a few columns (a straight trace) to the constant.
        extra = 1e-3 * moments[0] + 1e-30
        a[:, np.arange(1, n), np.arange(1, n)] += extra[:, None]
        a[:, 0, 0] += 1e-12 * moments[0] + 1e-30
    return a, moments, powers


def _binned_polynomial(idx, t, r, w, nbins, order, at_idx, at_t):
    """Weighted least-squares polynomial in ``t`` of ``r`` in each bin ``idx``,
    evaluated at (``at_idx``, ``at_t``); bins without data give zero."""
    n = order + 1
    a, moments, powers = _normal_matrices(idx, t, w, nbins, order)
    wr = w * r
    rhs = np.stack([np.bincount(idx, wr * p, nbins) for p in powers[:n]], axis=1)
    coef = np.linalg.solve(a, rhs[..., None])[..., 0]
    coef[moments[0] <= 0] = 0.0
    coef = coef[at_idx]
    value = coef[..., n - 1]
    for k in range(n - 2, -1, -1):
        value = value * at_t + coef[..., k]
    return value


def _coefficient_covariance(idx, t, w, var, nbins, order):
    """Per bin, the inverse normal matrix ``A^-1`` of the fit of :func:`_binned_polynomial`
    with weights ``w`` and the covariance of its coefficients for data of variance
    ``var``: the sandwich ``A^-1 B A^-1``, since ``w`` is no inverse variance."""
    a, moments, _ = _normal_matrices(idx, t, w, nbins, order)
    b, _, _ = _normal_matrices(idx, t, w**2 * var, nbins, order, ridge=False)
    inv = np.linalg.inv(a)
    inv[moments[0] <= 0] = 0.0
    return inv, inv @ b @ inv
