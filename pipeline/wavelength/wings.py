"""The sloped local level of a faint arc line on a much brighter neighbour's wing.

An arc line's profile is a Gaussian core on far wings (scattered light, the optics'
halo) that fall off over several FWHM. A faint line a few FWHM from a line twenty or
more times brighter sits on that wing: its local level is not flat, and a constant
level under it leaves the slope to the Gaussian's centre, which moves towards the
bright line (tenths of a pixel for lines within a few FWHM). Such a line's level is
a straight line through the valleys on its two sides instead.

The wing is modelled only to decide where that matters (:func:`on_wings`); its level
is measured on the arc (:func:`valley_levels`).
"""

from __future__ import annotations

import numpy as np

#: A neighbour this many times brighter (peak) puts a faint line on its wing.
WING_RATIO = 20.0
#: The wing model: ``WING_PEAK * peak * exp(-distance / (WING_SCALE_FWHM * FWHM))``.
WING_PEAK = 0.01
WING_SCALE_FWHM = 3.5
#: The wing model at the faint line, as a fraction of the faint line's peak, from which
#: its level is sloped.
WING_SIGNIFICANCE = 0.05
#: A faint line broader than this times the arc's line width is a blend (Ne I 6652.09
#: in the 400 M1 HgArNe lamp): the valleys beside it are no level under one line, and
#: its level stays constant.
WING_MAX_BROADENING = 1.25
#: Lines this many FWHM or closer to the bright one are its shoulder (a blend, see
#: :data:`pipeline.wavelength.lines.SHOULDER_FWHM`): no valley lies between them.
MIN_GAP_FWHM = 2.5
#: Each side's valley is sought up to the next line, and at least this many pixels
#: (or three FWHM) from the line where no line is nearer.
VALLEY_MIN_PX = 7
VALLEY_FWHM = 3.0
#: Valleys nearer the line than this many FWHM lie on its own flanks: no level is
#: measured there (400 M2 2x2: Ne I 5820.16, the valleys held to 1.6 px by a brighter
#: neighbour's core, took the line's own flanks for a slope and moved it 0.19 px).
VALLEY_MIN_FWHM = 1.5
#: Lines narrower than this (px FWHM) have their own flank in a valley's three-pixel
#: mean even at VALLEY_MIN_FWHM: that mean reaches a pixel nearer, ``VALLEY_MIN_FWHM *
#: fwhm - 1`` px, within one FWHM of the line below ``1 / (VALLEY_MIN_FWHM - 1)`` px
#: (see ``own`` in :func:`valley_levels`).
FLANK_FWHM_PX = 1.0 / (VALLEY_MIN_FWHM - 1.0)
#: No valley is sought where the brighter lines' drawn Gaussians exceed this fraction
#: of the line's peak (as the deblending leaves such pixels out:
#: :data:`pipeline.wavelength.lines.DOMINATED_FRACTION`).
OUTSHONE_FRACTION = 0.1
#: Noise allowance (pixel sigmas) of the rise across a valley's three-pixel mean: the
#: difference of two pixels has sigma sqrt(2), and 3 of those pass 99.9 % of flat ones.
RISE_NOISE = 3.0 * np.sqrt(2.0)


def on_wings(centre, height, ok, fwhm) -> np.ndarray:
    """Lines whose level a much brighter neighbour's wing slopes.

    Parameters
    ----------
    centre, height : numpy.ndarray
        Each line's place (px) and peak above its level.
    ok : numpy.ndarray of bool
        Lines whose fit converged (only those are measured, and only those are
        neighbours).
    fwhm : float
        The arc's line FWHM, px.

    Returns
    -------
    numpy.ndarray of bool
        Per line: a neighbour at least :data:`WING_RATIO` times brighter, more than
        :data:`MIN_GAP_FWHM` away, whose wing model reaches
        :data:`WING_SIGNIFICANCE` of the line's peak there.
    """
    centre, height = np.asarray(centre, float), np.asarray(height, float)
    ok = np.asarray(ok, bool) & (height > 0)
    gap = np.abs(centre[:, None] - centre[None, :])
    bright = ok[None, :] & (height[None, :] >= WING_RATIO * height[:, None])
    bright &= gap > MIN_GAP_FWHM * fwhm
    wing = WING_PEAK * height[None, :] * np.exp(-gap / (WING_SCALE_FWHM * fwhm))
    wing = np.where(bright, wing, 0.0).sum(axis=1)
    return ok & (wing >= WING_SIGNIFICANCE * height)


