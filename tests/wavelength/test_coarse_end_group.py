"""A coarse stage's fit that sets aside a whole end of correctly named lines.

The arc is a physical-truth arc of the simulator with flank heights (``wip/flank``:
a line's height its own, not read off a bright neighbour's flank), saved as drawn
(``tests/data/simulated/README.md``): 600 l/mm at the custom angles GRT 8.5 / CAM 17,
HgArNe, Red camera, 1x1, seed 3, the optics model's zero point 53 px off. Started
from the optics model as the night reducer starts a custom-angle arc, the order-2
fit of the second stage kept the 15 red lines and set the blue ones aside (the
guess's error is a cubic); named from its extrapolation, the blue end was lost and
the solution was extrapolated over 2784 px, 3.8 px off at Ne I 3520.47.
"""

from __future__ import annotations

import numpy as np

from tests.wavelength.saved_arcs import errors_at_expected, solved_custom_arc, used_line

STEM = "flank_600_8p5_17_HgArNe_Red_1x1_s3"


def test_custom_angle_arc_keeps_its_blue_end():
    sol, truth = solved_custom_arc(STEM)
    err_px = errors_at_expected(sol, truth)
    # the grader's accuracy (grade_physical.py): RMS <= 0.05 binned px at the expected lines
    assert np.sqrt(np.mean(err_px**2)) <= 0.05, np.round(err_px, 2)
    assert np.abs(err_px).max() < 0.15, np.round(err_px, 2)
    assert used_line(sol, 3520.471), "Ne I 3520.47 at the blue end is used"
    assert sol.line_coverage > 0.9
