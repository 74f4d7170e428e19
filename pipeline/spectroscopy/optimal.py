"""Optimal extraction's sums (Horne 1986, in Marsh 1989's geometry for tilted traces).

Horne's weights with the target's fitted spatial profile corrected from the data along
the trace (:func:`_corrected_profile`), the variance of the CCD with its Poisson term
from the *model* (Horne's revised variance, :func:`_noise_model`), and pixels deviating
by more than 5 sigma (cosmic rays) rejected one at a time, sigma including the
profile's own error as measured on the frame (:func:`measured_profile_error`, within
:data:`PROFILE_ERROR_FLOOR` and :data:`PROFILE_ERROR`). Columns that no smooth profile describes
(an emission line with a spatial profile of its own, :func:`_inadequate_columns`) are
summed instead, their cosmic rays rejected against the column's local profile.
:func:`pipeline.spectroscopy.extract.extract_arrays` calls :func:`optimal_sums` on the
aperture's rows.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from pipeline.blas_threads import one_blas_thread
from pipeline.spectroscopy.trace import Trace
from pipeline.wavelength.shared_noise import from_factors


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
    :func:`_corrected_profile` corrects from the data (a profile from the data alone,
    smoothed and clipped, biases faint sources upwards by several per cent). Each pixel
    gets the mean over five sub-rows (pixel integration).

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


#: Largest relative error of the profile allowed for in the cosmic-ray test: a pixel
#: is a cosmic ray only when it departs from flux x profile by more than ``clip`` times
#: the quadrature sum of its photon noise and this fraction of its model counts. The
#: allowance actually used is the profile's error measured on the frame
#: (:func:`measured_profile_error`, between :data:`PROFILE_ERROR_FLOOR` and this);
#: where the frame cannot tell (a faint source, few bright pixels) it is this tenth,
#: so that on a bright pixel a cosmic ray must exceed half the pixel's counts
#: (5 x 0.1) to be rejected. A line with its own spatial width departs further, and
#: its columns are summed (:func:`_inadequate_columns`).
PROFILE_ERROR = 0.1

#: Smallest relative error of the profile allowed for in the cosmic-ray test, however
#: well the frame says the profile fits: the data-corrected profile of the real
#: HD109379 frame misses its bright pixels by 1.1 % rms, and an allowance below that
#: would reject the tails of that error as cosmic rays.
PROFILE_ERROR_FLOOR = 0.01

#: Rows of trace offset per bin in which the profile's error is measured: the core and
#: the wings of a profile are corrected with different accuracy.
ERROR_BIN = 1.0

#: Columns per block in which the profile's error is measured: the correction's
#: polynomial along the dispersion follows the bright columns, and a faint end of the
#: spectrum (the blue of HD109379) is fitted worse, by 10-15 % on single pixels.
ERROR_COLUMNS = 256

#: Pixels a bin needs for its own measurement of the profile's error (else the
#: coarser bin's measurement stands for it).
ERROR_MIN_PIXELS = 50

#: Width (rows of trace offset) of the bins in which the profile's correction from the
#: data is estimated: a quarter pixel samples the pixel-integrated profile finely
#: enough where the trace crosses rows, and still holds hundreds of pixels per bin.
PROFILE_BIN = 0.25

#: Columns of the running median that gives the spectrum by which the data are
#: normalised to correct the profile: long enough to average the noise of one column
#: away, and to ignore an emission line.
SMOOTH_COLUMNS = 31

#: Relative noise of the level by which the data are normalised to correct the
#: profile, at most: a faint source's level is a median over more than
#: :data:`SMOOTH_COLUMNS` columns (:func:`_spectrum_level`). At 15 % (40 ADU per column
#: on a sky of 80, +-2.5 FWHM, 31 columns) the flux read -0.26 +- 0.13 % against the
#: fractional sum, at 9 % (91 columns) -0.03 +- 0.12 % (40 realisations, sky known).
LEVEL_NOISE = 0.05

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

#: Relative error of the data-corrected profile on the pixels it bridges, per unit of
#: the profile's fraction lost: on the real HD109379 frame, with its 1-10 brightest
#: aperture pixels masked (a saturated core loses 6, at most 10: 4-37 % of the
#: profile), the bridged flux departs from the unmasked sum by 0.6-1.0 % of the
#: fraction lost (rms, beyond the noise), so that without this term the errors of
#: bridged columns were up to 3x too small.
BRIDGE_ERROR = 0.008


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
    (:func:`_corrected_profile`, after Horne's step 5 and Marsh 1989), normalised so
    that the aperture's fractional weights sum it to one: the estimate is then the flux
    in the aperture, like the fractional sum. Where the profile cannot describe a column
    (an emission line with its own spatial width, see :func:`_inadequate_columns`)
    the column is the fractional sum, its cosmic rays rejected against the column's
    local profile.

    The rejection variance is the pixel's variance plus ``(e * F * P)^2``, ``e`` the
    profile's relative error measured on the frame after a first pass with
    ``profile_error`` (:func:`measured_profile_error`), kept within
    :data:`PROFILE_ERROR_FLOOR` and ``profile_error``; the weights keep the photon
    variance alone (Horne's).

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
    prof = _normalised(np.where(aperture, profile, 0.0), weights)
    prof, prof_error = _corrected_profile(
        prof, offset, net, pix_var, weights, inside, box, error=True
    )
    fit = _fit_columns(net, pix_var, prof, inside, box, noise, clip, n_iter, profile_error)
    # The fixed allowance is what a poorly corrected profile needs; where the frame
    # shows the profile fits better, a smaller one rejects cosmic rays of a few tens of
    # per cent of a bright pixel's counts (real HD109379 frame: 1.1 % rms).
    allowance = np.full(net.shape, float(profile_error))
    measured = measured_profile_error(net, pix_var, prof, offset, fit[0], fit[2], noise)
    if measured is not None:
        allowance = np.clip(measured, PROFILE_ERROR_FLOOR, profile_error)
        fit = _fit_columns(net, pix_var, prof, inside, box, noise, clip, n_iter, allowance)
    flux, variance, good, sky_coeff = fit
    coverage = _coverage(good, prof, aperture)
    summed = _inadequate_columns(net, pix_var, prof, weights, inside, fit, noise, clip, allowance)
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
        coverage[cols] = _coverage(lgood, local, aperture[:, cols])
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
        (:meth:`ProfileError.flux_covariance`); its non-negative diagonal (each
        column's own share, :attr:`ColumnCovariance.in_std`) is in ``variance``, the
        rest is not.
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


@dataclass(frozen=True)
class ColumnCovariance:
    """The covariance that the profile's error gives a spectrum's columns.

    The fluxes move by ``K c`` with the correction's coefficients ``c``, whose
    covariance ``C`` has one block per offset bin from the pixels' noise and a part
    common to all bins from the sky's error; each column's own noise (its pixels' and
    its sky's) covaries with ``c`` by ``Y``. The columns' covariance is
    ``K C K^T + Y K^T + K Y^T``. Its diagonal (:attr:`diagonal`, each column's own
    share: 5-10 % of a faint column's variance) is in the columns' ``std`` where it is
    positive (:attr:`in_std`); the rest,
    what the columns share, is not, and a sum over many columns needs it
    (:meth:`of_sum`). It is kept factored, per bin and column, so that a sum costs
    ``bins x columns`` operations and no ``columns x columns`` matrix is made.

    Attributes
    ----------
    t : numpy.ndarray
        Each column's coordinate along the dispersion, -1 to 1 (``K``'s and ``Y``'s
        rows are a column's value per bin times powers of it).
    gain : numpy.ndarray
        Bins x columns: ``K`` is ``gain x t^m``.
    cross : numpy.ndarray
        Bins x columns: ``Y`` is ``cross x (A^-1 t^p)``.
    inverse, covariance : numpy.ndarray
        Per bin, the fit's inverse normal matrix ``A^-1`` and its coefficients'
        covariance from the pixels' noise.
    sky_lever : numpy.ndarray
        ``(2, bins, columns)``: how a column's sky error (intercept, slope) moves each
        bin's coefficients (times ``A^-1 t^p``).
    sky_cov : numpy.ndarray or None
        Columns x 2 x 2: the covariance of each column's sky line.
    """

    t: np.ndarray
    gain: np.ndarray
    cross: np.ndarray
    inverse: np.ndarray
    covariance: np.ndarray
    sky_lever: np.ndarray
    sky_cov: np.ndarray | None

    def of_sum(self, pick) -> float:
        """The covariance's part of the variance of ``flux[pick].sum()`` beyond the
        columns' ``std``.

        Parameters
        ----------
        pick : numpy.ndarray
            Boolean or integer index of the columns summed.

        Returns
        -------
        float
            ``1^T (K C K^T + Y K^T + K Y^T) 1`` over the columns picked, less their
            :attr:`in_std` (which their ``std`` holds).
        """
        n = self.inverse.shape[1]
        powers = self.t[:, None] ** np.arange(n)[None, :]
        x = powers[pick]
        k = self.gain[:, pick] @ x  # bins x n
        y = np.einsum("bp,bpm->bm", self.cross[:, pick] @ x, self.inverse)
        total = np.einsum("bm,bmq,bq->", k, self.covariance, k) + 2.0 * float((y * k).sum())
        if self.sky_cov is not None:
            # each column's sky error moves all bins: sum over columns of v S v^T
            z = np.einsum("bpm,bm->bp", self.inverse, k)
            v = (self.sky_lever * (z @ powers.T)[None, :, :]).sum(axis=1)  # 2 x columns
            total += float(np.einsum("qj,jqr,rj->", v, self.sky_cov, v))
        return float(total) - float(self.in_std[pick].sum())

    @functools.cached_property
    def in_std(self) -> np.ndarray:
        """Each column's share of the covariance that its ``std`` holds: the
        :attr:`diagonal` where it is positive, else nothing.

        The diagonal is ``var(K c) + 2 cov(n, K c)``, ``n`` the column's own noise,
        and ``K`` is proportional to the column's measured flux (the linearisation
        point). The diagonal is negative only where that flux is (faint source, 40 ADU
        per column on a sky of 80, 5 realisations: all 89 negative diagonals of 3000
        columns at +-2.5 FWHM, all 137 at +-1, on columns of flux < 0): the cross term has the
        sign of the noise there, not of the source, whose flux is not negative, and a
        column would quote less than its own photon noise (``std`` is a standard
        deviation: its variance never falls below the pixels' own, nor below zero).
        What the ``std`` does not hold stays in the vectors' covariance, so sums over
        columns (:meth:`of_sum`, ``COVDIAG``) are unchanged.

        Returns
        -------
        numpy.ndarray
            Per column, non-negative.
        """
        return np.clip(self.diagonal, 0.0, None)

    @functools.cached_property
    def diagonal(self) -> np.ndarray:
        """Each column's own variance from the profile's error (the covariance's
        diagonal, ``g^T M g + 2 h.g`` of :meth:`factors`).

        Returns
        -------
        numpy.ndarray
            Per column (it may be negative where a column's own noise, which raises
            the profile too, correlates with the profile's error more than that error
            varies).
        """
        # one BLAS thread, as shared_noise: the products are small, and threads
        # contending on a loaded machine cost more than they give
        with one_blas_thread():
            g, h, m = self.factors()
            return ((m @ g) * g).sum(axis=0) + 2.0 * (h * g).sum(axis=0)

    def factors(self):
        """The covariance's factors (computed once: :attr:`diagonal` and
        :attr:`shared_noise` both need them).

        Returns
        -------
        g, h, m : numpy.ndarray
            See :meth:`_factors`.
        """
        return self._factors

    @functools.cached_property
    def _factors(self):
        """``G``, ``H`` and ``M`` of the covariance ``G^T M G + H^T G + G^T H``.

        ``G`` and ``H`` are (bins x terms) x columns, a column's ``K`` and ``Y`` rows;
        ``M`` is the coefficients' covariance ``C`` (one block per bin) plus the part
        that every column's sky error gives them.

        Returns
        -------
        g, h, m : numpy.ndarray
        """
        nbins, n, _ = self.inverse.shape
        powers = self.t[:, None] ** np.arange(n)[None, :]  # columns x n
        g = (self.gain[:, None, :] * powers.T[None, :, :]).reshape(nbins * n, -1)
        h = np.einsum("bpm,bpj->bmj", self.inverse, self.cross[:, None, :] * powers.T[None])
        h = h.reshape(nbins * n, -1)

        m = np.zeros((nbins, n, nbins, n))
        m[np.arange(nbins), :, np.arange(nbins), :] = self.covariance
        m = m.reshape(nbins * n, nbins * n)
        if self.sky_cov is not None:
            # as of_sum: each column's sky error moves every bin's coefficients by
            # A^-1 (lever x t^m); lever[q] is columns x (bins x terms)
            reach = powers @ self.inverse  # bins x columns x terms
            lever = [
                (self.sky_lever[q][:, :, None] * reach).transpose(1, 0, 2).reshape(-1, nbins * n)
                for q in range(2)
            ]
            for q in range(2):
                m += lever[q].T @ (self.sky_cov[:, q, q][:, None] * lever[q])
            cross = lever[0].T @ (self.sky_cov[:, 0, 1][:, None] * lever[1])
            m += cross + cross.T

        return g, h, m

    @functools.cached_property
    def shared_noise(self):
        """The covariance as a product keeps it: a few shared-noise vectors.

        See :func:`pipeline.wavelength.shared_noise.from_factors`.

        Returns
        -------
        pipeline.wavelength.shared_noise.SharedNoise
        """
        with one_blas_thread():
            noise = from_factors(*self.factors())
        # the vectors hold the whole covariance, the columns' std its positive diagonal
        return dataclasses.replace(noise, in_std=self.in_std)


@dataclass(frozen=True)
class ProfileError:
    """The noise of the profile's correction from the data, for its propagation.

    The correction of :func:`_corrected_profile` is one polynomial along the
    dispersion per bin of trace offset, fitted to every column's pixels: its error is
    common to all columns, and the fluxes weighted with it err together and with
    the noise of the pixels it was fitted to. On a faint source in a wide aperture
    that coherent error dominates a sum over the spectrum (40 ADU per column on a sky
    of 80, +-2.5 FWHM, 600 columns: the total scattered 2.75 times the error the
    columns' variances quoted), while each column's own share stays a few per cent
    of its noise.

    Attributes
    ----------
    idx : numpy.ndarray
        The offset bin of each pixel (rows x columns).
    t : numpy.ndarray
        Each column's coordinate along the dispersion, -1 to 1.
    inverse, covariance : numpy.ndarray
        Per bin, the fit's inverse normal matrix and its coefficients' covariance.
    pull : numpy.ndarray
        Per pixel, ``w V / level``: its noise moves its bin's coefficients by
        ``A^-1 x`` times this (zero on pixels not fitted).
    sky_lever : numpy.ndarray
        ``(2, bins, columns)``: per bin and column, the sums of ``w / level`` and
        ``w offset / level`` over the pixels fitted, by which an error of the column's
        sky line (intercept, slope) moves the bin's coefficients (times ``A^-1 x``).
    norm : numpy.ndarray
        Each column's sum of the corrected profile before its normalisation.
    """

    idx: np.ndarray
    t: np.ndarray
    inverse: np.ndarray
    covariance: np.ndarray
    pull: np.ndarray
    sky_lever: np.ndarray
    norm: np.ndarray

    def flux_covariance(self, horne, weights, flux, offset, sky_error=None):
        """The fluxes' covariance from the profile's error, to first order.

        Horne's flux ``F = sum(a D)`` with weights ``a = (P/V) / sum(P^2/V)`` moves by
        ``-F sum(a dP)`` when the profile moves by ``dP``, and the normalised profile
        by ``(dc - P sum(w dc)) / norm`` when the correction moves by ``dc``; with
        ``sum(a P) = 1`` the flux moves by ``-F / norm * sum((a - w) dc)``, ``K c``
        with ``c`` the bins' coefficients. The covariance is ``K C K^T + Y K^T + K
        Y^T``, ``C`` the coefficients' and ``Y`` that of each column's own noise
        ``sum(a n)`` with them: a pixel high in the wings raises both its column's
        flux and the profile's wings (on a bright source the profile's part of the
        total correlates 0.5 with the rest), and so does the column's sky error.

        Parameters
        ----------
        horne : numpy.ndarray
            Each pixel's weight in its column's flux (0 on pixels not used).
        weights : numpy.ndarray
            The aperture's fractional weights.
        flux : numpy.ndarray
            Each column's flux (0 where it does not depend on the profile).
        offset : numpy.ndarray
            Row offset of each pixel from the trace.
        sky_error : tuple of numpy.ndarray, optional
            Per column, the variances of the sky line's intercept and slope (in
            offset) and their covariance. A column's sky error moves every pixel of
            it, its flux and the profile alike: sky read low raises the wings and
            lowers the normalised core, and Horne's flux rises with the sum.

        Returns
        -------
        ColumnCovariance or None
            None when the profile's error is nil.
        """
        nbins = self.inverse.shape[0]
        nx = horne.shape[1]
        flat = (self.idx * nx + np.arange(nx)[None, :]).ravel()

        def by_bin(values):
            return np.bincount(flat, values.ravel(), nbins * nx).reshape(nbins, nx)

        gain = -np.nan_to_num(flux) / self.norm * by_bin(horne - weights)  # bins x columns
        if not (np.abs(gain).sum() > 0):
            return None
        cross = by_bin(horne * self.pull)
        sky_cov = None
        if sky_error is not None:
            var_i, var_s, cov_is = (np.nan_to_num(np.asarray(v, float)) for v in sky_error)
            sky_cov = np.stack([np.stack([var_i, cov_is], -1), np.stack([cov_is, var_s], -1)], -1)
            # A column's flux moves by -lever . s with its sky error s, and c by -E s:
            # their covariance E S lever adds to Y.
            lever = np.stack([horne.sum(axis=0), (horne * offset).sum(axis=0)], -1)
            moved = np.einsum("jqr,jr->qj", sky_cov, lever)  # 2 x columns
            cross = cross + (self.sky_lever * moved[:, None, :]).sum(axis=0)
        return ColumnCovariance(
            self.t, gain, cross, self.inverse, self.covariance, self.sky_lever, sky_cov
        )


def measured_profile_error(net, pix_var, prof, offset, flux, good, noise=None):
    """Relative error of the profile on this frame, beyond the photon noise, by offset.

    Over the pixels kept whose photon noise is below :data:`PROFILE_ERROR` of their
    model counts (the pixels where the profile's error, not the noise, decides the
    cosmic-ray test), the error ``s`` is the value for which the residuals
    ``(data - F P) / sqrt(V + (s F P)^2)`` have the 90th percentile of their absolute
    value of a unit normal (1.645): robust to the few per cent of pixels that cosmic
    rays and emission lines make, yet it follows the tails of the profile's error
    better than a median would. It is measured in bins of :data:`ERROR_BIN` rows of
    offset from the trace, and within each in blocks of :data:`ERROR_COLUMNS`
    columns; a bin with fewer than :data:`ERROR_MIN_PIXELS` such pixels takes the
    value of its offset bin over all columns, or of all pixels together.

    Parameters
    ----------
    net, pix_var : numpy.ndarray
        Sky-subtracted counts and their variance (rows x columns).
    prof : numpy.ndarray
        The normalised profile fitted to the columns.
    offset : numpy.ndarray
        Row offset of each pixel from the trace.
    flux : numpy.ndarray
        Each column's fitted flux.
    good : numpy.ndarray of bool
        The pixels kept by the fit.
    noise : tuple or None
        ``(1 / gain, read variance, sky)`` of the model variance, or None to use
        ``pix_var``.

    Returns
    -------
    numpy.ndarray or None
        The relative error at each pixel (from its bin, about 0 where the frame shows
        no error beyond the noise), or None when too few pixels are bright enough.
    """
    with np.errstate(all="ignore"):
        model = flux[None, :] * prof
        var = pix_var
        if noise is not None:
            inv_gain, read_var, sky = noise
            var = read_var + inv_gain * np.clip(model + sky, 0.0, None)
        rel = (net - model) / model
        rel_var = var / model**2
        use = good & (model > 0) & np.isfinite(rel) & (rel_var < PROFILE_ERROR**2)
    if use.sum() < ERROR_MIN_PIXELS:
        return None
    dev, rel_var = np.abs(rel[use]), rel_var[use]
    out = np.full(net.shape, _error_quantile(dev, rel_var, np.zeros(dev.size, int), 1)[0])
    row_bin = np.floor(offset / ERROR_BIN).astype(int)
    block = np.broadcast_to(np.arange(net.shape[1])[None, :] // ERROR_COLUMNS, net.shape)
    # offset bins first, then their blocks of columns, each where it has the pixels
    for bins in (row_bin, row_bin * (block.max() + 1) + block):
        labels, inverse = np.unique(bins[use], return_inverse=True)
        error = _error_quantile(dev, rel_var, inverse, labels.size)
        error = np.append(error, np.nan)  # for bins without (enough) pixels
        error[:-1][np.bincount(inverse, minlength=labels.size) < ERROR_MIN_PIXELS] = np.nan
        pos = np.minimum(np.searchsorted(labels, bins), labels.size - 1)
        found = error[np.where(labels[pos] == bins, pos, labels.size)]
        out = np.where(np.isnan(found), out, found)
    return out


def _error_quantile(dev, rel_var, inverse, n_bins, tail=0.1, z=1.645):
    """Per bin (``inverse``), the relative error ``s`` for which a fraction ``tail``
    of ``dev / sqrt(rel_var + s^2)`` exceeds ``z`` (the 90th percentile of a unit
    normal's absolute value); 0 when the noise alone explains the deviations.

    A pixel exceeds it when ``dev^2 / z^2 - rel_var > s^2``: ``s^2`` is the
    ``1 - tail`` quantile of that excess in its bin, found by one sort of all bins.
    """
    excess = dev**2 / z**2 - rel_var
    order = np.argsort(excess)
    # a stable sort of small integers is a radix sort
    order = order[np.argsort(inverse[order].astype(np.int32), kind="stable")]
    count = np.bincount(inverse, minlength=n_bins)
    start = np.concatenate(([0], np.cumsum(count)[:-1]))
    at = start + np.floor((1.0 - tail) * np.maximum(count - 1, 0)).astype(int)
    value = excess[order][np.minimum(at, excess.size - 1)]
    return np.sqrt(np.clip(np.where(count > 0, value, 0.0), 0.0, None))


def _spectrum_level(net, pix_var, prof, weights, use, complete):
    """Per column, the spectrum by which the data are normalised to correct the profile:
    a running median of the columns' fluxes fitted with the uncorrected profile, the
    column's own left out, over :data:`SMOOTH_COLUMNS` columns or as many as bring its
    noise down to :data:`LEVEL_NOISE` (a faint source).

    Only the level's shape along the dispersion matters (the corrected profile is
    normalised column by column), and any error of it biases the flux: noise in the
    level scales the correction differently in each offset bin (each bin sees its
    own stripe of columns where the trace crosses rows), and a noisy profile makes
    Horne's flux read low; a level that holds the column's own sum correlates with its
    pixels and adds a constant to the profile, which widens it and makes the flux read
    high. Both were at work with the median of the aperture sums over 31 columns
    (own included): 40 ADU per column on a sky of 80 in a +-2.5 FWHM aperture read
    +0.7 % (sky known) and +1.4 % (fitted) over the fractional sum; leaving the own
    column out alone, -1.5 % and -2.7 % (:mod:`benchmarks.grade_extraction`). Horne's
    flux (with the model profile) has about twice the aperture sum's S/N in a wide
    aperture, and the window widens until the level's noise is small.
    """
    with np.errstate(all="ignore"):
        pv = np.where(use & (weights > 0), prof / pix_var, 0.0)
        denom = (pv * prof).sum(axis=0)
        flux = (pv * net).sum(axis=0) / denom
    ok = complete & (denom > 0) & np.isfinite(flux)
    if not ok.any():
        return np.zeros(net.shape[1])
    cols = np.arange(net.shape[1])
    flux = np.interp(cols, cols[ok], flux[ok])
    # The median of W values has about 1.25 / sqrt(W) of one value's noise.
    snr = np.median(flux[ok]) * np.median(np.sqrt(denom[ok]))
    with np.errstate(all="ignore"):
        wanted = (1.25 / (LEVEL_NOISE * snr)) ** 2
    size = int(
        min(
            max(np.nan_to_num(wanted, nan=np.inf, posinf=np.inf), SMOOTH_COLUMNS), 2 * cols.size + 1
        )
    )
    return _neighbour_median(flux, size)


def _neighbour_median(values, size):
    """Per element, the median of the ``size`` elements around it (fewer at the ends),
    its own left out.

    A faint source's window can span the whole spectrum (thousands of columns): a
    sorted window slid along the values costs ``n log size`` comparisons and one
    window of memory, where a ``n x size`` array of windows took 2.8 s and 270 MB at
    4096 columns. ``values`` must be finite.
    """
    half = size // 2
    vals = np.asarray(values, float).tolist()
    n = len(vals)
    out = [np.nan] * n
    window: list[float] = []
    lo = hi = 0  # the window holds vals[lo:hi], sorted
    for j in range(n):
        while hi < min(n, j + half + 1):
            bisect.insort(window, vals[hi])
            hi += 1
        while lo < j - half:
            del window[bisect.bisect_left(window, vals[lo])]
            lo += 1
        m = len(window) - 1  # the others
        if m == 0:
            continue
        own = bisect.bisect_left(window, vals[j])
        # the i-th of the others is the window's i-th below its own place, (i+1)-th above
        a = m // 2
        middle = window[a if a < own else a + 1]
        if m % 2:
            out[j] = middle
        else:
            b = a - 1
            out[j] = 0.5 * (middle + window[b if b < own else b + 1])
    return np.asarray(out)


def _coverage(good, prof, aperture):
    """Fraction of each column's profile on the pixels kept."""
    total = np.where(aperture, prof, 0.0).sum(axis=0)
    return np.where(good, prof, 0.0).sum(axis=0) / np.maximum(total, 1e-30)


