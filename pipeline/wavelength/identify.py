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
tolerance shrinks as the model improves (and as ``p`` is allowed a higher order). Every arc line ends with a status:

``used``
    in the final fit;
``blend``
    an unresolved NIST neighbour (within one FWHM, not ten times fainter), or another
    arc line within :data:`BLEND_FWHM` FWHM not ten times fainter, or the line is
    broader than its neighbours: its centre depends on a flux ratio;
``saturated``
    flat-topped, masked core, or bright and broader than its neighbours;
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

from dataclasses import dataclass

import numpy as np

from pipeline.wavelength.first_guess import Alignment, inverse
from pipeline.wavelength.lines import LineList, continuum, robust_noise
from pipeline.wavelength.nist import LineCatalogue
from pipeline.wavelength.robust_fit import PolyFit, robust_fit

#: Two lines closer than this many FWHM are a blend.
BLEND_FWHM = 2.5
#: Intensity ratio above which the brighter of two blended lines dominates.
DOMINANCE = 10.0
#: Centring error (binned px) above which a faint line (peak below WEAK_SNR times the
#: noise) is too weak to constrain the fit.
WEAK_ERROR_PX = 0.1
WEAK_SNR = 50.0
#: A line broader than BROAD times the local FWHM is saturated when its peak is above
#: SATURATION_FRACTION of the brightest peak, a blend otherwise.
BROAD = 1.15
SATURATION_FRACTION = 0.2
#: A "line" narrower than NARROW times the local FWHM is not a spectral line.
NARROW = 0.7
#: Largest departure (binned px) a higher order of the correction may make, inside a
#: gap between lines, from the lower order kept so far.
GAP_TOLERANCE_PX = 0.25
#: Smallest robust scatter (binned px) the outlier rejection assumes.
CLIP_FLOOR_PX = 0.02
#: Centring-error floor, binned px: line asymmetries and unlisted faint neighbours
#: leave a few hundredths of a pixel that photon noise does not describe.
SYSTEMATIC_PX = 0.02
#: Pairing tolerances (binned px) and the highest order of ``p`` at each stage.
SCHEDULE = ((4.0, 1), (2.0, 2), (1.0, 4), (0.6, 6), (0.4, 6))

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
    """

    lines: LineList
    reference: np.ndarray
    ion: np.ndarray
    status: np.ndarray
    correction: PolyFit
    alignment: Alignment

    @property
    def used(self) -> np.ndarray:
        return self.status == "used"


def _x(j, n):
    return 2.0 * np.asarray(j, float) / max(n - 1, 1) - 1.0


def saturated_lines(flux: np.ndarray, lines: LineList, mask=None) -> np.ndarray:
    """Lines with a flat top (three pixels within 2 % of the peak) or a masked core.

    A Gaussian line of any width a spectrograph delivers falls by more than 2 % one
    pixel from its peak; a clipped one does not.
    """
    flux = np.asarray(flux, float)
    n = flux.size
    idx = np.clip(np.round(lines.centre).astype(int), 2, n - 3)
    win = idx[:, None] + np.arange(-2, 3)[None, :]
    vals = np.where(np.isfinite(flux[win]), flux[win], -np.inf)
    base = np.nanmin(np.where(np.isfinite(flux[win]), flux[win], np.inf), axis=1)
    top = vals.max(axis=1)
    height = np.maximum(top - np.minimum(base, top), 1e-12)
    # three consecutive pixels within 2 % of the peak height
    near = (top[:, None] - vals) <= 0.02 * height[:, None]
    flat = (near[:, :-2] & near[:, 1:-1] & near[:, 2:]).any(axis=1)
    # nothing truly flat among noise-free bright lines except a clipped top
    if mask is not None:
        m = np.asarray(mask, bool)
        flat |= m[np.clip(idx[:, None] + np.arange(-1, 2)[None, :], 0, n - 1)].any(axis=1)
    return flat


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


def _nist_blended(u_cat, strength, width) -> np.ndarray:
    """NIST lines with an unresolved neighbour (closer than one FWHM) that is not
    DOMINANCE times fainter: their centre depends on the pair's flux ratio.

    Resolved neighbours are judged on the arc itself (the measured amplitudes of the
    lines found there, see the arc-blend test), not on NIST intensities, which come
    from other light sources and are on another scale for every spectrum.
    """
    out = np.zeros(u_cat.size, bool)
    for step in range(1, u_cat.size):
        gap = u_cat[step:] - u_cat[:-step]
        near_l = gap < width[:-step]
        near_r = gap < width[step:]
        if not (near_l.any() or near_r.any()):
            break
        out[:-step] |= near_l & (strength[step:] * DOMINANCE > strength[:-step])
        out[step:] |= near_r & (strength[:-step] * DOMINANCE > strength[step:])
    return out


def identify(
    lines: LineList,
    flux: np.ndarray,
    binning: int,
    guess,
    alignment: Alignment,
    catalogue: LineCatalogue,
    mask=None,
    max_order: int = 6,
    ionic_weight: float = 1.0,
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

    Returns
    -------
    Identification
    """
    b = int(binning)
    n = np.asarray(flux).size
    j = lines.centre
    v = b * j + (b - 1) / 2.0
    x = _x(j, n)
    u0 = alignment(v)
    err = b * np.hypot(np.nan_to_num(lines.centre_error, nan=1.0), SYSTEMATIC_PX)
    # FWHM in binned px, smoothed along the detector (focus changes slowly; a single
    # line's own width is inflated by its blends).
    fwhm = 2.3548 * lines.sigma
    if fwhm.size >= 5:
        k = np.argsort(j)
        med = np.array([np.median(fwhm[k][max(0, i - 4) : i + 5]) for i in range(k.size)])
        fwhm_s = np.empty_like(fwhm)
        fwhm_s[k] = med
    else:
        fwhm_s = np.full_like(fwhm, np.median(fwhm) if fwhm.size else 2.5)

    # NIST lines in the guess coordinate; only those that can fall on the detector.
    u_cat = inverse(guess, catalogue.wavelength, max(4060, n * b))
    on = np.nonzero(np.isfinite(u_cat))[0]
    on = on[np.argsort(u_cat[on], kind="stable")]  # a guess may fall with pixel
    cat = catalogue.select(on)
    u_cat = u_cat[on]
    ionic = ~np.char.endswith(np.char.strip(cat.ion.astype(str)), " I")
    strength = cat.intensity * np.where(ionic, ionic_weight, 1.0)

    # A line much broader than its neighbours is either clipped (a saturated line
    # that was extracted or combined is rarely perfectly flat, but always broadened)
    # or an unresolved blend; which one, its height tells.
    height = lines.amplitude / (np.sqrt(2 * np.pi) * np.maximum(lines.sigma, 1e-6))
    broad = fwhm > BROAD * fwhm_s
    bright = height > SATURATION_FRACTION * (height.max() if height.size else 0.0)
    saturated = saturated_lines(flux, lines, mask) | (broad & bright)
    # narrower than the instrument's lines: a cosmic ray, a hot column, noise
    narrow = fwhm < NARROW * fwhm_s
    net = np.asarray(flux, float) - continuum(np.asarray(flux, float))
    noise = robust_noise(net) or 1.0
    peak_snr = lines.amplitude / (np.sqrt(2 * np.pi) * lines.sigma) / noise
    weak = (lines.centre_error > WEAK_ERROR_PX) & (peak_snr < WEAK_SNR)
    arc_blend = _blended(j, lines.amplitude, fwhm_s) | (broad & ~saturated)
    scale = max(abs(alignment.scale), 1e-6) * b  # guess px per binned arc px

    correction = PolyFit(coef=np.zeros(1), used=np.zeros(0, bool), order=0, loo_rms=np.inf)
    ref_idx = np.full(j.size, -1)
    status = np.full(j.size, "unidentified", dtype=object)
    for tol, order_cap in SCHEDULE:
        u_pred = u0 + correction(x)
        # the brightest candidate while the model is coarse, the nearest once it is good
        ref_idx, status = _pair(u_pred, u_cat, tol * scale, strength if tol >= 2 else None)
        found = ref_idx >= 0
        if found.sum() < 3:
            break
        # NIST blends: judged with the local FWHM expressed in guess px.
        by_u = np.argsort(u_pred)
        cat_fwhm = np.interp(u_cat, u_pred[by_u], (fwhm_s * scale)[by_u])
        nist_blend = _nist_blended(u_cat, strength, cat_fwhm)
        status[found & nist_blend[np.clip(ref_idx, 0, None)]] = "blend"
        status[found & arc_blend] = "blend"
        status[found & weak] = "weak"
        status[found & narrow] = "narrow"
        status[found & saturated] = "saturated"
        fit_set = status == "used"
        if fit_set.sum() < 3:
            break
        target = u_cat[ref_idx[fit_set]] - u0[fit_set]
        fit = robust_fit(
            x[fit_set],
            target,
            err[fit_set],
            min(order_cap, max_order),
            floor=CLIP_FLOOR_PX * b,
            gap_tolerance=GAP_TOLERANCE_PX * b,
        )
        correction = fit
        rejected = np.nonzero(fit_set)[0][~fit.used]
        status[rejected] = "outlier"
    reference = np.where(ref_idx >= 0, cat.wavelength[np.clip(ref_idx, 0, None)], np.nan)
    ion = np.where(ref_idx >= 0, cat.ion[np.clip(ref_idx, 0, None)], "")
    if not np.any(status == "used"):
        status = np.where(ref_idx >= 0, status, "unidentified")
    return Identification(
        lines=lines,
        reference=reference,
        ion=np.asarray(ion, str),
        status=np.asarray(status, str),
        correction=correction,
        alignment=alignment,
    )


