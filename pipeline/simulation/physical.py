"""Arcs drawn from physical truth: NIST air lines at a true dispersion relation.

The library templates' stored solutions are fits with errors (up to a few px, a few
plainly wrong), so arcs built from them only test that a pipeline reproduces the
library. Here the truth is the optics model of the setup (:mod:`pipeline.optics`)
perturbed by a smooth distortion of a few pixels (so it is NOT the optics model
either), and the lines are the NIST air wavelengths of the lamp's elements placed
where that truth puts them, with intensities measured in the library lamp's real flux
(NIST relative intensities where the library has no flux), so blends, saturated and
weak lines come as in real arcs.

Coordinates as in :mod:`pipeline.simulation.optics`: unbinned template pixels
``u = 0 .. 4059`` of the trimmed detector; binned column ``x`` is centred on
``b*x + (b-1)/2``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache, lru_cache

import numpy as np
from numpy.polynomial import chebyshev, legendre

from pipeline import lamps
from pipeline.optics import NPIX, DispersionModel, dispersion_model_from_header
from pipeline.wavelength.nist import blended_in_lamp, displaced

#: Degree of the Chebyshev series that stores the true relation (the truth IS this series).
TRUTH_DEGREE = 7
#: Half-width (unbinned px) of the window where a line's height is read in the template.
_MEASURE_HALF_WIDTH = 4
#: NIST intensities of ionised lines overstate them in a low-pressure lamp.
_ION_WEIGHT = 0.1
#: A line the template shows less than this many noise sigmas high is absent.
_DETECTION_SIGMA = 5.0
#: Lines closer than this (unbinned px) in the template share one measured peak.
_SHARED_PX = 3.0
#: A line of a shared peak of several spectra fitted below this fraction of the peak's
#: brightest line is not told apart from that line's own profile: beside the library
#: lamps' 2082 isolated strong lines, a phantom neighbour 0.8-2.9 px away takes more
#: in 5 % of them (more than 5 % in 10 %).
_PROFILE_FLOOR = 0.05


@dataclass(frozen=True)
class NistLine:
    wavelength: float
    element: str
    ion: str
    intensity: float


@cache
def nist_lines(element: str) -> tuple[NistLine, ...]:
    """Read the NIST strong air lines of an element (``pipeline/data/lamps/nist_lines``).

    Parameters
    ----------
    element : str
        Element symbol as the file names spell it (``"Hg"``, ``"Ar"``, ``"Ne"``).

    Returns
    -------
    tuple of NistLine
        Air wavelength (Å), element, ion and NIST relative intensity (flags such as
        ``P`` dropped; 0 without a number), in file order.

    Raises
    ------
    FileNotFoundError
        No table for that element.
    """
    path = lamps.lamp_dir() / "nist_lines" / f"nist_air_strong_lines_{element}.txt"
    out = []
    for row in path.read_text().splitlines():
        if row.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in row.split(",")]
        if len(parts) < 3:
            continue
        # intensity may carry NIST flags ("400    P", "1000   Pc"): the number leads
        m = re.match(r"\d+(\.\d*)?", parts[0])
        try:
            wave = float(parts[1])
        except ValueError:
            continue  # a header or comment line
        intensity = float(m.group(0)) if m else 0.0
        out.append(NistLine(wave, element, parts[2], intensity))
    return tuple(out)


def lamp_lines(lamp: str) -> tuple[NistLine, ...]:
    """List the NIST lines of every element of a lamp name (``"HgArNe"``), sorted by wavelength.

    Parameters
    ----------
    lamp : str
        A lamp name; its element symbols choose the NIST tables.

    Returns
    -------
    tuple of NistLine
        The lines (air wavelength in Å, element, ion, NIST relative intensity).
    """
    lines = [ln for el in sorted(lamps.elements(lamp)) for ln in nist_lines(el)]
    return tuple(sorted(lines, key=lambda ln: ln.wavelength))


def _chebyshev_default_domain(u, w, degree: int) -> np.ndarray:
    """Coefficients, in the library's convention (raw pixel index, default domain)."""
    return chebyshev.Chebyshev.fit(u, w, degree).convert(domain=[-1, 1]).coef


