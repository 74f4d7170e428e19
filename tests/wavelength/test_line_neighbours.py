"""Lines a solver must find beside bright neighbours and at the detector's ends.

Each case is one physical-truth arc (``pipeline.simulation.physical.arc_1d``, a fixed
seed) with an expected line (isolated enough to centre to a few hundredths of a pixel,
see ``physical.line_flags``) that the line finder used to lose or mis-measure:

- a faint line about three FWHM from one a hundred times brighter, whose wing fills
  the edge of the faint line's fitting window (400 M1 2x2: the fit ran away and the
  line was lost; 400 M2 2x2: its centring error came out ten times too large, so it
  was set aside as weak);
- a faint line beside a saturated one, whose broadened Gaussian fit misdraws its
  wings (1200 M4 2x2: subtracted, it pulled the faint line 0.14 px);
- a clean bright line at the blue end, where the local FWHM was the median of a
  window cut to five lines, two of them broad unresolved blends (1200 M3 1x1: the
  line was set aside as narrow).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import lamps
from pipeline.simulation.night import line_fwhm_unbinned
from pipeline.simulation.physical import arc_1d
from pipeline.wavelength import calibrate_arc, select_template
from pipeline.wavelength.identify import NARROW, WEAK_ERROR_PX, line_shapes
from pipeline.wavelength.lines import LineWindows, _gauss_newton, blend_free_width, find_lines
from tests.wavelength.physical_cases import read_on_flank

#: Lines of these cases that the library lamp shows far fainter than its bright
#: neighbour's flank, or not at all (a Gaussian of the lamp's width at the line's place
#: fits 510 of 7178 ADU for Ar I 6059.37 in 400M1 HgArNe, 15 of 1385 for Ne II 7235.19
#: in 930M5 HgArNe, ~0 for Ar II 4052.92 in the 930 Hg lamps): physical truth no longer
#: draws them so, and the cases draw them explicitly at the height once read on that
#: flank (:func:`tests.wavelength.physical_cases.read_on_flank`), a line a lamp with
#: more of that gas would show.
DRAWN_ON_FLANK = (6059.372, 7235.188, 4052.921)


def _arc(mode, binning, seed, lamp=None, wavelength=None):
    """The physical-truth arc, with ``wavelength`` drawn explicitly if it is one of
    :data:`DRAWN_ON_FLANK`."""
    drawn = [w for w in DRAWN_ON_FLANK if wavelength is not None and abs(w - wavelength) < 0.01]
    heights = read_on_flank(mode, lamp, *drawn) if drawn else None
    return arc_1d(mode, binning, lamp=lamp, seed=seed, line_heights=heights)


def _truth_line(arc, wavelength):
    line = min(arc.lines, key=lambda ln: abs(ln["wavelength"] - wavelength))
    assert abs(line["wavelength"] - wavelength) < 0.01 and line["expected"], line
    return line


@pytest.mark.parametrize(
    ("mode", "binning", "seed", "wavelength"),
    [
        ("400_M1", 2, 2, 6059.372),  # Ar I, Ne I 6074 110x brighter 7.6 px away
        # ... where three other lines' first fits run away (see the next test)
        ("400_M1", 2, 37, 6059.372),
        ("400_M1", 2, 51, 6059.372),
        ("400_M2", 2, 3, 5748.298),  # Ne I, Ne I 5764 240x brighter 8.1 px away
        # ... 3x3, where the pair's single Gaussian leaves Ne I 5764.42's shoulder, at
        # the line's own height, in the window's edge pixel: the fit collapsed to a
        # spike (seed 0, lost) or stated three times its error (set aside as weak)
        ("400_M2", 3, 0, 5748.298),
        ("400_M2", 3, 1, 5748.298),
        ("400_M2", 3, 2, 5748.298),
        ("1200_M4", 2, 8, 5764.419),  # Ne I, saturated Hg I 5769.6 8.2 px away
    ],
)
def test_faint_line_beside_a_bright_one_is_centred(mode, binning, seed, wavelength):
    arc = _arc(mode, binning, seed, wavelength=wavelength)
    truth = _truth_line(arc, wavelength)
    lines = find_lines(arc.flux, max_lines=250)
    k = int(np.argmin(np.abs(lines.centre - truth["column"])))
    assert abs(lines.centre[k] - truth["column"]) < 0.05, (lines.centre[k], truth)
    # its own noise, not the neighbour's wing, sets its centring error
    assert lines.centre_error[k] < 0.5 * WEAK_ERROR_PX, lines.centre_error[k]


def test_one_run_away_fit_does_not_stop_the_others():
    """The lines are fitted in one batch: a fit collapsed to a hundredth of a pixel (no
    centre or width derivative: a singular system) made the batched solve fail, every
    line's step was zero and the iterations stopped, leaving every line at its start
    (400 M1 2x2, seeds 37 and 51: the deblending refit of all 90 lines was undone)."""
    x = np.arange(40.0, 49.0)
    good = _gaussians(60, [44.3], [1000.0], 1.1)[40:49] + 20.0
    flat = np.zeros_like(x)
    win = LineWindows(
        np.stack([x, x]), np.stack([good, flat]), np.ones((2, x.size)), np.ones((2, x.size), bool)
    )
    start = np.array([[good.sum(), 44.0, 1.5, 0.0], [1.0, 44.0, 0.01, 0.0]])
    params = _gauss_newton(win, start, 12)
    assert params[0, 1] == pytest.approx(44.3, abs=0.01)
    assert params[0, 2] == pytest.approx(1.1, rel=0.02)


def test_clean_line_at_the_detector_end_keeps_its_width():
    arc = arc_1d("1200_M3", 1, seed=8)
    truth = _truth_line(arc, 4965.080)  # Ar II, the bluest clean line
    lines = find_lines(arc.flux, max_lines=250)
    shapes = line_shapes(lines, arc.flux)
    k = int(np.argmin(np.abs(lines.centre - truth["column"])))
    assert abs(lines.centre[k] - truth["column"]) < 0.05
    assert not shapes.narrow[k]
    # the instrument's width there is the clean lines' (~5 px), not the blends'
    assert shapes.local_fwhm[k] == pytest.approx(shapes.fwhm[k], rel=0.1)
    assert shapes.fwhm[k] > NARROW * shapes.local_fwhm[k]


def test_faint_line_four_fwhm_from_a_gaussian_one_is_noise_limited():
    """Ne II 7235.2, 4.9 FWHM from a line 600x brighter whose profile is Gaussian: no
    wing shows on the neighbour's far side, so only noise moves the faint line's
    centre, and the fit keeps it although it lies two of its sigmas off."""
    arc = _arc("930_M5", 1, 2, wavelength=7235.188)
    truth = _truth_line(arc, 7235.188)
    sol = calibrate_arc(arc.flux, "930_M5", lamps.elements(arc.lamp), binning=1)
    t = sol.lines
    k = int(np.argmin(np.abs(np.asarray(t["pixel"]) - truth["column"])))
    assert t["status"][k] == "used", (t["status"][k], t["residual_pixel"][k])
    assert abs(t["lab_wavelength"][k] - truth["wavelength"]) < 0.01


def _two_lines(wing_fraction):
    """A line 100x brighter 4.3 FWHM from a faint one; its profile a Gaussian plus, with
    ``wing_fraction``, an exponential wing (scattered light) of that share of its peak."""
    x = np.arange(400, dtype=float)
    sigma = 2.0
    bright, faint = 200.0, 200.0 + 4.3 * 2.3548 * sigma
    flux = 1e5 * np.exp(-0.5 * ((x - bright) / sigma) ** 2)
    flux += wing_fraction * 1e5 * np.exp(-np.abs(x - bright) / 6.0)
    flux += 1e3 * np.exp(-0.5 * ((x - faint) / sigma) ** 2)
    rng = np.random.default_rng(1)
    return flux + rng.normal(0.0, 10.0, x.size) + 50.0, faint


def _assert_faint_line_isolated(flux, faint, isolated):
    """The faint line at ``faint`` is found there, noise-limited or not as ``isolated``."""
    lines = find_lines(flux)
    shapes = line_shapes(lines, flux)
    k = int(np.argmin(np.abs(lines.centre - faint)))
    assert abs(lines.centre[k] - faint) < 0.5
    assert bool(shapes.noise_limited[k]) is isolated


@pytest.mark.parametrize(("wing_fraction", "isolated"), [(0.0, True), (0.01, False)])
def test_a_neighbour_wing_beyond_the_gaussian_is_seen_on_its_far_side(wing_fraction, isolated):
    """A real line's wing (scattered light: the real sp_400m1 Hg lines') pulls a faint
    neighbour beyond the reach of a Gaussian; it shows on the bright line's other side,
    and there only, the faint line is not noise-limited."""
    _assert_faint_line_isolated(*_two_lines(wing_fraction), isolated)


def _far_side_on_a_clipped_line(wing_fraction):
    """``_two_lines``'s pair, the bright line's far side on a clipped line's flank, and
    seven single lines of the same profile whose far sides are clear."""
    x = np.arange(1400, dtype=float)
    sigma = 2.0
    fwhm = 2.3548 * sigma
    bright = 200.0
    faint = bright - 4.3 * fwhm
    clipped = bright + 5.5 * fwhm

    def line(centre, peak):
        core = np.exp(-0.5 * ((x - centre) / sigma) ** 2)
        return peak * (core + wing_fraction * np.exp(-np.abs(x - centre) / 6.0))

    flux = line(bright, 1e5) + line(faint, 1e3) + line(clipped, 3e6)
    for centre in (400.0, 550.0, 700.0, 850.0, 1000.0, 1150.0, 1300.0):
        flux += line(centre, 2e4)
    flux = np.minimum(flux, 1e6)
    return flux + np.random.default_rng(1).normal(0.0, 10.0, x.size) + 50.0, faint


@pytest.mark.parametrize("wing_fraction", [0.0, 0.01])
def test_a_far_side_holding_another_line_is_judged_by_the_arcs_wing(wing_fraction):
    """The far side of the faint line's bright neighbour lies on a clipped line's flank,
    whose misfit is no wing of the neighbour: the arc's wing profile, read on the clear
    far sides of its single lines, judges instead. Gaussian lines have none (400 l/mm
    custom angles, HgArNe: Ne I 7472.44 and 5748.30 were lost in 4 arcs). Lines with
    wings (the real sp_400m1 arc's) reach the faint line; over a constant level it came
    out 0.10 px towards the bright line, its error 0.06 px, and was not noise-limited;
    over the valleys' sloped level (pipeline.wavelength.wings) it is 0.016 px off, its
    error 0.022 px, and noise is what moves it."""
    flux, faint = _far_side_on_a_clipped_line(wing_fraction)
    _assert_faint_line_isolated(flux, faint, True)
    lines = find_lines(flux)
    k = int(np.argmin(np.abs(lines.centre - faint)))
    assert abs(lines.centre[k] - faint) < 0.03, lines.centre[k] - faint


def test_a_shoulder_of_a_bright_line_is_not_restarted():
    """The 400 M1 HgArNe library lamp: Hg I 3654.8 is a shoulder 1.4 FWHM from Hg I 3650.2
    (six times brighter), a blend whatever its fit. Restarted, it came back and made
    its other neighbour, the clean Hg I 3663.3 (2.3 FWHM away), a blend too: the lamp's
    refit lost its bluest anchor and the real sp_400m1 arc went from 0.020 to 0.024 px."""
    template = select_template("400_M1", "HgArNe")
    lines = find_lines(template.flux, max_lines=250)
    hg3650 = int(np.argmin(np.abs(lines.centre - 621.2)))
    hg3663 = int(np.argmin(np.abs(lines.centre - 634.3)))
    assert abs(lines.centre[hg3650] - 621.2) < 0.5 and abs(lines.centre[hg3663] - 634.3) < 0.5
    assert hg3663 == hg3650 + 1  # nothing found between them


def test_a_line_on_a_saturated_neighbours_flank_is_weighed_by_its_noise():
    """930 M1 2x2: Ar II 4052.92 is four pixels from the saturated Ar I + Hg I
    4044/4046, whose fit does not converge and is not subtracted. The pixel of its
    window on that flank raised its constant and its centre error to 0.053 px (seven
    times its scatter): all but unweighted, it left the solution there 0.06 px off.

    The centre is held to 0.05 px: the line's centres scatter by 0.018 px about the
    truth over seeds 10-29 (main's simulator and today's alike, up to 0.046 px off), so
    the 0.02 px this test once asked was met by seed 19's draw (0.000) by chance; with
    the flank lines no longer drawn the draw is 0.035 px off (2 of that scatter)."""
    arc = _arc("930_M1", 2, 19, wavelength=4052.921)
    truth = _truth_line(arc, 4052.921)
    lines = find_lines(arc.flux, max_lines=250)
    k = int(np.argmin(np.abs(lines.centre - truth["column"])))
    assert abs(lines.centre[k] - truth["column"]) < 0.05, (lines.centre[k], truth)
    assert lines.centre_error[k] < 0.02, lines.centre_error[k]


def _gaussians(n, centres, peaks, sigma):
    from scipy import special

    edges = np.arange(n + 1) - 0.5
    flux = np.zeros(n)
    for c, p in zip(centres, peaks, strict=True):
        cdf = 0.5 * (1 + special.erf((edges - c) / (np.sqrt(2) * sigma)))
        flux += p * np.sqrt(2 * np.pi) * sigma * np.diff(cdf)
    return flux


def test_clean_lines_among_bright_blends_are_not_narrow():
    # the Ar II forest of an HgAr lamp at 600 l/mm (custom GRT 8.5, 2x2): the bright
    # lines near the blue end are unresolved pairs (FWHM ~4 px), the clean lines there
    # faint; their local FWHM, the median of the bright ones, was the blends', and
    # every clean line (2.5 px) was set aside as narrow. A sharper feature stays narrow.
    n, sigma = 2030, 2.5 / 2.3548
    pairs = np.arange(60.0, 700.0, 80.0)  # eight bright unresolved pairs
    clean_blue = pairs[:-1] + 40.0  # seven faint clean lines between them
    clean_red = np.linspace(1300.0, 1900.0, 10)  # ten bright clean lines
    centres = np.r_[pairs - 1.0, pairs + 1.0, clean_blue, clean_red]
    peaks = np.r_[
        np.full(2 * pairs.size, 2500.0), np.full(clean_blue.size, 300.0), np.full(10, 5000.0)
    ]
    rng = np.random.default_rng(5)
    flux = 100.0 + _gaussians(n, centres, peaks, sigma) + rng.normal(0.0, 10.0, n)
    flux += _gaussians(n, [1000.0], [600.0], 0.5)  # a feature too sharp to be a line
    lines = find_lines(flux, max_lines=250)
    shapes = line_shapes(lines, flux)
    at = [int(np.argmin(np.abs(lines.centre - c))) for c in clean_blue]
    assert np.allclose(lines.centre[at], clean_blue, atol=0.3)
    assert np.median(shapes.local_fwhm[at]) > 3.5  # the blends' width ...
    assert not shapes.narrow[at].any()  # ... but the clean lines are lines
    spike = np.abs(lines.centre - 1000.0) < 0.5
    assert spike.sum() == 1 and shapes.narrow[spike].all()


def test_the_single_lines_width_leaves_out_broader_blends():
    """Three clean lines (~2.4 px) among six blends and clipped lines (4.7-7.1 px): the
    median is a blend's; clean widths alone are left as their median."""
    widths = [2.54, 2.42, 2.19, 4.68, 7.13, 6.81, 6.20, 5.50, 6.33]
    assert np.median(widths) > 5.0
    assert blend_free_width(widths) == pytest.approx(2.42)
    clean = [4.9, 5.0, 5.1, 4.95, 5.05, 5.4]
    assert blend_free_width(clean) == pytest.approx(np.median(clean))


@pytest.mark.parametrize(("lamp", "seed"), [("HgAr", 7), ("HgArNe", 0)])
def test_a_clean_line_among_hg_blends_keeps_its_width(lamp, seed):
    """930 M2 2x2, Hg lamps: most bright lines at 4030-4400 A are unresolved blends
    (Ar I 4156 + 4159, 4198 + 4201, Hg I 4345 + 4347) fitted 5.5-8 px wide beside
    clean 2.2-2.5 px lines. Their median made the local FWHM 4-5.5 px: the clean Ar II
    4052.92, the arc's one expected line, was set aside as narrow and the fit kept a
    few lines, 0.5-1 px off there."""
    arc = _arc("930_M2", 2, seed, lamp=lamp, wavelength=4052.921)
    truth = _truth_line(arc, 4052.921)
    lines = find_lines(arc.flux, max_lines=250)
    shapes = line_shapes(lines, arc.flux)
    k = int(np.argmin(np.abs(lines.centre - truth["column"])))
    assert not shapes.narrow[k]
    assert shapes.local_fwhm[k] == pytest.approx(line_fwhm_unbinned(1.0) / 2, rel=0.15)
    sol = calibrate_arc(arc.flux, "930_M2", lamps.elements(arc.lamp), binning=2)
    t = sol.lines
    k = int(np.argmin(np.abs(np.asarray(t["pixel"]) - truth["column"])))
    assert t["status"][k] == "used"
    assert abs(float(sol.wavelength(np.array([truth["column"]]))[0]) - 4052.921) < 0.1


@pytest.mark.parametrize(("binning", "seed"), [(3, 2), (2, 16)])
def test_a_line_three_fwhm_from_a_saturated_one_is_no_shoulder(binning, seed):
    """930 M2 HgArNe: Ar II 4052.92 lies 3.5 FWHM from the saturated Hg I 4046.56. The
    shoulder test's reach was 2.5 times the median width of the brightest peaks, half
    of them clipped or blended (2.6 px at 3x3, 4.1 at 2x2, against 1.7 and 2.5): the
    line's run-away first fit was never restarted on its own pixels, and it was lost."""
    arc = _arc("930_M2", binning, seed, lamp="HgArNe", wavelength=4052.921)
    truth = _truth_line(arc, 4052.921)
    lines = find_lines(arc.flux, max_lines=250)
    k = int(np.argmin(np.abs(lines.centre - truth["column"])))
    assert abs(lines.centre[k] - truth["column"]) < 0.05, (lines.centre[k], truth)


def test_a_faint_line_whose_own_photons_set_its_error_is_noise_limited():
    """Isolated lines on a dark background (read noise 2 counts, one count per photon):
    a faint line's centring error is mostly its own photon noise, three to nine times
    what the background alone gives. Judged against the background's share only, no
    line below ~20 000 counts was noise-limited, and a faint one 3 of its sigmas off
    was rejected against the bright lines' scatter (930 l/mm at custom angles, Ar I
    7435.4: error 0.038 px, 0.012 from the background, 0.028 with its photons)."""
    rng = np.random.default_rng(3)
    x = np.arange(3000, dtype=float)
    sigma = 2.0
    centres = np.arange(60.0, 2960.0, 50.0) + rng.uniform(0.0, 1.0, 58)
    counts = np.geomspace(2e3, 2e5, centres.size)
    rng.shuffle(counts)
    model = np.zeros_like(x)
    for c, a in zip(centres, counts, strict=True):
        model += a / (np.sqrt(2.0 * np.pi) * sigma) * np.exp(-0.5 * ((x - c) / sigma) ** 2)
    flux = rng.poisson(model + 1.0).astype(float) + rng.normal(0.0, 2.0, x.size)
    lines = find_lines(flux, max_lines=250)
    assert lines.noise is not None and lines.noise.per_count == pytest.approx(1.0, rel=0.3)
    shapes = line_shapes(lines, flux)
    faint = np.array([np.argmin(np.abs(lines.centre - c)) for c in centres[counts < 2e4]])
    assert np.all(np.abs(lines.centre[faint] - centres[counts < 2e4]) < 0.3)
    assert shapes.noise_limited[faint].all(), lines.centre_error[faint]