def _valley(smooth, where, pix):
    """Place and value of the lowest finite smoothed pixel ``where`` (None: none)."""
    seg = np.where(where & np.isfinite(smooth), smooth, np.inf)
    if not np.isfinite(seg).any():
        return None
    k = int(np.argmin(seg))
    return float(pix[k]), float(seg[k])


def _steep_rise(seg, inner, c, fwhm, noise) -> np.ndarray:
    """Three-pixel means whose light rises away from the line faster than a wing can.

    A wing (``exp(-distance / (WING_SCALE_FWHM * FWHM))``) grows across the mean's two
    outer pixels by at most ``exp(2 / (WING_SCALE_FWHM * FWHM))`` of the inner one's
    level (plus :data:`RISE_NOISE` of the pixel noise); a rise steeper than that is
    another line's core, which no fitted Gaussian draws: the unresolved companion of a
    brighter line fitted as one Gaussian. Light falling away from the line is its own
    flank, and is left to the ``own`` test.

    The rise is counted from the inner pixel's light or zero, whichever is more: a
    wing is light, never below zero, so an inner pixel below zero is the line's own
    Gaussian taken off where the line is narrower than it (its misfit, many times
    the pixel noise under a bright line), and a rise from there is no other line's
    core. Binned 2x2 (2.5 px FWHM) custom-angle CuHeAr, Ar I 7353.29 (400 Red s1),
    Ar I 9194.64 (s4), Ar II 4481.81 (930 Blue s3): inner pixels of -50 to -140 ADU
    beside the valleys 1.3 FWHM out, the far ones at the level (-10 to +30), read
    as rises; the valleys moved out, and each line was set aside as an outlier.
    """
    near, far = np.where(inner < c, seg[2:], seg[:-2]), np.where(inner < c, seg[:-2], seg[2:])
    growth = np.exp(2.0 / (WING_SCALE_FWHM * fwhm)) - 1.0
    near = np.maximum(near, 0.0)
    with np.errstate(invalid="ignore"):
        return far - near > growth * near + RISE_NOISE * noise


