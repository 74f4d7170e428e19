"""Low-response pixels under a spectrum: compact deficits no light can make.

A detector blemish (a dust shadow, a low-QE spot) takes a few per cent from two or three
pixels; summed into a column it lowers the flux by a fraction of a per cent that the
column's error does not cover, and Horne's weights or the sum of a column that no
smooth profile fits carry it as good (real HD109379 Blue frame: column 870, row 300,
6 sigma below its neighbours' profile; the raw flat is 2-4 % low on the same pixels,
z = -2.9 there, while Ca II K at 651-652 shows +0.7). Sky and source only add light
that is smooth along the slit, so a deficit confined to a few rows, below the profile
of the neighbouring columns (which the blemish does not reach), is the detector's:
:func:`low_response_pixels` finds them, and extraction masks their columns with the
reason.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: A pixel is low when it falls this many sigma below the profile of its neighbouring
#: columns (photon noise and :data:`DIP_PROFILE_ERROR` of its counts): at 5 sigma noise
#: alone marks one pixel in several million.
DIP_SIGMA = 5.0

#: Relative error of the neighbouring columns' profile allowed for: the real HD109379
#: frame's profile changes by about 1 % from column to column.
DIP_PROFILE_ERROR = 0.01

#: Most rows a deficit may span: a spectral feature or a profile of its own (an emission
#: line narrower than the continuum lowers the normalised wings on many rows) is wider.
DIP_ROWS = 3

#: Sigma below its profile that a pixel must also fall on each side's own neighbours.
DIP_CONFIRM = 3.0

#: Largest departure of a column's sum from its neighbours' (relative) where a deficit
#: is read as the detector's: a line's columns depart by far more.
DIP_STEADY = 0.1

#: Columns on each side skipped before the neighbours whose median profile is compared:
#: a blemish reaches the adjacent column (HD109379: 869-871 at 3-7 %).
DIP_GAP = 1

#: Neighbouring columns used on each side after the gap.
DIP_NEIGHBOURS = 3


def low_response_pixels(net, pix_var, weights) -> np.ndarray:
    """Aperture pixels that fall far below their neighbouring columns' profile, compactly.

    Each column is normalised by its aperture sum; the profile expected at a column is
    the median of the normalised columns :data:`DIP_GAP` + 1 to :data:`DIP_GAP` +
    :data:`DIP_NEIGHBOURS` away on both sides, scaled to the column by the median ratio
    of its bright pixels (a blemish on a compact core lowers the column's sum). A pixel
    is low when it falls more than :data:`DIP_SIGMA` below it (photon noise, the
    median's noise and :data:`DIP_PROFILE_ERROR`) and more than :data:`DIP_CONFIRM`
    below each side's median alone, in a column whose sum is within :data:`DIP_STEADY`
    of its neighbours' (no line) and where the pixels more than 3 sigma low span at
    most :data:`DIP_ROWS` rows and none is more than :data:`DIP_SIGMA` high (a line's
    own profile raises its core).

    Parameters
    ----------
    net, pix_var : numpy.ndarray
        Sky-subtracted counts and their variance (rows x columns; zero where bad).
    weights : numpy.ndarray
        The aperture's fractional weights.

    Returns
    -------
    numpy.ndarray of bool
        The low pixels (rows x columns).
    """
    full = np.zeros(net.shape, bool)
    reach = DIP_GAP + DIP_NEIGHBOURS
    ap = np.nonzero((weights > 0.5).any(axis=1))[0]
    if net.shape[1] < 2 * reach + 1 or ap.size == 0:
        return full
    # the aperture's rows only: the band also holds the sky windows
    band = slice(ap[0], ap[-1] + 1)
    box = (weights * net).sum(axis=0)
    net, pix_var, weights = net[band], pix_var[band], weights[band]
    ny = net.shape[0]
    with np.errstate(all="ignore"):
        norm = np.where((box > 0)[None, :], net / box[None, :], 0.0)
    pad = np.pad(norm, ((0, 0), (reach, reach)), mode="edge")
    window = sliding_window_view(pad, 2 * reach + 1, axis=1)
    left = list(range(DIP_NEIGHBOURS))
    right = list(range(2 * reach + 1 - DIP_NEIGHBOURS, 2 * reach + 1))

    inside = (weights > 0.5) & (pix_var > 0) & (box > 0)[None, :]

    def deviation(side, profile_noise, cols):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # columns without bright pixels
            d, v, b = net[:, cols], pix_var[:, cols], box[cols]
            expected = np.median(window[:, cols][:, :, side], axis=2) * b[None, :]
            # The column's level from its bright pixels' median ratio, not its sum: a
            # blemish on a compact core lowers the sum and would lift the rest above it.
            bright = inside[:, cols] & (expected > 0.2 * np.nanmax(expected, axis=0, keepdims=True))
            scale = np.nanmedian(np.where(bright, d / expected, np.nan), axis=0)
            expected = expected * np.where(np.isfinite(scale), scale, 1.0)[None, :]
            # The noise of the counts expected, not of those found: a variance from a
            # pixel's own counts is smaller where it fell low, and a faint spectrum's
            # noise then passes for blemishes (3 columns of 4060 at S/N 20-100).
            v = np.clip(v + slope * (expected - d), 0.1 * v, None)
            var = v * (1.0 + profile_noise) + (DIP_PROFILE_ERROR * expected) ** 2
            z = (d - expected) / np.sqrt(var)
        return np.where(inside[:, cols] & np.isfinite(z), z, 0.0)

    # how the frame's variance grows with the counts (1 / gain, flat aside)
    use = inside & np.isfinite(net) & np.isfinite(pix_var)
    slope = 0.0
    if use.sum() > 20 and np.ptp(net[use]) > 0:
        keep = use & (net <= np.percentile(net[use], 99))
        slope = max(float(np.polyfit(net[keep], pix_var[keep], 1)[0]), 0.0)

    # a median of n columns has about pi / 2n of one column's variance
    z = deviation(left + right, 1.6 / (2 * DIP_NEIGHBOURS), slice(None))
    low = z < -DIP_SIGMA
    # Where the spectrum itself changes fast (an emission line, tilted along the slit)
    # the columns' profiles differ for the optics' reasons: a blemish of a few pixels
    # moves the column's sum by a fraction of a per cent.
    sums = sliding_window_view(np.pad(box, reach, mode="edge"), 2 * reach + 1)
    level = np.median(sums[:, left + right], axis=1)
    with np.errstate(all="ignore"):
        steady = np.abs(box - level) <= DIP_STEADY * np.abs(level)
    low &= steady[None, :]
    cand = np.nonzero(low.any(axis=0))[0]
    if cand.size:
        # Both sides must see the deficit: at the edge of a line with a profile of its
        # own, one side's median holds the line's columns and the other the continuum's.
        sides = np.fmax(
            deviation(left, 1.6 / DIP_NEIGHBOURS, cand),
            deviation(right, 1.6 / DIP_NEIGHBOURS, cand),
        )
        low[:, cand] &= sides < -DIP_CONFIRM
    cols = np.nonzero(low.any(axis=0))[0]
    if cols.size == 0:
        return full
    rows = np.arange(ny)[:, None]
    deficit = z[:, cols] < -3.0
    first = np.where(deficit, rows, ny).min(axis=0)
    last = np.where(deficit, rows, -1).max(axis=0)
    compact = (last - first + 1) <= DIP_ROWS
    no_excess = (z[:, cols] < DIP_SIGMA).all(axis=0)
    low[:, cols[~(compact & no_excess)]] = False
    full[band] = low
    return full
