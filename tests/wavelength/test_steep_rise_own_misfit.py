"""A wing valley is not refused for a rise measured from the line's own Gaussian misfit.

The wing-valley search refuses a three-pixel mean whose light (beyond the drawn
Gaussians and the line's own) rises away from the line faster than a wing can: an
undrawn companion's core (:func:`pipeline.wavelength.wings._steep_rise`). Binned 2x2
(2.5 px FWHM), the line's own Gaussian taken off its flank left pixels of -50 to -140
ADU (the fit wider than the line); a rise from there to a pixel at the level read as a
companion, the valleys moved out and the line was set aside as an outlier: custom-angle
CuHeAr arcs lost Ar I 7353.29 (400 Red s1), Ar I 9194.64 (s4), Ar II 4481.81 (930 Blue
s3). A wing is light, never below zero: the rise counts from the inner pixel or zero.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.grade_custom_angles import _passes, custom_setups, grade_case
from pipeline.wavelength.wings import RISE_NOISE, _steep_rise


def test_rise_from_an_oversubtracted_pixel_is_no_companion():
    # line at 10; right of it the own Gaussian's misfit (-90) then the level (+10)
    seg = np.array([0.0, 0.0, 0.0, -20.0, -90.0, 0.0, 0.0, 0.0, -90.0, -20.0, 10.0, 0.0])
    pix = np.arange(4, 16)
    noise = 12.0
    steep = _steep_rise(seg, pix[1:-1], 10.0, 2.5, noise)
    assert not steep.any(), steep
    # a companion's core, well above the level and the noise, still is one
    seg[-1] = 10.0 + 2 * RISE_NOISE * noise
    assert _steep_rise(seg, pix[1:-1], 10.0, 2.5, noise)[-1]


@pytest.mark.parametrize(
    ("name", "camera", "seed"),
    [("400@7.80/16.70", "Red", 1), ("400@7.80/16.70", "Red", 4), ("930@13.80/25.60", "Blue", 3)],
)
def test_custom_angle_2x2_cuhear_keeps_every_expected_line(name, camera, seed):
    (setup,) = [s for s in custom_setups() if s.name == name]
    r = grade_case(setup, "CuHeAr", camera, 2, seed, 70.0)
    assert r["found"] == r["expected"] and _passes(r), r
