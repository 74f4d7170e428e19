"""Saturated arc lines: a clipped (flat) top or a masked core.

:func:`~pipeline.wavelength.identify.line_shapes` also counts as saturated a bright line
much broader than its neighbours (:data:`SATURATION_FRACTION`), and, in an arc cleaned of
cosmic rays, one whose pixels were replaced (:mod:`pipeline.wavelength.altered_lines`).
"""

from __future__ import annotations

import numpy as np

from pipeline.wavelength.lines import LineList, robust_noise

#: A line broader than :data:`~pipeline.wavelength.identify.BROAD` times the local FWHM
#: is saturated when its peak is above SATURATION_FRACTION of the brightest peak, a
#: blend otherwise.
SATURATION_FRACTION = 0.2
#: A flat top (:func:`saturated_lines`) tells a clipped line only where 2 % of the
#: line's height is at least this many times the noise of its peak pixels.
FLAT_NOISE = 2.0


def saturated_lines(flux: np.ndarray, lines: LineList, mask=None) -> np.ndarray:
    """Lines with a flat top (three pixels within 2 % of the peak) or a masked core.

    A Gaussian line of any width a spectrograph delivers falls by more than 2 % one
    pixel from its peak; a clipped one does not. Only a line whose peak pixels' noise
    is below that (:data:`FLAT_NOISE`) can show it: a faint line's top is flat to
    its noise.

    Parameters
    ----------
    flux : numpy.ndarray
        The arc spectrum.
    lines : LineList
        The lines found in it.
    mask : numpy.ndarray of bool or None
        Masked pixels of the spectrum: a line with one in its central 3 pixels counts as
        saturated. ``None`` for none.

    Returns
    -------
    numpy.ndarray of bool
        True for each saturated line.
    """
    flux = np.asarray(flux, float)
    n = flux.size
    idx = np.clip(np.round(lines.centre).astype(int), 2, n - 3)
    win = idx[:, None] + np.arange(-2, 3)[None, :]
    vals = np.where(np.isfinite(flux[win]), flux[win], -np.inf)
    base = np.nanmin(np.where(np.isfinite(flux[win]), flux[win], np.inf), axis=1)
    top = vals.max(axis=1)
    height = np.maximum(top - np.minimum(base, top), 1e-12)
    # three consecutive pixels within 2 % of the peak height
    near = (top[:, None] - vals) <= 0.02 * height[:, None]
    flat = (near[:, :-2] & near[:, 1:-1] & near[:, 2:]).any(axis=1)
    # ... where that 2 % is more than the peak pixels' noise: a faint line's top is
    # flat to its noise (1200_M4 1x1 Ne, seed 4: Ne I 5872.83, S/N 36 at its peak of
    # 905 counts, had three pixels within 6 counts, noise 30, and was set aside as
    # saturated); a clipped top is flat whatever its noise, and far brighter
    # (the fitted line's height: a clipped plateau wider than the five pixels leaves
    # them no height of their own)
    fitted = lines.amplitude / (np.sqrt(2.0 * np.pi) * np.maximum(lines.sigma, 1e-6))
    if lines.noise is not None:
        peak_noise = np.sqrt(lines.noise.variance(top))
    else:
        peak_noise = np.full(top.shape, robust_noise(flux))
    flat &= 0.02 * fitted >= FLAT_NOISE * peak_noise
    # nothing truly flat among noise-free bright lines except a clipped top
    if mask is not None:
        m = np.asarray(mask, bool)
        flat |= m[np.clip(idx[:, None] + np.arange(-1, 2)[None, :], 0, n - 1)].any(axis=1)
    return flat