@dataclass(frozen=True)
class PhysicalTruth:
    """A true dispersion relation and the NIST lines of the lamp with their strengths.

    ``template`` is the library template with its stored solution replaced by the
    truth (``template.wavelength`` IS the true relation), its catalogued lines by the
    NIST lines, so the rest of the simulator (flats, sky, science frames) follows the
    truth too.
    """

    template: lamps.LampTemplate
    optics: DispersionModel
    #: Legendre coefficients (unbinned px) of the distortion over ``t = (u - c) / c``.
    distortion_px: tuple[float, ...]
    elements: tuple[str, ...]
    ions: tuple[str, ...]
    #: Line heights in template flux units (peak above the local continuum).
    strengths: np.ndarray
    #: Where each strength comes from: "library" flux or "nist" relative intensity.
    strength_source: tuple[str, ...]
    #: Lines of a shared lamp peak whose centre or width the drawn lines do not
    #: reproduce (a broad hump, a neighbour's pull): the real lamp shows no clean line.
    unlike_lamp: np.ndarray | None = None

    def distortion(self, u) -> np.ndarray:
        c = (NPIX - 1) / 2.0
        return legendre.legval((np.asarray(u, float) - c) / c, self.distortion_px)

    def describe(self) -> dict:
        """What truth.json records about the relation."""
        o = self.optics
        return {
            "source": "physical",
            "optics": {
                "lines_per_mm": o.lines_per_mm,
                "grating_angle": o.grating_angle,
                "camera_angle": o.camera_angle,
                "library_mode": o.library_mode,
                "central_wavelength": o.central_wavelength,
            },
            "distortion": {
                "kind": "legendre",
                "coefficients_px": list(self.distortion_px),
                "formula": "lambda_true(u) = optics.wavelength(u + legval((u-c)/c, "
                "coefficients_px)), c = 2029.5, u unbinned; stored exactly as the "
                "Chebyshev coefficients of wavelength_model",
            },
            "line_list": "NIST air strong lines (pipeline/data/lamps/nist_lines)",
        }


def _template_positions(
    template: lamps.LampTemplate, optics_of_template, lines
) -> Callable[[np.ndarray], np.ndarray]:
    """Pixel of a wavelength in the template's own flux.

    The library solution, unless its shape departs from the optics (a few are 4-line
    fits, wrong by hundreds of px at the ends); then the optics model of the template's
    setup, shifted onto the template's identified lines (or, with fewer than two, to
    where the template's flux best matches the NIST lines).
    """
    from pipeline.optics import check_solution

    u = np.arange(template.npix, dtype=float)
    w = template.wavelength(u)

    def library(wave):
        return np.interp(wave, w, u, left=np.nan, right=np.nan)

    if optics_of_template is None or template.npix != NPIX:
        return library
    if check_solution(optics_of_template, w, 1, shift_tolerance_px=np.inf).agrees:
        return library
    if template.line_pixels.size >= 2:
        # the template's own identified lines (GSP_Pnnn, GSP_Annn) are measured even
        # when the model fitted to them is not: they place the optics
        shift = float(
            np.median(template.line_pixels - optics_of_template.pixel(template.line_wavelengths))
        )
        return lambda wv: optics_of_template.pixel(wv) + shift
    # else cross-correlate the flux with a comb of the NIST lines placed by the optics
    wave = np.array([ln.wavelength for ln in lines])
    inten = np.array([ln.intensity for ln in lines], float)
    pos = optics_of_template.pixel(wave)
    comb = np.zeros(template.npix)
    inside = (pos > 0) & (pos < template.npix - 1)
    np.add.at(comb, np.round(pos[inside]).astype(int), inten[inside])
    f = np.clip(template.flux - np.percentile(template.flux, 20), 0, None)
    lags = np.arange(-150, 151)
    score = [np.dot(np.roll(comb, k), f) for k in lags]
    shift = float(lags[int(np.argmax(score))])
    return lambda wv: optics_of_template.pixel(wv) + shift


def _zero_point(own, optics, template_pixel, lines) -> float:
    """Unbinned px by which the truth is moved onto the real lamp's zero-point.

    At the library lamp's own angles the real instrument put the lines where the
    lamp's flux shows them. The optics model misses some modes' zero-points by more
    than the tolerance it declares for itself (hundreds of px for the old 600 l/mm
    grating): a truth drawn there would be no arc the instrument makes. Then the truth
    is moved onto the lamp (its shape stays the optics' plus the distortion); within
    the model's tolerance, and at other (custom) angles, the optics' zero-point stands,
    so a solver still has to find it.
    """
    if own is None or optics is None:
        return 0.0
    same_setup = (
        abs(own.grating_angle - optics.grating_angle) < 0.05
        and abs(own.camera_angle - optics.camera_angle) < 0.05
        and own.lines_per_mm == optics.lines_per_mm
    )
    if not same_setup:
        return 0.0
    wave = np.array([ln.wavelength for ln in lines])
    p_opt = own.pixel(wave)
    on = np.isfinite(p_opt) & (p_opt > 0) & (p_opt < NPIX - 1)
    if on.sum() < 2:
        return 0.0
    offset = np.asarray(template_pixel(wave[on]), float) - p_opt[on]
    offset = offset[np.isfinite(offset)]
    if offset.size < 2:
        return 0.0
    shift = float(np.median(offset))
    return shift if abs(shift) > own.shift_tolerance_px else 0.0


