"""Arc lines whose profile cosmic-ray cleaning altered: pixels no optics drew.

A bright line with an edge steeper than a Gaussian of the instrument's width draws, and
than its neighbours' edges, had pixels replaced (:data:`ALTERED_STEP`); its fitted
centre is no measure of its place. Applied only to arcs whose header records the
cleaning (:func:`pipeline.lamps.cosmic_cleaned`).
"""

from __future__ import annotations

import numpy as np

from pipeline.wavelength.lines import LineList, robust_noise
from pipeline.wavelength.local_lines import _local_quantile

#: A bright line whose steepest pixel-to-pixel step is ALTERED_STEP times the steepest
#: a Gaussian of the instrument's width gives (``h / (sigma sqrt(e))``), and ALTERED_LOCAL
#: times its neighbours' (:func:`altered_lines`), has pixels no optics drew: its
#: profile was altered, and its fitted centre is no measure of its place. The library
#: lamps reduced in 2018 (goodman pipeline 1.0b2, ``GSP_COSM = DCR``: its cosmic-ray
#: cleaning then also ran on comparison lamps) hold such lines: 930_M5 HgArNe and Ne,
#: two exposures of one bulb, show the same one-pixel edges and notches to 0.1 % and
#: the same offsets from NIST (Ne I 6678.28 +0.36/+0.31 px, 6506.53 -0.30/-0.26), as
#: 930_M4 (+0.38) and 1200_M4 (+0.43) do, while the lamps reduced without it (2100
#: l/mm, 400_M1 and 600_MID HgArNe, ``GSP_COSM = none``) put the same lines within 0.06
#: px of NIST. No NIST neighbour explains them (none within a FWHM in the lists; the
#: Ne-only lamp shows them as the HgArNe one does). Set aside, 930_M4 HgArNe refits to
#: 0.082 px (30 lines; 33 at 0.0865 before), 930_M5 HgArNe to 0.090 (25; 31 at 0.129).
#: The rule is applied only to an arc whose header records the cleaning
#: (:func:`pipeline.lamps.cosmic_cleaned`, ``line_shapes(cosmic_cleaned=True)``): where no
#: pixel was replaced a steep edge is the optics', the sampling's or the noise's, and a
#: line set aside for it is a line lost (goodman's linearised history arcs moved both
#: ways with it: 1200_M3 CuHeAr 04:14 0.120 -> 0.161 px, 1200_M5 RED 0.068 -> 0.092). A focus-
#: broadened, box-like profile has steep edges too, but so have its neighbours
#: (1200_CaNIR's 0.8" slit: 18 of 25 lines above 1.3). At 1.3 the simulated custom-
#: angle arcs (seed 0, 1x1) lost an expected line in 3 of 16 (clean lines of 1.33-1.40
#: beside a notch of the simulated profile); the altered library lines step 1.4-1.75.
ALTERED_STEP = 1.42
ALTERED_LOCAL = 1.2
#: ... the neighbours' step taken as the lower quartile of the LOCAL_LINES nearest
#: bright lines, not their median: at 930_M5's blue end five of the seven bright Ne
#: lines are altered (their median step 1.55 against 1.1 for clean lines) and the
#: median took them for the instrument's profile.
ALTERED_QUANTILE = 25.0
#: ... judged only where the instrument's FWHM is at least ALTERED_MIN_FWHM px: a
#: narrower line is as much the slit's box as a Gaussian, its edges steep by nature
#: and by sampling phase (1200_M6 FeHeAr, 2.5 px: clean lines 1.1-1.8 times a
#: Gaussian's step; Fe I 8006.16 and Ar I 8103.69 at its red end, set aside, left
#: the fit to bend 0.2 px there, and its agreement with its mode's other lamps went
#: from 0.012 to 0.046 px).
ALTERED_MIN_FWHM = 3.0
#: ... and only where the profile's misfit shows in the centring error, ALTERED_ERROR
#: times its bright neighbours' (their lower quartile, as for the step): an edge made
#: steep by resampling (goodman's linearised arcs, 600 l/mm KOSI CuHeAr at 6 px FWHM:
#: Ar II 4131.72 0.02 px off NIST, its error 0.13 as its neighbours') is steep without
#: misplacing the line (set aside, the arc went from 0.020 to 0.054 px), while the
#: altered lines of 930_M5 HgArNe have errors of 0.11-0.15 px beside 0.04-0.08. An arc
#: of fewer than SPARSE_SHARP bright lines is not judged: it needs each of them.
ALTERED_ERROR = 1.4
#: ... and where the step's excess over a Gaussian's is ALTERED_NOISE times the noise
#: of two pixels at the line's peak (the altered library lines have millions of counts).
ALTERED_NOISE = 5.0


