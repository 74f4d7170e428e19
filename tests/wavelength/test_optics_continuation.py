"""Beyond an arc's outermost lines, and across a wide gap, the solution follows the optics.

600 l/mm at the M2 angles (600_MID) shows no line over its first ~1000 of 4060 px:
continued from the library model with a straight correction, the solution was 3-5 px
off at the first columns (seed 4: RMS 0.97 px at the expected lines, the first one
named after its neighbour 3 A away). The optics model carries the bend there.
"""

from __future__ import annotations

import numpy as np

from benchmarks.grade_physical import MEAN_LIMIT, RMS_LIMIT, grade_solution
from pipeline import lamps
from pipeline.simulation.physical import arc_1d
from pipeline.wavelength import calibrate_arc


def _errors_px(arc, sol, columns):
    x = np.arange(arc.flux.size, dtype=float)
    disp = np.gradient(arc.wavelength, x)
    truth = np.interp(columns, x, arc.wavelength)
    return (sol.wavelength(columns) - truth) / np.interp(columns, x, disp)


def test_blue_end_without_lines_follows_the_optics():
    arc = arc_1d("600_MID", 1, seed=4)
    sol = calibrate_arc(arc.flux, "600_MID", lamps.elements(arc.lamp), binning=1)
    graded = grade_solution(arc, sol)
    # at the expected lines (the first, 4398 A, lies at column 8)
    assert graded["rms"] <= RMS_LIMIT and abs(graded["mean"]) <= MEAN_LIMIT, graded
    # the whole stretch without lines, not only the one expected line in it
    assert np.abs(_errors_px(arc, sol, np.arange(0.0, 1000.0, 50.0))).max() < 0.3


def test_solution_reports_how_much_of_the_detector_its_lines_cover():
    arc = arc_1d("600_MID", 2, seed=0)
    sol = calibrate_arc(arc.flux, "600_MID", lamps.elements(arc.lamp), binning=2)
    used = np.sort(np.asarray(sol.lines["pixel"], float)[np.asarray(sol.lines["used"], bool)])
    assert sol.line_coverage == (used[-1] - used[0]) / (sol.npix - 1)
    gaps = np.diff(np.r_[0.0, used, sol.npix - 1.0])
    assert sol.widest_gap_pixel == gaps.max()
    cards = {k: v for k, v, _ in sol.header_cards()}
    assert cards["GSP_WCOV"] == round(sol.line_coverage, 3)
    assert cards["GSP_WGAP"] == round(sol.widest_gap_pixel, 1)
    # 600_MID's first ~1000 unbinned px have no line: a quarter of the detector
    assert 400 < sol.widest_gap_pixel < 600
    assert sol.quality()["wavelength_line_coverage"] == cards["GSP_WCOV"]


def test_lone_end_line_is_named_from_the_other_lines():
    # 600_UV 1x1: its first line (Ar II 3033.5 A, column 8) lies 670 px from the next;
    # named after Ar II 3036.1 in the coarse stages, the fit through it bent the blue
    # end by 4 px (RMS 0.65 px at the expected lines)
    arc = arc_1d("600_UV", 1, seed=6)
    sol = calibrate_arc(arc.flux, "600_UV", lamps.elements(arc.lamp), binning=1)
    graded = grade_solution(arc, sol)
    assert graded["rms"] <= RMS_LIMIT and abs(graded["mean"]) <= MEAN_LIMIT, graded
    first = np.argmin(np.asarray(sol.lines["pixel"], float))
    lab = np.asarray(sol.lines["lab_wavelength"], float)
    assert abs(lab[first] - 3033.508) < 0.01


def _solution_with_lines(pixels, npix=2000):
    from astropy.table import Table

    from pipeline.wavelength import WavelengthSolution

    lines = Table({"pixel": np.asarray(pixels, float), "used": np.ones(len(pixels), bool)})
    return WavelengthSolution(
        np.array([5000.0, 1.0]), npix, 1, 0.01, 0.01, len(pixels), 0, lines, "t", "HgAr", "m"
    )


def test_low_coverage_and_wide_gaps_carry_a_warning():
    # nine lines over the last 40 % of the detector: extrapolated over the rest
    sparse = _solution_with_lines(np.linspace(1200.0, 1999.0, 9))
    warnings = sparse.quality()["wavelength_warnings"]
    assert len(warnings) == 2, warnings
    assert "GSP_WCOV" in warnings[0] and "GSP_WGAP" in warnings[1]
    # lines end to end with one gap of 40 % in the middle: the gap alone
    gap = _solution_with_lines(np.r_[np.linspace(0.0, 600.0, 7), np.linspace(1400.0, 1999.0, 7)])
    assert [w[:2] for w in gap.coverage_warnings()] == ["no"]
    # lines every 200 px: nothing to say
    assert (
        _solution_with_lines(np.arange(0.0, 2000.0, 200.0)).quality()["wavelength_warnings"] == []
    )


class _EndingModel:
    """A linear dispersion that, like a library lamp's model, inverts only over its own
    pixels (NaN beyond, as :class:`pipeline.wavelength.lamp_continuation.LampModel`)."""

    def __init__(self, npix: float) -> None:
        self.npix = npix

    def wavelength(self, v):
        return 5000.0 + 0.5 * np.asarray(v, float)

    def pixel(self, wave):
        v = (np.asarray(wave, float) - 5000.0) / 0.5
        return np.where((v >= 0) & (v <= self.npix), v, np.nan)


def test_a_model_that_ends_before_the_lines_neither_spoils_nor_replaces_the_solution():
    """A lamp shorter than the detector (600Red: 3096 of 4060 px) cannot place lines or an
    end past its pixels: the lines beyond are left out of the departure, and the red side
    is left as it was. Both used to become NaN, and so did the whole written solution
    (600_RED, seed 0, after a refit of its lamp)."""
    from pipeline.wavelength.optics_continuation import continue_along_optics, fit_departure

    n = 4060
    model = _EndingModel(3096.0)
    v = np.linspace(100.0, 3900.0, 20)
    x = 2.0 * v / (n - 1) - 1.0
    departure = fit_departure(model, x, v, model.wavelength(v) + 0.05, np.full(v.size, 0.02))
    assert departure is not None and np.isfinite(departure.coef).all()
    j = np.arange(n, dtype=float)
    wave = model.wavelength(j) + 1e-7 * (j - 2000.0) ** 2  # bent: the model is not
    out = continue_along_optics(j, wave, n, 1, model, departure, 100.0, 3900.0)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[j > 3900.0], wave[j > 3900.0])  # past the model: as was
    assert not np.array_equal(out[j < 100.0], wave[j < 100.0])  # within it: continued