@lru_cache(maxsize=64)
def _lamp_sigma(file_name: str, flux_bytes: bytes, noise: float) -> Callable[[float], float] | None:
    """The lamp's own line width (Gaussian sigma, unbinned px) near a pixel.

    Kept per lamp (``file_name`` and its flux, as bytes): the fits take two thirds of
    a physical truth's time, and every arc drawn from the lamp needs the same.

    Fitted on the template's strong lines with no rival within 8 px; the median of the
    nine nearest, as the focus and so the width changes along the detector (1.1-1.4 px
    in most lamps, 1.6-2.4 in 930_M4/M5, 2.9 in CaNIR). ``None`` with fewer than three
    such lines.
    """
    from scipy.optimize import OptimizeWarning, curve_fit

    f = np.frombuffer(flux_bytes, float)
    i = np.flatnonzero((f[1:-1] > f[:-2]) & (f[1:-1] >= f[2:])) + 1
    base = np.array([np.percentile(f[max(k - 40, 0) : k + 41], 20) for k in i])
    h = f[i] - base
    centres, sigmas = [], []
    for k in np.flatnonzero(h >= 20.0 * noise):
        rivals = (np.abs(i - i[k]) <= 8) & (h >= max(0.05 * h[k], 5.0 * noise))
        if rivals.sum() > 1 or i[k] < 4 or i[k] > f.size - 5:
            continue
        x = np.arange(i[k] - 4, i[k] + 5, dtype=float)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", OptimizeWarning)
                (_, _, s, _), _ = curve_fit(
                    _gaussian, x, f[i[k] - 4 : i[k] + 5], p0=(h[k], i[k], 1.3, base[k])
                )
        except RuntimeError:  # no convergence: not a line to measure a width on
            continue
        if 0.5 < abs(s) < 5.0:
            centres.append(float(i[k]))
            sigmas.append(abs(float(s)))
    if len(sigmas) < 3:
        return None
    c, s = np.array(centres), np.array(sigmas)

    def local(p: float) -> float:
        return float(np.median(s[np.argsort(np.abs(c - p))[:9]]))

    return local


def _gaussian(x, amplitude, centre, sigma, continuum):
    return amplitude * np.exp(-0.5 * ((x - centre) / sigma) ** 2) + continuum


def _peak_shape(x, y, centre, sigma) -> tuple[float, float] | None:
    """Centre and sigma of one Gaussian (no continuum) fitted to a peak; None if no fit."""
    from scipy.optimize import OptimizeWarning, curve_fit

    if y.max() <= 0:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            (_, c, s), _ = curve_fit(
                lambda t, a, c, s: _gaussian(t, a, c, s, 0.0),
                x,
                y,
                p0=(float(y.max()), centre, sigma),
            )
    except RuntimeError:
        return None
    return float(c), abs(float(s))


def _measurable_top(y) -> bool:
    """Whether a lamp peak's top is one smooth maximum: a flat (3 px within 3 %) or dented
    top is saturated or resolved, and its fitted centre and width say nothing of a blend."""
    peak = float(y.max())
    if peak <= 0 or np.sum(y >= 0.97 * peak) >= 3:
        return False
    top = np.flatnonzero(y >= 0.8 * peak)
    seg = y[top.min() : top.max() + 1]
    return not np.any((seg[1:-1] < seg[:-2]) & (seg[1:-1] < seg[2:]))


