"""The noise a spectrum's bins share, as product extensions, and the error of sums over bins.

Two things make a spectrum's bins covary, so that summing their ``STD`` in quadrature
understates the error of a sum over many of them:

- optimal extraction weights every column with one spatial profile corrected from the
  data, and the correction's error is common to all columns
  (:class:`~pipeline.spectroscopy.profile_covariance.ColumnCovariance`; 2-3x on the
  error of a whole faint spectrum in a wide aperture). It is kept factored, as a few
  *shared-noise vectors* ``v_k`` (the leading eigenvectors of that part of the
  covariance, each scaled by the square root of its eigenvalue's size): the ``COVAR``
  image extension (vectors x bins, in the flux's unit);
- resampling to a linear dispersion splits a pixel's counts between two or three
  bins, which then share its noise (1/3 of the variance of a sum, on average): the
  covariance of each bin with the next and the one after is the ``COVBAND`` image
  extension (2 x bins, in the flux's unit squared).

Each bin's own share of the profile's error is in its ``STD`` (a bin's error is
honest on its own), and the ``COVAR`` vectors hold it too: the ``COVDIAG`` extension
(1 x bins, in the flux's unit squared) is that share, counted once. The variance of the
flux summed over a set of bins ``S`` is then::

    var(sum_S flux) = sum_S STD**2 + 2 sum_{d=1,2} sum_{i, i+d in S} COVBAND[d-1, i]
                      + sum_k s_k * (sum_S COVAR[k])**2 - sum_S COVDIAG

with ``s_k = +1`` for the first ``NPOS`` vectors and ``-1`` for the rest (the shared part
correlates with each bin's own noise, so it has negative directions too). The
extensions' cards say the rule; :func:`summed_error` reads a product and applies it.
``specutils.Spectrum.read`` reads the products as before and ignores both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits
from astropy.nddata import StdDevUncertainty

#: Name of the product's extension holding the shared-noise vectors.
EXTNAME = "COVAR"

#: Name of the product's extension holding the covariance of neighbouring bins.
BAND_EXTNAME = "COVBAND"

#: Name of the product's extension holding each bin's share of ``COVAR`` that its
#: ``STD`` holds already.
DIAG_EXTNAME = "COVDIAG"

#: Most vectors kept: the shared part of a 4060-column spectrum has rank up to a few
#: hundred, but its leading vectors hold nearly all of any sum's variance.
MAX_VECTORS = 24

#: Subspace iterations after the first product: the eigenvalues fall slowly (the 8th is
#: half the first on a faint source), and the probes must converge on the leading ones.
POWER_ITERATIONS = 2

#: Vectors whose eigenvalue is below this fraction of the largest are dropped.
RELATIVE_CUT = 1e-3


@dataclass(frozen=True)
class SharedNoise:
    """Shared-noise vectors of a spectrum's bins: the covariance beyond each bin's own.

    Attributes
    ----------
    vectors : numpy.ndarray
        Vectors x bins, each ``sqrt(|eigenvalue|) x eigenvector``.
    positive : int
        The first ``positive`` vectors add to a sum's variance, the others subtract.
    in_std : numpy.ndarray or None
        Per bin, the part of the covariance the vectors hold that the bins' ``STD``
        holds already (each bin's own share of optimal extraction's profile error):
        a sum counts it once, so :meth:`of_sum` subtracts it. None: nothing.
    """

    vectors: np.ndarray
    positive: int
    in_std: np.ndarray | None = None

    def of_sum(self, pick) -> float:
        """The shared part of the variance of ``flux[pick].sum()``.

        Parameters
        ----------
        pick : numpy.ndarray
            Boolean or integer index of the bins summed.

        Returns
        -------
        float
            ``sum_k s_k (sum_pick v_k)^2 - sum_pick in_std``.
        """
        sums = self.vectors[:, pick].sum(axis=1)
        signs = np.where(np.arange(sums.size) < self.positive, 1.0, -1.0)
        total = float((signs * sums**2).sum())
        if self.in_std is not None:
            total -= float(np.nan_to_num(self.in_std[pick]).sum())
        return total

    def mapped(self, linear, in_std=None) -> SharedNoise:
        """The same noise after a linear map of the bins (a resampling).

        Parameters
        ----------
        linear : callable
            Takes one vector over the bins and returns it over the new bins; the map
            the fluxes go through.
        in_std : numpy.ndarray, optional
            The new bins' :attr:`in_std` (the map of a variance is not linear in the
            bins: the caller knows how it maps).

        Returns
        -------
        SharedNoise
        """
        vectors = np.array([linear(v) for v in self.vectors]).reshape(len(self.vectors), -1)
        return SharedNoise(vectors, self.positive, in_std)


def scaled_noise(meta: dict, factor) -> dict:
    """A spectrum's shared noise after its bins are multiplied by ``factor``.

    Parameters
    ----------
    meta : dict
        The spectrum's ``meta``, with ``shared_noise`` and ``neighbour_covariance``
        when it has them.
    factor : numpy.ndarray
        Per bin, the factor its flux is multiplied by (flux calibration).

    Returns
    -------
    dict
        The same keys, scaled.
    """
    factor = np.asarray(factor, float)
    out = {}
    if meta.get("shared_noise") is not None:
        noise = meta["shared_noise"]
        in_std = None if noise.in_std is None else noise.in_std * factor**2
        out["shared_noise"] = SharedNoise(noise.vectors * factor[None, :], noise.positive, in_std)
    if meta.get("neighbour_covariance") is not None:
        band = np.array(meta["neighbour_covariance"], float)
        for d in range(1, band.shape[0] + 1):
            band[d - 1, :-d] *= factor[:-d] * factor[d:]
            band[d - 1, -d:] = 0.0
        out["neighbour_covariance"] = band
    return out


def from_factors(g, h, m, n_probe: int = MAX_VECTORS + 8, seed: int = 0) -> SharedNoise:
    """Shared-noise vectors of the covariance ``G^T M G + H^T G + G^T H``.

    Its leading eigenpairs are found by randomised subspace iteration on the factors
    (no bins x bins matrix is made), and the vectors whose eigenvalue exceeds
    :data:`RELATIVE_CUT` of the largest are kept, at most :data:`MAX_VECTORS`.

    Parameters
    ----------
    g, h : numpy.ndarray
        Terms x bins.
    m : numpy.ndarray
        Terms x terms, symmetric.
    n_probe : int
        Random probe vectors (more than are kept).
    seed : int
        Seed of the probes (the product is the same from one run to the next).

    Returns
    -------
    SharedNoise
    """

    def apply(x):
        gx, hx = g @ x, h @ x
        return g.T @ (m @ gx + hx) + h.T @ gx

    nbins = g.shape[1]
    rng = np.random.default_rng(seed)
    q = np.linalg.qr(apply(rng.standard_normal((nbins, n_probe))))[0]
    for _ in range(POWER_ITERATIONS):
        q = np.linalg.qr(apply(q))[0]
    small = q.T @ apply(q)
    lam, vec = np.linalg.eigh(0.5 * (small + small.T))
    order = np.argsort(-np.abs(lam))
    lam, vec = lam[order], vec[:, order]
    if lam.size == 0 or not np.abs(lam[0]) > 0:
        return SharedNoise(np.zeros((0, nbins)), 0)
    keep = (np.abs(lam) >= RELATIVE_CUT * np.abs(lam[0])) & (np.arange(lam.size) < MAX_VECTORS)
    lam, vec = lam[keep], vec[:, keep]
    sign = np.argsort(lam < 0, kind="stable")  # the positive ones first
    lam, vec = lam[sign], vec[:, sign]
    vectors = (q @ vec).T * np.sqrt(np.abs(lam))[:, None]
    return SharedNoise(vectors, int((lam > 0).sum()))


def shared_noise_hdu(noise: SharedNoise, unit) -> fits.ImageHDU:
    """The ``COVAR`` extension of a product: the vectors and the rule on its cards.

    Parameters
    ----------
    noise : SharedNoise
    unit : str or astropy.units.Unit
        The flux's unit.

    Returns
    -------
    astropy.io.fits.ImageHDU
    """
    hdr = fits.Header()
    hdr["BUNIT"] = str(unit)
    hdr["NPOS"] = (int(noise.positive), "The first NPOS vectors add, the others subtract")
    hdr["NVEC"] = (int(noise.vectors.shape[0]), "Shared-noise vectors (rows)")
    hdr.add_comment("Shared noise of the bins (optimal extraction's profile error).")
    hdr.add_comment("Variance of the flux summed over bins S: sum_S STD**2 +")
    hdr.add_comment("sum_k s_k (sum_S row_k)**2, s_k = +1 for k < NPOS, else -1,")
    hdr.add_comment("- sum_S COVDIAG (each bin's own share, in STD already).")
    hdr.add_comment("pipeline.wavelength.shared_noise.summed_error applies it.")
    return fits.ImageHDU(np.asarray(noise.vectors, np.float32), header=hdr, name=EXTNAME)


def in_std_hdu(in_std, unit) -> fits.ImageHDU:
    """The ``COVDIAG`` extension: each bin's share of ``COVAR`` that ``STD`` holds.

    Parameters
    ----------
    in_std : numpy.ndarray
        Per bin (:attr:`SharedNoise.in_std`).
    unit : str or astropy.units.Unit
        The flux's unit (the values are in its square).

    Returns
    -------
    astropy.io.fits.ImageHDU
    """
    return _variance_hdu(
        np.asarray(in_std, np.float64),
        unit,
        DIAG_EXTNAME,
        (
            "Each bin's own share of the COVAR vectors' variance, which its",
            "STD holds already: a sum over bins S subtracts sum_S COVDIAG.",
        ),
    )


def band_of_sum(band, pick) -> float:
    """The neighbouring bins' part of the variance of ``flux[pick].sum()``.

    Parameters
    ----------
    band : numpy.ndarray
        Lags x bins: ``band[d - 1, i]`` is the covariance of bins ``i`` and ``i + d``.
    pick : numpy.ndarray
        Boolean or integer index of the bins summed.

    Returns
    -------
    float
        Twice the sum of the covariances of the pairs of bins picked.
    """
    band = np.atleast_2d(np.asarray(band, float))
    chosen = np.zeros(band.shape[1], bool)
    chosen[np.asarray(pick)] = True
    total = 0.0
    for d in range(1, band.shape[0] + 1):
        both = chosen[:-d] & chosen[d:]
        total += float(np.nan_to_num(band[d - 1, :-d][both]).sum())
    return 2.0 * total


def band_hdu(band, unit) -> fits.ImageHDU:
    """The ``COVBAND`` extension: each bin's covariance with the next bins, and the rule.

    Parameters
    ----------
    band : numpy.ndarray
        Lags x bins (see :func:`band_of_sum`).
    unit : str or astropy.units.Unit
        The flux's unit (the values are in its square).

    Returns
    -------
    astropy.io.fits.ImageHDU
    """
    return _variance_hdu(
        np.asarray(band, np.float32),
        unit,
        BAND_EXTNAME,
        (
            "Row d-1, column i: covariance of bins i and i+d (resampling).",
            "Adds 2 sum over pairs of bins summed to a sum's variance.",
        ),
    )


def _variance_hdu(values: np.ndarray, unit, name: str, rule: tuple[str, ...]) -> fits.ImageHDU:
    """An extension of values in the flux unit squared, with the rule that applies them."""
    hdr = fits.Header()
    hdr["BUNIT"] = f"({unit})2"
    for line in rule:
        hdr.add_comment(line)
    hdr.add_comment("pipeline.wavelength.shared_noise.summed_error applies it.")
    return fits.ImageHDU(values, header=hdr, name=name)


def read_band(hdul: fits.HDUList) -> np.ndarray | None:
    """The product's neighbouring-bin covariance, or None without ``COVBAND``.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList

    Returns
    -------
    numpy.ndarray or None
        Lags x bins.
    """
    if BAND_EXTNAME not in hdul or hdul[BAND_EXTNAME].data is None:
        return None
    return np.atleast_2d(np.asarray(hdul[BAND_EXTNAME].data, float))


def read_shared_noise(hdul: fits.HDUList) -> SharedNoise | None:
    """The product's shared-noise vectors, or None when it has no ``COVAR`` extension.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList

    Returns
    -------
    SharedNoise or None
    """
    if EXTNAME not in hdul:
        return None
    hdu = hdul[EXTNAME]
    data = np.zeros((0, hdul[0].data.size)) if hdu.data is None else hdu.data
    in_std = None
    if DIAG_EXTNAME in hdul and hdul[DIAG_EXTNAME].data is not None:
        in_std = np.ravel(np.asarray(hdul[DIAG_EXTNAME].data, float))
    return SharedNoise(
        np.atleast_2d(np.asarray(data, float)), int(hdu.header.get("NPOS", 0)), in_std
    )


def summed_error(path, low=None, high=None) -> u.Quantity:
    """Standard deviation of a product's flux summed over a range, shared noise included.

    The bins summed are those not masked whose spectral coordinate lies in
    ``[low, high]`` (Å for a wavelength-calibrated product, pixels for ``ecfzst_``),
    the variance the rule of the module's description with the product's ``COVAR``,
    ``COVDIAG`` and ``COVBAND`` extensions (a product without them sums in quadrature). The bins
    are those ``specutils.Spectrum.read(path)`` gives.

    Parameters
    ----------
    path : str or Path
        A 1-D product (``ecfzst_``, ``wecfzst_``, ``fwecfzst_``).
    low, high : astropy.units.Quantity or float, optional
        The range; a float is in the product's spectral unit. ``None``: open.

    Returns
    -------
    astropy.units.Quantity
        In the flux's unit.
    """
    from specutils import Spectrum

    path = Path(path)
    spec = Spectrum.read(path)
    with fits.open(path, memmap=False) as hdul:
        noise = read_shared_noise(hdul)
        band = read_band(hdul)
    axis = spec.spectral_axis
    pick = ~np.asarray(spec.mask, bool) if spec.mask is not None else np.ones(axis.size, bool)
    for bound, keep in ((low, np.greater_equal), (high, np.less_equal)):
        if bound is not None:
            value = u.Quantity(bound, axis.unit).to_value(axis.unit, u.spectral())
            pick &= keep(axis.value, value)
    std = np.asarray(spec.uncertainty.represent_as(StdDevUncertainty).array, float)
    variance = float((std[pick] ** 2).sum())
    if noise is not None and noise.vectors.shape[0]:
        variance += noise.of_sum(pick)
    if band is not None:
        variance += band_of_sum(band, pick)
    return np.sqrt(max(variance, 0.0)) * spec.flux.unit
