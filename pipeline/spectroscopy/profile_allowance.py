"""The profile's relative error allowed for in the cosmic-ray test, measured on the frame.

A pixel is a cosmic ray only when it departs from flux x profile by more than the clip
times the quadrature sum of its photon noise and this fraction of its model counts.
:func:`measured_profile_error` measures it in bins of offset from the trace and blocks
of columns; :func:`~pipeline.spectroscopy.optimal.optimal_sums` keeps it within
:data:`PROFILE_ERROR_FLOOR` and :data:`PROFILE_ERROR`.
"""

from __future__ import annotations

import numpy as np

#: Largest relative error of the profile allowed for in the cosmic-ray test: a pixel
#: is a cosmic ray only when it departs from flux x profile by more than ``clip`` times
#: the quadrature sum of its photon noise and this fraction of its model counts. The
#: allowance actually used is the profile's error measured on the frame
#: (:func:`measured_profile_error`, between :data:`PROFILE_ERROR_FLOOR` and this);
#: where the frame cannot tell (a faint source, few bright pixels) it is this tenth,
#: so that on a bright pixel a cosmic ray must exceed half the pixel's counts
#: (5 x 0.1) to be rejected. A line with its own spatial width departs further, and
#: its columns are summed (:func:`~pipeline.spectroscopy.summed_columns.inadequate_columns`).
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