def _split_by_place(f, noise, pos, group, nist, spectra, sigma, height):
    """Heights of a shared peak's lines from where the lamp's light lies (NNLS).

    One Gaussian of the lamp's width per line, at its place, fitted to the lamp's flux
    over the group. Lines of one spectrum closer than the width, which their places
    cannot tell apart, share one amplitude by their NIST ratio. A line fitted below the
    detection level, or below :data:`_PROFILE_FLOOR` of the group's brightest (the
    lamp's own line profile gives a phantom neighbour that much), is absent; the others
    are fitted again without it. The fitted lines are scaled so that their peak is
    ``height``, the shared peak's measured height.

    The drawn lines must put the peak where the lamp does: when their blend's centre
    misses the lamp peak's by more than the centre's noise allows (and the model's
    0.1 px) and the lamp's peak is no narrower than the drawn one, a neighbour under the
    detection level still pulls it, so the shares are solved again with the blend's
    centre held at the lamp's. A peak the drawn lines
    cannot reproduce (its centre out of their reach, or much broader than they are) is
    no clean line of the lamp: its lines come back flagged ``True`` (second result). A
    flat or dented top (saturated, or resolved lines) is left to the fit alone.
    """
    from scipy.optimize import nnls

    lo = max(int(math.floor(pos[group].min() - 1.0)), 0)
    hi = min(int(math.ceil(pos[group].max() + 1.0)) + 1, f.size)
    x = np.arange(lo, hi, dtype=float)
    mid = int(round(pos[group].mean()))
    base = np.percentile(f[max(mid - 40, 0) : mid + 41], 20)
    y = f[lo:hi] - base
    # one column per set of lines a place can tell apart (group is sorted by place)
    column = np.zeros(len(group), int)
    for n in range(1, len(group)):
        same = spectra[group[n]] == spectra[group[n - 1]]
        close = pos[group[n]] - pos[group[n - 1]] < sigma
        column[n] = column[n - 1] + (0 if same and close else 1)
    w = np.clip(nist[group], 1e-9, None)
    share = w / np.bincount(column, w)[column]
    where = np.bincount(column, share * pos[group])  # each column's flux-weighted place

    def basis_on(t):
        b = np.zeros((t.size, column[-1] + 1))
        for n, g in enumerate(group):
            b[:, column[n]] += share[n] * np.exp(-0.5 * ((t - pos[g]) / sigma) ** 2)
        return b

    def solve(b, target=None):
        keep = np.ones(b.shape[1], bool)
        amp = np.zeros(b.shape[1])
        floor = _DETECTION_SIGMA * noise if target is None else 0.0
        while keep.any():
            amp[:] = 0.0
            a, t = b[:, keep], y
            if target is not None:
                # the blend's flux-weighted centre at ``target``, weighted far above the data
                weight = 1e3 * max(float(np.abs(y).max()), 1.0) / sigma
                a = np.vstack([a, weight * (where[keep] - target)])
                t = np.append(y, 0.0)
            amp[keep], _ = nnls(a, t)
            shown = amp >= max(floor, _PROFILE_FLOOR * amp.max())
            if np.array_equal(shown, keep):
                break
            keep &= shown
        return amp

    basis = basis_on(x)
    amp = solve(basis)
    # the lamp peak's shape and the drawn lines', measured alike over a pixel more
    xs = np.arange(max(lo - 1, 0), min(hi + 1, f.size), dtype=float)
    ys = f[xs.astype(int)] - base
    lamp = _peak_shape(xs, ys, float(pos[group].mean()), sigma) if _measurable_top(ys) else None
    odd = False
    if lamp is not None and 0.0 < lamp[1] < 10.0 * sigma:
        bs = basis_on(xs)
        drawn = _peak_shape(xs, bs @ amp, lamp[0], sigma)
        a_peak = max(float(ys.max()), noise)
        # Cramer-Rao error of a Gaussian's centre, and the NIST-corrected model's own
        tol = math.hypot(3.0 * noise / a_peak * math.sqrt(2.0 * sigma / math.sqrt(math.pi)), 0.1)
        # a centre beyond the lines' places is no share of theirs (a wing, a hump)
        inside = pos[group].min() <= lamp[0] <= pos[group].max()
        # a neighbour's light broadens the peak it pulls; a peak off its place but no
        # broader than the drawn line is the model's placement, not a blend
        pulled = drawn is not None and lamp[1] >= drawn[1]
        if pulled and inside and abs(drawn[0] - lamp[0]) > tol:
            target = lamp[0]
            for _ in range(4):  # the fitted centre of a blend is near, not at, its moment
                trial = solve(basis, target)
                got = _peak_shape(xs, bs @ trial, lamp[0], sigma)
                if got is None:
                    break
                amp, drawn = trial, got
                if abs(got[0] - lamp[0]) < 0.01:
                    break
                target += lamp[0] - got[0]
        if drawn is not None:
            odd = (pulled and abs(drawn[0] - lamp[0]) > tol) or (
                lamp[1] > 1.5 * drawn[1] and lamp[1] - drawn[1] > 3.0 * tol
            )
    # the split is the fit's; the peak's height stays the one measured like every
    # other line's (the brightest pixel), on which the arc's brightness scale rests
    model = float((basis @ amp).max())
    heights = amp[column] * share * (height / model if model > 0 else 0.0)
    return heights, np.full(len(group), odd) & (heights > 0)


def _measured_heights(template, positions, nist, spectra=None) -> tuple[np.ndarray, np.ndarray]:
    """Height of each line in the template flux (NaN: no flux), and whether its peak is odd.

    The peak above the local continuum near each position; below
    :data:`_DETECTION_SIGMA` times the template's noise the lamp does not show the line
    (height 0: not injected). Lines closer than :data:`_SHARED_PX` in the template
    share one peak. Within one spectrum it is split by their NIST intensities, so a
    blend is as bright as the real one. Across spectra (``spectra``: element and ion of
    each line) NIST intensities are on different scales: where the template's model is
    NIST-corrected (lines placed to ~0.1 px), the lamp's own flux at each line's place
    decides (:func:`_split_by_place`), so a line whose light the lamp shows at its
    neighbour's place is not drawn. A shared peak whose centre or width the drawn lines
    cannot reproduce is flagged (second result): the lamp shows no clean line there.
    """
    f = np.asarray(template.flux, float)
    noise = 1.4826 * np.median(np.abs(np.diff(f) - np.median(np.diff(f)))) / math.sqrt(2.0)
    pos = np.asarray(positions, float)
    out = np.full(pos.size, np.nan)
    odd = np.zeros(pos.size, bool)
    for k, p in enumerate(pos):
        if not np.isfinite(p) or p < 2 or p > f.size - 3:
            continue
        i = int(round(p))
        lo, hi = max(i - _MEASURE_HALF_WIDTH, 0), min(i + _MEASURE_HALF_WIDTH + 1, f.size)
        blo, bhi = max(i - 40, 0), min(i + 41, f.size)
        h = f[lo:hi].max() - np.percentile(f[blo:bhi], 20)
        out[k] = h if h >= _DETECTION_SIGMA * noise else 0.0
    placed = _placed_precisely(template)
    sigma = None
    # a line on a brighter neighbour's flank: the window's highest pixel is that
    # neighbour's light, not the line's; where the model places the line precisely its
    # own height is fitted at its place (Goodman 930_M1/M2 Hg lamps: Ar II 4052.92, 15 px
    # from saturated Hg I 4046.56, read 2500-2800 ADU from its halo, shows none)
    for k, p in enumerate(pos):
        if not (out[k] > 0 and _on_flank(f, p) and placed(np.array([p]))):
            continue
        sigma = sigma or _lamp_sigma(template.file_name, f.tobytes(), noise) or (lambda _p: None)
        s = sigma(float(p))
        if s is not None:
            own = _height_on_flank(f, p, s)
            out[k] = own if own >= _DETECTION_SIGMA * noise else 0.0
    order = np.argsort(np.where(np.isfinite(pos), pos, np.inf))
    k = 0
    while k < order.size:
        group = [order[k]]
        while (
            k + len(group) < order.size and pos[order[k + len(group)]] - pos[group[-1]] < _SHARED_PX
        ):
            group.append(order[k + len(group)])
        k += len(group)
        if len(group) < 2 or not np.all(np.isfinite(out[group])):
            continue
        mixed = spectra is not None and len({spectra[g] for g in group}) > 1
        if mixed and placed(pos[group]):
            sigma = (
                sigma or _lamp_sigma(template.file_name, f.tobytes(), noise) or (lambda _p: None)
            )
            s = sigma(float(pos[group].mean()))
            if s is not None:
                out[group], odd[group] = _split_by_place(
                    f, noise, pos, group, nist, spectra, s, out[group].max()
                )
                continue
        w = np.clip(nist[group], 1e-9, None)
        out[group] = out[group].max() * w / w.sum()
    return out, odd


