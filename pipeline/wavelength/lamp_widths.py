"""Which NIST lines the library lamp shows clean, measured in its own 1x1 flux.

Binned 3x3 an arc line is about 1.7 px wide: its measured width cannot tell whether an
unresolved NIST neighbour of another spectrum adds light (whose share NIST intensities
cannot weigh across spectra), so such a line is a blend there
(:func:`pipeline.wavelength.identify._statuses`). The library lamp of the same mode
and lamp was taken unbinned, where the same line is sampled by 2.5-5 px per FWHM:
there its width and its place say whether the neighbour shows. A line the lamp shows
as a single clean line at its NIST place (under the lamp's NIST-corrected model) keeps
that verdict at any binning; the lamp's flux ratios are the lamp's, not the binning's.

Of the 3x3 blends that physical-truth arcs expected, the lamp shows clean: Ne I
8771.66 beside Ar II 8771.86 (1200 l/mm CaNIR, 930_M6: 0.02 px from its place, width
1.00-1.05 of its neighbours'), Ne I 6382.99 (400_M2) and Ne I 6030.00 (400_M1). It does
not show clean (those stay blends): He I 6678.15, whose light in the 1200_M4/M5 lamps
is 2.9 px away, at Ar I 6677.28; Cu II 4931.70 (600 Blue, UV: the light is Ar II
4933.21's, 2.3 px away); Cu I 5218.20 (600 Blue: 3.3 times broader than its
neighbours); Fe I 4282.40 (1200_M1: 1.25 px off and 1.18 times broader).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pipeline.lamps import LampTemplate
from pipeline.wavelength.first_guess import inverse
from pipeline.wavelength.identify import line_shapes
from pipeline.wavelength.lines import find_lines

#: Largest distance (unbinned px) between a lamp line and the place its NIST-corrected
#: model gives its NIST line, for the line to be that NIST line's alone (clean lines
#: sit within 0.02-0.1 px; a neighbour's light moves them 0.4-3.5 px).
LAMP_PLACE_PX = 0.2
#: ... and no other line of the lamp within ``RIVAL_FWHM`` of the arc's FWHM that pulls
#: it by as much as one of this fraction of its flux at the worst distance: unbinned the
#: lamp resolves a neighbour that a binned arc merges with the line (a neighbour of
#: relative flux ``f`` at ``d`` pulls a Gaussian's centre by ``f d exp(-d**2 / (4
#: sigma**2))``, at most ``0.86 f sigma``: 0.02 binned px at 3 %). Counting the
#: fraction alone set aside neighbours whose pull is a tenth of that: 1200_M1/M2
#: FeHeAr, Ar I 4272.17 beside a lamp line 11 % of its flux 1.6 arc FWHM away (a pull
#: of 0.008 binned px) was a blend in every 3x3 arc.
RIVAL_FRACTION = 0.03
RIVAL_FWHM = 2.0
#: A NIST neighbour this many of the lamp's FWHM from a line is a peak of its own in
#: the lamp's unbinned flux where it is lit (at 3 % of the line's flux it stands far
#: above the line's Gaussian wing there, 1e-5): a clean lamp line without a rival
#: of :data:`RIVAL_FRACTION` says the neighbour is fainter than that.
RESOLVED_FWHM = 2.0
#: ... a neighbour beyond the arc's peak separation (``separation_unbinned``, see
#: :data:`~pipeline.wavelength.lines.MIN_SEPARATION_PX`) is a line of the binned arc's
#: own, fitted and subtracted there and judged by the arc's blend test: 1200_M1/M2
#: FeHeAr, Ar I 4251.19 with a lamp line 1.3 times brighter 3.25 binned px (1.95 FWHM)
#: away was a blend in every 3x3 arc.


@lru_cache(maxsize=64)
def _lamp_lines(
    file_name: str, flux_bytes: bytes, cosmic_cleaned: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centres, fluxes and sigmas of the lamp's lines, and which of them are clean single
    lines (in a lamp cleaned of cosmic rays, not its lines with replaced pixels: see
    :func:`~pipeline.wavelength.altered_lines.altered_lines`)."""
    flux = np.frombuffer(flux_bytes, dtype=float)
    lines = find_lines(flux, max_lines=250)
    shapes = line_shapes(lines, flux, cosmic_cleaned=cosmic_cleaned)
    clean = ~(shapes.saturated | shapes.broadened | shapes.arc_blend | shapes.narrow | shapes.weak)
    return lines.centre, lines.amplitude, clean, lines.sigma


@dataclass(frozen=True)
class LampShows:
    """NIST lines the library lamp shows clean, and how far from their NIST places.

    Attributes
    ----------
    wavelength : numpy.ndarray
        NIST air wavelengths (Å) of the lines the lamp shows as clean single lines.
    offset : numpy.ndarray
        Distance (unbinned px) of each one's lamp line from its NIST place under the
        lamp's NIST-corrected model: what every neighbour the lamp lights moves it by,
        at most (plus the model's own error).
    sigma : numpy.ndarray
        Gaussian sigma (unbinned px) of each one's lamp line.
    rival_fraction : numpy.ndarray
        Per line, the flux ratio of the brightest other lamp line within the arc's
        reach (:data:`RIVAL_FWHM` arc FWHM), at least :data:`RIVAL_FRACTION`: a
        neighbour the lamp resolves is no brighter than that.
    resolved_fwhm : float
        :data:`RESOLVED_FWHM`: how many lamp FWHM away a neighbour is resolved.
    """

    wavelength: np.ndarray
    offset: np.ndarray
    sigma: np.ndarray
    rival_fraction: np.ndarray
    resolved_fwhm: float = RESOLVED_FWHM


