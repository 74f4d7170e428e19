"""The written solution at the outermost lines: no kink for its series to ring about.

Beyond the outermost fitted lines the correction to the first guess is continued; the
solution is then restated as a Chebyshev series of degree 9 at most (goodman's
``GSP_Cnnn``). A continuation whose slope jumps at the end lines (the lines' global
trend) is a kink that series cannot follow: it rang by up to 0.2 px at the end lines
themselves, where the fit was within 0.01 px of the truth.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial import chebyshev

from benchmarks.grade_physical import MEAN_LIMIT, RMS_LIMIT
from pipeline import lamps
from pipeline.simulation.physical import arc_1d
from pipeline.wavelength import calibrate_arc
from tests.wavelength.physical_cases import assert_line_used_and_accurate


@pytest.mark.parametrize(
    ("mode", "binning", "seed"),
    # a sparse arc (7 lines in three groups, order 3) and a rich one (order 7); on
    # main both ended 0.19-0.24 px off at an end line, 0.056-0.104 px RMS
    [("2100_3900A", 1, 11), ("1200_M4", 1, 3)],
)
def test_written_solution_is_accurate_at_the_end_lines(mode, binning, seed):
    arc = arc_1d(mode, binning, seed=seed)
    sol = calibrate_arc(arc.flux, mode, lamps.elements(arc.lamp), binning=binning)
    exp = [ln for ln in arc.lines if ln["expected"]]
    cols = np.array([ln["column"] for ln in exp])
    wave = np.array([ln["wavelength"] for ln in exp])
    x = np.arange(arc.flux.size, dtype=float)
    disp = np.interp(cols, x, np.gradient(arc.wavelength, x))
    err = (chebyshev.chebval(cols, sol.coefficients) - wave) / disp
    ends = [np.argmin(cols), np.argmax(cols)]
    assert np.abs(err[ends]).max() <= RMS_LIMIT, err[ends]
    assert np.sqrt(np.mean(err**2)) <= RMS_LIMIT and abs(err.mean()) <= MEAN_LIMIT, err


def test_lone_end_line_past_the_measured_shape_is_not_misnamed():
    # 600_MID 1x1, seed 22: a line at the blue edge, 1430 px beyond the others and
    # ~1000 px past the lamp's NIST lines; the optics continued over the gap put it
    # 9 px off, where Ne II 4398.0 (150) stands for its own 4391.99 (200), and the
    # misnamed line bent the solution: 1.64 px RMS at the expected lines
    arc = arc_1d("600_MID", 1, seed=22)
    sol = calibrate_arc(arc.flux, "600_MID", lamps.elements(arc.lamp), binning=1)
    used = np.asarray(sol.lines["used"], bool)
    pix = np.asarray(sol.lines["pixel"], float)[used]
    lab = np.asarray(sol.lines["lab_wavelength"], float)[used]
    x = np.arange(arc.flux.size, dtype=float)
    off = (np.interp(pix, x, arc.wavelength) - lab) / np.interp(pix, x, np.gradient(arc.wavelength))
    assert np.abs(off).max() < 0.5, (pix[np.argmax(np.abs(off))], off.max())


@pytest.mark.parametrize(
    ("mode", "seed", "wavelength"),
    [
        # 920 px beyond the others: placed along the optics 0.6 px from its own Ar II
        # 3033.5 (Cu I 3036.1 3.4 px away), it was paired at the last stage's 0.4 px
        # and left unnamed, not at the reach of the bends over its gap (2.9 px)
        ("600_UV", 29, 3033.508),
        # the library lamp's shape left the line in the gap unnamed, so the blue-edge
        # line 1430 px beyond had a rival within reach and stayed unnamed (0.79 px
        # RMS); the optics' shape named both, every other line alike, and lost on a
        # leave-one-out error 4 % higher over its farther lines
        ("600_MID", 22, 4391.991),
    ],
)
def test_lone_end_line_is_named_and_the_arc_meets_the_accuracy(mode, seed, wavelength):
    assert_line_used_and_accurate(mode, 1, seed, wavelength)