def _normalised(prof, weights, clip=True):
    """The profile scaled so that the aperture's fractional weights sum it to one."""
    if clip:
        prof = np.clip(prof, 0.0, None)
    return prof / np.maximum((weights * prof).sum(axis=0, keepdims=True), 1e-30)


def _fit_columns(net, pix_var, prof, good, box, noise, clip, n_iter, profile_error, inflate=1.0):
    """Horne's weighted fit of ``flux x prof`` to every column, rejecting the worst
    pixel of each column per iteration while it departs by more than ``clip`` sigma.

    ``noise`` is ``(1 / gain, read variance, sky)``: the weights and the rejection use
    the variance of the *model* (Horne's revised variance), since weights from a
    pixel's own counts (the reduction's variance) favour the pixels that fell low
    (-4 % at S/N 8 on a simulated night, -3 % on a faint synthetic source). The flux's
    variance propagates the frame's own ``pix_var`` through those weights. With
    ``noise`` None the frame's variance is used throughout. ``inflate`` widens the
    rejection's variance (a profile with noise of its own). Returns flux, variance, the
    pixels kept and the sky-error factor ``sum(P/V)/sum(P^2/V)``.
    """
    good = good.copy()
    flux = box
    cols = np.arange(net.shape[1])
    for _ in range(n_iter):
        v = pix_var
        if noise is not None:
            inv_gain, read_var, sky = noise
            v = read_var + inv_gain * np.clip(flux[None, :] * prof + sky, 0.0, None)
        v = np.where(good & (v > 0), v, np.inf)
        pv = np.where(good, prof / v, 0.0)
        with np.errstate(all="ignore"):
            denom = (pv * prof).sum(axis=0)
            flux = np.where(denom > 0, (pv * net).sum(axis=0) / denom, np.nan)
            model = flux[None, :] * prof
            # Each pixel is tested against the flux fitted without it (its deletion
            # residual, r / (1 - h) with h its leverage P^2/V / sum(P^2/V)): a cosmic ray
            # on a sharply peaked profile (a compact emission line, where one pixel holds
            # a third of the weight) pulls the fitted flux towards itself and hid behind
            # that pull (a doubled core pixel passed at 4.4 sigma, +46 sigma on the flux).
            # Without a ray the deletion residual's variance is V / (1 - h).
            keep = np.clip(1.0 - pv * prof / denom, 1e-3, 1.0)
            resid2 = (net - model) ** 2 / (keep * inflate * v + (keep * profile_error * model) ** 2)
        resid2 = np.nan_to_num(np.where(good, resid2, 0.0))
        worst = np.argmax(resid2, axis=0)
        hit = resid2[worst, cols] > clip**2
        if not hit.any():
            break
        good[worst[hit], cols[hit]] = False
    with np.errstate(all="ignore"):
        # sum(w^2 V) with w = (P/V) / sum(P^2/V) over the pixels kept: Horne's
        # 1/sum(P^2/V) when V is the frame's; lost pixels (masked, cosmic rays) raise it.
        variance = np.where(good, pv**2 * pix_var, 0.0).sum(axis=0) / denom**2
        variance = np.where(denom > 0, variance, np.inf)
        sky_coeff = np.where(denom > 0, pv.sum(axis=0) / denom, 0.0)
    return flux, variance, good, sky_coeff


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


