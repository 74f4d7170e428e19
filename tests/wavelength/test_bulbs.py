"""The offset between the two bulbs of an HgArNe lamp (HgAr pen lamp, Ne lamp): how
it is measured. On real arcs (reported with the solution, not fitted):
``test_real_arcs.py``."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.polynomial import chebyshev

from pipeline.wavelength.bulbs import bulb_sides, measure_offset


def test_sides_are_the_bulbs_of_a_two_bulb_lamp_only():
    ion = np.array(["Ne I", "Hg I", "Ar II", ""])
    assert bulb_sides({"Hg", "Ar", "Ne"}, ion).tolist() == [1, -1, -1, 0]
    assert bulb_sides({"Ar", "Ne"}, ion).tolist() == [1, -1, -1, 0]
    for one_bulb in ({"Hg", "Ar"}, {"Ne"}, {"Cu", "He", "Ar"}, {"Hg", "Ar", "Ne", "Cu"}):
        assert bulb_sides(one_bulb, ion) is None


def test_an_offset_is_recovered_beside_the_correction_and_an_outlier():
    rng = np.random.default_rng(3)
    x = np.linspace(-0.9, 0.9, 30)
    side = np.where(np.arange(30) % 3 == 0, -1.0, 1.0)  # interleaved, as in the red
    y = chebyshev.chebval(x, [0.1, -0.3, 0.2]) + 0.5 * 0.3 * side + rng.normal(0, 0.02, 30)
    y[7] += 1.0  # a misidentified line
    fit = measure_offset(x, y, np.full(30, 0.02), side, 2)
    assert fit.offset == pytest.approx(0.3, abs=0.03) and fit.error < 0.02
    assert (fit.n_ne, fit.n_other) == (19, 10)  # the outlier (Ne) left out
    # two lines of a bulb measure nothing
    assert measure_offset(x[:12], y[:12], np.full(12, 0.02), np.r_[-1, -1, [1] * 10], 2) is None