def _pair(u_pred: np.ndarray, u_cat: np.ndarray, tol: float, intensity=None):
    """Pair arc lines with NIST lines within ``tol``: the nearest, or with
    ``intensity`` the brightest candidate (nearest on ties).

    Preferring the brightest keeps a bright arc line from being paired with a faint
    catalogued neighbour while the model is still coarse; each NIST line then keeps
    only its closest arc line.
    Returns the index of each arc line's NIST line (-1 when none) and an initial status.
    """
    status = np.full(u_pred.size, "unidentified", dtype=object)
    idx = np.full(u_pred.size, -1)
    if u_cat.size == 0 or u_pred.size == 0:
        return idx, status
    lo = np.searchsorted(u_cat, u_pred - tol)
    hi = np.searchsorted(u_cat, u_pred + tol, side="right")
    choice = np.full(u_pred.size, -1)
    for a in np.nonzero(hi > lo)[0]:
        cand = np.arange(lo[a], hi[a])
        dist = np.abs(u_cat[cand] - u_pred[a])
        if intensity is None:
            choice[a] = cand[np.argmin(dist)]
        else:
            choice[a] = cand[np.lexsort((dist, -intensity[cand]))[0]]
    best: dict[int, int] = {}
    for a in np.nonzero(choice >= 0)[0]:
        r = int(choice[a])
        if r not in best or abs(u_cat[r] - u_pred[a]) < abs(u_cat[r] - u_pred[best[r]]):
            best[r] = a
    for r, a in best.items():
        idx[a] = r
        status[a] = "used"
    return idx, status