def lamp_shows(
    template, wavelengths, fwhm_unbinned: float = 0.0, separation_unbinned: float = np.inf
) -> LampShows:
    """The NIST lines the library lamp shows clean, with their lamp lines' offsets.

    Parameters
    ----------
    template, wavelengths, fwhm_unbinned, separation_unbinned
        As for :func:`clean_in_lamp`.

    Returns
    -------
    LampShows
        The wavelengths :func:`clean_in_lamp` finds clean, each with its lamp line's
        distance from its NIST place and its sigma (unbinned px).
    """
    wavelengths = np.asarray(wavelengths, float)
    offset, sigma, cap = _shown(template, wavelengths, fwhm_unbinned, separation_unbinned)
    keep = np.isfinite(offset)
    return LampShows(wavelengths[keep], offset[keep], sigma[keep], cap[keep])


def clean_in_lamp(
    template, wavelengths, fwhm_unbinned: float = 0.0, separation_unbinned: float = np.inf
) -> np.ndarray:
    """Whether the library lamp shows each NIST wavelength as a clean single line.

    Parameters
    ----------
    template : LampTemplate or object with a ``template`` attribute
        The library lamp (a :class:`~pipeline.wavelength.template_guess.LampOnOptics`
        gives its own); only a lamp with a NIST-corrected model can place NIST lines
        to a fraction of a pixel.
    wavelengths : array_like
        NIST air wavelengths (Å).
    fwhm_unbinned : float
        The arc's line FWHM in unbinned px: a lamp line with a neighbour within
        :data:`RIVAL_FWHM` of it that pulls it as much as one of :data:`RIVAL_FRACTION`
        of its flux may is not clean.
    separation_unbinned : float
        Unbinned px beyond which the binned arc tells a neighbour apart as a line of
        its own (its peak separation times the binning); such neighbours are no rivals.

    Returns
    -------
    numpy.ndarray of bool
        True where a line of the lamp's unbinned flux lies within
        :data:`LAMP_PLACE_PX` of the wavelength's place, is neither saturated,
        broadened, blended, narrow nor weak, and has no rival within the arc's reach;
        False elsewhere (and for every wavelength when the lamp has no NIST-corrected
        model).
    """
    return np.isfinite(_shown(template, wavelengths, fwhm_unbinned, separation_unbinned)[0])


def _shown(template, wavelengths, fwhm_unbinned, separation_unbinned=np.inf):
    """Per wavelength, its clean lamp line's distance from its NIST place and sigma
    (unbinned px) and its :attr:`LampShows.rival_fraction`; NaN where the lamp does not
    show it clean (see :func:`clean_in_lamp`)."""
    wavelengths = np.asarray(wavelengths, float)
    lamp = getattr(template, "template", template)
    offset, sigma, cap = (np.full(wavelengths.size, np.nan) for _ in range(3))
    if not isinstance(lamp, LampTemplate) or not lamp.corrected or wavelengths.size == 0:
        return offset, sigma, cap
    flux = np.ascontiguousarray(np.nan_to_num(np.asarray(lamp.flux, float)))
    centre, flux_of, clean, sigma_of = _lamp_lines(
        lamp.file_name, flux.tobytes(), bool(lamp.cosmic_cleaned)
    )
    if not clean.any():
        return offset, sigma, cap
    try:
        place = inverse(lamp, wavelengths, lamp.npix)
    except ValueError:  # a model not monotonic over the lamp
        return offset, sigma, cap
    arc_reach = RIVAL_FWHM * float(fwhm_unbinned)
    reach = min(arc_reach, float(separation_unbinned))
    s_arc = max(float(fwhm_unbinned), 1e-6) / 2.3548
    on = np.nonzero(np.isfinite(place))[0]
    k = np.argmin(np.abs(centre[None, :] - place[on, None]), axis=1)
    off = np.abs(centre[k] - place[on])
    at_place = clean[k] & (off <= LAMP_PLACE_PX)
    gap = np.abs(centre[None, :] - centre[k][:, None])
    ratio = flux_of[None, :] / flux_of[k][:, None]
    pull = ratio * gap * np.exp(-(gap**2) / (4.0 * s_arc**2))
    worst = RIVAL_FRACTION * np.sqrt(2.0) * s_arc * np.exp(-0.5)
    rival = (gap < reach) & (gap > 0) & (pull >= worst)
    shown = at_place & ~rival.any(axis=1)
    # the brightest lamp line the rule above let stand within the arc's reach: a
    # neighbour resolved in the lamp is no brighter than it (nor than RIVAL_FRACTION)
    let_stand = np.where((gap < arc_reach) & (gap > 0), ratio, 0.0).max(axis=1, initial=0.0)
    offset[on[shown]] = off[shown]
    sigma[on[shown]] = sigma_of[k][shown]
    cap[on[shown]] = np.maximum(let_stand[shown], RIVAL_FRACTION)
    return offset, sigma, cap
