"""Argon lines of high excitation in a pen lamp: their offset from the lamp's other lines.

NIST's Ar I air wavelengths are those of low-pressure hollow-cathode sources (Whaling
et al.), and NIST's Th-Ar atlas warns that Ar I lines whose upper level lies above
115 000 cm-1 shift with the lamp's pressure and current; the lines between the 4s and
the 4p levels do not. Goodman's Ar light comes from two kinds of lamp: the hollow
cathodes (CuHeAr, FeHeAr: argon a trace in helium) and the pen lamps (the HgAr bulb,
the Ar lamp: pure argon at a higher pressure). In the 80 real library lamps
(``benchmarks/pen_lamp_shift.py``), the Ar I lines of higher upper levels (4p-nd,
4p-ns, 4s-5p: the faint ones) sit against the 4s-4p lines of their own lamp
+0.030 A (weighted mean, 21 pen lamps; +0.029, +0.036, +0.026 A at 0.30, 0.40 and
0.64-0.99 A/px, while in pixels +0.095, +0.089, +0.036: constant in Angstrom, so the
light's, not the detector's; HgAr bulb 0.03-0.06 A, Ar lamp 0.00-0.04) and -0.002 A
in the 15 hollow-cathode lamps, at the same charge per pixel. The same line fainter
or brighter in another lamp of its kind moves by +0.006 +- 0.012 px per decade of its
peak (across lines, pen-lamp residuals fall 0.08 px over 3.5 decades); the faint
lines' shift does not grow with the transfers to the amplifier (+0.046 px near it,
+0.013 at the far end), and the Ne lines of the same pen lamps show none: it is no
charge lost in the readout, nor a centring bias. It is what made a pen lamp's faint
lines come out redder than its bright ones (+0.09..0.15 px in 1200 M5/M6, 930 M4-M6
HgAr).

In a pen lamp, the high-excitation Ar I lines' offset from the other lines is fitted
beside the solution's correction (:func:`fit_pen_shift`) and reported where it stands
:data:`SIGNIFICANCE` standard errors from zero (``GSP_WPEN``). It is a measurement, not
the default solution: graded as IRAF, PypeIt, goodman or any outside grader grades an
arc, every used line against its NIST wavelength, the solution anchored on the other
lines (4s-4p Ar I, which the atlas finds stable, Hg, which sits with them within
0.012 px, and Ne) was worse in every one of the 11 library pen lamps with a kept
offset (each calibrated from the library without it; RMS/mean, px: 1200M5 Ar
0.043/+0.010 -> 0.069/+0.056, 1200M5 HgAr 0.091/+0.018 -> 0.121/+0.090, 930M4 HgAr
0.116/+0.028 -> 0.156/+0.100, 930M5 Ar 0.033/-0.001 -> 0.051/+0.035, 930M6 HgAr
0.050/+0.004 -> 0.069/+0.031); its lower RMS holds only with the fitted offset
subtracted, a parameter more. Anchoring is asked for with
``calibrate_arc(..., pen_shift="apply")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import chebyshev

from pipeline.wavelength.robust_fit import scaled_covariance

#: Ar I 3p5 4s levels (Paschen 1s5-1s2) and 3p5 4p levels (2p10-2p1), cm-1 (NIST ASD).
AR_4S = (93143.7600, 93750.5978, 94553.6652, 95399.8276)
AR_4P = (
    104102.0990,
    105462.7596,
    105617.2700,
    106087.2598,
    106237.5518,
    107054.2720,
    107131.7086,
    107289.7001,
    107496.4166,
    108722.6194,
)
#: A line whose wavenumber joins a 4s and a 4p level to within this (cm-1) is a 4s-4p
#: line (the library's matches are within 0.006 cm-1, the nearest other line 2.1 off).
LEVEL_MATCH = 0.5
#: Elements of the hollow-cathode lamps, whose Ar is a trace in their fill gas.
HOLLOW_CATHODE = frozenset({"Cu", "Fe"})
#: Fewest used lines of each kind (high-excitation Ar I, the others) to fit the offset.
MIN_LINES = 3
#: Standard errors from zero the offset stands at to be carried.
SIGNIFICANCE = 3.0
#: Lines this many robust sigmas off the fit are left out of it (no smaller sigma than
#: :data:`SCATTER_FLOOR_PX` binned px is assumed).
CLIP_SIGMA = 4.0
SCATTER_FLOOR_PX = 0.025


def _air_to_vacuum(wavelength):
    """Vacuum wavelength (A) of an air wavelength (A), Ciddor's dispersion of air.

    Not specutils' ``air_to_vac``: this runs in every arc's calibration, which keeps
    specutils' import (ndcube, gwcs) off its path (:mod:`pipeline.wavelength.arrays`).
    """
    s2 = (1e4 / np.asarray(wavelength, float)) ** 2
    n = 1.0 + 0.0000834254 + 0.02406147 / (130.0 - s2) + 0.00015998 / (38.9 - s2)
    return np.asarray(wavelength, float) * n


def high_excitation_argon(wavelength, ion) -> np.ndarray:
    """Which lines are Ar I lines of an upper level above the 4p shell.

    Parameters
    ----------
    wavelength : array_like
        NIST air wavelengths, A (NaN for unidentified lines).
    ion : array_like of str
        Each line's spectrum (``"Ar I"``).

    Returns
    -------
    numpy.ndarray of bool
        True for an Ar I line that joins no 4s level to a 4p level.
    """
    wavelength = np.asarray(wavelength, float)
    argon = np.array([str(s) == "Ar I" for s in np.asarray(ion)], bool) & np.isfinite(wavelength)
    sigma = 1e8 / _air_to_vacuum(np.where(argon, wavelength, 5000.0))
    upper = sigma[:, None, None] + np.asarray(AR_4S)[None, :, None]
    four_p = np.any(np.abs(upper - np.asarray(AR_4P)[None, None, :]) < LEVEL_MATCH, axis=(1, 2))
    return argon & ~four_p


def pen_lamp_argon(lamp) -> bool:
    """Whether a lamp's Ar light is a pen lamp's (Ar among its elements, no hollow cathode).

    Parameters
    ----------
    lamp : iterable of str
        The lamp's elements.

    Returns
    -------
    bool
    """
    lamp = frozenset(lamp)
    return "Ar" in lamp and not lamp & HOLLOW_CATHODE


@dataclass(frozen=True)
class PenShift:
    """High-excitation Ar I lines of a pen lamp against the solution of the other lines.

    Attributes
    ----------
    shape : ndarray
        Chebyshev coefficients over x in [-1, 1] of the joint solution minus the other
        lines' solution, binned px towards longer wavelengths.
    offset, error : float
        Where the high-excitation lines sit against it and its standard error, binned px.
    kept : ndarray of bool
        The lines given that fitted it.
    """

    shape: np.ndarray
    offset: float
    error: float
    kept: np.ndarray


def _fit(x, y, w, high, keep, order):
    a = np.hstack([chebyshev.chebvander(x, order), high[:, None].astype(float)])
    aw = a[keep] * w[keep, None]
    coef = np.linalg.lstsq(aw, y[keep] * w[keep], rcond=None)[0]
    cov = scaled_covariance(y, w, keep, coef, a)
    return coef, y - a @ coef, float(np.sqrt(cov[-1, -1]))


def fit_pen_shift(x, resid_px, err, high, order: int) -> PenShift | None:
    """The high-excitation lines' offset beside a Chebyshev of the solution's order.

    Weighted least squares of the used lines' residuals, lines far from it clipped.

    Parameters
    ----------
    x : ndarray
        Line positions in [-1, 1].
    resid_px : ndarray
        Residuals of the solution against NIST, binned px.
    err : ndarray
        1-sigma errors of the residuals, binned px (their ratios weigh the lines).
    high : ndarray of bool
        The high-excitation Ar I lines (:func:`high_excitation_argon`).
    order : int
        Order of the solution's correction.

    Returns
    -------
    PenShift or None
        ``None`` with fewer than :data:`MIN_LINES` lines of either kind, or an offset
        within :data:`SIGNIFICANCE` standard errors of zero.
    """
    x, y = np.asarray(x, float), np.asarray(resid_px, float)
    high = np.asarray(high, bool)
    w = 1.0 / np.maximum(np.asarray(err, float), 1e-3)
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(w)
    for _ in range(5):
        n_high, n_other = int(np.sum(keep & high)), int(np.sum(keep & ~high))
        k = min(int(order), n_other - 2)
        if min(n_high, n_other) < MIN_LINES or k < 0:
            return None
        coef, resid, error = _fit(x, y, w, high, keep, k)
        scale = 1.4826 * float(np.median(np.abs(resid[keep])))
        new = keep & (np.abs(resid) <= CLIP_SIGMA * max(scale, SCATTER_FLOOR_PX))
        if np.array_equal(new, keep):
            break
        keep = new
    if not abs(coef[-1]) >= SIGNIFICANCE * error:
        return None
    return PenShift(np.asarray(coef[:-1], float), float(coef[-1]), error, keep)
