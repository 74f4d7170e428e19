"""How bright an unseen neighbour a line's fitted width still allows.

NIST lists neighbours a lamp may not light; a line's fit is pulled by those it does
(:func:`pipeline.wavelength.identify.nist_pull`). An unresolved neighbour also changes
the width the line is fitted with, so a line fitted as broad as the instrument's lines
bounds the neighbour's flux ratio ``f``, whatever NIST's intensities say.

The bound is the fit's, not the blend's second moment: a Gaussian and a constant
fitted over ``2.5`` sigma either side (:func:`~pipeline.wavelength.lines.find_lines`)
hardly widen for a neighbour near one FWHM (sigma 2.12 px, 2.4 sigma away: 0.5 % for
``f = 0.03``, 2.6 % for 0.1, 10 % for 0.2), where the second moment would grow by
20 % at 0.1; a rule on the second moment held such a neighbour to a fifth of what the
fitted width allows, and weighed lines the neighbour may pull by 0.15 px as 0.015 px
ones (PypeIt Red 400 M2 went from 0.024 to 0.042 px). The fitted widths are therefore
measured: the same fit of a line and a neighbour of each ratio, at each separation
(:func:`_fitted_width_ratios`).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy import special

#: A sharp clean line's fitted FWHM over the local FWHM stays within this fraction of
#: 1, noise, focus and the local median's own scatter together: 812 sharp clean lines
#: of six 3x3 lamps, quartiles 0.989 and 1.002, 95th percentile 1.034 (see
#: :func:`pipeline.wavelength.identify._width_contradicts`). No line's width is taken
#: to say more than this.
WIDTH_SPREAD = 0.034
#: Standard errors of its own width measurement added to a line's width departure.
WIDTH_SIGMAS = 2.0
#: Separations (instrument sigmas) and flux ratios the fitted widths are measured at:
#: out to the two FWHM :func:`~pipeline.wavelength.identify.nist_pull` reaches.
_SEPARATIONS = np.arange(0.0, 5.01, 0.1)
_RATIOS = np.r_[0.0, np.geomspace(0.002, 1.0, 36)]
#: Sigmas (binned px) are measured on this geometric grid (5 % steps).
_SIGMA_STEP = 1.05


def width_tolerance(ratio, centre_error, sigma, measured) -> np.ndarray:
    """Per line, how far from the instrument's width (a fraction) its fit may be.

    Parameters
    ----------
    ratio : numpy.ndarray
        Fitted FWHM over the local FWHM.
    centre_error, sigma : numpy.ndarray
        Centring error and Gaussian sigma of the fit (the same px). A least-squares
        Gaussian of free height measures its sigma as well as its centre (Fisher
        information of the background noise: equal variances), so
        ``centre_error / sigma`` is the ratio's relative error.
    measured : numpy.ndarray of bool
        Lines whose width measures the instrument's (sharp, neither saturated,
        broadened nor blended in the arc).

    Returns
    -------
    numpy.ndarray
        ``max(|ratio - 1| + WIDTH_SIGMAS * error, WIDTH_SPREAD)``; NaN where not
        measured.
    """
    ratio = np.asarray(ratio, float)
    rel = np.asarray(centre_error, float) / np.maximum(np.asarray(sigma, float), 1e-12)
    tol = np.maximum(np.abs(ratio - 1.0) + WIDTH_SIGMAS * rel * ratio, WIDTH_SPREAD)
    return np.where(np.asarray(measured, bool) & np.isfinite(tol), tol, np.nan)


def _integrated(x, centre, sigma):
    """A unit Gaussian integrated over each pixel."""
    a = (x - 0.5 - centre) / (np.sqrt(2.0) * sigma)
    b = (x + 0.5 - centre) / (np.sqrt(2.0) * sigma)
    return 0.5 * (special.erf(b) - special.erf(a))


@functools.lru_cache(maxsize=32)
def _fitted_width_ratios(sigma: float) -> np.ndarray:
    """Fitted sigma of a line of ``sigma`` (binned px) with a neighbour of each of
    :data:`_RATIOS` at each of :data:`_SEPARATIONS` (rows) over the lone line's fitted
    sigma, as :func:`~pipeline.wavelength.lines.find_lines` fits it; NaN where the
    fit failed."""
    from pipeline.wavelength.lines import fit_centres

    half = int(np.clip(np.ceil(2.5 * sigma), 3, 12))
    t, f = np.meshgrid(_SEPARATIONS, _RATIOS, indexing="ij")
    spacing = int(np.ceil(2 * half + 14 * sigma)) + 4
    n = t.size
    centres = spacing * (1.0 + np.arange(n)) + 0.3
    x = np.arange(spacing * (n + 1), dtype=float)
    flux = np.full(x.size, 50.0)
    reach = int(np.ceil(12 * sigma)) + 2
    for c, tt, ff in zip(centres, t.ravel(), f.ravel(), strict=True):
        i = slice(int(c) - reach, int(c) + reach + 1)
        flux[i] += 1e5 * (
            _integrated(x[i], c, sigma) + ff * _integrated(x[i], c + tt * sigma, sigma)
        )
    fit = fit_centres(flux, centres, sigma, half_width=half, deblend=True, line_fwhm=2.3548 * sigma)
    out = np.full(n, np.nan)
    if len(fit):
        k = np.clip(np.searchsorted(centres, fit.centre), 1, n - 1)
        k = np.where(
            np.abs(centres[k - 1] - fit.centre) < np.abs(centres[k] - fit.centre), k - 1, k
        )
        ok = np.abs(centres[k] - fit.centre) < spacing / 2
        out[k[ok]] = fit.sigma[ok]
    out = out.reshape(t.shape)
    return out / out[:, :1]


def neighbour_flux_limit(tolerance, t, sigma) -> np.ndarray:
    """The largest flux ratio of a neighbour that keeps the line's fitted width in bounds.

    The ratio (at most 1) of a neighbour ``t`` instrument sigmas from a line that leaves
    its fitted width within ``tolerance`` of the lone line's.

    Counted up to the first ratio (of :data:`_RATIOS`) that takes the fit beyond the
    tolerance, at the nearer grid separation on either side whichever allows more.

    Parameters
    ----------
    tolerance : numpy.ndarray
        :func:`width_tolerance` of the line (NaN: no bound).
    t : numpy.ndarray
        Separation in instrument sigmas, broadcast with ``tolerance``.
    sigma : numpy.ndarray
        The instrument's sigma there, binned px (broadcast likewise).

    Returns
    -------
    numpy.ndarray
        The bound; 1 where the width gives none.
    """
    tol, t, sigma = np.broadcast_arrays(
        np.asarray(tolerance, float), np.asarray(t, float), np.asarray(sigma, float)
    )
    out = np.ones(tol.shape)
    ok = np.isfinite(tol) & np.isfinite(sigma) & (sigma > 0) & (t <= _SEPARATIONS[-1])
    if not ok.any():
        return out
    key = np.round(np.log(sigma[ok]) / np.log(_SIGMA_STEP)).astype(int)
    i = np.clip(t[ok] / (_SEPARATIONS[1] - _SEPARATIONS[0]), 0, _SEPARATIONS.size - 1)
    lo, hi = np.floor(i).astype(int), np.ceil(i).astype(int)
    bound = np.ones(key.size)
    for k in np.unique(key):
        sel = key == k
        dev = np.abs(_fitted_width_ratios(float(_SIGMA_STEP**k)) - 1.0)
        dev = np.where(np.isfinite(dev), dev, np.inf)  # a failed fit: the line is no line
        both = []
        for row in (lo[sel], hi[sel]):
            over = dev[row] > tol[ok][sel][:, None]
            first = np.where(over.any(axis=1), np.argmax(over, axis=1), _RATIOS.size - 1)
            both.append(np.where(over.any(axis=1), _RATIOS[first], 1.0))
        bound[sel] = np.maximum(*both)
    out[ok] = bound
    return out
