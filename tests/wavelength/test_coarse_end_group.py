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

import json
from pathlib import Path

import numpy as np
from astropy.io import fits

from pipeline import lamps
from pipeline.spectroscopy.wavelength_guess import choose_first_guess
from pipeline.wavelength import calibrate_arc

DATA = Path(__file__).resolve().parents[1] / "data" / "simulated"
STEM = "flank_600_8p5_17_HgArNe_Red_1x1_s3"


def _solved():
    flux = np.load(DATA / f"{STEM}.flux.npy").astype(float)
    truth = json.loads((DATA / f"{STEM}.truth.json").read_text())
    header = fits.Header.fromtextfile(str(DATA / f"{STEM}.header.txt"))
    choice = choose_first_guess(header)
    assert choice.first_guess is not None, "a custom-angle arc starts from the optics model"
    sol = calibrate_arc(
        flux,
        choice.mode,
        lamps.elements(truth["lamp"]),
        binning=truth["binning"],
        first_guess=choice.first_guess,
    )
    return sol, truth["expected_lines"]


def test_custom_angle_arc_keeps_its_blue_end():
    sol, expected = _solved()
    col = np.array([ln["column"] for ln in expected])
    wave = np.array([ln["wavelength"] for ln in expected])
    disp = np.abs(sol.wavelength(col + 0.5) - sol.wavelength(col - 0.5))
    err_px = (sol.wavelength(col) - wave) / disp
    # the grader's accuracy (grade_physical.py): RMS <= 0.05 binned px at the expected lines
    assert np.sqrt(np.mean(err_px**2)) <= 0.05, np.round(err_px, 2)
    assert np.abs(err_px).max() < 0.15, np.round(err_px, 2)
    used = np.asarray(sol.lines["used"], bool)
    lab = np.asarray(sol.lines["lab_wavelength"], float)[used]
    assert np.any(np.abs(lab - 3520.471) < 0.01), "Ne I 3520.47 at the blue end is used"
    assert sol.line_coverage > 0.9
