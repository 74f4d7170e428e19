"""Whether an arc line's neighbours pull its centre: by their Gaussian light within
:data:`GAUSSIAN_REACH_FWHM`, or beyond it by the wing real lines have, measured on the
arc (a neighbour's far side, or the arc's wing profile read on its single lines).

:func:`~pipeline.wavelength.identify.line_shapes` calls a line noise-limited only where
no neighbour pulls it (:func:`_isolated`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from pipeline.wavelength.lines import LineList

#: A line is isolated with no other arc line within ISOLATION_FWHM FWHM that has at least
#: ISOLATION_FRACTION of its flux (why the window is wider than a Gaussian's reach: see
#: :data:`~pipeline.wavelength.identify.NOISE_RATIO`).
ISOLATION_FWHM = 5.0
ISOLATION_FRACTION = 0.03
#: ... but beyond GAUSSIAN_REACH_FWHM a Gaussian neighbour puts no light at all: there a
#: rival counts only where its wing shows, measured on its far side (see
#: :func:`_wing_reaches`), and pulls the line by more than WING_PULL_PX binned px.
GAUSSIAN_REACH_FWHM = 3.0
WING_PULL_PX = 0.01


def _isolated(j, amplitude, local_fwhm, wing=None) -> np.ndarray:
    """Lines with no other arc line within ISOLATION_FWHM local FWHM that has at least
    ISOLATION_FRACTION of their flux (such a neighbour pulls a centre by more than the
    few hundredths of a pixel a faint line's own noise does).

    ``wing(i, k)``, when given, tells whether rival ``k``, farther than
    :data:`GAUSSIAN_REACH_FWHM`, shows a wing that reaches line ``i`` (see
    :func:`_wing_reaches`); rivals it clears do not count.
    """
    gap = np.abs(j[None, :] - j[:, None])
    near = gap < ISOLATION_FWHM * local_fwhm[:, None]
    np.fill_diagonal(near, False)
    rival = near & (amplitude[None, :] >= ISOLATION_FRACTION * amplitude[:, None])
    if wing is not None:
        far = rival & (gap >= GAUSSIAN_REACH_FWHM * local_fwhm[:, None])
        for i, k in zip(*np.nonzero(far), strict=True):
            rival[i, k] = wing(i, k)
    return ~np.any(rival, axis=1)


#: Distances (in FWHM) around a rival's at which the arc's wing profile is read, when
#: the rival's own far side holds other lines (see :func:`_wing_reaches`).
WING_PROFILE_SPAN = 0.5
#: Fewest clean far-side readings the wing profile needs there (else a wing is assumed).
WING_PROFILE_READINGS = 3
#: Step (FWHM) of the distances at which the wing profile is read.
WING_PROFILE_STEP = 0.25


def _slopes_at(rest, noise, centre, half):
    """Least-squares slope of ``rest`` over each ``centre ± half`` px, and its noise
    error (NaN for a window beyond the detector)."""
    m = np.round(centre).astype(int)
    on = (m - half >= 0) & (m + half < rest.size)
    width = int(half.max()) if half.size else 0
    dx = np.arange(-width, width + 1, dtype=float)[None, :]
    inside = np.abs(dx) <= half[:, None]
    y = rest[np.clip(m[:, None] + dx.astype(int), 0, rest.size - 1)]
    sxx = np.sum(np.where(inside, dx**2, 0.0), axis=1)
    mean = np.sum(np.where(inside, y, 0.0), axis=1) / np.sum(inside, axis=1)
    slope = np.sum(np.where(inside, dx * (y - mean[:, None]), 0.0), axis=1) / sxx
    return np.where(on, slope, np.nan), np.where(on, noise / np.sqrt(sxx), np.nan)


def _lines_in_windows(j, amplitude, local_fwhm, centre, half, flux):
    """Per window ``centre ± half`` px (rows), the lines (columns) with
    :data:`ISOLATION_FRACTION` of its ``flux`` that put Gaussian light (within
    :data:`GAUSSIAN_REACH_FWHM` FWHM) into it."""
    near = np.abs(j[None, :] - centre[:, None]) < (
        GAUSSIAN_REACH_FWHM * local_fwhm[None, :] + half[:, None]
    )
    return near & (amplitude[None, :] >= ISOLATION_FRACTION * flux[:, None])


@dataclass(frozen=True)
class WingProfile:
    """The arc's line wing beyond the Gaussian, read on clear far sides of single lines.

    Attributes
    ----------
    distance : ndarray
        Where each reading was taken, in FWHM from its line.
    slope : ndarray
        The slope of the light beyond the Gaussians there, pointing away from the line
        (a wing falls: negative), times the FWHM squared over the line's flux.
    error : ndarray
        The noise error of each ``slope``, in the same unit.
    """

    distance: np.ndarray
    slope: np.ndarray
    error: np.ndarray


def wing_profile(rest, noise, j, amplitude, local_fwhm, reference) -> WingProfile:
    """Read the arc's wing profile on the clear far sides of its single lines.

    The light a Gaussian does not describe (``rest``, see :func:`beyond_gaussians`) is
    read from :data:`GAUSSIAN_REACH_FWHM` to :data:`ISOLATION_FWHM` FWHM on both sides
    of each ``reference`` line, where no other line puts light (:func:`_clear_window`).
    Real lines share the instrument's profile, so its wing, per unit of flux and in
    units of the FWHM, is one for all lines.

    Parameters
    ----------
    rest : numpy.ndarray
        The arc less its continuum and its lines' Gaussians.
    noise : float
        The pixel noise.
    j, amplitude, local_fwhm : numpy.ndarray
        The lines' centres, integrated amplitudes and local FWHM (px).
    reference : numpy.ndarray of bool
        The lines read: single, of the instrument's width, well above the noise,
        not clipped.

    Returns
    -------
    WingProfile
    """
    ref = np.nonzero(reference)[0]
    steps = np.arange(GAUSSIAN_REACH_FWHM, ISOLATION_FWHM + 1e-9, WING_PROFILE_STEP)
    empty = WingProfile(np.empty(0), np.empty(0), np.empty(0))
    if ref.size == 0 or rest.size == 0:
        return empty
    # every (line, distance, side) reading at once, where no other line puts light
    k = np.repeat(ref, 2 * steps.size)
    dist = np.tile(np.repeat(steps, 2), ref.size)
    side = np.tile([-1.0, 1.0], ref.size * steps.size)
    half = np.ceil(local_fwhm[k]).astype(int)
    centre = j[k] + side * dist * local_fwhm[k]
    near = _lines_in_windows(j, amplitude, local_fwhm, centre, half, amplitude[k])
    near[np.arange(k.size), k] = False
    slope, error = _slopes_at(rest, noise, centre, half)
    keep = ~near.any(axis=1) & np.isfinite(slope)
    if not keep.any():
        return empty
    unit = local_fwhm[k] ** 2 / np.maximum(amplitude[k], 1e-12)
    return WingProfile(dist[keep], (side * slope * unit)[keep], (error * unit)[keep])


def _profile_slope(profile: WingProfile, distance):
    """The wing's falling slope at ``distance`` FWHM (per unit flux, FWHM squared) and its
    error, from the readings within :data:`WING_PROFILE_SPAN`; ``None`` for too few.

    Their weighted median, not mean: a reading beside a line whose Gaussian misfits
    (an unflagged blend, a clipped top) is no wing and may be far off.
    """
    near = np.abs(profile.distance - distance) <= WING_PROFILE_SPAN
    if near.sum() < WING_PROFILE_READINGS:
        return None
    v, e = profile.slope[near], profile.error[near]
    w = 1.0 / np.maximum(e, 1e-300) ** 2
    order = np.argsort(v)
    median = float(v[order][np.searchsorted(np.cumsum(w[order]) / np.sum(w), 0.5)])
    chi2 = float(np.sum(w * (v - median) ** 2)) / max(v.size - 1, 1)
    # the standard error of a median, scaled by the readings' own scatter where it
    # exceeds their noise
    err = 1.2533 * np.sqrt(1.0 / np.sum(w)) * np.sqrt(max(chi2, 1.0))
    return max(-median, 0.0), err


def _wing_reaches(
    net, noise, j, sigma, height, local_fwhm, i, k, amplitude=None, profile=None
) -> bool:
    """Whether arc line ``k``'s wing, measured on its far side, pulls line ``i``.

    A neighbour's profile is symmetric: its wing at line ``i``'s distance is seen on
    its other side, where line ``i`` is not. ``net`` is the arc less every line's
    fitted Gaussian (:func:`beyond_gaussians`), so what is left there is the part of
    the wing a Gaussian does not describe. The slope ``s`` of that flux, across
    about a FWHM, moves a Gaussian of height ``h`` and width ``sigma`` fitted with a
    constant by ``2 sqrt(2) sigma^2 s / h`` (least squares). The wing reaches the line
    when that pull is both measured (over twice its noise) and over WING_PULL_PX; a
    far side off the detector counts as a wing.

    A far side into which other lines put light (``amplitude`` and ``profile`` given)
    says nothing of this rival's wing: what is left there is theirs, their misfit or
    their own wings. The rival's wing is then the arc's wing profile (``profile``,
    :func:`wing_profile`) at this distance, times its flux; too few clear readings
    there count as a wing. Read on the far side, 400 l/mm at custom angles, HgArNe:
    Ne I 7472.44 (1x1) and 5748.30 (2x2), 3.7-3.9 FWHM from a blend 30-800 times
    brighter whose far side lies on the flank of a saturated line, were taken as
    reached by a wing the simulator's Gaussian lines do not have, judged against the
    bright lines' scatter and lost at 2.2-2.5 of their own sigmas (in 4 of 1300
    arcs). The real sp_400m1 arc's profile shows its wings (a falling slope ten
    times its error): its Ne I 5748.30, 4.4 FWHM from Hg I 5769.60 (whose far side
    holds Hg I 5790.66), stays reached, as the far side said.

    A far side whose light rises away from the rival (beyond twice its noise) holds
    another source's light too, listed or not: a wing only falls. The line list lacks
    a line whose top is clipped flat (no Gaussian fits it), so the ``others`` test
    alone did not see it: 400 l/mm at GRT 6.65 / CAM 13.3, HgArNe Blue 1x1 (seed 4),
    Ne I 5400.56, 5.0 FWHM from Hg II 5425.25 (1.4 times its flux), took the flank of
    the saturated Hg I 5460.74 on Hg II's far side for Hg II's wing (a pull of 83 px),
    was judged against the bright lines' scatter and set aside 2.0 of its own sigmas
    off a solution 0.001 px from the truth there.
    """
    half = np.array([int(np.ceil(local_fwhm[i]))])
    m = np.array([2.0 * j[k] - j[i]])
    gain = 2.0 * np.sqrt(2.0) * sigma[i] ** 2 / max(height[i], 1e-12)
    slope, slope_err = (float(v[0]) for v in _slopes_at(net, noise, m, half))
    if not np.isfinite(slope):
        return True
    if profile is not None and amplitude is not None:
        others = _lines_in_windows(j, amplitude, local_fwhm, m, half, amplitude[[k]])[0]
        others[[i, k]] = False
        # a wing falls away from its line: light rising away from the rival, beyond
        # its noise, is another source's (the flank of a line the list lacks, such as
        # a clipped one), which says no more of the rival's wing than a listed line's
        rising = np.sign(m[0] - j[k]) * slope > 2.0 * slope_err
        if others.any() or rising:
            read = _profile_slope(
                profile() if callable(profile) else profile, abs(m[0] - j[k]) / local_fwhm[i]
            )
            if read is None:
                return True
            scale = amplitude[k] / local_fwhm[i] ** 2
            slope, slope_err = read[0] * scale, read[1] * scale
            return bool(gain * slope > max(2.0 * gain * slope_err, WING_PULL_PX))
    return bool(gain * abs(slope) > max(2.0 * gain * slope_err, WING_PULL_PX))


def beyond_gaussians(net: np.ndarray, lines: LineList) -> np.ndarray:
    """The arc less the fitted Gaussian profile of every line found in it.

    Parameters
    ----------
    net : numpy.ndarray
        The arc less its continuum.
    lines : LineList
        Its lines (centre, integrated amplitude, sigma; pixels).

    Returns
    -------
    numpy.ndarray
        ``net`` less each line's pixel-integrated Gaussian, drawn out to 8 sigma:
        noise, and the light the Gaussians do not describe (wings, misfit cores).
    """
    out = np.array(net, float)
    if len(lines) == 0:
        return out
    reach = int(np.clip(np.ceil(8.0 * lines.sigma.max()), 3, 60))
    idx = np.round(lines.centre).astype(int)[:, None] + np.arange(-reach, reach + 1)[None, :]
    inside = (idx >= 0) & (idx < out.size)
    a = (idx + 0.5 - lines.centre[:, None]) / (np.sqrt(2.0) * lines.sigma[:, None])
    b = (idx - 0.5 - lines.centre[:, None]) / (np.sqrt(2.0) * lines.sigma[:, None])
    prof = lines.amplitude[:, None] * 0.5 * (special.erf(a) - special.erf(b))
    np.subtract.at(out, idx[inside], prof[inside])
    return out
