"""A custom-angle arc whose correction needs the shape a noisy fit's order choice missed."""

from __future__ import annotations

from benchmarks.grade_custom_angles import _passes, custom_setups, grade_case


def test_600_at_custom_angles_keeps_the_bend_its_lines_residuals_show():
    # 600 l/mm at GRT 7.30 / CAM 17.60 (beside 600_BLUE), HgAr, Blue 2x2, seed 0: the
    # optics model's smooth distortion is a cubic through the guess; order 0, chosen on
    # the leave-one-out gain alone, left 0.031 binned px at the three expected lines
    (setup,) = [s for s in custom_setups() if s.name == "600@7.30/17.60"]
    r = grade_case(setup, "HgAr", "Blue", 2, 0, 70.0)
    assert r["order"] == 3 and _passes(r), r
