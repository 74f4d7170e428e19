"""The offset between the two bulbs of Goodman's HgArNe lamp, measured on an arc's lines.

Goodman's ``HgArNe`` arc is two pen lamps lit together: the HgAr bulb (Hg and its Ar
fill gas) and the Ne bulb, whose light reaches the slit by its own path. In one
exposure the two bulbs' lines can sit apart as groups. Fitted with a zero point per
bulb beside the correction's own Chebyshev, real arcs give Ne minus HgAr of
+0.33 +- 0.02 unbinned px (``sp_400m1``), +0.31 (1200 M7 library lamp), +0.20 (600
Red), +0.16 (1200 CaNIR; PypeIt's Blue 400 and the M1 part of its Red 400), +0.09 (a
1200 M5 RED arc of 2016), -0.09 (400 M2) and 0 within 0.02-0.04 px in others
(``benchmarks/bulb_offsets.py``). Those library lamps are single exposures of 1-5 s
with both bulbs on, not composites; Hg against Ar, one bulb, agree within two of
their errors in every arc. The offset changes from one exposure to the next (both
signs, within a night and a slit) and in some arcs along the detector (600 Red: a
term linear in pixel of +0.27 +- 0.03 px over the half-detector; 400 M2 -0.09).

It is reported, not fitted: a zero point per bulb, fitted, moved the solutions of
real arcs away from the independent ones (PypeIt's Blue 400 from 0.022 to 0.062 binned
px RMS, its Red 400 M1 part from 0.013 to 0.067), brought ``sp_400m1`` from a
perturbed first guess 0.02-0.03 px away from its library-started solution (0.002
before), and against the Ne-only lamp of the same mode taken minutes later improved
one library lamp's shape (1200 M7: 0.061 to 0.033 px) and worsened another's (600
Red: 0.043 to 0.056). What it tells the user is that the lamp light has no single
zero point: the science light's may be either bulb's, up to the offset apart, unless
its own sky lines set it (:mod:`pipeline.wavelength.sky`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.polynomial import chebyshev

#: Elements of the Ne bulb, and of the other bulb of a two-bulb lamp (the HgAr pen
#: lamp, or the Ar lamp).
NE_BULB = frozenset({"Ne"})
OTHER_BULB = frozenset({"Hg", "Ar"})
#: Fewest identified lines per bulb to measure an offset.
MIN_LINES_PER_BULB = 3
#: Lines farther than this many robust sigmas from the joint fit are left out of the
#: estimate (misidentified or blended lines).
CLIP_SIGMA = 4.0


@dataclass(frozen=True)
class BulbOffset:
    """Offset of the Ne bulb's lines against the other bulb's, binned px.

    Attributes
    ----------
    offset : float
        Ne minus HgAr, binned px towards longer wavelengths.
    error : float
        Its standard error, binned px.
    n_ne, n_other : int
        Lines of each bulb that measured it.
    """

    offset: float
    error: float
    n_ne: int
    n_other: int


def bulb_sides(lamp, ion) -> np.ndarray | None:
    """Which bulb of a two-bulb lamp each line comes from.

    Parameters
    ----------
    lamp : iterable of str
        The lamp's elements (``{"Hg", "Ar", "Ne"}``).
    ion : array of str
        Each line's spectrum (``"Ne I"``), ``""`` when unidentified.

    Returns
    -------
    ndarray or None
        Per line, +1 for the Ne bulb, -1 for the other bulb, 0 otherwise
        (unidentified); ``None`` when the lamp is not two bulbs.
    """
    lamp = frozenset(lamp)
    if not (NE_BULB <= lamp and lamp & OTHER_BULB and lamp <= NE_BULB | OTHER_BULB):
        return None
    element = np.array([str(s).split(" ")[0] for s in np.asarray(ion)])
    ne = np.isin(element, list(NE_BULB))
    return np.where(ne, 1.0, np.where(np.isin(element, list(OTHER_BULB)), -1.0, 0.0))


def measure_offset(x, resid_px, err, side, order: int) -> BulbOffset | None:
    """The bulbs' offset from lines' residuals, fitted beside a Chebyshev of ``order``.

    A zero point of +-half the offset per bulb and the Chebyshev over ``x``, weighted
    least squares, lines far from the fit clipped.

    Parameters
    ----------
    x : ndarray
        Line positions in [-1, 1].
    resid_px : ndarray
        Residuals against NIST, binned px (solution minus NIST, towards longer
        wavelengths).
    err : ndarray
        1-sigma errors of the residuals, binned px (their ratios weigh the lines; the
        scale is the residuals' own).
    side : ndarray
        +1 (Ne bulb) or -1 (the other bulb) per line.
    order : int
        Order of the correction the solution was fitted with.

    Returns
    -------
    BulbOffset or None
        ``None`` when a bulb has fewer than :data:`MIN_LINES_PER_BULB` lines.
    """
    x, y, side = (np.asarray(a, float) for a in (x, resid_px, side))
    w = 1.0 / np.maximum(np.asarray(err, float), 1e-3)
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(w) & (side != 0)
    fit = None
    for _ in range(5):
        n_ne, n_other = int(np.sum(keep & (side > 0))), int(np.sum(keep & (side < 0)))
        k = min(int(order), int(keep.sum()) - 3)
        if min(n_ne, n_other) < MIN_LINES_PER_BULB or k < 0:
            return None
        a = np.hstack([chebyshev.chebvander(x, k), 0.5 * side[:, None]])
        aw = a[keep] * w[keep, None]
        coef, *_ = np.linalg.lstsq(aw, y[keep] * w[keep], rcond=None)
        resid = y - a @ coef
        dof = max(int(keep.sum()) - a.shape[1], 1)
        chi2 = float(np.sum((resid[keep] * w[keep]) ** 2)) / dof
        cov = np.linalg.pinv(aw.T @ aw) * chi2
        fit = BulbOffset(float(coef[-1]), float(np.sqrt(cov[-1, -1])), n_ne, n_other)
        scale = 1.4826 * float(np.median(np.abs(resid[keep])))
        new = keep & (np.abs(resid) <= CLIP_SIGMA * max(scale, 1e-3))
        if np.array_equal(new, keep):
            break
        keep = new
    return fit
