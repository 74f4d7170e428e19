"""A rival's far side that holds a clipped line's flank is no measure of the rival's wing.

The arc is a physical-truth arc saved as drawn (``tests/data/simulated/README.md``):
400 l/mm at the custom angles GRT 6.65 / CAM 13.3, HgArNe, Blue camera, 1x1, seed 4.
Ne I 5400.56 lies 5.0 FWHM from Hg II 5425.25 (1.4 times its flux), whose far side is
on the flank of the saturated Hg I 5460.74; the line list lacks that clipped line, and
the flank's rising light was taken for Hg II's wing (a pull of 83 px): Ne I 5400.56,
judged against the bright lines' scatter instead of its own centring error, was set
aside as an outlier 2.0 of its own sigmas off a solution 0.001 px from the truth there.
"""

from __future__ import annotations

import numpy as np

from pipeline.wavelength.isolation import WingProfile, _wing_reaches
from pipeline.wavelength.lines import _integrated_gaussian
from tests.wavelength.saved_arcs import errors_at_expected, solved_custom_arc, used_line

STEM = "faint_400_6p65_13p3_HgArNe_Blue_1x1_s4"


def test_faint_line_beside_a_rival_on_a_clipped_flank_is_used():
    sol, truth = solved_custom_arc(STEM)
    assert used_line(sol, 5400.5618), "Ne I 5400.56 is used"
    err = errors_at_expected(sol, truth)
    assert np.sqrt(np.mean(err**2)) <= 0.05 and abs(err.mean()) <= 0.03, np.round(err, 3)


def _gauss(x, centre, sigma, flux):
    return flux * _integrated_gaussian(x, centre, sigma)


def test_light_rising_away_from_the_rival_is_not_its_wing():
    """Gaussian lines, no wings: line i, rival k 4.8 FWHM away, and beyond k a clipped
    line absent from the list whose flank covers k's far side. Read on that far side,
    the rising flank said k's wing reaches i (main); it is another source's light."""
    sigma = 2.1
    x = np.arange(200.0)
    j = np.array([60.0, 60.0 + 4.8 * 2.3548 * sigma])
    amplitude = np.array([7000.0, 10000.0])
    net = sum(_gauss(x, c, sigma, a) for c, a in zip(j, amplitude, strict=True))
    clipped = _gauss(x, j[1] + 2.0 * (j[1] - j[0]) - 8.0, 3.0 * sigma, 5e6)
    net = net + np.minimum(clipped, 6e5)
    # the arc less the listed lines' Gaussians: the clipped line's light only
    rest = net - sum(_gauss(x, c, sigma, a) for c, a in zip(j, amplitude, strict=True))
    height = amplitude / (np.sqrt(2 * np.pi) * sigma)
    fwhm = np.full(2, 2.3548 * sigma)
    sig = np.full(2, sigma)
    # the arc's wing profile, read on its single lines' clear far sides: flat, as
    # Gaussian lines have no wing beyond their core
    flat = WingProfile(np.linspace(3.0, 5.0, 9), np.zeros(9), np.full(9, 1e-4))
    assert not _wing_reaches(rest, 10.0, j, sig, height, fwhm, 0, 1, amplitude, flat)


def test_a_wing_falling_away_from_the_rival_still_reaches():
    """The same pair with the rival's own wing (10 % of its peak, falling over 3.5 FWHM)
    and nothing beyond: its far side falls away from it, and the line is reached."""
    sigma = 2.1
    x = np.arange(200.0)
    j = np.array([60.0, 60.0 + 4.8 * 2.3548 * sigma])
    amplitude = np.array([7000.0, 10000.0])
    height = amplitude / (np.sqrt(2 * np.pi) * sigma)
    rest = 0.1 * height[1] * np.exp(-np.abs(x - j[1]) / (3.5 * 2.3548 * sigma))
    fwhm = np.full(2, 2.3548 * sigma)
    sig = np.full(2, sigma)
    flat = WingProfile(np.linspace(3.0, 5.0, 9), np.zeros(9), np.full(9, 1e-4))
    assert _wing_reaches(rest, 1.0, j, sig, height, fwhm, 0, 1, amplitude, flat)
