"""Measurement helpers for the simulator tests (independent of the simulator code)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import curve_fit
from scipy.special import erf


def trimmed(data: np.ndarray, truth: dict) -> np.ndarray:
    """Bias-level-subtracted trimmed image (prescan median as the level)."""
    off = truth["trim_offset"]
    ny, nx = truth["trimmed_shape"]
    data = np.asarray(data, float)
    level = np.median(data[:, : off["col"]])
    return data[off["row"] : off["row"] + ny, off["col"] : off["col"] + nx] - level


def _pixel_gaussian(x, area, centre, sigma, z0, z1):
    s = np.sqrt(2.0) * abs(sigma)
    return (
        0.5 * area * (erf((x + 0.5 - centre) / s) - erf((x - 0.5 - centre) / s))
        + z0
        + z1 * (x - centre)
    )


def fit_peak(profile: np.ndarray, guess: float, half_window: int) -> float:
    """Centre of a pixel-integrated Gaussian + linear background fitted near ``guess``."""
    i = int(round(guess))
    x = np.arange(max(i - half_window, 0), min(i + half_window + 1, profile.size))
    y = profile[x]
    p0 = [max(y.max() - y.min(), 1.0) * 2.5, guess, 1.0, y.min(), 0.0]
    popt, _ = curve_fit(_pixel_gaussian, x.astype(float), y, p0=p0, maxfev=5000)
    return float(popt[1])