def _on_flank(f, p) -> bool:
    """Whether the highest pixel of a line's measuring window is a neighbour's flank.

    It sits on the window's edge and the flux rises on outwards: the light there climbs
    towards a line beyond the window, whatever the window holds of the line's own.
    """
    i = int(round(p))
    lo, hi = i - _MEASURE_HALF_WIDTH, i + _MEASURE_HALF_WIDTH + 1
    if lo < 1 or hi > f.size - 1:
        return False
    j = int(np.argmax(f[lo:hi]))
    return (j == 0 and f[lo - 1] > f[lo]) or (j == hi - lo - 1 and f[hi] > f[hi - 1])


def _height_on_flank(f, p, sigma) -> float:
    """A line's own height on a neighbour's flank: a Gaussian of the lamp's width at its place.

    Fitted (linear least squares: place and width held) over the measuring window,
    jointly with a Gaussian of the same width at the neighbour's peak (its wing) and a
    quadratic (a saturated or broad line's halo, which no Gaussian follows: widening
    the window towards it lets its curvature into the line's amplitude). The amplitude
    is the line's height: ~0 or negative where the lamp shows no line.
    """
    i = int(round(p))
    lo, hi = i - _MEASURE_HALF_WIDTH, i + _MEASURE_HALF_WIDTH + 1
    up = f[hi] > f[hi - 1] and not (f[lo - 1] > f[lo] and f[lo] > f[hi - 1])
    # climb the flank to the neighbour's peak
    m, step = (hi - 1, 1) if up else (lo, -1)
    while 0 < m + step < f.size - 1 and f[m + step] > f[m]:
        m += step
    x = np.arange(lo, hi, dtype=float)
    t = (x - p) / max(hi - lo, 1)
    a = np.column_stack(
        [
            np.exp(-0.5 * ((x - p) / sigma) ** 2),
            np.exp(-0.5 * ((x - m) / sigma) ** 2),
            np.ones_like(t),
            t,
            t**2,
        ]
    )
    coef, *_ = np.linalg.lstsq(a, f[lo:hi], rcond=None)
    return float(coef[0])


def _placed_precisely(template) -> Callable[[np.ndarray], bool]:
    """Whether the template's model puts these NIST lines to a fraction of a pixel.

    Its NIST-corrected model does, between the outermost lines it was fitted to.
    """
    if not template.corrected or template.npix != NPIX:
        return lambda _p: False
    lo, hi = template.corrected_pixels or (0.0, template.npix - 1.0)
    return lambda p: bool(np.all((p >= lo) & (p <= hi)))


