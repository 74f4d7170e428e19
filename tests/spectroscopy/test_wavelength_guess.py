"""What starts a frame's wavelength solution (library lamp, lamp by angles, optics),
the optics check of every solution, and the frame's own pixel origin (GSP_X0)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from pipeline import lamps
from pipeline.optics import dispersion_model_from_header
from pipeline.simulation.physical import arc_1d
from pipeline.spectroscopy.wavelength_guess import (
    OpticsGuess,
    choose_first_guess,
    frame_x0,
    optics_verdict,
)
from pipeline.wavelength import calibrate_arc
from pipeline.wavelength.lamp_choice import arc_elements


def _header(wavmode="Custom", grt=13.0, cam=24.0, grating="SYZY_930", ccdsum="2 2", **extra):
    h = fits.Header()
    h["INSTRUME"] = "ghts_blue"
    h["OBSTYPE"] = "OBJECT"
    h["GRATING"] = grating
    h["WAVMODE"] = wavmode
    h["GRT_ANG"], h["GRT_TARG"] = grt + 0.0003, grt
    h["CAM_ANG"], h["CAM_TARG"] = cam + 0.0012, cam
    h["FILTER2"] = "<NO FILTER>"
    h["CCDSUM"] = ccdsum
    for k, v in extra.items():
        h[k] = v
    return h


def test_library_wavmode_starts_from_its_lamp():
    choice = choose_first_guess(_header("930 m2", 12.6, 25.2))
    assert (choice.mode, choice.first_guess, choice.problem) == ("930 m2", None, "")


@pytest.mark.parametrize("label", ["Custom", "", "400WD"])
def test_library_angles_find_their_lamp_whatever_the_label(label):
    choice = choose_first_guess(_header(label, 12.6, 25.2))
    assert choice.mode == "930_M2" and choice.first_guess is None, choice
    assert f"WAVMODE {label!r}: the grating angles are library mode 930_M2" == choice.note


def test_custom_angles_start_from_the_optics_on_the_frames_pixels():
    choice = choose_first_guess(_header("Custom", 13.0, 24.0, GSP_X0=50))
    assert isinstance(choice.first_guess, OpticsGuess)
    assert "no library lamp for WAVMODE 'Custom': first guess from the optics" in choice.note
    # the grating equation's centre for 930 l/mm at 13/24 (the real Blue night: ~4471 A)
    centre = float(choice.first_guess.wavelength(np.array([2029.5]))[0])
    assert 4400 < centre < 4550, centre


def test_no_lamp_and_no_optics_says_what_is_missing():
    h = _header("Custom")
    del h["GRT_ANG"], h["GRT_TARG"]
    choice = choose_first_guess(h)
    assert choice.first_guess is None
    assert "no library lamp for WAVMODE 'Custom' and no optics model" in choice.problem
    assert "grating angle" in choice.problem


def test_frame_origin_at_binning_3():
    """Trimmed column 0 is unbinned raw column 51 at 3x3 (50 at 1x1 and 2x2): read from
    GSP_X0, else from the binning; the optics guess moves by that one pixel."""
    assert frame_x0(_header(ccdsum="3 3", GSP_X0=51)) == 51
    assert frame_x0(_header(ccdsum="3 3")) == 51
    assert frame_x0(_header(ccdsum="2 2")) == 50
    optics = dispersion_model_from_header(_header())
    u = np.array([0.0, 1000.0, 4000.0])
    np.testing.assert_allclose(OpticsGuess(optics, 51).wavelength(u), optics.wavelength(u + 1))


def test_custom_angle_arc_at_3x3_calibrates_from_the_frames_optics():
    """A 3x3 arc at custom angles, its trimmed image one unbinned pixel later than the
    library's (GSP_X0 = 51, drawn as a -1 px offset of the physical truth), is solved
    from the optics guess of its own pixels to the issue's accuracy, and the solution
    agrees with the optics of its header."""
    arc = arc_1d(
        "930_M2",
        3,
        lamp="FeHeAr",
        camera="Blue",
        grating_angle=13.0,
        camera_angle=24.0,
        flexure_px=-1.0,
        seed=3,
    )
    header = _header(ccdsum="3 3", GSP_X0=51)
    guess = OpticsGuess(dispersion_model_from_header(header), frame_x0(header))
    sol = calibrate_arc(arc.flux, None, lamps.elements(arc.lamp), binning=3, first_guess=guess)
    expected = [ln for ln in arc.lines if ln["expected"]]
    cols = np.array([ln["column"] for ln in expected])
    wave = np.array([ln["wavelength"] for ln in expected])
    x = np.arange(arc.flux.size, dtype=float)
    err = (sol.wavelength(cols) - wave) / np.interp(cols, x, np.gradient(arc.wavelength, x))
    assert np.sqrt(np.mean(err**2)) <= 0.05 and abs(err.mean()) <= 0.03, err
    refused, message = optics_verdict(header, sol)
    assert not refused and message == "", message


def test_a_solution_off_the_optics_shape_is_refused():
    """A solution of another grating's dispersion fails the optics check with the reason."""
    arc = arc_1d("930_M2", 2, lamp="FeHeAr", camera="Blue", grating_angle=13.0, camera_angle=24.0)
    header = _header(GSP_X0=50)
    sol = calibrate_arc(
        arc.flux,
        None,
        lamps.elements(arc.lamp),
        binning=2,
        first_guess=OpticsGuess(dispersion_model_from_header(header), 50),
    )
    assert optics_verdict(header, sol) == (False, "")
    # the same solution for a frame that says 400 l/mm
    refused, message = optics_verdict(_header(grating="SYZY_400", GSP_X0=50), sol)
    assert refused and "disagrees with the optics" in message, message


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        ({"OBJECT": "Fe"}, {"Fe", "He", "Ar"}),
        ({"OBJECT": "HgAr"}, {"Hg", "Ar"}),
        ({"OBJECT": "Arcturus"}, set()),
        (
            {"OBJECT": "Fe", "LAMP_HGA": "TRUE", "LAMP_NE": "TRUE", "LAMP_FE": "FALSE"},
            {"Hg", "Ar", "Ne"},
        ),
    ],
)
def test_arc_lamps_follow_the_normalisation_rule(cards, expected):
    h = fits.Header()
    h["OBSTYPE"] = "COMP"
    for k, v in cards.items():
        h[k] = v
    assert set(arc_elements(h)) == expected