def steepest_step(flux: np.ndarray, lines: LineList, fwhm=None) -> np.ndarray:
    """Each line's steepest pixel-to-pixel step over the steepest of a Gaussian.

    Over the line's own pixels (from its peak outwards, within ``fwhm`` and a pixel, until
    the spectrum rises again by a tenth of the line's height: a neighbour's flank is not
    the line's), the largest difference between adjacent pixels over the line's height
    there, divided by ``1 / (sigma sqrt(e))``: the steepest slope of a unit Gaussian of
    the instrument's sigma (``fwhm / 2.3548``). About 1 for a line the optics drew (a
    pixel-integrated Gaussian steps less; a blend, broader, less still); well above it
    where pixels were replaced (see :data:`ALTERED_STEP`).

    Parameters
    ----------
    flux : numpy.ndarray
        The arc spectrum.
    lines : LineList
        Its lines (centres and sigmas in pixels).
    fwhm : numpy.ndarray or None
        The instrument's FWHM at each line (px); ``None``: each line's own.

    Returns
    -------
    numpy.ndarray
        The ratio per line (``nan`` where the window leaves the spectrum).
    """
    return _steps(flux, lines, fwhm)[0]


def _steps(flux, lines, fwhm):
    """:func:`steepest_step`'s ratio, and each line's height and peak level there."""
    flux = np.asarray(flux, float)
    ratio = np.full(lines.centre.size, np.nan)
    height = np.zeros(lines.centre.size)
    peak = np.zeros(lines.centre.size)
    sigma = np.asarray(lines.sigma, float) if fwhm is None else np.asarray(fwhm) / 2.3548
    for i, (c, s) in enumerate(zip(lines.centre, sigma, strict=True)):
        mid = int(round(c))
        half = int(np.ceil(2.3548 * s)) + 1
        if mid - half < 0 or mid + half + 1 > flux.size or not s > 0:
            continue
        y = flux[mid - half : mid + half + 1]
        top = half - 1 + int(np.argmax(y[half - 1 : half + 2]))
        rise = 0.1 * (y[top] - y.min())
        lo = top
        while lo > 0 and y[lo - 1] <= y[lo] + rise:
            lo -= 1
        hi = top
        while hi < y.size - 1 and y[hi + 1] <= y[hi] + rise:
            hi += 1
        own = y[lo : hi + 1]
        h = own.max() - own.min()
        if own.size < 3 or not np.isfinite(h) or h <= 0:
            continue
        ratio[i] = np.abs(np.diff(own)).max() / h * s * np.sqrt(np.e)
        height[i], peak[i] = h, own.max()
    return ratio, height, peak


def altered_lines(flux: np.ndarray, lines: LineList, sharp, local_fwhm) -> np.ndarray:
    """Bright lines with an edge steeper than optics draw, and than their neighbours'.

    Parameters
    ----------
    flux : numpy.ndarray
        The arc spectrum.
    lines : LineList
        Its lines.
    sharp : numpy.ndarray of bool
        Lines bright enough for their profile to be judged; their lower quartiles of
        step and centring error along the detector are the neighbours' (see
        :data:`ALTERED_QUANTILE`).
    local_fwhm : numpy.ndarray
        The instrument's FWHM at each line (binned px): narrower than
        :data:`ALTERED_MIN_FWHM`, a line is not judged.

    Returns
    -------
    numpy.ndarray of bool
        True for a line whose profile was altered (:data:`ALTERED_STEP`).
    """
    steep, height, peak = _steps(flux, lines, local_fwhm)
    # the step's excess over a Gaussian's must stand above the two pixels' noise: a
    # simulated 600_RED HgAr line (1x1, seed 2) of 850 counts stepped 1.49 times a
    # Gaussian's with its own photon noise, and the arc lost an expected line
    if lines.noise is not None:
        noise = np.sqrt(2.0 * lines.noise.variance(peak))
    else:
        noise = np.full(peak.shape, np.sqrt(2.0) * robust_noise(np.asarray(flux, float)))
    excess = (steep - 1.0) * height / (np.sqrt(np.e) * np.asarray(local_fwhm) / 2.3548)
    error = np.asarray(lines.centre_error, float)
    ok = sharp & np.isfinite(steep) & np.isfinite(error)
    if ok.sum() < 5:
        return np.zeros(lines.centre.size, bool)
    local = _local_quantile(lines.centre, steep, ok, ALTERED_QUANTILE)
    typical = _local_quantile(lines.centre, error, ok, ALTERED_QUANTILE)
    return (
        ok
        & (local_fwhm >= ALTERED_MIN_FWHM)
        & (steep > ALTERED_STEP)
        & (steep > ALTERED_LOCAL * local)
        & (error > ALTERED_ERROR * typical)
        & (excess > ALTERED_NOISE * noise)
    )
