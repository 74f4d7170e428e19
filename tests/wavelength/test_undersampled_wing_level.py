"""A faint undersampled line's wing level is read beyond its own flank.

Binned 3x3 a line is about 1.7 px wide. A faint line 4.4 FWHM from one 500 times
brighter is on that line's wing (:mod:`pipeline.wavelength.wings`), and its valleys
are sought no nearer the bright line's drawn core than where it outshines the faint
line: 2.5 px, whose three-pixel means reach the faint line's own flank. Taken for the
right valley, that flank tilted the level and moved the line 0.09 px (main), and the
physical-truth arc 930_M6 HgArNe 3x3 (seed 0) set Ar I 7392.98 aside as an outlier.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.wavelength.lines import _integrated_gaussian, find_lines
from tests.wavelength.physical_cases import assert_line_used_and_accurate

SIGMA = 0.7


def _line(x, centre, flux):
    return flux * _integrated_gaussian(x, centre, SIGMA)


def test_faint_undersampled_line_beside_a_bright_core_is_not_moved():
    """Gaussian lines, no noise: the faint line's centre is its own."""
    x = np.arange(400.0)
    bright, faint = 167.08, 174.486
    flux = _line(x, bright, 713000.0) + _line(x, faint, 1550.0)
    for c in (40.3, 80.6, 120.2, 250.7, 300.1, 340.4, 370.8):  # single lines: the width
        flux += _line(x, c, 5000.0)
    lines = find_lines(flux)
    k = int(np.argmin(np.abs(lines.centre - faint)))
    assert abs(lines.centre[k] - faint) < 0.02, lines.centre[k] - faint


def test_physical_truth_930_m6_3x3_keeps_ar_i_7392():
    assert_line_used_and_accurate("930_M6", 3, 0, 7392.98, lamp="HgArNe")


@pytest.mark.parametrize(("gap", "phase"), [(7.0, -0.2), (7.4, 0.4)])
def test_own_flank_below_the_outshone_fraction_is_no_level(gap, phase):
    """A valley whose three-pixel mean holds less of the line's own Gaussian than
    OUTSHONE_FRACTION of its peak is still read, but that light is the line's, not the
    level: counted as level, it raised the valley on the bright side and moved the line
    0.026 px (main) at these phases; taken off, < 0.005 px (no noise)."""
    x = np.arange(400.0)
    bright = 167.0 + phase
    faint = bright + gap
    flux = _line(x, bright, 713000.0) + _line(x, faint, 1550.0)
    for c in (40.3, 80.6, 120.2, 250.7, 300.1, 340.4, 370.8):
        flux += _line(x, c, 5000.0)
    lines = find_lines(flux)
    k = int(np.argmin(np.abs(lines.centre - faint)))
    assert abs(lines.centre[k] - faint) < 0.005, lines.centre[k] - faint
