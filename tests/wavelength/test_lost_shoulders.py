"""A line fitted over a neighbour's peak that the line finder dropped is no measure of
the instrument's width.

The line finder drops a shoulder whose fit ran away (a blend in any case), and its
brighter neighbour, fitted alone over both peaks, comes out narrow. In a sparse arc,
whose local FWHM rests on a handful of single lines, that narrow fit made the clean
lines look broadened (:func:`pipeline.wavelength.identify.line_shapes`).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.grade_physical import MEAN_LIMIT, RMS_LIMIT, grade
from pipeline.simulation.physical import arc_1d
from pipeline.wavelength.identify import _beside_lost_peak, line_shapes
from pipeline.wavelength.lines import continuum, find_lines, robust_noise
from tests.wavelength.physical_cases import read_on_flank

#: The 930_M2 HgAr lamp shows no Ar II 4052.92 (a Gaussian of its width there fits ~0
#: over saturated Hg I 4046.56's halo), so physical truth no longer draws it and these
#: arcs have no expected line. The cases draw it explicitly at the height once read on
#: that halo (:func:`tests.wavelength.physical_cases.read_on_flank`), the arc's one
#: clean line beside the lost shoulder, as a lamp with more argon would show it.
AR_II_4052 = 4052.921


def _column(arc, wavelength):
    return next(ln["column"] for ln in arc.lines if abs(ln["wavelength"] - wavelength) < 0.01)


def test_a_line_fitted_over_a_lost_shoulder_is_no_single_line():
    # 930_M2 HgAr 2x2, seed 9: Ar II 4076.63 and 4079.57, as bright, 3.5 px (1.4 FWHM)
    # apart with a clear dip between them; the finder keeps one line there, 1.75 px
    # wide against the instrument's 2.5
    heights = read_on_flank("930_M2", "HgAr", AR_II_4052)
    arc = arc_1d("930_M2", 2, lamp="HgAr", seed=9, line_heights=heights)
    lines = find_lines(arc.flux)
    pair = (_column(arc, 4076.628), _column(arc, 4079.574))
    listed = np.nonzero((lines.centre > pair[0] - 1.5) & (lines.centre < pair[1] + 1.5))[0]
    assert listed.size == 1  # the case: one of the two peaks is lost
    fwhm = 2.3548 * lines.sigma
    assert fwhm[listed[0]] < 0.8 * np.median(fwhm)
    net = arc.flux - continuum(arc.flux)
    flat = np.zeros(lines.centre.size, bool)
    flagged = _beside_lost_peak(lines.centre, fwhm, net, robust_noise(net), flat)
    assert flagged[listed[0]]
    # the clean expected Ar II 4052.92 keeps the arc's width, not the narrow fit's
    shapes = line_shapes(lines, arc.flux)
    k = int(np.argmin(np.abs(lines.centre - _column(arc, 4052.921))))
    assert shapes.local_fwhm[k] > 2.0, shapes.local_fwhm[k]


@pytest.mark.parametrize("seed", [3, 9])
def test_930_m2_hgar_2x2_finds_its_only_expected_line(seed):
    # the narrow fit over the lost Ar II 4076.63 made the sparse arc's local FWHM 1.9 px:
    # seed 3, the identification named one usable line, fell back on the library model,
    # and the solution was 0.31 px off at Ar II 4052.92; seed 9, the line was set aside
    # as broadened and the solution was 0.20 px off there
    heights = read_on_flank("930_M2", "HgAr", AR_II_4052)
    r = grade("930_M2", 2, seed=seed, lamp="HgAr", line_heights=heights)
    assert r["expected"] == 1 and not r["error"], r
    assert r["found"] == 1, r
    assert r["rms"] <= RMS_LIMIT and abs(r["mean"]) <= MEAN_LIMIT, r
