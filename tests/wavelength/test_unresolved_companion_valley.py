"""A faint line's wing level is not read on an unresolved companion's flank.

Binned 3x3 (1.7 px FWHM), Ne I 5748.30 lies 5.4 px blue of Ne I 5764.42 and 7.2 px of
Hg I 5769.60, 30-300 times brighter; the two are found as one peak and fitted as one
Gaussian on Hg I, which does not draw Ne I 5764.42. The faint line is on that group's
wing (:mod:`pipeline.wavelength.wings`); its right valley's three-pixel mean, 3 px out,
reached Ne I 5764.42's flank (a pixel at the faint line's own height, twenty times the
pixel inside it), and the sloped level moved the line 0.1-0.3 px blue, noiseless
(main): 400_M1 and 400_M2 HgArNe 3x3, seeds 5 and 8, set it aside. At other sub-pixel
phases the valley fell one pixel nearer, or none was sought, and the line was centred.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.wavelength.lines import _integrated_gaussian, find_lines
from tests.wavelength.physical_cases import assert_line_used_and_accurate

SIGMA = 0.71


def _line(x, centre, flux):
    return flux * _integrated_gaussian(x, centre, SIGMA)


@pytest.mark.parametrize(
    ("phase", "fluxes"),
    [
        # faint line, companion, bright line: as the 400 M1 arcs draw them (main:
        # -0.09, -0.08 px) and as M2's, with a brighter Hg I (main: -0.26, -0.14 px)
        (-0.15, (3600.0, 14000.0, 190000.0)),
        (-0.05, (3600.0, 14000.0, 190000.0)),
        (0.25, (1650.0, 40000.0, 540000.0)),
        (0.40, (1650.0, 40000.0, 540000.0)),
    ],
)
def test_faint_line_beside_an_unresolved_pair_is_not_moved(phase, fluxes):
    """Pixel-integrated Gaussians, no noise: the faint line's centre is its own."""
    x = np.arange(400.0)
    faint = 170.0 + phase
    flux = _line(x, faint, fluxes[0]) + _line(x, faint + 5.43, fluxes[1])
    flux += _line(x, faint + 7.18, fluxes[2])
    for c in (40.3, 80.6, 120.2, 250.7, 300.1, 340.4, 370.8):  # single lines: the width
        flux += _line(x, c, 5000.0)
    lines = find_lines(flux)
    k = int(np.argmin(np.abs(lines.centre - faint)))
    assert abs(lines.centre[k] - faint) < 0.02, lines.centre[k] - faint


@pytest.mark.parametrize(("mode", "seed"), [("400_M1", 5), ("400_M2", 8)])
def test_physical_truth_400_3x3_keeps_ne_i_5748(mode, seed):
    assert_line_used_and_accurate(mode, 3, seed, 5748.2985, lamp="HgArNe")
