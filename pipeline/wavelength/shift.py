"""Offset of an arc against a reference lamp, to a fraction of a pixel.

goodman_pipeline keeps the integer lag of its cross-correlation, which alone leaves up
to half a pixel of error. Here the integer peak is refined by a parabola through the
three highest correlation values, and the caller then refines it further by comparing
line centres (see :mod:`pipeline.wavelength.calibrate`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.wavelength.lines import continuum, robust_noise
from pipeline.wavelength.peaks import correlate_full


def bin_spectrum(flux: np.ndarray, binning: int, n: int | None = None) -> np.ndarray:
    """Sum an unbinned spectrum into binned pixels: ``j`` covers ``b*j .. b*j+b-1``.

    Parameters
    ----------
    flux : numpy.ndarray
        The unbinned spectrum (counts per unbinned pixel).
    binning : int
        Binning ``b``.
    n : int or None
        Binned pixels wanted; ``None`` for ``len(flux) // b``. Pixels beyond the data are
        0.

    Returns
    -------
    numpy.ndarray
        float, length ``n``: counts per binned pixel.
    """
    flux = np.asarray(flux, dtype=float)
    n = flux.size // binning if n is None else n
    usable = min(n, flux.size // binning)
    out = np.zeros(n)
    out[:usable] = flux[: usable * binning].reshape(usable, binning).sum(axis=1)
    return out


def shifted_binned(flux: np.ndarray, shift: float, binning: int, n: int) -> np.ndarray:
    """The unbinned spectrum moved by ``shift`` unbinned pixels, then binned.

    This is what the detector records when the same lamp lands ``shift`` pixels further
    along the dispersion axis (flexure): unbinned pixel ``x`` sees ``flux(x - shift)``.

    Parameters
    ----------
    flux : numpy.ndarray
        The unbinned spectrum.
    shift : float
        Shift in unbinned pixels (sub-pixel; cubic-spline interpolation, 0 outside).
    binning : int
        Binning of the result.
    n : int
        Binned pixels of the result.

    Returns
    -------
    numpy.ndarray
        float, length ``n``: the shifted spectrum, binned.
    """
    x = np.arange(n * binning, dtype=float) - shift
    moved = ndimage.map_coordinates(
        np.asarray(flux, float), [x], order=3, mode="constant", cval=0.0
    )
    return moved.reshape(n, binning).sum(axis=1)


def _prepare(flux: np.ndarray) -> np.ndarray:
    """Continuum-free, noise-normalised, compressed spectrum for correlation.

    Compressing the strong lines (asinh) lets the many fainter lines count too, so a
    single saturated line cannot pull the lag.
    """
    flux = np.where(np.isfinite(flux), flux, 0.0)
    net = flux - continuum(flux)
    noise = robust_noise(net) or 1.0
    z = np.arcsinh(np.clip(net / noise, 0.0, None) / 5.0)
    return z - z.mean()


def cross_correlation_lag(
    spectrum: np.ndarray, reference: np.ndarray, max_lag: int | None = None
) -> tuple[float, float]:
    """Sub-pixel lag (pixels) that best aligns ``reference`` onto ``spectrum``.

    A positive lag means features sit at larger pixel indices in ``spectrum``.

    Parameters
    ----------
    spectrum : numpy.ndarray
        The observed 1-D spectrum.
    reference : numpy.ndarray
        The reference spectrum (e.g. the template rendered at the same binning).
    max_lag : int or None
        Largest lag searched, in pixels either way; ``None`` for any.

    Returns
    -------
    lag : float
        Refined with a parabola through the correlation peak and its neighbours.
    peak : float
        Normalised correlation at the peak (1 = identical shapes), a match quality.
    """
    a = _prepare(np.asarray(spectrum, float))
    r = _prepare(np.asarray(reference, float))
    corr = correlate_full(a, r)
    lags = np.arange(-r.size + 1, a.size)
    if max_lag is not None:
        keep = np.abs(lags) <= max_lag
        corr, lags = corr[keep], lags[keep]
    k = int(np.argmax(corr))
    lag = float(lags[k]) + subsample_peak(corr, k)
    norm = np.sqrt(np.sum(a**2) * np.sum(r**2))
    return lag, float(corr[k] / norm) if norm > 0 else 0.0


def subsample_peak(values: np.ndarray, k: int) -> float:
    """Offset (in samples) of the parabola's vertex through ``values[k-1:k+2]`` from ``k``.

    Parameters
    ----------
    values : numpy.ndarray
        A sampled curve whose largest value is at index ``k``.
    k : int
        Index of the largest value.

    Returns
    -------
    float
        The vertex's offset from ``k``, in (-0.5, 0.5); 0 at either end of ``values``
        or where the three samples do not curve down.
    """
    if 0 < k < values.size - 1:
        y0, y1, y2 = values[k - 1], values[k], values[k + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            return float(0.5 * (y0 - y2) / den)
    return 0.0
