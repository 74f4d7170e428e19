"""The spectrum by which the data are normalised to correct the profile.

A running median of the columns' fluxes, each column's own left out
(:func:`_neighbour_median`), over :data:`SMOOTH_COLUMNS` columns or as many as bring
its noise down to :data:`LEVEL_NOISE` (:func:`normalising_level`);
:func:`~pipeline.spectroscopy.profile_correction.corrected_profile` divides the data
by it.
"""

from __future__ import annotations

import bisect

import numpy as np

#: Columns of the running median that gives the spectrum by which the data are
#: normalised to correct the profile: long enough to average the noise of one column
#: away, and to ignore an emission line.
SMOOTH_COLUMNS = 31

#: Relative noise of the level by which the data are normalised to correct the
#: profile, at most: a faint source's level is a median over more than
#: :data:`SMOOTH_COLUMNS` columns (:func:`normalising_level`). At 15 % (40 ADU per column
#: on a sky of 80, +-2.5 FWHM, 31 columns) the flux read -0.26 +- 0.13 % against the
#: fractional sum, at 9 % (91 columns) -0.03 +- 0.12 % (40 realisations, sky known).
LEVEL_NOISE = 0.05


def normalising_level(net, pix_var, prof, weights, use, complete):
    """Per column, the spectrum by which the data are normalised to correct the profile.

    A running median of the columns' fluxes fitted with the uncorrected profile, the
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

    Parameters
    ----------
    net : numpy.ndarray
        The sky-subtracted data (rows x columns).
    pix_var : numpy.ndarray
        The variance of each pixel, same shape.
    prof : numpy.ndarray
        The uncorrected spatial profile, same shape.
    weights : numpy.ndarray
        The aperture's fractional weight of each pixel, same shape.
    use : numpy.ndarray of bool
        The pixels the columns' fluxes are fitted on, same shape.
    complete : numpy.ndarray of bool
        Per column, whether it lost no aperture pixel: only those give a flux, the
        others are interpolated.

    Returns
    -------
    numpy.ndarray
        Per column, the level (zeros when no column gives a flux).
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