def _corrected_profile(prof, offset, net, pix_var, weights, good, box, order=2, error=False):
    """The fitted profile corrected by the data: Horne's empirical profile along the
    trace (with ``error``, also the :class:`ProfileError` of the correction, or None).

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
    level = _spectrum_level(net, pix_var, prof, weights, use, complete)
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
    out = _normalised(corrected, weights, clip=False)
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


def _inadequate_columns(net, pix_var, prof, weights, inside, fit, noise, clip, allowance):
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

    Returns None, or (columns, local profile, local flux and variance, pixels kept).
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
    local = _normalised(local, weights[:, cols])
    sub_noise = None if noise is None else (*noise[:2], noise[2][:, cols])
    # The rejection allows for the noise of the local profile (a median of a few
    # columns) and for its change within the window.
    lfit = _fit_columns(
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
        lflux, lvar, lgood, _ = _fit_columns(
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
    lost = 1.0 - _coverage(good[:, cols], prof[:, cols], weights[:, cols] > 0)
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
    smooth_both = _fixed_fit(net[:, cols], var, prof[:, cols], both)
    local_both = _fixed_fit(net[:, cols], var, local, both)
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


def _fixed_fit(net, var, prof, use):
    """Per column, Horne's flux ``sum(P D / V) / sum(P^2 / V)`` over the pixels ``use``."""
    with np.errstate(all="ignore"):
        pv = np.where(use & (var > 0), prof / var, 0.0)
        return (pv * net).sum(axis=0) / (pv * prof).sum(axis=0)


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
