"""Columns that no smooth profile describes, summed instead (Horne's fallback).

An emission line with a spatial profile of its own over a few columns
(:func:`inadequate_columns`): the column's local profile is the smooth one corrected
by its neighbours' median residual, its cosmic rays are rejected against that local
profile (:func:`_explained`), and where the flux feels the difference the column is
summed and its lost pixels are bridged with the local profile.
"""

from __future__ import annotations

import numpy as np

from pipeline.spectroscopy.column_fit import (
    fit_columns,
    flux_over_pixels,
    normalised_profile,
    profile_coverage,
)
from pipeline.spectroscopy.profile_allowance import PROFILE_ERROR
from pipeline.spectroscopy.profile_correction import BRIDGE_ERROR

#: Columns over which the local profile of a column is taken (median): odd, and more
#: than twice the longest cosmic-ray track along the dispersion (3 px), so that a
#: track cannot become part of the profile, yet short enough to follow an emission
#: line's own spatial profile.
LOCAL_WINDOW = 7

#: A column's profile is inadequate when the median residual of its neighbours from
#: the smooth profile is significant: its chi-square exceeds the number of pixels by
#: this much. Noise alone exceeds it by 30 in one continuum column out of many
#: thousands (5 sigma), while a line half as wide as the continuum gives hundreds.
INADEQUATE_CHI2 = 30.0

#: ... and only when the flux fitted with the column's local profile departs from the
#: flux fitted with the smooth one by more than this many standard deviations of the
#: latter: a smaller bias costs less than summing does in noise.
FELT_SIGMA = 0.5


def inadequate_columns(net, pix_var, prof, weights, inside, fit, noise, clip, allowance):
    """Columns the smooth profile cannot describe, and their local profile and fit.

    An emission line narrower than the continuum (a compact region, a sky line filling
    the slit differently) has a profile of its own over a few columns: the smooth
    profile misses its core by tens of per cent, Horne's weights lose flux and the
    core pixels pass for cosmic rays. A column's local profile is the smooth one
    corrected by the median residual, at each row, of the :data:`LOCAL_WINDOW`
    columns around it, each normalised by its fitted flux (a cosmic ray, at most 3
    columns long, is no part of it, nor does it scale its column). The profile is
    inadequate where that median residual is significant: its chi-square exceeds the
    number of pixels by :data:`INADEQUATE_CHI2`, and the flux feels it
    (:data:`FELT_SIGMA`). There the column is to be summed
    (Horne's fallback, flux conserved whatever the profile), cosmic rays rejected
    against the local profile and lost pixels bridged with it.

    Parameters
    ----------
    net : numpy.ndarray
        The sky-subtracted data (rows x columns).
    pix_var : numpy.ndarray
        The variance of each pixel, same shape.
    prof : numpy.ndarray
        The smooth spatial profile, normalised, same shape.
    weights : numpy.ndarray
        The aperture's fractional weight of each pixel, same shape.
    inside : numpy.ndarray of bool
        The usable pixels of the aperture, same shape.
    fit : tuple
        The smooth profile's fit, as
        :func:`~pipeline.spectroscopy.column_fit.fit_columns` returns it.
    noise : tuple or None
        ``(1 / gain, read variance, sky)`` for the model variance, or None.
    clip : float
        Rejection threshold, in sigma.
    allowance : numpy.ndarray
        Relative error of the smooth profile allowed for in its rejection, per pixel.

    Returns
    -------
    tuple or None
        None when no column is to be summed, else the columns, their local profile
        (rows x those columns), local flux and variance, and the pixels kept.
    """
    flux, _, good, _ = fit
    with np.errstate(all="ignore"):
        chi2 = np.where(inside, (net - flux * prof) ** 2 / pix_var, 0.0)
    chi2 = np.nan_to_num(chi2, nan=0.0, posinf=0.0)
    # the profile's misfit on the pixels the smooth fit kept: a column that only its
    # rejected pixels make a candidate (a cosmic ray) shows none
    misfit = np.where(good, chi2, 0.0).sum(axis=0) > good.sum(axis=0) + INADEQUATE_CHI2
    chi2 = chi2.sum(axis=0)
    n_pix = inside.sum(axis=0)
    cols = np.nonzero((chi2 > n_pix + INADEQUATE_CHI2) | (good != inside).any(axis=0))[0]
    if cols.size == 0:
        return None
    half = LOCAL_WINDOW // 2
    window = np.clip(cols[:, None] + np.arange(-half, half + 1)[None, :], 0, net.shape[1] - 1)
    with np.errstate(all="ignore"):
        resid = np.where(inside, net / flux[None, :] - prof, 0.0)
    resid = np.nan_to_num(resid)[:, window]
    median = np.median(resid, axis=2)
    # The variance of a median of W values is about (pi / 2) / W of one value's.
    with np.errstate(all="ignore"):
        z2 = (flux[cols] * median) ** 2 / (pix_var[:, cols] * 1.6 / LOCAL_WINDOW)
    signif = np.nan_to_num(np.where(inside[:, cols], z2, 0.0), posinf=0.0).sum(axis=0)
    worse = signif > n_pix[cols] + INADEQUATE_CHI2
    if not worse.any():
        return None
    cols, median, resid = cols[worse], median[:, worse], resid[:, worse]
    # How much the profile changes within the window beyond the noise (robust: a
    # cosmic ray is on at most 3 of its columns): at a line it changes from column to
    # column, and the local profile is no better than that.
    spread = 1.4826 * np.median(np.abs(resid - median[..., None]), axis=2)
    with np.errstate(all="ignore"):
        noise_rel = np.nan_to_num(pix_var[:, cols] / flux[cols] ** 2, posinf=0.0)
    spread = np.sqrt(np.clip(spread**2 - noise_rel, 0.0, None))
    local = np.where(weights[:, cols] > 0, prof[:, cols] + median, 0.0)
    with np.errstate(all="ignore"):
        change = np.nan_to_num(spread / local, nan=PROFILE_ERROR, posinf=PROFILE_ERROR)
    local_error = np.clip(np.hypot(allowance[:, cols], change), None, PROFILE_ERROR)
    local = normalised_profile(local, weights[:, cols])
    sub_noise = None if noise is None else (*noise[:2], noise[2][:, cols])
    # The rejection allows for the noise of the local profile (a median of a few
    # columns) and for its change within the window.
    lfit = fit_columns(
        net[:, cols],
        pix_var[:, cols],
        local,
        inside[:, cols],
        flux[cols],
        sub_noise,
        clip,
        4,
        local_error,
        inflate=1.0 + 1.6 / LOCAL_WINDOW,
    )
    lflux, lvar, lgood, _ = lfit
    lgood = _explained(
        net[:, cols],
        pix_var[:, cols],
        local,
        lflux,
        lgood,
        good[:, cols] | misfit[None, cols],
        sub_noise,
        clip,
        allowance[:, cols],
    )
    if not (lgood == lfit[2]).all():
        lflux, lvar, lgood, _ = fit_columns(
            net[:, cols],
            pix_var[:, cols],
            local,
            lgood,
            lflux,
            sub_noise,
            clip,
            4,
            local_error,
            inflate=1.0 + 1.6 / LOCAL_WINDOW,
        )
    # A local profile made by cosmic rays on most columns of its window (a dense
    # cluster on one row) rejects the column's good core pixels instead: it may not
    # reject more pixels than the smooth profile did (at a line it rejects fewer).
    sub = inside[:, cols]
    sane = (sub & ~lgood).sum(axis=0) <= (sub & ~good[:, cols]).sum(axis=0)
    # A profile error the flux does not feel is no reason to sum: on a bright star the
    # weights are nearly uniform and a 0.1 % misfit is significant yet moves the flux
    # by a fraction of its noise (HD109379, real Blue frame: 3811 of 4060 columns
    # summed, optimal within 0.2 sigma of the sum on every one).
    # Where pixels are lost the two profiles bridge them differently; that is within
    # the bridge's own error (BRIDGE_ERROR), no reason to sum.
    lost = 1.0 - profile_coverage(good[:, cols], prof[:, cols], weights[:, cols] > 0)
    sigma = np.sqrt(fit[1][cols] + (BRIDGE_ERROR * lost * flux[cols]) ** 2)
    # The two profiles are compared on the pixels both fits keep: a pixel the smooth
    # fit rejects and the local one, with the wider allowance of its window, keeps is
    # no sign of a profile of its own (real HD109379 frame: columns 4048/4049 summed
    # for one such pixel).
    both = good[:, cols] & lgood
    if noise is None:
        var = pix_var[:, cols]
    else:
        var = noise[1] + noise[0] * np.clip(flux[cols] * prof[:, cols] + noise[2][:, cols], 0, None)
    smooth_both = flux_over_pixels(net[:, cols], var, prof[:, cols], both)
    local_both = flux_over_pixels(net[:, cols], var, local, both)
    felt = np.abs(local_both - smooth_both) > FELT_SIGMA * sigma
    keep = sane & felt
    if not keep.any():
        return None
    return cols[keep], local[:, keep], lflux[keep], lvar[keep], lgood[:, keep]