def physical_truth(
    template: lamps.LampTemplate,
    seed: int,
    *,
    distortion_px: float = 2.0,
    optics: DispersionModel | None = None,
    margin_px: float = 40.0,
    line_heights: Mapping[float, float] | None = None,
) -> PhysicalTruth:
    """The true relation and lines of an arc drawn from physics.

    Parameters
    ----------
    template : LampTemplate
        The library lamp (its flux gives the line intensities, its header the setup).
    seed : int
        Seeds the distortion (its own generator: the night's random stream is untouched).
    distortion_px : float
        Scale (unbinned px) of the smooth distortion added to the optics model.
    optics : DispersionModel, optional
        The setup's optics; default that of the angles a simulated frame of this lamp
        carries (:func:`pipeline.simulation.header.simulated_optics`). Give another to
        simulate custom angles with this lamp's intensities.
    margin_px : float
        Lines this far (unbinned px) beyond the detector ends are kept (their wings).
    line_heights : mapping of float to float, optional
        Heights (template flux units, as the measured ones) of NIST lines of the lamp,
        by air wavelength (Å, within 0.01), drawn in place of what the lamp shows:
        a scenario built explicitly (a test's line the real lamp is too faint in).

    Returns
    -------
    PhysicalTruth
        The template whose solution is the truth and whose lines are the NIST lines, the
        optics, the distortion coefficients and each line's strength.
    """
    from pipeline.simulation.header import simulated_optics, template_header

    # the library frame's own angles: where its lines sit in its flux
    own = dispersion_model_from_header(template_header(template))
    optics = optics or simulated_optics(template, "Red")
    rng = np.random.default_rng([int(seed), 8])  # a stream of its own (item 8)
    # a constant, a scale, and two bends: a smooth few-pixel departure from the optics
    scale = np.array([1.0, 1.0, 0.7, 0.5]) * distortion_px
    dist = tuple(float(v) for v in rng.normal(0.0, 1.0, 4) * scale)
    c = (NPIX - 1) / 2.0
    template_pixel = _template_positions(template, own, lamp_lines(template.lamp))
    anchor = _zero_point(own, optics, template_pixel, lamp_lines(template.lamp))
    u = np.linspace(-margin_px - 60, NPIX - 1 + margin_px + 60, 301)
    w_true = optics.wavelength(u - anchor + legendre.legval((u - c) / c, dist))
    coef = _chebyshev_default_domain(u, w_true, TRUTH_DEGREE)
    truth_w = chebyshev.chebval(np.array([-margin_px, NPIX - 1 + margin_px]), coef)

    lines = [ln for ln in lamp_lines(template.lamp) if truth_w[0] <= ln.wavelength <= truth_w[1]]
    wave = np.array([ln.wavelength for ln in lines])
    weight = np.array([_ION_WEIGHT if ln.ion.endswith("II") else 1.0 for ln in lines])
    nist = np.array([ln.intensity for ln in lines]) * weight
    positions = template_pixel(wave)
    spectra = tuple((ln.element, ln.ion.strip()) for ln in lines)
    heights, odd = _measured_heights(template, positions, nist, spectra)
    # the real lamps show these lines displaced by an unlisted neighbour's pull
    # (pipeline/data/lamps/nist_lines/lamp_displaced_lines.txt; lamp_element_blends.txt
    # where the neighbour is another element's the lamp holds): no clean line either
    odd = odd | displaced(wave) | blended_in_lamp(wave, {ion for _, ion in spectra})
    from_lib = np.isfinite(heights)
    # where the library has no flux, NIST intensities scaled like the measured ones
    good = from_lib & (heights > 0) & (nist > 0)
    ratio = float(np.median(heights[good] / nist[good])) if good.sum() >= 3 else 1.0
    strengths = np.where(from_lib, heights, nist * ratio)
    for w, h in (line_heights or {}).items():
        near = np.abs(wave - w) < 0.01
        if not near.any():
            raise ValueError(f"{w} A is no NIST line of {template.lamp} on the detector")
        strengths[near] = h
    # lines the real lamp does not show are not injected
    keep = strengths > 0
    lines = [ln for ln, k in zip(lines, keep, strict=True) if k]
    wave, strengths, from_lib, odd = wave[keep], strengths[keep], from_lib[keep], odd[keep]
    truth_template = replace(
        template,
        # the truth is the model in use: no NIST-corrected model may shadow it
        library_coefficients=coef,
        corrected_coefficients=None,
        corrected_rms_pixel=None,
        corrected_lines=None,
        line_pixels=np.array([np.nan] * len(lines)),
        line_wavelengths=wave,
    )
    return PhysicalTruth(
        template=truth_template,
        optics=optics,
        distortion_px=dist,
        elements=tuple(ln.element for ln in lines),
        ions=tuple(ln.ion for ln in lines),
        strengths=np.asarray(strengths, float),
        strength_source=tuple("library" if f else "nist" for f in from_lib),
        unlike_lamp=odd,
    )