def valley_levels(
    flux, centre, others, fwhm, light=None, cores=None, peak=None, own=None, noise=None
):
    """A straight level under each line, through the valleys on its two sides.

    Each side's valley is the lowest point (of the arc smoothed over three pixels:
    one noisy pixel is no valley) between the line and the next line on that side,
    sought at least :data:`VALLEY_MIN_PX` px (or :data:`VALLEY_FWHM` FWHM) out where
    no line is nearer, and on both sides as far as on the nearer one (the lowest of
    more noisy pixels lies lower: unequal searches tilt the level). A line whose
    valleys would lie nearer than :data:`VALLEY_MIN_FWHM` gets none.

    Parameters
    ----------
    flux : numpy.ndarray
        The arc.
    centre : numpy.ndarray
        The lines whose level is wanted (px).
    others : numpy.ndarray
        Every line found in the arc (px): the neighbours that bound the valleys.
    fwhm : float
        The arc's line FWHM, px.
    light : callable, optional
        ``light(i, pixels)``: the fitted Gaussians of the other lines at those pixels,
        taken off before the valleys of line ``i`` are sought (the level is the wing
        beyond the lines' Gaussian cores, which the fit draws and subtracts itself).
    cores : callable, optional
        ``cores(i)``: places and reaches (px) of the brighter lines near line ``i``
        whose cores are not drawn (clipped, saturated or blended fits): the valleys
        are sought no nearer to them than that (their flank is no wing).
    peak : numpy.ndarray, optional
        The lines' peaks: no valley is sought where ``light`` exceeds
        :data:`OUTSHONE_FRACTION` of it (a drawn Gaussian's misfit there, of a
        saturated line's top, outweighs the wing: 600 Blue 2x2, Ne I 4865.91 beside
        a clipped Ne I 4879.86, whose overshooting Gaussian made a valley 12000 ADU
        deep and moved the line 0.18 px).
    own : callable, optional
        ``own(i, pixels)``: line ``i``'s own fitted Gaussian there (``peak`` given): for
        lines narrower than :data:`FLANK_FWHM_PX`, no valley is read where its
        three-pixel mean holds more of it than :data:`OUTSHONE_FRACTION` of the peak,
        as where a brighter line's does: that is the line's own flank, no level. (Wider
        lines are left as they were: the real 1x1 library lamps' faint lines on wings
        are measured, and their refits committed, with the valleys as found.) The
        lowest point of a short search is its end nearest the line: binned 3x3 (1.7 px
        FWHM), 930_M6 HgArNe (seed 0), Ar I 7392.98, 4.4 FWHM from Ar I 7383.98 530
        times brighter, whose drawn core held its search to 2.5 px, took its own flank
        (a mean of 260 ADU over 1.5 px out, its peak 660) for the right valley; the
        sloped level moved it 0.09 px (0.17 px error) and it was set aside, centred
        0.01 px from the truth over a constant level. The own Gaussian's light in the
        means that are read is taken off them: it is the line's, and left in (up to
        that tenth of its peak) it raised the valley on the bright side and moved the
        line up to 0.03 px (Gaussian lines, no noise; physical truth 400_M1 3x3 seeds
        1-3, 600_UV 3x3 HgAr seed 4, Ar I 5495.87).
    noise : float, optional
        The arc's pixel noise: no valley is read where the light beyond the drawn
        Gaussians and the line's own rises away from the line, across the three-pixel
        mean, faster than a wing can (:func:`_steep_rise`): that is another line's
        core. Binned 3x3, 400 l/mm HgArNe, Ne I 5748.30 5.4 px from Ne I 5764.42, which
        the single Gaussian fitted to it and Hg I 5769.60 does not draw: the right
        valley's mean, 3 px out, read Ne I 5764.42's flank (a pixel twenty times the
        one inside it), and the sloped level moved the line 0.1-0.3 px (seeds 5, 8).

    Returns
    -------
    numpy.ndarray
        Shape (n, 4): ``x_left, level_left, x_right, level_right`` per line, NaN where
        it has no valleys (the detector's end, neighbours too near).
    """
    flux = np.asarray(flux, float)
    n = flux.size
    reach = max(float(VALLEY_MIN_PX), VALLEY_FWHM * fwhm)
    others = np.sort(np.asarray(others, float))
    out = np.full((np.size(centre), 4), np.nan)
    for i, c in enumerate(np.asarray(centre, float)):
        left_nb = others[others < c - 0.5 * fwhm]
        right_nb = others[others > c + 0.5 * fwhm]
        # both sides searched as far (the nearer neighbour's distance): the lowest of
        # more noisy pixels lies lower, and unequal searches would tilt the level
        span = min(
            reach,
            c - left_nb[-1] if left_nb.size else np.inf,
            right_nb[0] - c if right_nb.size else np.inf,
            c - 1.0,
            n - 2.0 - c,
        )
        if cores is not None:
            places, reaches = cores(i)
            span = min(span, np.min(np.abs(places - c) - reaches, initial=np.inf))
        if span < VALLEY_MIN_FWHM * fwhm:
            continue
        # three-pixel means (one noisy pixel is no valley), one pixel beyond each end
        pix = np.arange(int(np.ceil(c - span)) - 1, int(np.floor(c + span)) + 2)
        drawn = light(i, pix) if light is not None else np.zeros(pix.size)
        if peak is not None:
            # the three-pixel mean at the valley reaches one pixel further
            over = np.abs(pix[drawn > OUTSHONE_FRACTION * peak[i]] - c)
            span = min(span, np.min(over, initial=np.inf) - 2.0)
            if span < VALLEY_MIN_FWHM * fwhm:
                continue
        seg = flux[pix] - drawn
        with np.errstate(invalid="ignore"):
            smooth = (seg[:-2] + seg[1:-1] + seg[2:]) / 3.0
        inner = pix[1:-1]
        if own is not None and peak is not None and fwhm < FLANK_FWHM_PX:
            mine = own(i, pix)
            mine = (mine[:-2] + mine[1:-1] + mine[2:]) / 3.0
            # the line's own light in a mean it may read is no level either
            smooth = np.where(mine > OUTSHONE_FRACTION * peak[i], np.nan, smooth - mine)
        if noise is not None:
            rest = seg - (own(i, pix) if own is not None else 0.0)
            smooth = np.where(_steep_rise(rest, inner, c, fwhm, noise), np.nan, smooth)
        left = _valley(smooth, (inner >= c - span) & (inner < c - 0.5), inner)
        right = _valley(smooth, (inner <= c + span) & (inner > c + 0.5), inner)
        if left is not None and right is not None:
            out[i] = (*left, *right)
    return out


def level_at(x, valleys) -> np.ndarray:
    """The straight level through each line's two valleys.

    Parameters
    ----------
    x : numpy.ndarray
        Pixels, one row per line.
    valleys : numpy.ndarray
        :func:`valley_levels` of those lines.

    Returns
    -------
    numpy.ndarray
        The level at ``x``, of its shape.
    """
    x0, y0, x1, y1 = (valleys[:, k : k + 1] for k in range(4))
    return y0 + (y1 - y0) * (np.asarray(x, float) - x0) / (x1 - x0)