def _explained(net, pix_var, local, lflux, lgood, good, noise, clip, allowance):
    """The local fit's pixels kept, less those the smooth fit rejected that the local
    profile does not explain within the smooth fit's allowance.

    A cosmic ray on a bright line's core is rejected by the smooth fit, and that makes
    its column a candidate to be summed; a bright line's columns are marginally
    inadequate anyway (a 1 % profile error is several times the photon noise of a
    core pixel), so the column was summed and its ray tested again with the local
    profile's wider allowance (the window's change of profile, which a ray on one of
    the window's columns itself widens): 5 % of the rays on simulated line cores
    reached the spectrum that way. A line's own profile is in the local one (the
    median of the window's columns); a ray on at most 3 columns is not, so a pixel
    that only the wider allowance keeps is the ray's. Only columns whose kept pixels
    the smooth profile fits are tested so (``good`` holds the others whole): a line
    narrower than the continuum misfits its wings too, and its core, which the median
    of the window dilutes, is the local fit's to judge.
    """
    suspect = lgood & ~good
    if not suspect.any():
        return lgood
    # Tested against the flux fitted without any of them (two rays on one column, a
    # track across the rows, each hid behind the other's pull on the flux), allowing
    # for that flux's own error.
    use = lgood & good
    var = pix_var
    if noise is not None:
        inv_gain, read_var, sky = noise
        var = read_var + inv_gain * np.clip(lflux[None, :] * local + sky, 0.0, None)
    inflate = 1.0 + 1.6 / LOCAL_WINDOW
    with np.errstate(all="ignore"):
        pv = np.where(use & (var > 0), local / var, 0.0)
        denom = (pv * local).sum(axis=0)
        model = ((pv * net).sum(axis=0) / denom)[None, :] * local
        flux_var = local**2 / denom[None, :]
        z2 = (net - model) ** 2 / (inflate * var + (allowance * model) ** 2 + flux_var)
    return lgood & ~(suspect & (np.nan_to_num(z2) > clip**2))