def line_flags(
    columns, fluxes, peaks, fwhm_binned, gain, rdnoise_adu, saturation_adu, ncols, unlike_lamp=None
):
    """Blended / saturated / expected flags of placed lines (binned columns).

    - ``blended``: another line within 1.5 FWHM with at least 5 % of its flux.
    - ``saturated``: its peak (above the background) reaches the saturation level.
    - ``expected``: what a solver must find and can centre to a few hundredths of a
      pixel: no other line with 3 % of its flux within 3 FWHM, not saturated, peak
      >= 10 sigma of the noise of one row (read noise and the line's own photon noise),
      and at least 5 px inside the detector.

    Parameters
    ----------
    columns : array_like
        Line centres in binned columns.
    fluxes : array_like
        Total flux of each line (ADU).
    peaks : array_like
        Peak of each line above the background (ADU).
    fwhm_binned : float
        Line FWHM in binned pixels.
    gain : float
        GAIN in e-/ADU.
    rdnoise_adu : float
        Read noise in ADU.
    saturation_adu : float
        Saturation level above the background, in ADU.
    ncols : int
        Columns of the detector (binned).
    unlike_lamp : array_like of bool, optional
        Lines the real lamp shows as no clean line (:attr:`PhysicalTruth.unlike_lamp`):
        never expected.

    Returns
    -------
    blended, saturated, expected : numpy.ndarray of bool
        The flags, one per line.
    snr : numpy.ndarray
        Peak signal-to-noise of each line in one row.
    """
    cols, flux, peak = (np.asarray(a, float) for a in (columns, fluxes, peaks))
    n = cols.size
    blended = np.zeros(n, bool)
    swamped = np.zeros(n, bool)
    for i in range(n):
        d = np.abs(cols - cols[i])
        d[i] = np.inf
        blended[i] = bool(np.any((d < 1.5 * fwhm_binned) & (flux >= 0.05 * flux[i])))
        # a neighbour this close pulls a fitted centre by more than ~0.02 px
        swamped[i] = bool(np.any((d < 3.0 * fwhm_binned) & (flux >= 0.03 * flux[i])))
    saturated = peak >= saturation_adu
    snr = peak / np.sqrt(rdnoise_adu**2 + np.clip(peak, 0.0, None) / gain)
    inside = (cols >= 5) & (cols <= ncols - 6)
    expected = ~blended & ~swamped & ~saturated & (snr >= 10.0) & inside
    if unlike_lamp is not None:
        expected &= ~np.asarray(unlike_lamp, bool)
    return blended, saturated, expected, snr


@dataclass(frozen=True)
class PlacedLines:
    """The NIST lines of an arc as placed on the detector (slit-centre row)."""

    wavelengths: np.ndarray
    columns: np.ndarray
    fluxes: np.ndarray
    peaks: np.ndarray
    elements: tuple[str, ...]
    ions: tuple[str, ...]
    strength_source: tuple[str, ...]
    #: As :attr:`PhysicalTruth.unlike_lamp`: never an expected line.
    unlike_lamp: np.ndarray


def physical_arc_spectrum(layout, truth: PhysicalTruth, flexure, headroom_adu, n_saturated=3):
    """An arc of NIST lines on the slit-centre row, tabulated on the layout's fine grid.

    Lines are pixel-integrated Gaussians of the layout's line width centred where the
    true relation (shifted by ``flexure`` unbinned px) equals their wavelength. The
    brightest ``n_saturated`` lines on the detector reach 1.3x ``headroom_adu`` (the
    detector clips them: saturated lines); with 0, the brightest peaks at half of it.

    Parameters
    ----------
    layout : Layout
        The frame's layout (fine grid, line width, binning).
    truth : PhysicalTruth
        The true relation and the lines with their strengths.
    flexure : float
        Shift in unbinned pixels.
    headroom_adu : float
        Saturation level above the bias, in ADU.
    n_saturated : int
        Brightest lines on the detector driven past saturation.

    Returns
    -------
    grid : numpy.ndarray
        The layout's fine grid (binned columns).
    spectrum : numpy.ndarray
        Counts (ADU) per fine-grid bin.
    placed : PlacedLines
        The lines on the detector: wavelength, column, flux, peak and origin.
    """
    from pipeline.simulation.optics import add_gaussian_lines

    t = truth.template
    grid = layout.fine_grid()
    sigma = layout.line_sigma
    cols = layout.column_of_wavelength(t, flexure, t.line_wavelengths)
    peak_per_flux = math.erf(0.5 / (math.sqrt(2.0) * sigma))
    on = (cols > -0.5) & (cols < layout.shape[1] - 0.5)
    ranked = np.sort(truth.strengths[on])[::-1]
    if ranked.size == 0 or ranked[0] <= 0:
        scale = 0.0
    elif n_saturated > 0:
        ref = ranked[min(n_saturated, ranked.size) - 1]
        scale = 1.3 * headroom_adu / (ref * peak_per_flux)
    else:
        scale = 0.5 * headroom_adu / (ranked[0] * peak_per_flux)
    fluxes = truth.strengths * scale
    spectrum = np.zeros_like(grid)
    add_gaussian_lines(grid, spectrum, cols, fluxes, sigma)
    pick = np.flatnonzero(on)
    placed = PlacedLines(
        wavelengths=t.line_wavelengths[pick],
        columns=cols[pick],
        fluxes=fluxes[pick],
        peaks=fluxes[pick] * peak_per_flux,
        elements=tuple(truth.elements[i] for i in pick),
        ions=tuple(truth.ions[i] for i in pick),
        strength_source=tuple(truth.strength_source[i] for i in pick),
        unlike_lamp=(
            np.zeros(pick.size, bool)
            if truth.unlike_lamp is None
            else np.asarray(truth.unlike_lamp, bool)[pick]
        ),
    )
    return grid, spectrum, placed


@dataclass(frozen=True)
class Arc1D:
    """A 1-D extracted arc drawn from physical truth, with its truth."""

    flux: np.ndarray
    #: True wavelength (Å) of every binned pixel.
    wavelength: np.ndarray
    #: Lines on the detector: dicts as in truth.json (``column`` in binned px).
    lines: list[dict]
    mode: str
    lamp: str
    binning: int
    lamp_template: str
    truth: PhysicalTruth


