"""The covariance that the noise of the profile's correction gives the extracted columns.

:class:`ProfileError` holds the noise of the correction's fit
(:func:`~pipeline.spectroscopy.profile_correction.corrected_profile`) and propagates
it into the fluxes (:meth:`ProfileError.flux_covariance`); :class:`ColumnCovariance`
keeps the result factored: each column's own share, the part of a sum over columns,
and the shared-noise vectors the products carry (:mod:`pipeline.wavelength.shared_noise`).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import numpy as np

from pipeline.blas_threads import one_blas_thread
from pipeline.wavelength.shared_noise import from_factors


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

    The correction of :func:`~pipeline.spectroscopy.profile_correction.corrected_profile`
    is one polynomial along the dispersion per bin of trace offset, fitted to every
    column's pixels: its error is
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
