"""A sparse lamp's or arc's shape from its mode's most informative library lamp.

The lamps of one mode share pixels to a few hundredths of a pixel (same optics, up to
a zero point and, between exposures, a scale). A lamp or arc of few lines can correct
its first guess only at low order, so it keeps that guess's errors of shape between
and beyond its lines; the corrected model of the mode's richest lamp, moved onto the
lines (zero point, scale and what the lines choose), measures that shape. The library
refit gives its sparse lamps that shape (:mod:`pipeline.wavelength.refit_library`,
``GSP_RSHP``), and a user's sparse arc is fitted from it too
(:func:`pipeline.wavelength.calibrate.calibrate_arc`, ``GSP_WSHP``): either keeps the
shape under which its own lines predict each other better (:func:`loo_on_lines`).
"""

from __future__ import annotations

import numpy as np

from pipeline.lamps import LampTemplate
from pipeline.wavelength.first_guess import Alignment, inverse

#: A library lamp refitted to fewer NIST lines is sparse: its refit also tries its
#: donor's shape, and it cannot be a donor itself. A rich lamp takes a donor's shape
#: only from a lamp richer than its own refit
#: (:func:`pipeline.wavelength.refit_library._sibling_shape_solution`), so no two
#: lamps of a mode take each other's shapes. Below it an arc's order cap
#: (:func:`pipeline.wavelength.robust_fit.order_cap`) exceeds three lines per
#: coefficient.
SPARSE_LIBRARY = 15


def shape_donor(template: LampTemplate) -> LampTemplate | None:
    """The lamp of ``template``'s mode whose corrected model best measures the mode's shape.

    The donor is another lamp of the mode (never ``template``'s own file) refitted to
    at least :data:`SPARSE_LIBRARY` NIST lines that carries the most information:
    lines over their variance, ``n / max(rms, SYSTEMATIC_PX)**2``. More lines alone
    would pick 1200M7_HgArNe (26 lines at 0.137 px, its two bulbs' zero points apart)
    over 1200M7_Ne (24 at 0.038).

    Parameters
    ----------
    template : LampTemplate
        A library lamp (the arc's, or the one being refitted).

    Returns
    -------
    LampTemplate or None
        The donor, with its corrected model; ``None`` when the mode has none.
    """
    from pipeline.lamps import templates_for_mode

    others = [
        o
        for o in templates_for_mode(template.mode)
        if o.file_name != template.file_name
        and o.corrected
        and (o.corrected_lines or 0) >= SPARSE_LIBRARY
        and o.corrected_rms_pixel is not None
    ]
    if not others:
        return None
    return max(others, key=lambda o: information(o.corrected_lines, o.corrected_rms_pixel))


def information(n_lines, rms_pixel) -> float:
    """How much a solution knows of its shape: its lines over their variance.

    Parameters
    ----------
    n_lines : int
        Lines the solution used.
    rms_pixel : float
        Their RMS (px); below the lines' systematic floor (``SYSTEMATIC_PX``) it counts
        as the floor.

    Returns
    -------
    float
        ``n / max(rms, SYSTEMATIC_PX)**2``.
    """
    from pipeline.wavelength.identify import SYSTEMATIC_PX

    return n_lines / max(rms_pixel, SYSTEMATIC_PX) ** 2


def _arc_coordinate(j, binning: int) -> np.ndarray:
    """Unbinned arc coordinate of binned pixels ``j`` (as the identification maps them)."""
    b = int(binning)
    return b * np.asarray(j, float) + (b - 1) / 2.0


def donor_alignment(donor, j, reference, weight, n: int, binning: int, peak: float):
    """The arc's coordinate mapped onto ``donor``'s by the lines' zero point and scale.

    The identified lines place their NIST wavelengths on the donor's model; a weighted
    straight line through (arc coordinate, donor coordinate) is the affine alignment
    the donor's identification starts from. It takes the arc's flexure and scale
    against the donor from the lines themselves, where a cross-correlation with the
    donor's flux would compare other lamps' lines (the donor is often a lamp of other
    elements) and, on a binned or custom-ROI arc, its unbinned library pixels anyway.

    Parameters
    ----------
    donor : LampTemplate
        The donor lamp (its model over unbinned library pixels).
    j, reference, weight : numpy.ndarray
        Binned pixel, NIST wavelength (Å) and weight of each identified line used.
    n, binning : int
        Binned pixels of the arc and binning along the dispersion.
    peak : float
        The match quality to report (the arc's own alignment's).

    Returns
    -------
    Alignment or None
        ``None`` when fewer than two lines fall on the donor's model.
    """
    v = _arc_coordinate(j, binning)
    u = inverse(donor, reference, max(n * int(binning), 4060))
    ok = np.isfinite(u) & np.isfinite(weight)
    if ok.sum() < 2:
        return None
    centre = (n * int(binning) - 1) / 2.0
    slope, intercept = np.polyfit(v[ok] - centre, u[ok] - centre, 1, w=np.sqrt(weight[ok]))
    return Alignment(scale=float(slope), offset=float(intercept), centre=centre, peak=peak)


def loo_on_lines(guess, alignment, j, reference, weight, n: int, binning: int, order: int) -> float:
    """Leave-one-out RMS (guess px) of the lines about a moved and corrected guess.

    The guess is moved by ``alignment`` and corrected at ``order`` (at least a zero
    point and a scale). Every start is judged on the same lines (pixel and NIST wavelength) and with its own
    alignment and correction order: only the shape between and beyond them differs.
    Isolated end lines are weighed as the robust fit weighs them
    (:func:`pipeline.wavelength.robust_fit.loo_rms`).

    Parameters
    ----------
    guess : object with ``wavelength(unbinned_pixel)``
        A first guess (the arc's library lamp, its donor, the optics on a lamp).
    alignment : Alignment
        The arc's coordinate mapped onto the guess's.
    j, reference, weight : numpy.ndarray
        Binned pixel, NIST wavelength (Å) and weight of each line.
    n, binning : int
        Binned pixels of the arc and binning along the dispersion.
    order : int
        The correction's order (raised to 1: an alignment's scale is free too).

    Returns
    -------
    float
        The leave-one-out RMS; ``inf`` when the lines are too few or off the guess.
    """
    from pipeline.wavelength.robust_fit import loo_rms

    u = inverse(guess, reference, max(n * int(binning), 4060))
    y = u - alignment(_arc_coordinate(j, binning))
    ok = np.isfinite(y) & np.isfinite(weight)
    if not ok.all():
        return float("inf")
    x = 2.0 * np.asarray(j, float) / max(n - 1, 1) - 1.0
    return loo_rms(x, y, weight, max(int(order), 1))


__all__ = ["SPARSE_LIBRARY", "donor_alignment", "loo_on_lines", "shape_donor"]