def arc_1d(
    mode: str,
    binning: int,
    *,
    lamp: str | None = None,
    seed: int = 0,
    camera: str = "Red",
    slit_arcsec: float = 1.0,
    flexure_px: float = 0.0,
    n_rows: int = 10,
    noise: bool = True,
    distortion_px: float = 2.0,
    n_saturated: int = 3,
    grating_angle: float | None = None,
    camera_angle: float | None = None,
    line_heights: Mapping[float, float] | None = None,
) -> Arc1D:
    """An arc as extracted over ``n_rows`` slit rows, through the night's renderer.

    The same truth, lines and intensities as an arc frame of ``gsp simulate
    --arc-source physical`` with these settings (one row, the slit centre, summed
    ``n_rows`` times with independent noise, each row clipped at saturation), without
    rendering a whole frame: for graders and fast tests. Bias is already removed.

    Parameters
    ----------
    mode : str
        WAVMODE of the library lamp (any spelling, ``"400_M2"``).
    binning : int
        Binning along the dispersion (and rows).
    lamp : str or None
        Comparison lamp name (``"HgArNe"``); ``None`` takes the mode's richest.
    seed : int
        Seeds the truth's distortion and the noise.
    camera : str
        ``"Red"`` or ``"Blue"`` (readout mode, saturation, bias level).
    slit_arcsec : float
        Slit width in arcsec (sets the line width).
    flexure_px : float
        Shift of the arc in unbinned pixels.
    n_rows : int
        Slit rows summed.
    noise : bool
        False gives the noiseless sum.
    distortion_px : float
        Scale (unbinned px) of the truth's smooth departure from the optics model.
    n_saturated : int
        Brightest lines driven past saturation (0: the brightest peaks at half of it).
    grating_angle, camera_angle : float or None
        Custom angles in degrees (both or neither); ``None`` for the lamp's own setup.
    line_heights : mapping of float to float, optional
        Heights of chosen NIST lines in place of the lamp's (see :func:`physical_truth`).

    Returns
    -------
    Arc1D
        Flux (ADU, bias removed) of every binned pixel, the true wavelength (Å) of each,
        the lines on the detector as dicts (as in ``truth.json``: ``column`` in binned px,
        ``blended``, ``saturated``, ``expected``...) and the truth itself.
    """
    from pipeline.simulation.config import find_readout, lamp_name
    from pipeline.simulation.detector import BIAS_LEVEL
    from pipeline.simulation.header import simulated_optics
    from pipeline.simulation.night import line_fwhm_unbinned, pick_template
    from pipeline.simulation.optics import Layout

    mode = lamps.normalize_mode(mode)
    template = pick_template(mode, lamp)
    angles = None if grating_angle is None else (grating_angle, camera_angle)
    setup = simulated_optics(template, camera, angles)
    truth = physical_truth(
        template, seed, distortion_px=distortion_px, optics=setup, line_heights=line_heights
    )
    layout = Layout(
        binning=binning,
        imaging=False,
        line_fwhm_unbinned=line_fwhm_unbinned(slit_arcsec),
        tilt=0.0,
    )
    readout = find_readout(camera, None)
    headroom = min(readout.saturation_adu, 65535) - BIAS_LEVEL[camera]
    grid, spec, placed = physical_arc_spectrum(layout, truth, flexure_px, headroom, n_saturated)
    n = layout.shape[1]
    x = np.arange(n, dtype=float)
    row = np.interp(x, grid, spec)
    rng = np.random.default_rng([int(seed), 81])
    if noise:
        gain, rn = readout.gain, readout.rdnoise / readout.gain
        rows = rng.poisson(np.clip(row, 0, None)[None, :] * gain, (n_rows, n)) / gain
        rows = rows + rng.normal(0.0, rn, (n_rows, n))
    else:
        rows = np.repeat(row[None, :], n_rows, axis=0)
    flux = np.clip(rows, None, headroom).sum(axis=0)
    blended, saturated, expected, snr = line_flags(
        placed.columns,
        placed.fluxes,
        placed.peaks,
        layout.line_fwhm_unbinned / binning,
        readout.gain,
        readout.rdnoise / readout.gain,
        headroom,
        n,
        placed.unlike_lamp,
    )
    lines = [
        {
            "wavelength": float(w),
            "column": float(c),
            "peak_adu": float(pk),
            "element": el,
            "ion": ion.strip(),
            "blended": bool(bl),
            "saturated": bool(sa),
            "snr_row": float(sn),
            "expected": bool(ex),
            "unlike_lamp": bool(ul),
        }
        for w, c, pk, el, ion, bl, sa, sn, ex, ul in zip(
            placed.wavelengths,
            placed.columns,
            placed.peaks,
            placed.elements,
            placed.ions,
            blended,
            saturated,
            snr,
            expected,
            placed.unlike_lamp,
            strict=True,
        )
    ]
    return Arc1D(
        flux=flux,
        wavelength=layout.wavelength(truth.template, flexure_px),
        lines=lines,
        mode=mode,
        lamp=lamp_name(template),
        binning=binning,
        lamp_template=template.file_name,
        truth=truth,
    )
