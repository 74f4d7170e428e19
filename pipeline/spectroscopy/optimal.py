"""Optimal extraction's sums (Horne 1986, in Marsh 1989's geometry for tilted traces).

Horne's weights with the target's fitted spatial profile corrected from the data along
the trace (:mod:`pipeline.spectroscopy.profile_correction`), the variance of the CCD
with its Poisson term from the *model* (Horne's revised variance, :func:`_noise_model`),
and pixels deviating by more than 5 sigma (cosmic rays) rejected one at a time
(:mod:`pipeline.spectroscopy.column_fit`), sigma including the profile's own error as
measured on the frame (:mod:`pipeline.spectroscopy.profile_allowance`). Columns that no
smooth profile describes (an emission line with a spatial profile of its own,
:mod:`pipeline.spectroscopy.summed_columns`) are summed instead, their cosmic rays
rejected against the column's local profile. The profile's error is propagated into the
fluxes' covariance (:mod:`pipeline.spectroscopy.profile_covariance`).
:func:`pipeline.spectroscopy.extract.extract_arrays` calls :func:`optimal_sums` on the
aperture's rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.spectroscopy.column_fit import fit_columns, normalised_profile, profile_coverage
from pipeline.spectroscopy.profile_allowance import (
    PROFILE_ERROR,
    PROFILE_ERROR_FLOOR,
    measured_profile_error,
)
from pipeline.spectroscopy.profile_correction import corrected_profile
from pipeline.spectroscopy.profile_covariance import ColumnCovariance
from pipeline.spectroscopy.summed_columns import inadequate_columns
from pipeline.spectroscopy.trace import Trace


def header_noise(ccd) -> tuple[float, float]:
    """The frame's ``GAIN`` (e-/ADU) and ``RDNOISE`` (e-).

    Used for a frame without an uncertainty.

    Parameters
    ----------
    ccd : astropy.nddata.CCDData
        The frame; its ``header`` or ``meta``.

    Returns
    -------
    tuple of float
        Gain (1 when missing) and read noise (0 when missing).
    """
    header = getattr(ccd, "header", None) or getattr(ccd, "meta", {}) or {}
    return float(header.get("GAIN", 1.0) or 1.0), float(header.get("RDNOISE", 0.0) or 0.0)


def fitted_profile(offset: np.ndarray, trace: Trace) -> np.ndarray:
    """Spatial profile at row offsets from the trace: the target's fitted model.

    The reduction setting's Moffat or Gaussian, fitted to the straightened profile
    along the trace: it follows a curved trace exactly and is the starting point that
    :func:`~pipeline.spectroscopy.profile_correction.corrected_profile` corrects from
    the data (a profile from the data alone, smoothed and clipped, biases faint sources
    upwards by several per cent). Each pixel gets the mean over five sub-rows (pixel
    integration).

    Parameters
    ----------
    offset : numpy.ndarray
        Row offset of each pixel from the trace (rows x columns).
    trace : Trace
        The target's trace, with its fitted profile model and parameters.

    Returns
    -------
    numpy.ndarray
        The profile at each pixel (not normalised).
    """
    sub = np.linspace(-0.4, 0.4, 5)
    params = trace.profile_params or {}
    if trace.profile_samples is not None:
        # The star's own profile where it is well measured: a real star's is no Moffat
        # (HD109379: asymmetric wings, the fit 16 % off at the aperture's edges).
        # Samples of the pixels' counts are already integrated over each pixel.
        rows, values = trace.profile_samples
        return np.interp(offset, rows, np.clip(values, 0.0, None), left=0.0, right=0.0)
    if trace.profile_model == "gaussian":
        sigma = float(params.get("stddev", trace.fwhm / 2.3548))
        prof = np.mean([np.exp(-0.5 * ((offset + d) / sigma) ** 2) for d in sub], axis=0)
    else:
        alpha = float(params.get("alpha", 3.0))
        gamma = float(params.get("gamma", trace.fwhm / (2 * np.sqrt(2 ** (1 / alpha) - 1))))
        prof = np.mean([(1 + ((offset + d) / gamma) ** 2) ** (-alpha) for d in sub], axis=0)
    return prof


def optimal_sums(
    net,
    pix_var,
    weights,
    bad,
    ccd,
    sky,
    profile,
    offset,
    clip=5.0,
    n_iter=4,
    profile_error=PROFILE_ERROR,
    sky_error=None,
    covariance=True,
):
    """Optimal extraction (Horne 1986) over the aperture's pixels, with CR rejection.

    The profile is the fitted model corrected from the data along the trace
    (:func:`~pipeline.spectroscopy.profile_correction.corrected_profile`, after
    Horne's step 5 and Marsh 1989), normalised so that the aperture's fractional
    weights sum it to one: the estimate is then the flux in the aperture, like the
    fractional sum. Where the profile cannot describe a column (an emission line with
    its own spatial width, see
    :func:`~pipeline.spectroscopy.summed_columns.inadequate_columns`) the column is the
    fractional sum, its cosmic rays rejected against the column's local profile.

    The rejection variance is the pixel's variance plus ``(e * F * P)^2``, ``e`` the
    profile's relative error measured on the frame after a first pass with
    ``profile_error``
    (:func:`~pipeline.spectroscopy.profile_allowance.measured_profile_error`), kept
    within :data:`~pipeline.spectroscopy.profile_allowance.PROFILE_ERROR_FLOOR` and
    ``profile_error``; the weights keep the photon variance alone (Horne's).

    Parameters
    ----------
    net, pix_var : numpy.ndarray
        Sky-subtracted counts and their variance over the aperture's rows (zero where
        ``bad``).
    weights : numpy.ndarray
        The fractional aperture's weights (:func:`~pipeline.spectroscopy.extract.aperture_weights`).
    bad : numpy.ndarray
        Masked or non-finite pixels.
    ccd : astropy.nddata.CCDData
        The frame: without an uncertainty its GAIN and RDNOISE give the noise model.
    sky : numpy.ndarray
        The sky model at each pixel (enters the model variance).
    profile : numpy.ndarray
        The fitted spatial profile (:func:`fitted_profile`).
    offset : numpy.ndarray
        Row offset of each pixel from the trace.
    clip : float
        Rejection threshold, in sigma.
    n_iter : int
        Pixels rejected per column at most.
    profile_error : float
        Largest relative error of the profile allowed for in the rejection, and the
        allowance where the frame cannot measure it.
    sky_error : tuple of numpy.ndarray, optional
        Per column, the variances of the sky line's intercept and slope and their
        covariance (:class:`~pipeline.spectroscopy.background.BackgroundModel`), for
        the propagation of the profile's error.
    covariance : bool
        Whether to propagate the profile's error into the fluxes' covariance (a
        fractional extraction, which only needs the rejection, does without).

    Returns
    -------
    OptimalSums
        The fluxes, their variance and covariance, the columns summed, and the pixels
        kept and the model that bridges the others.
    """
    if getattr(ccd, "uncertainty", None) is None:
        gain, rdnoise = header_noise(ccd)
        noise = (1.0 / gain, (rdnoise / gain) ** 2)
    else:
        noise = _noise_model(net + sky, pix_var, (weights > 0) & ~bad)
    noise = None if noise is None else (*noise, sky)
    aperture = weights > 0
    inside = aperture & ~bad
    box = (weights * net).sum(axis=0)
    prof = normalised_profile(np.where(aperture, profile, 0.0), weights)
    prof, prof_error = corrected_profile(
        prof, offset, net, pix_var, weights, inside, box, error=True
    )
    fit = fit_columns(net, pix_var, prof, inside, box, noise, clip, n_iter, profile_error)
    # The fixed allowance is what a poorly corrected profile needs; where the frame
    # shows the profile fits better, a smaller one rejects cosmic rays of a few tens of
    # per cent of a bright pixel's counts (real HD109379 frame: 1.1 % rms).
    allowance = np.full(net.shape, float(profile_error))
    measured = measured_profile_error(net, pix_var, prof, offset, fit[0], fit[2], noise)
    if measured is not None:
        allowance = np.clip(measured, PROFILE_ERROR_FLOOR, profile_error)
        fit = fit_columns(net, pix_var, prof, inside, box, noise, clip, n_iter, allowance)
    flux, variance, good, sky_coeff = fit
    coverage = profile_coverage(good, prof, aperture)
    summed = inadequate_columns(net, pix_var, prof, weights, inside, fit, noise, clip, allowance)
    if summed is not None:
        cols, local, lflux, lvar, lgood = summed
        kept = np.where(lgood, net[:, cols], 0.0)
        filled = np.where(lgood | ~aperture[:, cols], kept, lflux * local)
        w = weights[:, cols]
        lost = np.where(lgood, 0.0, w * local).sum(axis=0)
        flux[cols] = (w * filled).sum(axis=0)
        variance[cols] = (w**2 * np.where(lgood, pix_var[:, cols], 0.0)).sum(axis=0)
        variance[cols] += lost**2 * lvar
        sky_coeff[cols] = w.sum(axis=0)
        coverage[cols] = profile_coverage(lgood, local, aperture[:, cols])
    fallback = np.zeros(net.shape[1], bool)
    kept = good.copy()
    # the smooth fit's flux: flux[] already holds the summed columns' sums
    model = fit[0][None, :] * prof
    model_var = fit[1].copy()
    if summed is not None:
        fallback[summed[0]] = True
        kept[:, summed[0]] = summed[4]
        model[:, summed[0]] = summed[2][None, :] * summed[1]
        model_var[summed[0]] = summed[3]
    factor = None
    if covariance and prof_error is not None:
        horne = _horne_weights(pix_var, prof, fit[2], fit[0], noise)
        factor = prof_error.flux_covariance(
            horne, weights, np.where(fallback, 0.0, flux), offset, sky_error
        )
    if factor is not None:
        # Each column's own share of the profile's error belongs in its variance: left
        # out, a faint source's optimal std in a +-2.5 FWHM aperture quoted 9-11 % too
        # little variance (benchmarks/grade_bin_errors.py). The covariance then counts
        # only what the columns share (ColumnCovariance.of_sum).
        variance = variance + factor.in_std
    return OptimalSums(
        flux, variance, coverage, sky_coeff, fallback, factor, kept, model, model_var
    )


@dataclass(frozen=True)
class OptimalSums:
    """What :func:`optimal_sums` finds on the aperture's pixels.

    Attributes
    ----------
    flux, variance, coverage, sky_coeff : numpy.ndarray
        Per column: the flux, its variance, the fraction of the profile on usable
        pixels, and the factor by which an error of the sky level enters the flux.
    summed : numpy.ndarray of bool
        The columns summed instead of weighted.
    covariance : ColumnCovariance or None
        The fluxes' covariance from the profile's error
        (:meth:`~pipeline.spectroscopy.profile_covariance.ProfileError.flux_covariance`);
        its non-negative diagonal (each column's own share,
        :attr:`~pipeline.spectroscopy.profile_covariance.ColumnCovariance.in_std`) is in
        ``variance``, the rest is not.
    kept : numpy.ndarray of bool
        Rows x columns: the pixels the fit used (not masked, not rejected).
    model : numpy.ndarray
        Rows x columns: flux x profile (the column's local profile where it is summed),
        which stands in for a pixel not kept.
    model_variance : numpy.ndarray
        Per column, the variance of the flux that scales ``model``.
    """

    flux: np.ndarray
    variance: np.ndarray
    coverage: np.ndarray
    sky_coeff: np.ndarray
    summed: np.ndarray
    covariance: ColumnCovariance | None
    kept: np.ndarray
    model: np.ndarray
    model_variance: np.ndarray


def _horne_weights(pix_var, prof, good, flux, noise):
    """Each pixel's weight in its column's fitted flux, ``(P / V) / sum(P^2 / V)``."""
    v = pix_var
    if noise is not None:
        inv_gain, read_var, sky = noise
        v = read_var + inv_gain * np.clip(np.nan_to_num(flux)[None, :] * prof + sky, 0.0, None)
    with np.errstate(all="ignore"):
        pv = np.where(good & (v > 0), prof / v, 0.0)
        return np.nan_to_num(pv / (pv * prof).sum(axis=0, keepdims=True))


def _noise_model(data, pix_var, use):
    """``(1 / gain, read variance)`` of the frame's variance: its straight-line fit
    against the counts over the aperture, or None when it has none (no slope).

    The reduction computes the variance from each pixel's counts (read noise plus
    counts / gain, divided by the flat field), so the line holds to the flat's factors;
    a variance from a model holds it to the photon noise. Either way the fit gives the
    effective gain and read noise of the model variance.
    """
    d, v = data[use], pix_var[use]
    ok = np.isfinite(d) & np.isfinite(v) & (v > 0)
    d, v = d[ok], v[ok]
    if d.size < 20 or np.ptp(d) <= 0:
        return None
    # cosmic rays and hot pixels would pull the line
    keep = d <= np.percentile(d, 99)
    slope, intercept = np.polyfit(d[keep], v[keep], 1)
    if not slope > 0:
        return None
    return slope, max(intercept, 1e-3 * float(np.median(v)))
