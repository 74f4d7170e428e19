"""Identification of an arc's lines against NIST air wavelengths, and the fit.

The model maps the arc's binned pixel ``j`` to a wavelength through the first guess
``g`` (unbinned coordinate ``u``): ``λ(j) = g(A(v) + p(x))`` with ``v = b*j + (b-1)/2``
the unbinned centre of binned pixel ``j``, ``A`` the coarse affine alignment
(:mod:`pipeline.wavelength.first_guess`) and ``p`` a Chebyshev correction over
``x = 2j/(n-1) - 1``, fitted to the guess coordinates of the NIST wavelengths of the
identified lines. The guess carries the shape of the dispersion (the optics), so a
low-order ``p`` suffices and the solution behaves beyond the outermost lines.

Identification is iterative: each arc line is paired with the brightest NIST line of
the lamp's elements within a tolerance of its place under the current model; the
tolerance shrinks as the model improves (and as ``p`` is allowed a higher order).
Beyond the outermost identified lines the place is predicted along the fitted
correction's tangent there, and rounds repeat while lines join at the ends (the
relation bends there by a pixel or more, which the straight continuation of the
solution does not follow). Every arc line ends with a status:

``used``
    in the final fit;
``blend``
    an unresolved NIST neighbour (within one FWHM) not ten times fainter by NIST
    intensities, of the same spectrum; or of another spectrum (whose NIST intensities
    are on another scale) when the arc line is broader than its neighbours or too
    coarsely sampled for its width to tell (unless the arc's own library lamp, unbinned,
    shows it clean: :mod:`pipeline.wavelength.lamp_widths`, or the fit of the other
    lines puts it on its NIST place: :mod:`pipeline.wavelength.unpulled`); or another arc
    line within :data:`BLEND_FWHM` FWHM not ten times fainter, or the line is much
    broader than its neighbours: its centre depends on a flux ratio; or NIST lines
    within :data:`FEATURE_FWHM` FWHM of each other, none outshining the others,
    where the prediction cannot tell which the light is. A blend with one fainter
    NIST line of its spectrum is fitted as the pair where they lie far enough apart
    (then used); otherwise its centroid still anchors the naming of lines beyond it;
    or a line real lamps show displaced from its NIST place by an unlisted neighbour
    (:func:`~pipeline.wavelength.nist.displaced_lines`, measured in every mode; or,
    :func:`~pipeline.wavelength.nist.element_blends`, of another element the lamp holds);
``saturated``
    flat-topped, masked core, bright and broader than its neighbours, or with an edge
    steeper than optics draw and than its neighbours' (pixels replaced:
    :data:`~pipeline.wavelength.altered_lines.ALTERED_STEP`);
``weak``
    faint, and its centre uncertain by more than :data:`WEAK_ERROR_PX`;
``narrow``
    narrower than the arc's lines there (a cosmic ray, a hot column, noise);
``outlier``
    identified but rejected by the robust fit;
``unidentified``
    no NIST line within the tolerance (an unlisted line, or a ghost).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from pipeline.wavelength.altered_lines import altered_lines
from pipeline.wavelength.first_guess import Alignment, guess_wavelength, inverse
from pipeline.wavelength.isolation import _isolated, _wing_reaches, beyond_gaussians, wing_profile
from pipeline.wavelength.lamp_continuation import LampModel, library_lamp, measured_range
from pipeline.wavelength.lines import (
    BROAD_WIDTH,
    LineList,
    continuum,
    fit_known_pair,
    robust_noise,
)
from pipeline.wavelength.local_lines import LOCAL_LINES, _local_fwhm
from pipeline.wavelength.nist import LineCatalogue, blended_in_lamp, displaced
from pipeline.wavelength.optics_continuation import fit_departure, wavelength_beyond
from pipeline.wavelength.peaks import find_peaks
from pipeline.wavelength.robust_fit import GAP, PolyFit, robust_fit
from pipeline.wavelength.saturation import SATURATION_FRACTION, saturated_lines
from pipeline.wavelength.unpulled import unpulled
from pipeline.wavelength.width_bound import neighbour_flux_limit, width_tolerance

#: Two lines closer than this many FWHM are a blend.
BLEND_FWHM = 2.5
#: A peak no listed line stands for, this high against a line's peak, within
#: BLEND_FWHM of it, makes its fit no measure of the arc's width (see
#: :func:`_beside_lost_peak`).
LOST_PEAK_FRACTION = 0.5
#: Intensity ratio above which the brighter of two blended lines dominates.
DOMINANCE = 10.0
#: Centring error (binned px) above which a faint line (peak below WEAK_SNR times the
#: noise) is too weak to constrain the fit.
WEAK_ERROR_PX = 0.1
#: ... or above WEAK_ERROR_SPARSE_PX in an arc with fewer than SPARSE_SHARP lines at or
#: above WEAK_SNR: there the faint lines are much of what places the solution. Since a
#: line's error counts its own photon noise (1.4 times larger than before), 0.1 set
#: aside lines such an arc needs (930_M1 1x1, 18 sharp lines: 12 of 30 physical-truth
#: seeds met the accuracy, 30 of 30 at 0.14); raised for every arc, it let in the real
#: sp_400m1 arc's (38 sharp lines) three faint lines 0.15-0.24 px off NIST, errors
#: 0.10-0.12, and its RMS went from 0.020 to 0.058 px.
WEAK_ERROR_SPARSE_PX = 0.14
SPARSE_SHARP = 25
WEAK_SNR = 50.0
#: A line broader than BROAD times the local FWHM is saturated when its peak is above
#: SATURATION_FRACTION of the brightest peak, a blend otherwise.
BROAD = BROAD_WIDTH
#: A line within CLEAR_FWHM FWHM (the bright lines' median) of a brighter one does not
#: measure the local FWHM.
CLEAR_FWHM = 3.0
#: A "line" narrower than NARROW times the local FWHM is not a spectral line. The local
#: FWHM is capped at the median width of the arc's reference lines for this test: where
#: most bright lines nearby are unresolved blends (the Ar II forest at 3600-4450 A of an
#: HgAr lamp), the local median is theirs, not the instrument's (600 l/mm at GRT 8.5,
#: 2x2: 3.95 px beside clean lines of 2.5 px, the arc's median 2.52), and every clean
#: line there was set aside as narrow.
NARROW = 0.7
#: A line with an unresolved NIST neighbour of another spectrum is a blend only when
#: it is broader than CROSS_BROAD times the local FWHM (the neighbour shows).
CROSS_BROAD = 1.1
#: ... which only a line sampled by at least this many pixels per FWHM can show.
SAMPLED_FWHM = 2.0
#: Extra pairing rounds at the last tolerance, while lines beyond the outermost
#: identified ones keep joining.
END_ROUNDS = 4
#: Growth of the pairing tolerance beyond the outermost fitted lines, px per px of
#: extrapolation (the true relation bends by up to ~1.5 px over the last 400 px).
END_GROWTH = 0.004
#: ... added to END_SIGMA times the fit's own error there (its leave-one-out scatter
#: and the line's centring error), where that is below the stage's tolerance (see
#: :func:`identify`).
END_SIGMA = 4.0
#: An outermost fitted line is judged by the end rule from the fit of the others only
#: when it lies at least this many FWHM beyond them: nearer, the two outermost lines
#: are placed by one stretch of the fit and either may be the one off (600Blue HgArNe:
#: Hg I 3654.84, 13 px beyond the blend Hg I 3663.28 + 3662.88, seemed 0.42 px off
#: the fit through the blend, and was set aside for it).
END_JUDGED_FWHM = 10.0
#: A used end line farther than this fraction of the detector from the next one is
#: placed from the others' continuation (see :func:`_along_optics`).
LONE_GAP = 0.1
#: ... when at least this many other lines judge it (a sparse arc's few lines come in
#: groups, each alone beyond a gap: none can vouch for the others' names).
LONE_JUDGES = 12
#: ... and past the library lamp's measured range it is left unnamed when another NIST
#: line lies within ``AMBIGUOUS_BEND * gap**3 / (n - 1)**2`` binned px of its predicted
#: place (see :func:`_set_aside_ambiguous_ends`): beyond the lines the departure is
#: continued by its offset and scale only (``optics_continuation.MAX_REACH``), and the
#: bends they leave out grow up to the cube of the distance. 600 l/mm MID, 1x1: 1430
#: px beyond the others, 9 px off (reach 10.6 px); 600 l/mm UV, 1x1: 920 px beyond,
#: 0.3 px from its own line and 3.6 px from Cu I 3036.1 (reach 2.9 px). The same reach
#: is the tolerance such a line is paired with, where it exceeds the stage's: its place
#: is known no better (600 l/mm UV, 1x1, seed 29: placed 0.6 px from its own Ar II
#: 3033.5, beyond the last stage's 0.4 px, it was left unnamed, and the blue end lost).
AMBIGUOUS_BEND = 0.06
#: Largest departure (binned px) a higher order of the correction may make, inside a
#: gap between lines, from the lower order kept so far.
GAP_TOLERANCE_PX = 0.25
#: Smallest robust scatter (binned px) the outlier rejection assumes.
CLIP_FLOOR_PX = 0.02
#: A line whose centring error photon and read noise explain (within NOISE_RATIO of what
#: the background noise and its own photons give: PHOTON_CENTRING), with no arc line
#: within ISOLATION_FWHM FWHM brighter than ISOLATION_FRACTION of it, and neither
#: broadened nor saturated, is noise-limited: the outlier rejection also weighs it
#: against its own centring error, not only against the bright lines' scatter (a faint
#: clean line 0.08 px, 1.7 of its sigmas, off is noise). A bright line's large centring
#: error is its profile's misfit (an unlisted blend), not noise: the ratio keeps it out.
#: Real lines have wings beyond the Gaussian core (scattered light, the slit's image):
#: the isolation window is wider than the 3 FWHM over which a Gaussian neighbour matters
#: (at 3, a faint Ne I line of the real sp_400m1 arc 4.3 FWHM from a Hg line 60 times
#: brighter, 0.16 px off NIST, rejoined the fit and took it to 0.04 px RMS).
NOISE_RATIO = 3.0
#: The centring variance a Gaussian line's own photon noise gives an unweighted least
#: squares fit: ``PHOTON_CENTRING * g * s**2 / A`` (``g`` the variance per count of
#: :class:`~pipeline.wavelength.lines.NoiseModel`, ``s`` the sigma, ``A`` the counts;
#: ``8 / (3 sqrt(3))`` times the ``s**2 / N`` of a weighted fit). Left out, the
#: noise-limited test compared a faint line's error with the background's share
#: alone, which a line of S/N 10-13 above a dark background exceeds threefold: 930 l/mm
#: at custom angles, HgArNe Blue 1x1 (seed 1), Ar I 7435.37 0.002 px from the truth,
#: error 0.038 px against 0.012 from the background (0.028 with its photons), was
#: judged against the bright lines' scatter only and rejected.
PHOTON_CENTRING = 8.0 / (3.0 * np.sqrt(3.0))
#: Centring-error floor, binned px: line asymmetries and unlisted faint neighbours
#: leave a few hundredths of a pixel that photon noise does not describe.
SYSTEMATIC_PX = 0.02
#: Stages with a pairing tolerance of at least this (binned px) are coarse: when fewer
#: than three clean lines pair there, the blended and saturated ones steer the next
#: stage, with errors of STEER_ERROR_PX (an arc whose few lines are mostly saturated,
#: 2100 l/mm at 3900 A: 3 of its 4 Hg lines).
COARSE_TOLERANCE_PX = 2.0
STEER_ERROR_PX = 0.3
#: Inside the fitted lines, NIST candidates closer than this many FWHM to the nearest
#: one are a single unresolved feature, named after its strongest member when that is
#: DOMINANCE times stronger (weighted NIST intensities) than every other. Pen lamps
#: only: their ionic lines' weight is known (``ionic_weight``); a hollow cathode's
#: sputtered metal lines are on no common scale with NIST's discharge intensities
#: (600_BLUE CuHeAr: the stronger of two NIST lines 0.37 px apart was the wrong one).
#: 1200_CANIR HgArNe: Ne I 8771.66 (100) beside Ar II 8771.86 (28, 2.8 weighted),
#: 0.7 px apart; the nearer Ar II bent the red end by 0.8 px and lost two lines.
UNRESOLVED_FWHM = 0.25
#: At every stage, NIST lines closer than this many FWHM to each other (a chain of
#: such gaps) are one unresolved feature whatever the prediction: the found line is
#: named after the member that outshines the others by DOMINANCE (of one spectrum, or
#: of any with a pen lamp's weights, as for :data:`UNRESOLVED_FWHM`). Naming it after
#: whichever member the prediction puts nearest flips with a fraction of a pixel:
#: 600_RED 1x1, Ne I 6678.28 (50) and Ar I 6677.28 (3) are 0.3 FWHM apart at the blue
#: end; a prediction 0.3 px bluer named the line Ar I and bent the blue end by 1.5 px,
#: losing the next line. A feature no member dominates is set aside as a blend where
#: the prediction cannot place it (the coarse stages, and at or beyond the outermost
#: fitted lines, where the fit follows whatever name the line takes); between fitted
#: lines at a fine tolerance the nearest member names it, and the line's width judges
#: its neighbour as before (a hollow cathode's Cu I 5218.2 beside Ar II 5216.8, 0.4
#: FWHM apart, on unrelated NIST scales: set aside everywhere, 600_BLUE and 600_UV lost
#: an expected line in every seed).
FEATURE_FWHM = 0.5
#: Largest pairing tolerance (binned px) at which the nearest member may name an
#: undominated feature between fitted lines.
FEATURE_SETTLED_PX = 0.6
#: Fewest lines at one end, set aside together by a coarse stage's fit, that are an end
#: the fit's order gave up rather than outliers (see :func:`_end_group_kept`).
END_GROUP = 3
#: Pairing tolerances (binned px) and the highest order of ``p`` at each stage.
SCHEDULE = ((4.0, 1), (2.0, 2), (1.0, 4), (0.6, 6), (0.4, 8))
#: Highest order of ``p`` by default (the last stage's).
MAX_ORDER = SCHEDULE[-1][1]

STATUSES = ("used", "blend", "saturated", "weak", "narrow", "outlier", "unidentified")


@dataclass
class Identification:
    """Arc lines with their NIST identification and the fitted correction.

    Attributes
    ----------
    lines : LineList
        Lines found in the arc (binned px).
    reference : ndarray
        NIST air wavelength of each line's identification, Å (NaN: unidentified).
    ion : ndarray of str
        Spectrum of the identification (``"Ne I"``), ``""`` when unidentified.
    status : ndarray of str
        One of :data:`STATUSES` per line.
    correction : PolyFit
        ``p(x)``, unbinned px, over ``x = 2j/(n-1) - 1``.
    alignment : Alignment
    reference_error : ndarray, optional
        How far each line's NIST neighbours may pull its centre off its reference's
        place (:func:`nist_pull`), binned px; NaN when unidentified.
    fit_error : ndarray, optional
        The 1-sigma error the fit of the correction weighs each line with, binned px:
        its centring error, :data:`SYSTEMATIC_PX` and ``reference_error`` in quadrature.
    """

    lines: LineList
    reference: np.ndarray
    ion: np.ndarray
    status: np.ndarray
    correction: PolyFit
    alignment: Alignment
    reference_error: np.ndarray | None = None
    fit_error: np.ndarray | None = None

    @property
    def used(self) -> np.ndarray:
        return self.status == "used"


def _x(j, n):
    return 2.0 * np.asarray(j, float) / max(n - 1, 1) - 1.0


def _blended(positions, strengths, fwhm) -> np.ndarray:
    """Items with a neighbour within BLEND_FWHM*fwhm not DOMINANCE times fainter."""
    order = np.argsort(positions)
    pos, strength, width = positions[order], strengths[order], fwhm[order]
    out = np.zeros(pos.size, bool)
    # walk outwards neighbour by neighbour (sorted, so a few steps cover any window)
    for step in range(1, pos.size):
        gap = pos[step:] - pos[:-step]
        lo_close = gap <= BLEND_FWHM * width[:-step]  # right neighbour of the left item
        hi_close = gap <= BLEND_FWHM * width[step:]  # left neighbour of the right item
        if not (lo_close.any() or hi_close.any()):
            break
        out[:-step] |= lo_close & (strength[step:] * DOMINANCE > strength[:-step])
        out[step:] |= hi_close & (strength[:-step] * DOMINANCE > strength[step:])
    result = np.empty(pos.size, bool)
    result[order] = out
    return result


@dataclass(frozen=True)
class NistNeighbours:
    """Unresolved catalogue neighbours (closer than one FWHM) of each NIST line.

    Attributes
    ----------
    dominated : ndarray of bool
        A neighbour of the same spectrum (``Ar I`` and ``Ar I``) not DOMINANCE times
        fainter by NIST intensities: the pair's centre depends on their flux ratio.
    unknown : ndarray of bool
        A neighbour of another spectrum, however faint by NIST intensities: those of
        two spectra come from different sources and scales (and a pen lamp barely
        shows ionic lines), so the arc line's measured width decides whether it
        contributes, where the width can be measured (600 Blue: Ar I 4044.42, 200
        times fainter than Ar II 4042.89 by NIST, pulls their centre 0.85 A redwards
        in the library's CuHeAr lamp; named Ar II at 3x3 it bent the fit 0.47 px).
    unknown_rival : ndarray of bool
        A neighbour of another spectrum not DOMINANCE times fainter by the intensities
        given (a pen lamp's, its ionic lines weighted: see :func:`_statuses`).
    """

    dominated: np.ndarray
    unknown: np.ndarray
    unknown_rival: np.ndarray


def _nist_neighbours(u_cat, strength, spectrum, width) -> NistNeighbours:
    """Which NIST lines have an unresolved neighbour, and whether NIST can weigh it.

    Resolved neighbours are judged on the arc itself (the measured amplitudes of the
    lines found there, see the arc-blend test), not on NIST intensities.
    """
    dominated = np.zeros(u_cat.size, bool)
    unknown = np.zeros(u_cat.size, bool)
    unknown_rival = np.zeros(u_cat.size, bool)
    for step in range(1, u_cat.size):
        gap = u_cat[step:] - u_cat[:-step]
        near_l = gap < width[:-step]
        near_r = gap < width[step:]
        if not (near_l.any() or near_r.any()):
            break
        same = spectrum[step:] == spectrum[:-step]
        rival_l = near_l & (strength[step:] * DOMINANCE > strength[:-step])
        rival_r = near_r & (strength[:-step] * DOMINANCE > strength[step:])
        dominated[:-step] |= rival_l & same
        dominated[step:] |= rival_r & same
        unknown[:-step] |= near_l & ~same
        unknown[step:] |= near_r & ~same
        unknown_rival[:-step] |= rival_l & ~same
        unknown_rival[step:] |= rival_r & ~same
    return NistNeighbours(dominated, unknown, unknown_rival)


@dataclass(frozen=True)
class LineShapes:
    """What the arc's own profiles say of each line (arrays over the arc lines).

    Attributes
    ----------
    fwhm : ndarray
        Measured FWHM, binned px.
    local_fwhm : ndarray
        The instrument's FWHM there: median of the unsaturated neighbours' widths.
    saturated, narrow, weak, arc_blend, broadened : ndarray of bool
        See the statuses in the module docstring; ``broadened`` is wider than
        :data:`CROSS_BROAD` times the local FWHM (an unresolved neighbour shows).
    noise_limited : ndarray of bool
        A centring error that noise explains (:data:`NOISE_RATIO`), no neighbour
        within :data:`~pipeline.wavelength.isolation.ISOLATION_FWHM` FWHM, neither broadened nor saturated: noise is
        all that moves its centre.
    undersampled : ndarray of bool
        Local FWHM below :data:`SAMPLED_FWHM` px: the width is too coarse a measure
        to reveal an unresolved neighbour (binned 3x3, a line is one pixel wide).
    sharp : ndarray of bool
        Unsaturated, with a peak at least :data:`WEAK_SNR` times the noise: its fitted
        width is measured to a few per cent (a faint line's scatters by tens).
    width_tolerance : ndarray
        How far from the local FWHM (a fraction) a sharp line's fitted width may be,
        neither saturated, broadened nor an arc blend (NaN for the others): it bounds
        an unseen NIST neighbour's flux
        (:func:`~pipeline.wavelength.width_bound.width_tolerance`).
    """

    fwhm: np.ndarray
    local_fwhm: np.ndarray
    saturated: np.ndarray
    narrow: np.ndarray
    weak: np.ndarray
    arc_blend: np.ndarray
    broadened: np.ndarray
    undersampled: np.ndarray
    noise_limited: np.ndarray
    sharp: np.ndarray
    width_tolerance: np.ndarray


def _instrument_flux(lines: LineList, fwhm, local_fwhm) -> np.ndarray:
    """Each line's flux as a line of the instrument's width with its fitted peak.

    A fit much broader than the local FWHM is no single line (a faint unresolved pair,
    a noise bump on a bright line's flank): its integrated amplitude counts the
    background and wing it spreads over, not light that sits where a neighbour is
    measured. 930_M5 1x1: Ne I 7943.2 and Hg II 7944.6, each 1.6 % of Ar I 7948.2's
    peak, 1.9-2.6 FWHM from it, were fitted as one line 2.8 times too broad with 13 %
    of its flux, and the bright line, centred 0.001 px from the truth, was set aside
    as a blend.
    """
    return lines.amplitude * np.minimum(1.0, local_fwhm / np.maximum(fwhm, 1e-6))


def _clear_of_brighter(j, amplitude, fwhm, reach) -> np.ndarray:
    """Lines with no brighter line within ``reach`` (px), whose fitted profile,
    subtracted, would shape the line's own fit."""
    near = np.abs(j[:, None] - j[None, :]) < reach
    return ~np.any(near & (amplitude[None, :] > amplitude[:, None]), axis=1)


def _beside_lost_peak(j, fwhm, net, noise, flat) -> np.ndarray:
    """Lines fitted narrow (below the arc's FWHM by :data:`CROSS_BROAD`) with a peak of
    the arc within :data:`BLEND_FWHM` of their FWHM that no listed line stands for, at
    least :data:`LOST_PEAK_FRACTION` as high as the line's own peak pixel.

    The line finder drops a shoulder whose fit ran away (a blend in any case, see
    :data:`~pipeline.wavelength.lines.SHOULDER_FWHM`), and its neighbour, fitted alone
    over both peaks, comes out narrow: 930_M2 HgAr 2x2, Ar II 4079.57 with Ar II
    4076.63 (as bright, 1.4 FWHM away, a clear dip between them) lost, fitted 1.55-1.75
    px wide against the instrument's 2.5. Counted as a single line, it narrowed the
    sparse arc's local FWHM to 1.9 px, and the clean expected Ar II 4052.92 (2.5 px) was
    set aside as broadened or the identification failed (the solution 0.2-0.3 px off
    there). Peaks on a clipped (``flat``) line's flanks, within :data:`CLEAR_FWHM` of
    its fitted width, are its misfit's, not lost lines (those narrow the fits beside it
    anyway, see :func:`_clear_of_broad_brighter`).
    """
    found = find_peaks(net, 5.0 * noise, 1)
    peaks = found.index
    if peaks.size == 0 or j.size == 0:
        return np.zeros(j.size, bool)
    gap = np.abs(peaks[:, None] - j[None, :])
    # a peak within a pixel, or half its FWHM, of a listed centre is that line's
    own = gap <= np.maximum(1.0, 0.5 * fwhm)[None, :]
    own |= flat[None, :] & (gap <= CLEAR_FWHM * fwhm[None, :])
    lost = peaks[~own.any(axis=1)]
    if lost.size == 0:
        return np.zeros(j.size, bool)
    top = net[np.clip(np.round(j).astype(int), 0, net.size - 1)]
    tall = net[lost][None, :] >= LOST_PEAK_FRACTION * top[:, None]
    near = np.abs(lost[None, :] - j[:, None]) <= BLEND_FWHM * fwhm[:, None]
    # fitted over the lost peak's light a line comes out narrow; one of the arc's width
    # (the median of its unclipped lines, most of them faint and single) measures it
    # still (930_M2 HgAr 3x3: Ar II 4385.06 beside lines lost by a clipped Hg I 4358.33)
    narrow = fwhm < np.median(fwhm[~flat]) / CROSS_BROAD if (~flat).any() else False
    return np.any(near & tall, axis=1) & narrow


def _clear_of_broad_brighter(j, amplitude, fwhm) -> np.ndarray:
    """Lines with no brighter line within :data:`CLEAR_FWHM` of that line's own
    fitted FWHM.

    A clipped line's fit is broad and wrong in shape, and what its subtraction leaves
    narrows the fits beside it, out to a few of its own (broad) widths: 930_M2 HgAr
    3x3, Hg I 4347.5 and Ar II 4367.8, 8 px from the clipped Hg I 4358.3 (fitted
    3.2 px wide), were fitted 1.2-1.4 px wide against the instrument's 1.67.
    """
    reach = CLEAR_FWHM * np.asarray(fwhm, float)
    near = np.abs(j[:, None] - j[None, :]) < reach[None, :]
    return ~np.any(near & (amplitude[None, :] > amplitude[:, None]), axis=1)


def line_shapes(
    lines: LineList, flux: np.ndarray, mask=None, cosmic_cleaned: bool = False
) -> LineShapes:
    """Saturated, narrow, weak, blended and broadened lines from their profiles.

    Parameters
    ----------
    lines : LineList
        The arc's lines (centres and sigmas in binned pixels).
    flux : numpy.ndarray
        The arc spectrum they were found in.
    mask : numpy.ndarray of bool or None
        Masked (e.g. saturated) pixels of the spectrum; ``None`` for none.
    cosmic_cleaned : bool
        The arc was cleaned of cosmic rays (:func:`pipeline.lamps.cosmic_cleaned`):
        its lines with replaced pixels
        (:func:`~pipeline.wavelength.altered_lines.altered_lines`) count as saturated.
        Elsewhere no pixel was replaced, and the rule is not applied: a steep edge
        there is the optics', the sampling's or the noise's.

    Returns
    -------
    LineShapes
        Per line: FWHM, local FWHM, and the saturated, narrow, weak, blended, broadened
        and undersampled flags.
    """
    j = lines.centre
    fwhm = 2.3548 * lines.sigma
    flat = saturated_lines(flux, lines, mask)
    net = np.asarray(flux, float) - continuum(np.asarray(flux, float))
    noise = robust_noise(net) or 1.0
    height = lines.amplitude / (np.sqrt(2 * np.pi) * np.maximum(lines.sigma, 1e-6))
    peak_snr = height / noise
    # the instrument's width is measured by the lines whose width is: a faint line's
    # fitted width scatters by tens of percent with the noise (and a noise peak's is
    # narrow), which pulled the median of nine lines to 4.4 px beside clean 5.0 px lines
    # (2100 l/mm at 3900 A), set aside as broadened
    sharp = ~flat & (peak_snr >= WEAK_SNR)
    reference = sharp if sharp.sum() >= LOCAL_LINES else ~flat
    typical = float(np.median(fwhm[reference])) if reference.sum() >= 5 else np.inf
    sparse = sharp.sum() < SPARSE_SHARP
    # A sparse arc's few bright lines are, in a Hg lamp, half blends and clipped lines:
    # nine of them span much of the detector and their median is a blend's width (930
    # l/mm M2 2x2: 4-5.5 px beside clean 2.5 px lines, the only expected line set aside
    # as narrow). There the single lines measure it: not within BLEND_FWHM of another
    # (the fit of a pair trades width between them), nor beside a brighter one (fitted
    # on what that one's subtracted fit leaves), blends left out by their width
    # (:func:`~pipeline.wavelength.lines.blend_free_width`). Not in a rich arc: its
    # window of nine is short and blends are few, and the real sp_400m1 arc's focus
    # changes from 2.6 to 4.9 px along the detector, which the trim takes for blends
    # (its Hg I 4358.3 then rejoined and its fit went from 0.022 to 0.080 px).
    reach = CLEAR_FWHM * np.median(fwhm[sharp]) if sharp.any() else 0.0
    single = (
        sharp
        & ~_blended(j, lines.amplitude, fwhm)
        & _clear_of_brighter(j, lines.amplitude, fwhm, reach)
        & ~_beside_lost_peak(j, fwhm, net, noise, flat)
    )
    if sparse and single.sum() >= 5:
        local = _local_fwhm(j, fwhm, single, trim=True)
        # Fits beside a clipped line are narrowed by what its misfit subtraction leaves
        # (out to a few of its own broad widths), and the trim, which takes out broad
        # widths only, keeps them: 930_M2 HgAr 3x3, Hg I 4347.5 and Ar II 4367.8 8 px
        # from the clipped Hg I 4358.3 fitted 1.2-1.4 px wide against the instrument's
        # 1.67 made the local width 1.44, and the clean expected Ar II 4052.92 was set
        # aside as broad. Without them (when five lines remain) the width is measured
        # again; a narrowing bias is the one left out, so the broader estimate stands.
        apart = single & _clear_of_broad_brighter(j, lines.amplitude, fwhm)
        if apart.sum() >= 5:
            local = np.maximum(local, _local_fwhm(j, fwhm, apart, trim=True))
    elif sparse:
        # too few single lines: the sharp ones, blends trimmed by their width all the
        # same (930_M2 HgAr 3x3: five of nine sharp lines blends or clipped, 2.5-4.3 px
        # beside clean 1.7 px lines; their plain median made the clean ones narrow, and
        # with them the only expected line, Ar II 4052.92, and the red end 1 px off)
        local = _local_fwhm(j, fwhm, reference, trim=True)
    else:
        local = _local_fwhm(j, fwhm, reference)
    # A line much broader than its neighbours is either clipped (a saturated line
    # that was extracted or combined is rarely perfectly flat, but always broadened)
    # or an unresolved blend; which one, its height tells.
    broad = fwhm > BROAD * local
    bright = height > SATURATION_FRACTION * (height.max() if height.size else 0.0)
    altered = np.zeros(j.size, bool)
    if cosmic_cleaned and not sparse:
        altered = altered_lines(flux, lines, sharp, local)
    saturated = flat | (broad & bright) | altered
    broadened = fwhm > CROSS_BROAD * local
    # centring error the background noise gives a Gaussian of this height and width
    # (least squares on the profile's slope: sigma_mu^2 = 2 s n^2 / (sqrt(pi) h^2)),
    # and the line's own photon noise (see PHOTON_CENTRING)
    noise_error = np.sqrt(
        2.0 * lines.sigma / np.sqrt(np.pi) * (noise / np.maximum(height, 1e-12)) ** 2
        + PHOTON_CENTRING
        * (lines.noise.per_count if lines.noise is not None else 0.0)
        * lines.sigma**2
        / np.maximum(lines.amplitude, 1e-12)
    )
    rest = beyond_gaussians(net, lines)
    # the single lines whose far sides show the instrument's wing: of its width, well
    # above the noise, and not among the brightest (a clipped top misdraws a fit)
    ratio = fwhm / np.maximum(local, 1e-12)
    single_ref = sharp & ~saturated & (ratio > 2.0 - CROSS_BROAD) & (ratio < CROSS_BROAD)
    single_ref &= height < SATURATION_FRACTION * (height.max() if height.size else 0.0)
    # computed on first use only: few arcs have a far side that holds other lines
    profile = functools.cache(
        lambda: wing_profile(rest, noise, j, lines.amplitude, local, single_ref)
    )
    arc_blend = _blended(j, _instrument_flux(lines, fwhm, local), local) | (broad & ~saturated)
    return LineShapes(
        fwhm=fwhm,
        local_fwhm=local,
        saturated=saturated,
        # narrower than the instrument's lines: a cosmic ray, a hot column, noise
        narrow=fwhm < NARROW * np.minimum(local, typical),
        weak=(lines.centre_error > (WEAK_ERROR_SPARSE_PX if sparse else WEAK_ERROR_PX))
        & (peak_snr < WEAK_SNR),
        arc_blend=arc_blend,
        broadened=broadened,
        undersampled=local < SAMPLED_FWHM,
        noise_limited=(lines.centre_error < NOISE_RATIO * noise_error)
        & ~broadened
        & ~saturated
        & _isolated(
            j,
            lines.amplitude,
            local,
            lambda i, k: _wing_reaches(
                rest, noise, j, lines.sigma, height, local, i, k, lines.amplitude, profile
            ),
        ),
        sharp=sharp,
        width_tolerance=width_tolerance(
            ratio,
            lines.centre_error,
            lines.sigma,
            sharp & ~saturated & ~broadened & ~arc_blend,
        ),
    )


@dataclass(frozen=True)
class DetectorCatalogue:
    """NIST lines that can fall on the detector, in the guess coordinate.

    Attributes
    ----------
    lines : LineCatalogue
    u : ndarray
        Unbinned guess coordinate of each line (sorted).
    strength : ndarray
        Intensity for choosing between candidates (ionic lines weighted).
    spectrum : ndarray of str
        ``"Ar I"``, ``"Ne II"``... (intensities compare within one spectrum only).
    """

    lines: LineCatalogue
    u: np.ndarray
    strength: np.ndarray
    spectrum: np.ndarray


def catalogue_on_detector(catalogue, guess, npix_unbinned, ionic_weight) -> DetectorCatalogue:
    """Place the catalogue's lines through the inverted guess, sorted along the detector.

    Parameters
    ----------
    catalogue : LineCatalogue
        The lamp's NIST lines (air wavelength in Å, ion, intensity).
    guess : object
        The first guess: any object with ``wavelength(unbinned_pixel)``.
    npix_unbinned : int
        Unbinned width of the arc (at least the library's 4060 is inverted).
    ionic_weight : float
        Factor on the intensity of ionic lines (``II`` and above), whose NIST intensities
        are not comparable with the neutral ones'.

    Returns
    -------
    DetectorCatalogue
        The lines whose guess coordinate is finite, sorted by it, with their weighted
        strengths and spectra.
    """
    u_cat = inverse(guess, catalogue.wavelength, max(4060, npix_unbinned))
    on = np.nonzero(np.isfinite(u_cat))[0]
    on = on[np.argsort(u_cat[on], kind="stable")]  # a guess may fall with pixel
    cat = catalogue.select(on)
    spectrum = np.char.strip(cat.ion.astype(str))
    ionic = ~np.char.endswith(spectrum, " I")
    strength = cat.intensity * np.where(ionic, ionic_weight, 1.0)
    return DetectorCatalogue(cat, u_cat[on], strength, spectrum)


@dataclass(frozen=True)
class _ArcGeometry:
    """The arc lines' coordinates: normalised ``x``, aligned guess coordinate ``u0``,
    centring errors (unbinned px) and guess px per binned arc px."""

    x: np.ndarray
    u0: np.ndarray
    err: np.ndarray
    scale: float
    binning: int


#: A line NIST gives an unresolved neighbour of its spectrum (not DOMINANCE times
#: fainter) is nonetheless clean when that neighbour, at NIST's ratio, would broaden it
#: to at least this many times the local FWHM and the line is not broadened
#: (:data:`CROSS_BROAD`) where its width is measured (:data:`SAMPLED_FWHM`, and a peak
#: of :data:`WEAK_SNR` noise sigmas or more): the lamp does not show the neighbour NIST
#: describes.
CONTRADICTED_BROAD = 1.25


def _width_contradicts(
    ref_idx, dcat: DetectorCatalogue, cat_fwhm, shapes: LineShapes, scale: float = 1.0
):
    """Arc lines whose width rules out the unresolved NIST neighbours of their spectrum.

    The neighbours within a FWHM, at NIST's intensities, make a feature whose second
    moment adds to the line's: ``sqrt(1 + var / sigma**2)`` its width. A lamp's ratio
    is not NIST's: 930_M2 Ar, Ar II 4033.81 (60) beside 4035.46 (28), 0.78 FWHM apart,
    would be 1.32 times as broad; the lamp shows no 4035.46 (library lamp and physical
    truth alike), the line is as broad as its neighbours, and it was set aside as a
    blend at every binning and seed, one expected line lost. Its NIST neighbours'
    possible pull stays in its error (:func:`nist_pull`).

    ``sigma`` is the instrument's, which is no broader than the line itself (``scale``:
    guess px per arc px): the local FWHM, a median of nearby lines, is a blend's
    where blends are many (1200_M1 FeHeAr 2x2, seed 9: 2.93 px beside Fe I 3758.23's
    2.57, the instrument's 2.5), and against it Fe I 3760.05 (40 against 300, 0.9
    FWHM away), which the lamp does not show, would have broadened the line 1.23
    times, short of the margin: the line, expected, was set aside as a blend.

    It judges undersampled lines too (binned 3x3, about 1.7 px FWHM): the fit
    measures their width, not the pixels', and a sharp line's to a few per cent
    (fitted over the local FWHM, 812 sharp clean lines of six 3x3 lamps: quartiles
    0.989 and 1.002, 95th percentile 1.034), far below the 1.25 a contradicted
    neighbour would add. That Ar II 4033.81 was a blend in every 930_M2 Ar 3x3 arc.
    """
    out = np.zeros(ref_idx.size, bool)
    clean = (ref_idx >= 0) & shapes.sharp & ~shapes.saturated & ~shapes.broadened
    for i in np.nonzero(clean)[0]:
        r = int(ref_idx[i])
        near = _neighbours(r, dcat, cat_fwhm[r])
        near = near[dcat.spectrum[near] == dcat.spectrum[r]]
        if near.size == 0:
            continue
        members = np.r_[r, near]
        w = dcat.strength[members]
        mean = np.sum(w * dcat.u[members]) / max(np.sum(w), 1e-12)
        var = np.sum(w * (dcat.u[members] - mean) ** 2) / max(np.sum(w), 1e-12)
        sigma = min(cat_fwhm[r], shapes.fwhm[i] * scale) / 2.3548
        out[i] = np.sqrt(1.0 + var / max(sigma, 1e-12) ** 2) >= CONTRADICTED_BROAD
    return out


def _statuses(
    ref_idx,
    status,
    dcat: DetectorCatalogue,
    shapes: LineShapes,
    u_pred,
    geo,
    lamp_clean=None,
    across: bool = False,
):
    """Set aside the paired lines whose centre is not a clean measure of their line.

    ``lamp_clean`` (per catalogue line, or ``None``): the library lamp shows the line
    clean in its unbinned flux, so an undersampled arc line named after it is no blend
    by a neighbour of another spectrum (see :mod:`pipeline.wavelength.lamp_widths`).

    ``across``: NIST intensities compare across spectra (a pen lamp's, its ionic lines
    weighted, as for :data:`UNRESOLVED_FWHM` and :func:`nist_pull`). An undersampled
    line whose width cannot show its neighbour of another spectrum is then a blend
    only where that neighbour is not :data:`DOMINANCE` times fainter; the fainter
    one's pull stays in the line's error (:func:`nist_pull`). Binned 3x3, Ne I
    6030.00 beside Ar I 6032.13 (50 times fainter; 400_M2 HgArNe, whose lamp line is
    saturated and says nothing) and Ne I 8771.66 beside Ar II 8771.86 (140 times,
    weighted; 1200_M7 HgArNe, faint in its lamp) were set aside in every arc,
    physical truth expecting them (library lamps of 400_M1 and 1200 CaNIR show both
    clean).

    Returns the statuses and which lines are blends only for such a neighbour of
    another spectrum that their width cannot show (``unweighed``): the fit judges
    those by their centre (:mod:`pipeline.wavelength.unpulled`).
    """
    found = ref_idx >= 0
    # NIST neighbours are judged with the local FWHM expressed in guess px
    by_u = np.argsort(u_pred)
    cat_fwhm = np.interp(dcat.u, u_pred[by_u], (shapes.local_fwhm * geo.scale)[by_u])
    nb = _nist_neighbours(dcat.u, dcat.strength, dcat.spectrum, cat_fwhm)
    r = np.clip(ref_idx, 0, None)
    coarse = shapes.undersampled
    if lamp_clean is not None:
        coarse = coarse & ~lamp_clean[r]
    contradicted = _width_contradicts(ref_idx, dcat, cat_fwhm, shapes, geo.scale)
    nist_blend = nb.dominated[r] & ~contradicted
    cross = nb.unknown_rival[r] if across else nb.unknown[r]
    nist_blend |= nb.unknown[r] & shapes.broadened
    # named after a line real lamps show displaced by an unlisted neighbour, of its own
    # element or of another the lamp holds (Ne I 7472.44 beside Ar I 7471.16 in HgArNe)
    wave = dcat.lines.wavelength[r]
    known_blend = nist_blend | shapes.arc_blend | displaced(wave)
    known_blend |= blended_in_lamp(wave, np.unique(dcat.spectrum))
    unweighed = found & cross & coarse & ~known_blend
    status[found & known_blend] = "blend"
    status[unweighed] = "blend"
    status[found & shapes.weak] = "weak"
    status[found & shapes.narrow] = "narrow"
    status[found & shapes.saturated] = "saturated"
    return status, unweighed


def nist_pull(
    ref_idx, u_cat, strength, width, spectrum, across: bool, shown=None, width_cap=None
) -> np.ndarray:
    """How far each line's NIST neighbours may pull its fitted centre (guess px).

    A line kept under the name of a NIST line that outshines its unresolved
    neighbours (by :data:`DOMINANCE`, else it is a blend) is still fitted to their
    light too: a Gaussian of width ``s`` fitted to a line with a neighbour of relative
    flux ``f`` at ``d`` is moved by ``f d exp(-d**2 / (4 s**2))`` (to first order in
    ``f``; up to ``0.86 f s`` at ``d = sqrt(2) s``, nothing beyond two FWHM). The lamp's
    flux ratio is not NIST's (another source, another spectrum), so that pull is no
    correction but an uncertainty of the line's reference, added to its centring
    error: 930_M5 HgArNe, Ne I 6678.28 with Ar I 6677.28 at 6 % and 0.5 FWHM, centred
    0.1 px off its NIST place (13 of its photon-noise sigmas), weighed as a clean
    bright line and bent the blue end. Neighbours of another spectrum count only where
    NIST intensities compare across spectra (``across``: a pen lamp's, its ionic lines
    weighted; see :data:`UNRESOLVED_FWHM`); a hollow cathode's are judged by the arc
    line's width alone (:func:`_statuses`).

    NIST lists lines a lamp does not light: where the library lamp shows the named
    line clean (``shown``), a neighbour's flux ratio is counted at no more than the
    lamp lights it with. Unresolved in the lamp, it would move the lamp's line: that
    sits ``o`` px from its NIST place, so the ratio is at most
    ``o / (d exp(-d**2 / (4 s_l**2)))`` (``s_l`` the lamp line's sigma). Resolved (``d``
    beyond ``resolved_fwhm`` lamp FWHM), it would be a line of its own, and a clean lamp
    line has no lamp line brighter than ``rival_fraction`` of its flux within the arc's
    reach. 1200_M1 Ar
    1x1: Ar I 4300.10, 0.03 px from its place in the lamp, was weighed with a 1.45 px
    error for Ar II 4300.65 (1.7 px away), which the lamp does not light; Ar I 4181.88
    with 0.24 px for Ar II 4179.30, 8 px away, 7 lamp FWHM, where the lamp shows no
    line.

    The arc line's own fitted width bounds the ratio too (``width_cap``): a sharp
    clean line fitted as broad as its neighbours leaves no room for a bright
    unresolved neighbour (:func:`~pipeline.wavelength.width_bound.neighbour_flux_limit`:
    the fit's response, not the blend's second moment). 1200_M1 Ar 1x1, seed 9:
    Ar II 4033.81, the only line in a 380 px gap, fitted 4.94 px wide against the
    arc's 5.0, was weighed with a 0.57 px error for Ar II 4035.46 one FWHM away at
    NIST's ratio 0.47, which neither the arc nor its lamp shows (the lamp's line too
    faint to be clean); set aside, it left the gap bent by 0.07 px. Its width allows
    a ratio of 0.13 at most, a 0.15 px pull.

    Parameters
    ----------
    ref_idx : numpy.ndarray
        Each arc line's NIST line (index into ``u_cat``; -1 for none).
    u_cat, strength : numpy.ndarray
        NIST lines' guess coordinates (sorted) and intensities.
    width : numpy.ndarray
        Each arc line's FWHM in guess px.
    spectrum : numpy.ndarray of str
        NIST lines' spectra (``"Ar I"``).
    across : bool
        Whether intensities of different spectra compare.
    shown : tuple, optional
        ``(offset, sigma, rival_fraction, resolved_fwhm)``: per NIST line, the library
        lamp's clean line's distance from its NIST place, its sigma (guess px) and the
        flux ratio below which the lamp may hide a resolved neighbour (NaN where the
        lamp does not show it clean, see
        :func:`pipeline.wavelength.lamp_widths.lamp_shows`); beyond how many lamp FWHM
        a neighbour is resolved.
    width_cap : tuple, optional
        ``(tolerance, sigma)``: per arc line, how far from the instrument's its fitted
        width may be (:attr:`LineShapes.width_tolerance`, NaN for no bound) and the
        instrument's sigma there (binned px).

    Returns
    -------
    numpy.ndarray
        Per arc line, the pulls of its NIST neighbours summed (0 for none).
    """
    pull = np.zeros(ref_idx.size)
    named = np.nonzero(ref_idx >= 0)[0]
    if named.size == 0 or u_cat.size < 2:
        return pull
    r = ref_idx[named]
    reach = 2.0 * np.asarray(width, float)[named]
    lo = np.searchsorted(u_cat, u_cat[r] - reach)
    hi = np.searchsorted(u_cat, u_cat[r] + reach, side="right")
    # every NIST line within two FWHM, one row per named line (padded, masked)
    k = lo[:, None] + np.arange(max(int((hi - lo).max()), 1))[None, :]
    inside = k < hi[:, None]
    k = np.minimum(k, u_cat.size - 1)
    inside &= (k != r[:, None]) & (across | (spectrum[k] == spectrum[r][:, None]))
    f = np.minimum(strength[k] / np.maximum(strength[r], 1e-12)[:, None], 1.0)
    d = np.abs(u_cat[k] - u_cat[r][:, None])
    if shown is not None:
        offset, s_lamp, rival_fraction = (np.asarray(a, float)[r][:, None] for a in shown[:3])
        resolved_fwhm = shown[3]
        in_lamp = np.where(
            d >= resolved_fwhm * 2.3548 * s_lamp,
            rival_fraction,
            offset / np.maximum(d * np.exp(-(d**2) / (4.0 * s_lamp**2)), 1e-12),
        )
        f = np.where(np.isfinite(in_lamp), np.minimum(f, in_lamp), f)
    s = np.maximum(reach / 2.0, 1e-6)[:, None] / 2.3548
    if width_cap is not None:
        tol, sigma_px = (np.asarray(a, float)[named][:, None] for a in width_cap)
        f = np.minimum(f, neighbour_flux_limit(tol, d / s, sigma_px))
    pull[named] = np.sum(np.where(inside, f * d * np.exp(-(d**2) / (4.0 * s**2)), 0.0), axis=1)
    return pull


def _fit_errors(ref_idx, dcat, geo: _ArcGeometry, shapes: LineShapes, across, shown=None):
    """Per arc line, its NIST neighbours' possible pull and the error the fit weighs
    it with: that pull and its centring error in quadrature (both guess px)."""
    pull = nist_pull(
        ref_idx,
        dcat.u,
        dcat.strength,
        shapes.local_fwhm * geo.scale,
        dcat.spectrum,
        across,
        shown,
        (shapes.width_tolerance, shapes.local_fwhm / 2.3548),
    )
    return pull, np.hypot(geo.err, pull)


def _fit_used(
    status,
    ref_idx,
    dcat,
    geo: _ArcGeometry,
    order,
    shapes: LineShapes,
    across,
    anchors=None,
    shown=None,
    unweighed=None,
):
    """Robust fit of the correction to the lines still ``used``; rejects outliers.

    A noise-limited line rejected against the bright lines' scatter rejoins when the
    fit of the others passes within a few of its own centring errors (see
    :func:`~pipeline.wavelength.robust_fit.robust_fit`): a faint, clean line two of
    its sigmas off is noise, not a misidentification. ``anchors`` (see
    :func:`_pair_anchors`) join the fit as points of their own; their statuses stay.
    ``unweighed`` blends (see :func:`_statuses`) the fit puts on their NIST place
    join it, and the fit is made again (:func:`~pipeline.wavelength.unpulled.unpulled`).
    """
    fit_set = status == "used"
    b = geo.binning
    pull, err = _fit_errors(ref_idx, dcat, geo, shapes, across, shown)
    x, y = geo.x[fit_set], dcat.u[ref_idx[fit_set]] - geo.u0[fit_set]
    # a line its NIST neighbours may pull by more than its noise is no longer
    # noise-limited: its centre depends on a flux ratio, as a blend's
    own = np.where(shapes.noise_limited & (pull <= geo.err), geo.err, 0.0)[fit_set]
    e = err[fit_set]
    on = _end_anchors(anchors, geo, fit_set)
    if on.any():
        _, u_feature, a_err = anchors
        x = np.r_[x, geo.x[on]]
        y = np.r_[y, u_feature[on] - geo.u0[on]]
        e = np.r_[e, a_err[on]]
        own = np.r_[own, np.zeros(int(on.sum()))]
    fit = robust_fit(
        x,
        y,
        e,
        order,
        floor=CLIP_FLOOR_PX * b,
        gap_tolerance=GAP_TOLERANCE_PX * b,
        own_error=own,
    )
    n_lines = int(fit_set.sum())
    status[np.nonzero(fit_set)[0][~fit.used[:n_lines]]] = "outlier"
    if unweighed is not None:
        cand = unweighed & (status == "blend") & (ref_idx >= 0)
        y_all = np.where(cand, dcat.u[np.clip(ref_idx, 0, None)] - geo.u0, 0.0)
        back = unpulled(cand, geo.x, y_all, geo.err, fit, x, e)
        if back.any():
            status[back] = "used"
            return _fit_used(status, ref_idx, dcat, geo, order, shapes, across, anchors, shown)
    return fit, status


def _end_group(x, fit_set, used) -> np.ndarray:
    """Lines of ``fit_set`` the fit set aside that lie beyond its used lines, farther than
    :data:`~pipeline.wavelength.robust_fit.GAP` from them, at least
    :data:`END_GROUP` on one side (an end of the detector the fit gave up)."""
    out = np.zeros(x.size, bool)
    if not used.any():
        return out
    lo, hi = x[used].min(), x[used].max()
    for side in (fit_set & ~used & (x < lo - GAP), fit_set & ~used & (x > hi + GAP)):
        if side.sum() >= END_GROUP:
            out |= side
    return out


def _end_group_kept(correction, status, fit_set, x, order, fit_args, fit_rest):
    """A coarse stage's fit, one order up where its own order set aside an end's lines.

    The stage's order cap holds a coarse fit of lines named within a few pixels to
    the shapes few misnamed lines can fake; but a guess whose error bends more than
    that order follows (a cubic distortion of the optics model) leaves one end's lines
    pixels off, and the rejection, scaled by the other end's lines, sets them all
    aside: the next stage extrapolates over them and names them after neighbours.
    600 l/mm at GRT 8.5 / CAM 17 (custom angles, optics start), HgArNe Red 1x1: the
    order-2 fit of 22 lines kept the 15 red ones, the next stage's extrapolation 12 px
    off named the blue lines after their neighbours, and the solution was extrapolated
    over 2784 px, 3.8 px off at the blue end. One order up keeps such an end when it
    uses more lines, that end's included.
    """
    group = _end_group(x, fit_set, status == "used")
    if not group.any():
        return correction, status
    # a fresh status: the lower order's rejections must not hold the higher one
    start = np.where(fit_set, "used", status)
    higher, st = _fit_used(start.astype(object), *fit_args, order + 1, *fit_rest)
    kept = st == "used"
    if kept[group].sum() > group.sum() // 2 and kept.sum() > (status == "used").sum():
        return higher, st
    return correction, status


def _neighbours(r, dcat, width) -> np.ndarray:
    """Indices of the NIST lines within ``width`` (guess px) of line ``r``, not ``r``."""
    near = np.nonzero(np.abs(dcat.u - dcat.u[r]) < width)[0]
    return near[near != r]


def _anchor_partner(r, dcat, width, broadened) -> int | None:
    """The one NIST neighbour within ``width`` (guess px) of line ``r`` of its spectrum;
    ``None`` for none or several, or where a neighbour of another spectrum shows (the
    line is ``broadened``; unbroadened, as in :func:`_statuses`, it does not: Ne II
    3664.07 1.2 px from Hg I 3663.28 in a pen lamp)."""
    near = _neighbours(r, dcat, width)
    same = near[dcat.spectrum[near] == dcat.spectrum[r]]
    if same.size != 1 or (broadened and same.size < near.size):
        return None
    return int(same[0])


def _end_anchors(anchors, geo: _ArcGeometry, fit_set) -> np.ndarray:
    """The ``anchors`` beyond the outermost lines of ``fit_set`` with arc lines beyond
    them to name.

    Inside the used lines the clean lines place the fit better than a centroid known
    to a fraction of a pixel, which would only change which of them the rejection
    keeps (with every anchor fitted, 1200M1 FeHeAr's five brought back four lines
    0.2-0.4 px off, RMS 0.061 to 0.100 px). The outermost line of the arc names
    nothing beyond it, and would only bend the fit towards NIST's ratio (1200M7
    OG570, Ar I 7723.76 + 7724.21 at pixel 103, 750 px from the next line: renamed
    7724.21, 1.2 px off).
    """
    if anchors is None or not fit_set.any():
        return np.zeros(geo.x.size, bool)
    x = geo.x[fit_set]
    blue = (geo.x < x.min()) & (geo.x > geo.x.min())
    red = (geo.x > x.max()) & (geo.x < geo.x.max())
    return anchors[0] & (blue | red)


def _judge_end_lines(correction, status, ref_idx, dcat, geo: _ArcGeometry, stage, err, fwhm, refit):
    """The fit with each outermost used line judged as a line beyond the others' fit.

    A line named while the model was coarse (a stage's tolerance of several pixels)
    becomes the outermost fitted line, and the fit passes through it whatever it is:
    the end rule of :func:`identify` (a line beyond the outermost fitted lines is named
    within :data:`END_SIGMA` times the fit's own error there, plus the bend's growth)
    then never judges it. A user's 1200_M1 Ar arc started from the mode's CuHeAr lamp
    named at the first stage (order 1, 4 px) an unlisted feature 209 px beyond its last
    Ar line, 1.8 px from Ar II 4589.90's place; the fit bent its red end through it
    (0.162 px RMS, 1.5 px from the CuHeAr lamp there). Here each end line is predicted
    from the fit of the others, as the pairing beyond them would, and set aside
    (``outlier``) when it lies farther than that rule allows; the next stage pairs it
    again by the same rule, from the fit without it. The line's error counts its NIST
    neighbours' pull (``err``, as the fit weighs it): a blend's place is known no better.

    ``stage`` is (order, tolerance in binned px, arc length in binned px); ``refit``
    fits the lines still ``used`` in a status array, as :func:`_fit_used`.
    """
    order, tol, n = stage
    for _ in range(2):  # each end; a line set aside makes its neighbour the end line
        used = np.nonzero(status == "used")[0]
        if used.size < 2 * (order + 1) + 1:
            break
        changed = False
        for k in (used[np.argmin(geo.x[used])], used[np.argmax(geo.x[used])]):
            trial = status.copy()
            trial[k] = "outlier"
            others, trial = refit(trial)
            if not np.isfinite(others.x_lo) or (trial == "used").sum() < 3:
                continue
            outside = abs(geo.x[k] - np.clip(geo.x[k], others.x_lo, others.x_hi))
            if outside * (n - 1) / 2.0 < END_JUDGED_FWHM * fwhm[k]:
                continue
            base = min(tol, END_SIGMA * np.hypot(others.loo_rms, err[k]) / geo.scale)
            allowed = (base + END_GROWTH * outside * (n - 1) / 2.0) * geo.scale
            off = dcat.u[ref_idx[k]] - geo.u0[k] - others.tangent(geo.x[k])
            if abs(off) > allowed:
                correction, status, changed = others, trial, True
        if not changed:
            break
    return correction, status


def _pair_anchors(ref_idx, status, dcat, shapes: LineShapes, geo: _ArcGeometry):
    """Set-aside pairs placed at their centroid, to anchor the naming of lines beyond.

    A line set aside as a blend of one fainter NIST neighbour of its spectrum (the
    pair :func:`_known_pairs` fits where it can; Hg I 3663.28 beside 3662.88 is 0.22
    FWHM apart at 600 l/mm, too close) is no clean measure of its line, but its
    centroid lies between the two: placed at the flux-weighted mean of NIST's ratio,
    with an error as wide as the farther member, whatever ratio the lamp has (real
    lamps put the Hg feature 0.046-0.092 A blueward of 3663.28, NIST's ratio 0.079;
    the library lamps put Ar I 4190.71 + 4191.03, NIST 3:1, at 4191.03). Taken out
    of the fit, the 600 l/mm Blue HgArNe lamp had no used line below pixel 785: the
    600 px extrapolation admitted Hg I 3650.15, 3654.84 and the pair, named none, and
    its model moved up to 1.16 px at the blue end. The identification stages fit
    these centroids beyond the used lines (:func:`_end_anchors`); the solution does
    not (:func:`identify`).

    Returns
    -------
    tuple of numpy.ndarray or None
        Per arc line: whether it anchors, the centroid's guess coordinate, and its
        error (guess px); ``None`` for none.
    """
    on = np.zeros(ref_idx.size, bool)
    u_feature = np.zeros(ref_idx.size)
    err = np.zeros(ref_idx.size)
    width = shapes.local_fwhm * geo.scale
    cand = (ref_idx >= 0) & (status == "blend") & ~shapes.saturated & ~shapes.arc_blend
    for i in np.nonzero(cand)[0]:
        k = _anchor_partner(ref_idx[i], dcat, width[i], shapes.broadened[i])
        if k is None:
            continue
        r = ref_idx[i]
        if dcat.strength[k] > dcat.strength[r]:
            r, k = k, r  # the centroid is the pair's, whichever member names it
        ratio = dcat.strength[k] / max(dcat.strength[r], 1e-12)
        d = dcat.u[k] - dcat.u[r]
        share = ratio / (1.0 + ratio)
        on[i] = True
        u_feature[i] = dcat.u[r] + d * share
        # anywhere between the two lines, whatever the lamp's ratio
        err[i] = np.hypot(geo.err[i], abs(d) * max(share, 1.0 - share))
    return (on, u_feature, err) if on.any() else None


def _steer(status, ref_idx, dcat, geo: _ArcGeometry, order) -> PolyFit | None:
    """A coarse correction from every paired line, set-aside ones included (their
    errors raised to :data:`STEER_ERROR_PX`), or ``None`` with fewer than three."""
    pick = (ref_idx >= 0) & np.isin(status, ("used", "blend", "saturated"))
    if pick.sum() < 3:
        return None
    b = geo.binning
    return robust_fit(
        geo.x[pick],
        dcat.u[ref_idx[pick]] - geo.u0[pick],
        np.maximum(geo.err[pick], STEER_ERROR_PX * b),
        order,
        floor=STEER_ERROR_PX * b,
    )


#: A set-aside line whose one unresolved NIST neighbour (same spectrum, within a FWHM)
#: lies at least this many FWHM away is fitted as the pair, their separation fixed
#: (:func:`~pipeline.wavelength.lines.fit_known_pair`); closer, the pair's centre and
#: its flux ratio cannot be told apart.
PAIR_MIN_FWHM = 0.35
#: ... and only where the fitted flux ratio is within this factor of NIST's.
PAIR_RATIO_SPAN = 2.0
#: ... and only for a partner at most this fraction of the line (NIST intensities): the
#: fit's one-width Gaussians are not a real lamp's profile, and the brighter the
#: partner, the more of that misfit lands in the centre. Library lamps, each pair-fitted
#: line against the fit of the others: NIST ratios 0.13-0.33 (Ar II 4430.19, Ar I
#: 4190.71, Ne I 8654.38) sit 0.4-1.7 of their lamp's RMS off, ratios 0.36-0.87 (Ne I
#: 5341.09 and 8681.92, Ar I 7723.76 and 4200.67, Ar II 4400.99 and 4370.75) 1.4-4.8
#: (Ne I 5341.09: -0.12 px on a 0.025 px lamp). Hg I 3662.88 beside 3663.28: 0.24.
PAIR_MAX_RATIO = 0.35


def _pair_partner(r, dcat, width) -> int | None:
    """The one NIST neighbour within ``width`` (guess px) of line ``r``, of its spectrum
    and at most :data:`PAIR_MAX_RATIO` of it; ``None`` for none or several."""
    near = _neighbours(r, dcat, width)
    if near.size != 1:
        return None
    k = int(near[0])
    if dcat.spectrum[k] != dcat.spectrum[r]:
        return None
    if dcat.strength[k] > PAIR_MAX_RATIO * max(dcat.strength[r], 1e-12):
        return None
    return k


def _known_pairs(flux, lines, geo0: _ArcGeometry, alignment, ref_idx, status, dcat, shapes):
    """Blends of two NIST lines far enough apart to be fitted as a pair rejoin, placed
    where the pair fit puts their named line (Hg I 3663.28 beside 3662.88, 0.45 FWHM
    apart at 2100 l/mm: the single fit is pulled by 0.38 px, the pair fit by none)."""
    n = np.asarray(flux).size
    b = geo0.binning
    width = shapes.local_fwhm * geo0.scale  # guess px
    x, u0, err = geo0.x.copy(), geo0.u0.copy(), geo0.err.copy()
    status = status.copy()
    sign = 1.0 if alignment.scale >= 0 else -1.0
    for i in np.nonzero((ref_idx >= 0) & (status == "blend") & ~shapes.saturated)[0]:
        r = ref_idx[i]
        k = _pair_partner(r, dcat, width[i])
        if k is None:
            continue
        offset = sign * (dcat.u[k] - dcat.u[r]) / geo0.scale  # binned arc px
        if abs(offset) < PAIR_MIN_FWHM * shapes.local_fwhm[i]:
            continue
        fit = fit_known_pair(flux, lines.centre[i], offset, lines.sigma[i])
        if fit is None:
            continue
        j, j_err, ratio = fit
        expect = dcat.strength[k] / max(dcat.strength[r], 1e-12)
        if not expect / PAIR_RATIO_SPAN <= ratio <= expect * PAIR_RATIO_SPAN:
            continue  # the lamp does not show the pair NIST describes
        x[i] = _x(np.array([j]), n)[0]
        u0[i] = alignment(np.array([b * j + (b - 1) / 2.0]))[0]
        err[i] = b * np.hypot(j_err, SYSTEMATIC_PX)
        status[i] = "used"
    return replace(geo0, x=x, u0=u0, err=err), status


def _arc_geometry(lines: LineList, n: int, binning: int, alignment: Alignment) -> _ArcGeometry:
    b = int(binning)
    j = lines.centre
    return _ArcGeometry(
        x=_x(j, n),
        u0=alignment(b * j + (b - 1) / 2.0),
        err=b * np.hypot(np.nan_to_num(lines.centre_error, nan=1.0), SYSTEMATIC_PX),
        scale=max(abs(alignment.scale), 1e-6) * b,  # guess px per binned arc px
        binning=b,
    )


def identify(
    lines: LineList,
    flux: np.ndarray,
    binning: int,
    guess,
    alignment: Alignment,
    catalogue: LineCatalogue,
    mask=None,
    max_order: int = MAX_ORDER,
    ionic_weight: float = 1.0,
    optics=None,
    lamp_shows=None,
    cosmic_cleaned: bool = False,
) -> Identification:
    """Identify arc lines against NIST wavelengths and fit the correction ``p``.

    Parameters
    ----------
    lines : LineList
        Lines of the binned arc.
    flux : ndarray
        Binned arc (for the saturation test).
    binning : int
    guess : object with ``wavelength(unbinned_pixel)``
    alignment : Alignment
        Coarse map from the arc's unbinned coordinate to the guess's.
    catalogue : LineCatalogue
        NIST lines of the lamp's elements.
    mask : ndarray of bool, optional
        Bad pixels of the arc (a masked line core counts as saturated).
    max_order : int
        Highest order of the correction.
    ionic_weight : float
        Factor on the NIST intensities of ionic lines (``II``, ``III``) when judging
        which line is brighter: pen lamps (Hg, Ar, Ne) show ionic lines far fainter
        than the NIST (discharge) intensities say; hollow cathodes do not.
    optics : DispersionModel, optional
        The optics model of the setup: beyond the outermost fitted lines a line's
        place is predicted along it (:mod:`pipeline.wavelength.optics_continuation`)
        rather than along the fitted correction's tangent.
    lamp_shows : LampShows, optional
        NIST lines the arc's own library lamp shows as clean single lines in its
        unbinned flux (:func:`pipeline.wavelength.lamp_widths.lamp_shows`): an
        undersampled line named after one is judged by that, not set aside for a
        neighbour of another spectrum its width cannot show, and its NIST
        neighbours' pull is counted at the flux the lamp lights them with
        (:func:`nist_pull`).
    cosmic_cleaned : bool
        The arc was cleaned of cosmic rays: lines with replaced pixels are set aside
        (:func:`line_shapes`).

    Returns
    -------
    Identification
    """
    n = np.asarray(flux).size
    geo = geo0 = _arc_geometry(lines, n, binning, alignment)
    dcat = catalogue_on_detector(catalogue, guess, n * geo.binning, ionic_weight)
    shapes = line_shapes(lines, flux, mask, cosmic_cleaned)
    lamp_clean = shown = None
    if lamp_shows is not None:
        lamp_clean = np.isin(dcat.lines.wavelength, lamp_shows.wavelength)
        # the guess coordinate is the lamp's unbinned pixel (a LampTemplate or a
        # LampOnOptics guess), so the lamp's offsets and sigmas are guess px
        at = np.searchsorted(lamp_shows.wavelength, dcat.lines.wavelength)
        at = np.clip(at, 0, max(lamp_shows.wavelength.size - 1, 0))
        shown = (
            *(
                np.where(lamp_clean, a[at], np.nan) if a.size else np.full(lamp_clean.size, np.nan)
                for a in (lamp_shows.offset, lamp_shows.sigma, lamp_shows.rival_fraction)
            ),
            lamp_shows.resolved_fwhm,
        )
    correction = PolyFit(coef=np.zeros(1), used=np.zeros(0, bool), order=0, loo_rms=np.inf)
    ref_idx = np.full(lines.centre.size, -1)
    status = np.full(lines.centre.size, "unidentified", dtype=object)
    n_used = -1
    anchors = anchored_fit = None
    dominance = DOMINANCE if ionic_weight < 1.0 else np.inf
    # the schedule, then rounds at its last tolerance while lines beyond the
    # outermost ones keep joining (each round looks a little farther along the
    # fitted relation's tangent)
    stages = [*SCHEDULE, *[SCHEDULE[-1]] * END_ROUNDS]
    feature_width = shapes.local_fwhm * geo.scale
    for stage, (tol, order_cap) in enumerate(stages):
        u_pred = geo.u0 + correction.tangent(geo.x)
        # beyond the outermost fitted lines the prediction is an extrapolation: the
        # tolerance grows with the distance (the relation bends there)
        outside = np.abs(geo.x - np.clip(geo.x, correction.x_lo, correction.x_hi))
        # at the last tolerance only, where the remaining steps are long: the coarse
        # stages' low-order fits of a few lines may hold misnamed ones, whose departure
        # from the optics sends the outer lines astray (2100 l/mm at 6500 A kept 8 of
        # its 18 lines), and the tangent serves the short steps they take
        lone_reach = lone_window = 0.0
        if optics is not None and np.isfinite(correction.x_lo) and stage >= len(SCHEDULE) - 1:
            u_pred, lone_reach, lone_window = _along_optics(
                u_pred,
                outside > 0,
                optics,
                guess,
                geo,
                dcat,
                ref_idx,
                status,
                correction,
                n,
                _anchored(anchors, n_lines=ref_idx.size),
            )
        outside_px = outside * (n - 1) / 2.0
        # strictly between the outermost fitted lines (x_lo, x_hi are theirs: the fit
        # passes through those whatever they are named), once the tolerance is fine
        settled = (
            (tol <= FEATURE_SETTLED_PX) & (geo.x > correction.x_lo) & (geo.x < correction.x_hi)
        )
        # Beyond the outermost lines the place is the fit's extrapolation, known to what
        # the fit measures (its leave-one-out scatter and the line's centring error, at
        # END_SIGMA), not to the stage's tolerance, which is the model's error while it
        # is coarse. Added to the bend's growth, the stage's 1 px let an unlisted feature
        # of 1200_M1's real Ar lamp, 209 px beyond its last line and 1.8 px from Ar II
        # 4589.90's predicted place, be named it (1.84 px allowed); the order-4 fit then
        # bent its red end through it (0.156 px RMS, 0.36 px from the mode's other
        # lamps, which show Ar II 4589.90 1.8 px redder). The order-2 fit of the 11
        # lines inside predicted with 0.02 px, the line was centred to 0.05: 1.05 px.
        base = np.where(
            outside > 0,
            np.minimum(tol, END_SIGMA * np.hypot(correction.loo_rms, geo.err) / geo.scale),
            tol,
        )
        # a lone end line placed from the others is as far from what places it as its
        # gap: its place is known to the bends' reach there, which the rival test
        # (_set_aside_ambiguous_ends) judges its name by
        tol_a = np.maximum((base + END_GROWTH * outside_px) * geo.scale, lone_reach)
        if tol >= 2:  # the brightest candidate while the model is coarse
            ref_idx, status = _pair(
                u_pred,
                dcat.u,
                tol_a,
                dcat.strength,
                dominance=dominance,
                feature=(feature_width, dcat.spectrum, settled),
            )
        else:  # the nearest (or the strongest of an unresolved group) once it is good
            width = shapes.local_fwhm * geo.scale
            # the other continuation beyond the outermost lines (the lines' global
            # trend): where both put the same NIST line nearest, position decides
            u_alt = np.where(outside > 0, geo.u0 + correction(geo.x), np.nan)
            ref_idx, status = _pair(
                u_pred,
                dcat.u,
                tol_a,
                dcat.strength,
                width,
                outside > 0,
                u_alt,
                dominance,
                feature=(feature_width, dcat.spectrum, settled),
            )
        ref_idx, status = _unique_in_window(ref_idx, status, u_pred, dcat, lone_window)
        if (ref_idx >= 0).sum() < 3:
            break
        status, unweighed = _statuses(
            ref_idx, status, dcat, shapes, u_pred, geo0, lamp_clean, np.isfinite(dominance)
        )
        geo, status = _known_pairs(flux, lines, geo0, alignment, ref_idx, status, dcat, shapes)
        anchors = _pair_anchors(ref_idx, status, dcat, shapes, geo)
        if optics is not None and stage >= len(SCHEDULE) - 1:
            ref_idx, status = _set_aside_ambiguous_ends(
                ref_idx, status, u_pred, dcat, geo, guess, n, _anchored(anchors, ref_idx.size)
            )
        if (status == "used").sum() < 3:
            if tol < COARSE_TOLERANCE_PX:
                break
            # too few clean lines to start from: blended and saturated ones, centred
            # to a fraction of a pixel, steer the coarse stages (never the solution)
            steer = _steer(status, ref_idx, dcat, geo, min(order_cap, max_order))
            if steer is None:
                break
            correction, anchored_fit = steer, None
            continue
        order = min(order_cap, max_order)
        anchored_fit = None
        if _end_anchors(anchors, geo, status == "used").any():
            anchored_fit = (ref_idx, status.copy(), geo, order, unweighed)
        fit_set = status == "used"
        fit_args = (ref_idx, dcat, geo)
        fit_rest = (shapes, np.isfinite(dominance), anchors, shown, unweighed)
        correction, status = _fit_used(status.copy(), *fit_args, order, *fit_rest)
        if tol >= COARSE_TOLERANCE_PX and order < max_order:
            correction, status = _end_group_kept(
                correction, status, fit_set, geo.x, order, fit_args, fit_rest
            )
        if tol < COARSE_TOLERANCE_PX:
            correction, status = _judge_end_lines(
                correction,
                status,
                ref_idx,
                dcat,
                geo,
                (order, tol, n),
                _fit_errors(ref_idx, dcat, geo, shapes, np.isfinite(dominance), shown)[1],
                shapes.local_fwhm,
                functools.partial(
                    _fit_used,
                    ref_idx=ref_idx,
                    dcat=dcat,
                    geo=geo,
                    order=order,
                    shapes=shapes,
                    across=np.isfinite(dominance),
                    anchors=anchors,
                    shown=shown,
                    unweighed=unweighed,
                ),
            )
        used_now = int((status == "used").sum())
        if stage >= len(SCHEDULE) - 1 and used_now <= n_used:
            break
        n_used = used_now
    if anchored_fit is not None:
        # the anchors named the lines beyond them; the solution is the lines' own fit
        ref_idx, status, geo, order, unweighed = anchored_fit
        correction, status = _fit_used(
            status,
            ref_idx,
            dcat,
            geo,
            order,
            shapes,
            np.isfinite(dominance),
            None,
            shown,
            unweighed,
        )
    cat = dcat.lines
    reference = np.where(ref_idx >= 0, cat.wavelength[np.clip(ref_idx, 0, None)], np.nan)
    ion = np.where(ref_idx >= 0, cat.ion[np.clip(ref_idx, 0, None)], "")
    if not np.any(status == "used"):
        status = np.where(ref_idx >= 0, status, "unidentified")
    # the pair-fitted lines at their named line's place (see _known_pairs)
    moved = geo.x != geo0.x
    if moved.any():
        centre = lines.centre.copy()
        centre_error = lines.centre_error.copy()
        centre[moved] = (geo.x[moved] + 1.0) * (n - 1) / 2.0
        centre_error[moved] = np.sqrt(
            np.maximum((geo.err[moved] / geo.binning) ** 2 - SYSTEMATIC_PX**2, 0.0)
        )
        lines = LineList(centre, lines.amplitude, lines.sigma, centre_error, lines.noise)
    # what the last fit weighed each line with, stated in the line table: a line a
    # neighbour may pull is fitted with that pull in its error, and an auditor who
    # sees only its centring error sees a used line many of its sigmas off
    pull, err = _fit_errors(ref_idx, dcat, geo, shapes, np.isfinite(dominance), shown)
    return Identification(
        lines=lines,
        reference=reference,
        ion=np.asarray(ion, str),
        status=np.asarray(status, str),
        correction=correction,
        alignment=alignment,
        reference_error=np.where(ref_idx >= 0, pull / geo.scale, np.nan),
        fit_error=err / geo.scale,
    )


def _along_optics(
    u_pred, beyond, optics, guess, geo, dcat, ref_idx, status, correction, n, anchored=None
):
    """``u_pred`` with the lines ``beyond`` the outermost fitted ones placed along the
    optics model (guess px), at the departure from it the used lines measure.

    The tangent at the outermost line leaves out the relation's bend beyond it (3-5 px
    over the 1000 px without lines at the blue end of 600 l/mm M2, enough to name the
    first line there after its neighbour 3 A away); the optics model has the bend.

    A used line alone beyond a wide gap (:data:`LONE_GAP`) at an end is placed so
    too, from the others: the fit passes through it whatever NIST line it was named
    after in the coarse stages, so only the others can tell (600 l/mm UV: the first
    line, 670 px from the next, named after its neighbour 2.6 A away, bent the blue
    end by 4 px).

    Returns
    -------
    u : ndarray
        The predicted guess coordinates.
    reach : ndarray or float
        Per line, the tolerance (guess px) its place has: for a lone end line placed
        past the library lamp's measured range, the reach of the bends the
        continuation leaves out over its gap (:func:`_bend_reach`); 0 elsewhere.
    window : ndarray or float
        Per lone end line placed so, how far (guess px) its place may be off, as a
        line's beyond the fitted ones (:data:`END_GROWTH` per px of its gap), for
        :func:`_unique_in_window`; 0 elsewhere.
    """
    used = (status == "used") & (ref_idx >= 0)
    if used.sum() < 3:
        return u_pred, 0.0, 0.0
    b = geo.binning
    j = (geo.x + 1.0) * (n - 1) / 2.0
    # a set-aside pair's centroid vouches for its neighbour's name as a used line does
    lone = _lone_end_lines(j, used | _or_none(anchored), LONE_GAP * (n - 1)) & used
    if (used & ~lone).sum() >= LONE_JUDGES:
        used &= ~lone
    else:
        lone[:] = False
    beyond = beyond | (j < j[used].min()) | (j > j[used].max())
    wave = dcat.lines.wavelength[ref_idx[used]]
    departure = fit_departure(
        optics, geo.x[used], b * j[used] + (b - 1) / 2.0, wave, geo.err[used], b
    )
    if departure is None:
        return u_pred, 0.0, 0.0
    fit_lines = (geo.x[used], b * j[used] + (b - 1) / 2.0, wave, geo.err[used], b)
    out = np.array(u_pred, float)
    reach = np.zeros(u_pred.size)
    window = np.zeros(u_pred.size)
    span = measured_range(library_lamp(guess))
    ju = j[used]
    for end, side in ((ju.min(), beyond & (j < ju.min())), (ju.max(), beyond & (j > ju.max()))):
        if not side.any():
            continue
        k = np.argmin(np.abs(j - end))
        end_wave = float(guess_wavelength(guess, geo.u0[k] + correction(geo.x[k])))
        lam = wavelength_beyond(j[side], end, end_wave, n, b, optics, departure)
        lam = _along_lamp_where_measured(lam, j[side], end, end_wave, n, b, guess, fit_lines)
        u = inverse(guess, lam, max(4060, n * b))
        out[side] = np.where(np.isfinite(u), u, out[side])
        # the lone line's place along the optics is as good as the bends over its gap
        # allow (inside the lamp's measured range its model has them: no widening)
        past = ~((lam >= span[0]) & (lam <= span[1])) if span is not None else True
        widen = lone[side] & np.isfinite(u) & past
        reach[side] = np.where(widen, _bend_reach(np.abs(j[side] - end), n) * geo.scale, 0.0)
        gap = np.abs(j[side] - end)
        window[side] = np.where(lone[side] & np.isfinite(u), END_GROWTH * gap * geo.scale, 0.0)
    return out, reach, window


def _unique_in_window(ref_idx, status, u_pred, dcat, window):
    """``ref_idx`` and ``status`` with each lone end line left unpaired named after the
    one NIST line within its ``window`` (guess px) of its place, where there is one.

    A lone end line placed from the others (:func:`_along_optics`) is paired at the
    stage's tolerance, or the bends' reach past the library lamp's measured range; but
    its place is an extrapolation over its gap, off by as much as any line's beyond the
    fitted ones (:data:`END_GROWTH`): 930_M5 HgAr, 1x1, Ar I 6416.31, 636 px beyond
    the others, placed 0.95 px off (reach 0.94 px); 930_M5 CuHeAr, 2x2, Ar I 7948.18
    at the edge of the lamp's range, 1.4 px off; 1200_M1 Ar, 2x2, Ar II 3780.84, 0.43
    px off (reach 0.25 px). Each had been named so in the earlier stages, and no other
    NIST line lay within 30 px: left unnamed, the solution was extrapolated there,
    0.3-1.4 px off. With a single candidate in the window the name is no guess (the
    rival test, :func:`_set_aside_ambiguous_ends`, still judges it).
    """
    window = np.broadcast_to(np.asarray(window, float), ref_idx.shape)
    todo = np.nonzero((ref_idx < 0) & (window > 0))[0]
    if todo.size == 0:
        return ref_idx, status
    ref_idx, status = ref_idx.copy(), status.copy()
    for i in todo:
        cand = np.nonzero(np.abs(dcat.u - u_pred[i]) < window[i])[0]
        if cand.size == 1 and not np.any(ref_idx == cand[0]):
            ref_idx[i], status[i] = int(cand[0]), "used"
    return ref_idx, status


def _bend_reach(gap, n):
    """Binned px by which the bends a continuation leaves out may move a line ``gap``
    binned px beyond the lines it was measured on (:data:`AMBIGUOUS_BEND`)."""
    return AMBIGUOUS_BEND * np.asarray(gap, float) ** 3 / max(n - 1, 1) ** 2


def _along_lamp_where_measured(lam, jq, end, end_wave, n, b, guess, fit_lines) -> np.ndarray:
    """Wavelengths ``lam`` (along the optics) replaced, where the library lamp's own
    lines measured its model, by that model at the departure the used lines measure
    (see :mod:`pipeline.wavelength.lamp_continuation`): there the lamp's model carries
    the distortion the optics miss (600 l/mm Blue: a lone red end line placed along
    the optics 1.5 px off, named after Cu II 6154.2 instead of its own line)."""
    span = measured_range(library_lamp(guess))
    if span is None:
        return lam
    lamp = LampModel(library_lamp(guess))
    departure = fit_departure(lamp, *fit_lines)
    if departure is None:
        return lam
    along = wavelength_beyond(jq, end, end_wave, n, b, lamp, departure)
    inside = (along >= span[0]) & (along <= span[1])
    return np.where(inside, along, lam)


def _set_aside_ambiguous_ends(ref_idx, status, u_pred, dcat, geo, guess, n, anchored=None):
    """``ref_idx`` and ``status`` with a lone end line left unnamed where its name is a
    guess between NIST neighbours.

    A used line alone beyond a wide gap (:data:`LONE_GAP`) at an end, judged by
    :data:`LONE_JUDGES` others, past where the library lamp's own lines measured its
    model, is placed only by the optics model
    at a departure the other lines measure, continued over the gap: a smooth
    distortion of a few pixels the lines do not see puts it several pixels off (600
    l/mm MID, 1x1: 1430 px beyond the others, 9 px off, named Ne II 4398.0 for
    4391.99). When another NIST line not :data:`DOMINANCE` times fainter lies within
    the bend's reach (:data:`AMBIGUOUS_BEND`) of its predicted place, nothing tells
    which it is, and a wrong name bends the solution by pixels: it is left out.
    """
    used = (status == "used") & (ref_idx >= 0)
    j = (geo.x + 1.0) * (n - 1) / 2.0
    lone = _lone_end_lines(j, used | _or_none(anchored), LONE_GAP * (n - 1)) & used
    # with fewer judges the lone line placed itself (see _along_optics): no rival test
    if not lone.any() or (used & ~lone).sum() < LONE_JUDGES:
        return ref_idx, status
    span = measured_range(library_lamp(guess))
    others = j[used & ~lone]
    ref_idx, status = ref_idx.copy(), status.copy()
    for k in np.nonzero(lone)[0]:
        r = int(ref_idx[k])
        wave = float(dcat.lines.wavelength[r])
        if span is not None and span[0] <= wave <= span[1]:
            continue
        gap = float(np.min(np.abs(others - j[k])))
        reach = _bend_reach(gap, n)
        near = np.abs(dcat.u - u_pred[k]) < reach * geo.scale
        near[r] = False
        rivals = near & (dcat.strength * DOMINANCE >= dcat.strength[r])
        if rivals.any():
            ref_idx[k], status[k] = -1, "unidentified"
    return ref_idx, status


def _anchored(anchors, n_lines) -> np.ndarray:
    """The arc lines :func:`_pair_anchors` placed (``anchors`` may be ``None``)."""
    return anchors[0] if anchors is not None else np.zeros(n_lines, bool)


def _or_none(mask):
    return False if mask is None else mask


def _lone_end_lines(j, used, gap) -> np.ndarray:
    """The outermost used line at either end when the next one is farther than ``gap``."""
    out = np.zeros(j.size, bool)
    idx = np.nonzero(used)[0]
    if idx.size < 3:
        return out
    k = idx[np.argsort(j[idx])]
    if j[k[1]] - j[k[0]] > gap:
        out[k[0]] = True
    if j[k[-1]] - j[k[-2]] > gap:
        out[k[-1]] = True
    return out


def _pair(
    u_pred,
    u_cat,
    tol,
    intensity=None,
    unresolved=None,
    beyond=None,
    u_alt=None,
    dominance=np.inf,
    feature=None,
):
    """Pair arc lines with NIST lines within ``tol``: the nearest, or with
    ``intensity`` the brightest candidate (nearest on ties).

    Preferring the brightest keeps a bright arc line from being paired with a faint
    catalogued neighbour while the model is still coarse; each NIST line then keeps
    only its closest arc line.

    Parameters
    ----------
    u_pred, u_cat : ndarray
        Predicted guess coordinate of each arc line; NIST lines' (sorted).
    tol : float or ndarray
        Pairing tolerance (guess px), per arc line or one for all.
    intensity : ndarray, optional
        Choose the brightest candidate (the coarse stages).
    unresolved : ndarray, optional
        Per arc line, the FWHM in guess px, for ``beyond`` lines (past the outermost
        fitted ones, where the prediction is an extrapolation): candidates closer
        than that to the nearest one are one unresolved feature, of which the
        strongest (``intensity``) is the line, and the line is paired only when all
        its candidates are one such feature. Other lines take the nearest.
    beyond : ndarray of bool, optional
        Arc lines past the outermost fitted ones.
    u_alt : ndarray, optional
        Another extrapolation of each ``beyond`` line's place (the fitted lines'
        global trend, where ``u_pred`` follows the tangent at the outermost line):
        where both put the same candidate nearest, that candidate is the line.
    dominance : float
        Inside the fitted lines, of NIST candidates within :data:`UNRESOLVED_FWHM` of
        the nearest, the strongest is the line when it is this many times stronger
        than the others (``inf``: always the nearest).
    feature : tuple, optional
        ``(width, spectrum, settled)``: per arc line its FWHM in guess px, the NIST
        lines' spectra, and per arc line whether its prediction can place it (between
        fitted lines at a fine tolerance). The candidate chosen stands for its
        unresolved feature (see :func:`_feature_choice`), at every stage; a feature
        no member dominates keeps the candidate where ``settled``, and is otherwise
        paired with status ``blend``, named after its brightest member.

    Returns
    -------
    idx, status : ndarray
        Each arc line's NIST line (-1 when none) and an initial status.
    """
    status = np.full(u_pred.size, "unidentified", dtype=object)
    idx = np.full(u_pred.size, -1)
    if u_cat.size == 0 or u_pred.size == 0:
        return idx, status
    tol = np.broadcast_to(np.asarray(tol, float), u_pred.shape)
    lo = np.searchsorted(u_cat, u_pred - tol)
    hi = np.searchsorted(u_cat, u_pred + tol, side="right")
    choice = np.full(u_pred.size, -1)
    for a in np.nonzero(hi > lo)[0]:
        cand = np.arange(lo[a], hi[a])
        dist = np.abs(u_cat[cand] - u_pred[a])
        if intensity is not None and unresolved is None:
            choice[a] = cand[np.lexsort((dist, -intensity[cand]))[0]]
        elif unresolved is None:
            choice[a] = cand[np.argmin(dist)]
        else:
            far = beyond is not None and beyond[a]
            alt = u_alt[a] if (far and u_alt is not None) else np.nan
            choice[a] = _unresolved_choice(
                cand, u_pred[a], u_cat, intensity, unresolved[a], far, alt, dominance
            )
    ambiguous = np.zeros(u_pred.size, bool)
    if feature is not None and intensity is not None:
        f_width, spectrum, settled = feature
        settled = np.asarray(settled, bool)
        for a in np.nonzero(choice >= 0)[0]:
            name, ambiguous[a], brightest = _feature_choice(
                int(choice[a]), u_cat, intensity, spectrum, f_width[a], dominance,
                (u_pred[a] - tol[a], u_pred[a] + tol[a]),
            )  # fmt: skip
            # a feature set aside carries its brightest member's name (most of its
            # light) where the tolerance admits it: one beyond it is a name the
            # prediction does not support, and once fitted as a pair
            # (_known_pairs) it bent the coarse stages (2100_3900A 1x1, seed 12)
            choice[a] = brightest if ambiguous[a] and not settled[a] else name
        ambiguous &= ~settled
    best: dict[int, int] = {}
    for a in np.nonzero(choice >= 0)[0]:
        r = int(choice[a])
        if r not in best or abs(u_cat[r] - u_pred[a]) < abs(u_cat[r] - u_pred[best[r]]):
            best[r] = a
    for r, a in best.items():
        idx[a] = r
        status[a] = "blend" if ambiguous[a] else "used"
    return idx, status


def _feature_choice(
    r, u_cat, strength, spectrum, width, dominance, within=(-np.inf, np.inf)
) -> tuple[int, bool, int]:
    """The NIST line that names the unresolved feature of candidate ``r``, whether
    the feature is ambiguous, and its brightest member comparable with ``r`` (of its
    spectrum, or of any with a pen lamp's weights) ``within`` a range of ``u_cat``.

    The feature is the chain of NIST lines closer than :data:`FEATURE_FWHM` ``width``
    to each other around ``r``. Its centroid is their intensity-weighted mean, which
    no prediction a fraction of a pixel off can resolve: the member that outshines
    every other by DOMINANCE is the line; intensities compare within one spectrum,
    across spectra only with ``dominance`` finite (a pen lamp's weights). Otherwise
    the centre depends on an unknown flux ratio: ``r`` is kept as the name but the
    feature is ambiguous (a blend, never fitted).
    """
    gap = FEATURE_FWHM * width
    lo = hi = r
    while lo > 0 and u_cat[lo] - u_cat[lo - 1] < gap:
        lo -= 1
    while hi < u_cat.size - 1 and u_cat[hi + 1] - u_cat[hi] < gap:
        hi += 1
    if lo == hi:
        return r, False, r
    members = np.arange(lo, hi + 1)
    top = members[np.argmax(strength[members])]
    others = members[members != top]
    cross = spectrum[others] != spectrum[top]
    needed = np.where(cross, dominance, DOMINANCE) * strength[others]
    if np.all(strength[top] >= needed):
        return int(top), False, int(top)
    comparable = members[
        ((spectrum[members] == spectrum[r]) | np.isfinite(dominance))
        & (u_cat[members] >= within[0])
        & (u_cat[members] <= within[1])
    ]
    if comparable.size == 0:
        return r, True, r
    return r, True, int(comparable[np.argmax(strength[comparable])])


def _unresolved_choice(
    cand, u_line, u_cat, strength, width, beyond, u_alt=np.nan, dominance=np.inf
) -> int:
    """The nearest candidate where the prediction is an interpolation; beyond the
    fitted lines, the nearest where its place decides (:func:`_place_decides`), else
    the strongest of those unresolved from the nearest (-1: resolved candidates, and
    only an extrapolation to choose between them)."""
    near = cand[np.argmin(np.abs(u_cat[cand] - u_line))]
    if not beyond:
        # candidates far closer than the FWHM are one feature whose centroid is their
        # intensity-weighted mean: its strongest member is the line, not whichever a
        # model a fraction of a pixel off puts nearest
        # (when it outshines the others by ``dominance``: otherwise the NIST scales,
        # of different spectra, do not tell)
        pair = cand[np.abs(u_cat[cand] - u_cat[near]) < UNRESOLVED_FWHM * width]
        if pair.size < 2:
            return int(near)
        ranked = np.sort(strength[pair])[::-1]
        if ranked[0] >= dominance * ranked[1]:
            return int(pair[np.argmax(strength[pair])])
        return int(near)
    if _place_decides(u_cat[cand], u_line, u_alt, width):
        return int(near)
    group = cand[np.abs(u_cat[cand] - u_cat[near]) < width]
    if group.size < cand.size:
        return -1
    return int(group[np.argmax(strength[group])])


def _place_decides(u_cand, u_line, u_alt, width) -> bool:
    """Whether an extrapolated place picks one candidate whatever the continuation.

    Beyond the outermost fitted lines a line's place is predicted two ways (along the
    tangent at the last line, ``u_line``, and along the lines' global trend,
    ``u_alt``). Where both put the same candidate nearest, nearer than the next by
    more than half the line's FWHM (``width``), that candidate dominates the feature
    (an unresolved pair's centroid that close to one member is mostly its light) and
    it is the line. Otherwise -- candidates within half a FWHM of each other, or
    continuations that disagree -- the place cannot tell: NIST intensities must, and
    those of two spectra (``Ne II`` beside ``Ar II``) are on unrelated scales.
    """
    if u_cand.size == 0 or not np.isfinite(u_alt):
        return False
    picks = []
    for u in (u_line, u_alt):
        d = np.sort(np.abs(u_cand - u))
        margin = d[1] - d[0] if d.size > 1 else np.inf
        if margin <= 0.5 * width:
            return False
        picks.append(int(np.argmin(np.abs(u_cand - u))))
    return picks[0] == picks[1]
