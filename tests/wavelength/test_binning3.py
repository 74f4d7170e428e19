"""Lines binned 3x3 (about 1.7 px FWHM) that physical-truth arcs expect and the solver lost.

- A line's unresolved neighbour of another spectrum is judged in the library lamp's
  unbinned flux (``pipeline.wavelength.lamp_widths``), not assumed a blend.
- A faint line three FWHM from a bright one is no shoulder of it: the shoulder test
  measures the FWHM by the fitted lines, not by the peaks' half-prominence width, which
  overstates so narrow a line.
- A line beside a saturated one moves its fit window off the flank; a pen lamp's line
  whose neighbour of another spectrum is DOMINANCE times fainter (weighted NIST) is no
  blend; a sharp line's width rules out NIST's neighbour of its own spectrum.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pipeline import lamps
from pipeline.simulation.physical import arc_1d
from pipeline.wavelength import calibrate_arc, select_template
from pipeline.wavelength.lamp_widths import clean_in_lamp
from pipeline.wavelength.lines import find_lines
from tests.wavelength.physical_cases import read_on_flank

#: The 930 l/mm Hg lamps show no Ar II 4052.92 (their argon is faint: a Gaussian of the
#: lamp's width at its place fits ~0 over saturated Hg I 4046.56's halo), so physical
#: truth no longer draws it; the cases below, a clean line 15 unbinned px (3 FWHM at
#: 3x3) from a saturated one, draw it explicitly at the height once read on that halo
#: (as bright as Hg I 4339.22; a lamp with more argon would show it so).
AR_II_4052 = 4052.921


@pytest.mark.parametrize(
    "mode,lamp,wavelength,clean",
    [
        # 0.02 px from its NIST place, as wide as its neighbours (Ar II 8771.86 beside it)
        ("1200_CANIR", "HgArNe", 8771.656, True),
        ("400_M1", "HgArNe", 6029.997, True),
        # the lamp's light is 2.9 px away, at Ar I 6677.28
        ("1200_M4", "FeHeAr", 6678.152, False),
        # the lamp's light is Ar II 4933.21's, 2.3 px away
        ("600_BLUE", "CuHeAr", 4931.698, False),
        # 3.3 times broader than its neighbours
        ("600_BLUE", "CuHeAr", 5218.200, False),
    ],
)
def test_lamp_tells_clean_lines_from_blends(mode, lamp, wavelength, clean):
    template = select_template(mode, lamps.elements(lamp))
    assert clean_in_lamp(template, [wavelength]).tolist() == [clean]


def test_no_corrected_model_no_verdict():
    template = select_template("1200_CANIR", lamps.elements("HgArNe"))
    bare = replace(template, corrected_coefficients=None)
    assert not clean_in_lamp(bare, [8771.656]).any()


@pytest.mark.parametrize("seed", [0, 1])
def test_clean_line_with_faint_cross_neighbour_is_used_at_3x3(seed):
    """Ne I 8771.66 (Ar II 8771.86, 0.24 binned px away, beside it) was set aside as a
    blend in every 3x3 arc: its 1.7 px width cannot show the neighbour; the lamp can."""
    arc = arc_1d("1200_CANIR", 3, lamp="HgArNe", seed=seed)
    sol = calibrate_arc(arc.flux, "1200_CANIR", lamps.elements(arc.lamp), binning=3)
    t = sol.lines
    used = np.asarray(t["used"], bool)
    lab = np.asarray(t["lab_wavelength"], float)
    assert np.any(used & np.isclose(lab, 8771.656, atol=0.01))


def _binned_lines(centres, heights, sigma=0.708, n=1000, seed=0):
    """Pixel-integrated Gaussians on a flat background with read-like noise."""
    from scipy.special import erf

    x = np.arange(n, dtype=float)
    flux = np.full(n, 50.0)
    for c, h in zip(centres, heights, strict=True):
        area = h * np.sqrt(2.0 * np.pi) * sigma
        a = (x + 0.5 - c) / (np.sqrt(2.0) * sigma)
        b = (x - 0.5 - c) / (np.sqrt(2.0) * sigma)
        flux += area * 0.5 * (erf(a) - erf(b))
    return flux + np.random.default_rng(seed).normal(0.0, 10.0, n)


@pytest.mark.parametrize("phase", [0.0, 0.13, 0.5])
def test_faint_line_three_fwhm_from_a_bright_one_is_found(phase):
    """930_M4 HgArNe 3x3: Ne I 6328.17, 5.07 px (3.04 FWHM) from Ne I 6334.43 277 times
    brighter, was taken for its shoulder (the peaks' width, 2.09 px for lines of 1.67,
    put it within 2.5 FWHM) and never restarted: lost in every 3x3 arc."""
    others = [100.3, 210.7, 330.1, 450.9, 820.4, 905.2]
    bright, faint = 685.2 + phase, 680.13 + phase
    flux = _binned_lines([*others, bright, faint], [2e4, 3e4, 1.5e4, 2.5e4, 4e4, 1e4, 3e5, 1100])
    lines = find_lines(flux, max_lines=250)
    k = int(np.argmin(np.abs(lines.centre - faint)))
    assert abs(lines.centre[k] - faint) < 0.05, lines.centre[k]
    assert abs(lines.centre[k + 1] - bright) < 0.02


def _used(sol, wavelength):
    t = sol.lines
    used = np.asarray(t["used"], bool)
    return bool(
        np.any(used & np.isclose(np.asarray(t["lab_wavelength"], float), wavelength, atol=0.01))
    )


@pytest.mark.parametrize(("mode", "seed"), [("930_M1", 0), ("930_M2", 9)])
def test_a_line_beside_a_saturated_one_moves_its_window_off_the_flank(mode, seed):
    """930 l/mm HgAr 3x3: Ar II 4052.92 lies 5 px (3 FWHM) from the saturated Hg I
    4046.56, whose clipped fit is not subtracted. Its seven-pixel window kept four pixels
    of its own and took the flank back, and its fit collapsed (lost) or spread to 2.2 px.
    Its window now moves to the free side."""
    heights = read_on_flank(mode, "HgAr", AR_II_4052)
    arc = arc_1d(mode, 3, lamp="HgAr", seed=seed, line_heights=heights)
    truth = min(arc.lines, key=lambda ln: abs(ln["wavelength"] - 4052.921))
    assert truth["expected"] and abs(truth["wavelength"] - AR_II_4052) < 0.01, truth
    lines = find_lines(arc.flux, max_lines=250)
    k = int(np.argmin(np.abs(lines.centre - truth["column"])))
    assert abs(lines.centre[k] - truth["column"]) < 0.05, (lines.centre[k], truth["column"])
    assert 2.3548 * lines.sigma[k] < 1.1 * 2.3548 * float(np.median(lines.sigma))
    sol = calibrate_arc(arc.flux, mode, lamps.elements(arc.lamp), binning=3)
    assert _used(sol, 4052.921)


@pytest.mark.parametrize(
    ("mode", "wavelength"),
    [
        ("400_M2", 6029.997),  # Ar I 6032.13 beside it, 50x fainter by NIST
        # Ne I, Ar II 8771.86 beside it, 140x fainter (ionic, weighted). Once set aside
        # here as an outlier, centred 0.17 binned px redder from the HgAr bulb's start
        # model (strict xfail); with the flank lines no longer drawn it is used
        ("1200_M7", 8771.656),
    ],
)
def test_a_pen_lamp_line_outshining_its_cross_neighbour_is_used_at_3x3(mode, wavelength):
    """An undersampled line whose width cannot show its NIST neighbour of another
    spectrum, which the lamp cannot vouch for (400_M2: its line is clipped; 1200_M7:
    faint), is no blend when a pen lamp's weighted NIST intensities make the neighbour
    DOMINANCE times fainter: lost in every 3x3 arc before."""
    arc = arc_1d(mode, 3, lamp="HgArNe", seed=0)
    sol = calibrate_arc(arc.flux, mode, lamps.elements(arc.lamp), binning=3)
    assert _used(sol, wavelength)


def test_a_3x3_width_rules_out_nists_neighbour():
    """930_M2 Ar 3x3: Ar II 4033.81 with Ar II 4035.46 (NIST 15 : 7, 0.5 FWHM apart) would
    be 1.3 times broader; the pixel-integrated fit measures a 1.7 px line's width to a
    few per cent, and it is as broad as its neighbours: no blend (one in every arc)."""
    arc = arc_1d("930_M2", 3, lamp="Ar", seed=0)
    sol = calibrate_arc(arc.flux, "930_M2", lamps.elements(arc.lamp), binning=3)
    assert _used(sol, 4033.809)


def _lamp(mode, lamp):
    return select_template(mode, lamps.elements(lamp))


def test_a_lamp_neighbour_whose_pull_is_negligible_is_no_rival():
    """1200_M2 FeHeAr: Ar I 4272.17 has a lamp line 11 % of its flux 8 unbinned px
    away, 1.6 FWHM of a 3x3 arc: it pulls the line by 0.008 binned px, a tenth of what
    a 3 % neighbour may. Counting the fraction alone, the lamp did not vouch for it."""
    template = _lamp("1200_M2", "FeHeAr")
    assert clean_in_lamp(template, [4272.169], 5.0).tolist() == [True]
    # a neighbour that pulls as much as 3 % at the worst distance is still a rival
    assert clean_in_lamp(template, [4272.169], 12.0).tolist() == [False]


def test_a_lamp_neighbour_the_binned_arc_resolves_is_no_rival():
    """1200_M2 FeHeAr: Ar I 4251.19 with a brighter lamp line 9.75 unbinned px away,
    3.25 px binned 3x3: the arc finds it as a line of its own (peak separation 3 px)
    and fits it apart; within the separation it would be merged, a rival."""
    template = _lamp("1200_M2", "FeHeAr")
    assert clean_in_lamp(template, [4251.185], 5.0, 9.0).tolist() == [True]
    assert clean_in_lamp(template, [4251.185], 5.0, 10.5).tolist() == [False]


@pytest.mark.parametrize("mode", ["1200_M1", "1200_M2"])
def test_ar_lines_the_fehear_lamp_shows_clean_are_used_at_3x3(mode):
    """Ar I 4251.19 and 4272.17 (Fe I 4250.79 and 4271.76 unresolved beside them,
    which the lamp shows no light of) were blends in every 1200 l/mm FeHeAr 3x3 arc."""
    arc = arc_1d(mode, 3, lamp="FeHeAr", seed=0)
    sol = calibrate_arc(arc.flux, mode, lamps.elements(arc.lamp), binning=3)
    assert _used(sol, 4251.185) and _used(sol, 4272.169)


def test_a_sparse_arc_takes_its_width_from_its_single_lines():
    """930_M2 HgAr 3x3: five of its nine sharp lines are blends or clipped (2.5-4.3 px),
    too few single ones to measure the width from, and their plain median (2.5 px) made
    the clean 1.7 px lines narrow: Ar II 4052.92, its only expected line, and most
    others were set aside, and the red end was 1 px off. (Seed 4: since the lamp has a
    NIST-corrected model the simulator measures its lines' heights at their places;
    of seeds 0-29, the plain median sets Ar II 4052.92 aside as narrow in seeds 4, 6,
    8, 18, 21, 23 and 28, the trimmed widths in none.)"""
    from pipeline.wavelength.identify import line_shapes

    heights = read_on_flank("930_M2", "HgAr", AR_II_4052)
    arc = arc_1d("930_M2", 3, lamp="HgAr", seed=4, line_heights=heights)
    truth = min(arc.lines, key=lambda ln: abs(ln["wavelength"] - 4052.921))
    assert truth["expected"] and abs(truth["wavelength"] - AR_II_4052) < 0.01, truth
    lines = find_lines(arc.flux, max_lines=250)
    shapes = line_shapes(lines, arc.flux)
    k = int(np.argmin(np.abs(lines.centre - truth["column"])))
    assert not shapes.narrow[k]
    assert shapes.local_fwhm[k] < 1.15 * shapes.fwhm[k]


@pytest.mark.parametrize("seed", [2, 5])
def test_fits_narrowed_beside_a_clipped_line_do_not_set_the_width_at_3x3(seed):
    """930_M2 HgAr 3x3: Hg I 4347.5 and Ar II 4367.8, 8 px from the clipped Hg I
    4358.3 (fitted 3.2 px wide), fit 1.2-1.4 px wide against the instrument's 1.67;
    counted as single lines they made the local width 1.44 px, and the clean expected
    Ar II 4052.92 (1.67 px) was set aside as broad (a blend) and the solution missed
    it (seeds 2 and 5 among 10 of 30)."""
    from pipeline.wavelength.identify import line_shapes

    heights = read_on_flank("930_M2", "HgAr", AR_II_4052)
    arc = arc_1d("930_M2", 3, lamp="HgAr", seed=seed, line_heights=heights)
    truth = min(arc.lines, key=lambda ln: abs(ln["wavelength"] - 4052.921))
    assert truth["expected"] and abs(truth["wavelength"] - AR_II_4052) < 0.01, truth
    lines = find_lines(arc.flux, max_lines=250)
    shapes = line_shapes(lines, arc.flux)
    k = int(np.argmin(np.abs(lines.centre - truth["column"])))
    assert not shapes.arc_blend[k]
    sol = calibrate_arc(arc.flux, "930_M2", lamps.elements(arc.lamp), binning=3)
    t = sol.lines
    used = np.asarray(t["used"], bool)
    lab = np.asarray(t["lab_wavelength"], float)
    assert np.any(used & (np.abs(lab - 4052.921) < 0.01))
    x = np.arange(arc.flux.size, dtype=float)
    disp = np.interp(truth["column"], x, np.gradient(arc.wavelength, x))
    err = (sol.wavelength(np.array([truth["column"]]))[0] - truth["wavelength"]) / disp
    assert abs(err) <= 0.03
