"""Real 1-D Goodman arcs of 2016-2017 from goodman_pipeline's git history, calibrated
the way a user's file is read, against NIST air lines and against that team's own
solution (data and origin: ``tests/data/real/goodman_pipeline_history/README.md``).

Most are IRAF-linearised: resampled onto a linear wavelength grid, so they carry no
optical curvature while the library lamps that start the solver do (8 px at 400 l/mm,
56 px at 2100 l/mm at the ends); the first alignment bends to follow them
(:mod:`pipeline.wavelength.alignment_bend`). What we do not meet yet is a strict xfail
saying why.
"""

from __future__ import annotations

import pytest

from pipeline.classify import classify
from pipeline.header_normalization import normalize_header
from pipeline.wavelength import WavelengthCalibrationError, calibrate_arc, select_template
from tests.wavelength.real_arcs import (
    HISTORY_ARCS,
    LinearisedGuess,
    as_read,
    errors_px,
    history_arc,
    lines_window,
    theirs_vs_nist,
)

BY_NAME = {a.file: a for a in HISTORY_ARCS}
#: Our allowance beyond their own error against NIST (their solution minus ours).
AGREEMENT_PX = 0.05

#: (grating, WAVMODE, lamp elements, binning) each header must read as.
READS = {
    "goodman_comp_600KOSI_CuHeAr_2016-03-21_linear.fits": ("600_KOSI", "unknown", "ArCuHe", 1),
    "goodman_comp_600KOSI_HgAr_2016-03-21_linear.fits": ("600_KOSI", "unknown", "ArHg", 1),
    "goodman_comp_2100_Custom650nm_GG385_HgArNe_2017-09-18_linear.fits": (
        "2100_SYZY",
        "Custom",
        "ArHgNe",
        1,
    ),
    "goodman_comp_400M2_GG455_HgArNe_2016-11-15_linear.fits": ("400_SYZY", "400_M2", "ArHgNe", 1),
    "goodman_comp_400M2_GG455_HgAr_2017-05-05_linear.fits": ("400_SYZY", "unknown", "ArHg", 1),
    "goodman_comp_400M1_HgArNe_2017-07-20_linear.fits": ("400_SYZY", "400_M1", "ArHgNe", 1),
    "goodman_comp_400M1_HgAr_2017-05-05_linear.fits": ("400_SYZY", "unknown", "ArHg", 1),
    "goodman_comp_1200M5_RED_GG455_HgArNe_2016-11-15_linear.fits": (
        "1200_RALC_RED",
        "1200_M5",
        "ArHgNe",
        1,
    ),
    "goodman_comp_1200M2_CuHeAr_2017-06-10_linear.fits": ("1200_RALC_BLUE", "1200_M2", "ArCuHe", 1),
    "goodman_comp_1200M3_CuHeAr_2017-06-10T0338_linear.fits": (
        "1200_RALC_BLUE",
        "1200_M3",
        "ArCuHe",
        1,
    ),
    "goodman_comp_1200M3_CuHeAr_2017-06-10T0414_linear.fits": (
        "1200_RALC_BLUE",
        "1200_M3",
        "ArCuHe",
        1,
    ),
    "goodman_comp_600Mid_GG385_HgArNe_2017-12-22_cheb.fits": (
        "600_SYZY_OLD",
        "600_MID",
        "ArHgNe",
        1,
    ),
    "goodman_comp_400M1_HgArNe.fits": ("400_SYZY", "400_M1", "ArHgNe", 1),
}

_CURVATURE = "linearised: the library lamp that starts it departs from its linear grid by"
_BLENDS = (
    "RMS vs NIST 0.07-0.11 px: a few lines 0.1-0.2 px off are kept "
    "(seen: Ar 4259-4300 A in 1200 M2 CuHeAr, Ne I 7472 in 1200 M5); the library refit "
    "reaches as much on these modes' raw lamps (GSP_RRMS 0.05-0.14 px), not linearisation"
)
_OWN_GRID = (
    "not diagnosed: by its own WCS only 11 of its 40 brightest lines are within 1 px of an "
    "HgAr NIST line (its blue lines at 4044.2 and 4361.4 A), a doubtful linearisation"
)
_FAILS = (AssertionError, WavelengthCalibrationError)


def _xfail(reason):
    return pytest.mark.xfail(strict=True, raises=_FAILS, reason=reason)


AS_READ = [
    pytest.param("goodman_comp_400M2_GG455_HgArNe_2016-11-15_linear.fits", 25),
    pytest.param("goodman_comp_600Mid_GG385_HgArNe_2017-12-22_cheb.fits", 20),
    pytest.param("goodman_comp_400M1_HgArNe.fits", 20),
    # linearised, started from a lamp that bends away from their grid by 13 and 56 px
    # at the ends: the bent first alignment (alignment_bend) finds their lines
    pytest.param("goodman_comp_600KOSI_CuHeAr_2016-03-21_linear.fits", 15),
    pytest.param("goodman_comp_2100_Custom650nm_GG385_HgArNe_2017-09-18_linear.fits", 10),
    pytest.param(
        "goodman_comp_400M1_HgArNe_2017-07-20_linear.fits",
        10,
        marks=_xfail(
            "0.059 px RMS, 21 lines, 4.9 px from theirs; their own fit's RMSE is 0.62 A "
            "(3.5 px vs NIST), a distorted grid"
        ),
    ),
    pytest.param(
        "goodman_comp_400M1_HgAr_2017-05-05_linear.fits",
        10,
        marks=_xfail(f"9 lines at 0.063 px: {_BLENDS}"),
    ),
    pytest.param(
        "goodman_comp_1200M5_RED_GG455_HgArNe_2016-11-15_linear.fits",
        10,
        marks=_xfail(f"0.070 px: {_BLENDS}"),
    ),
    pytest.param(
        "goodman_comp_1200M2_CuHeAr_2017-06-10_linear.fits",
        10,
        marks=_xfail(f"0.065 px: {_BLENDS}"),
    ),
    pytest.param(
        "goodman_comp_1200M3_CuHeAr_2017-06-10T0338_linear.fits",
        10,
        marks=_xfail(f"9 lines at 0.077 px: {_BLENDS}"),
    ),
    pytest.param(
        "goodman_comp_1200M3_CuHeAr_2017-06-10T0414_linear.fits",
        10,
        marks=_xfail(f"0.120 px: {_BLENDS}"),
    ),
    pytest.param(
        "goodman_comp_600KOSI_HgAr_2016-03-21_linear.fits",
        10,
        marks=_xfail(_OWN_GRID),
    ),
    pytest.param(
        "goodman_comp_400M2_GG455_HgAr_2017-05-05_linear.fits",
        10,
        marks=_xfail("0.070 px RMS vs NIST with 17 lines (a few lines 0.1-0.2 px off kept)"),
    ),
]


def _graded(sol, truth, min_lines):
    """The issue's limits, and agreement with their solution within their own error."""
    assert sol.reference == "NIST air" and sol.n_used >= min_lines, (sol.reference, sol.n_used)
    assert sol.rms_pixel <= 0.05 and abs(sol.mean_pixel) <= 0.03, (sol.rms_pixel, sol.mean_pixel)
    window = lines_window(sol)
    assert window.sum() >= 0.5 * sol.npix
    rms, worst, _ = errors_px(sol, truth, window)
    their_rms, _ = theirs_vs_nist(sol, truth)
    assert rms <= their_rms + AGREEMENT_PX, (rms, worst, their_rms)


@pytest.mark.parametrize("name", list(READS))
def test_history_arc_classifies_and_reads(name):
    """Old spellings (``Goodman Spectro``, KOSI_600, RALC_1200-BLUE, ``400 m1``,
    ``Custom``, no WAVMODE, lamps in OBJECT only) read as one arc of one setup."""
    _, _, header = history_arc(BY_NAME[name])
    assert header["OBSTYPE"] == "COMP"
    assert classify(header).role == "arc"
    norm = normalize_header(header)
    grating, wavmode, lamps, binning = READS[name]
    assert (norm.obstype, norm.role, norm.grating, norm.wavmode) == (
        "COMP",
        "arc",
        grating,
        wavmode,
    )
    assert "".join(sorted(norm.lamps)) == lamps and norm.binning[0] == binning
    assert not norm.problems
    assert not [d for d in norm.decisions if "not a Goodman name" in d]
    # every one has a start: its library lamp, or the one its grating angles match
    read = as_read(header)
    assert read.first_guess is None and select_template(read.mode, read.lamp_elements)


@pytest.mark.parametrize(("name", "min_lines"), AS_READ)
def test_history_arc_as_read(name, min_lines):
    """Calibrated from its header alone, as ``gsp reduce`` reads it."""
    flux, truth, header = history_arc(BY_NAME[name])
    read = as_read(header)
    sol = calibrate_arc(
        flux, read.mode, read.lamp_elements, read.binning, first_guess=read.first_guess
    )
    _graded(sol, truth, min_lines)


LINEAR_GUESS = [
    pytest.param("goodman_comp_600KOSI_CuHeAr_2016-03-21_linear.fits", 15),
    pytest.param("goodman_comp_2100_Custom650nm_GG385_HgArNe_2017-09-18_linear.fits", 10),
    pytest.param(
        "goodman_comp_1200M5_RED_GG455_HgArNe_2016-11-15_linear.fits",
        20,
        marks=_xfail(f"0.082 px: {_BLENDS}"),
    ),
    pytest.param(
        "goodman_comp_1200M2_CuHeAr_2017-06-10_linear.fits",
        20,
        marks=_xfail(f"0.082 px: {_BLENDS}"),
    ),
    pytest.param(
        "goodman_comp_1200M3_CuHeAr_2017-06-10T0338_linear.fits",
        10,
        marks=_xfail(f"0.097 px: {_BLENDS}"),
    ),
    pytest.param(
        "goodman_comp_1200M3_CuHeAr_2017-06-10T0414_linear.fits",
        10,
        marks=_xfail(f"0.109 px: {_BLENDS}"),
    ),
    pytest.param(
        "goodman_comp_400M1_HgAr_2017-05-05_linear.fits", 10, marks=_xfail(f"0.097 px: {_BLENDS}")
    ),
    pytest.param(
        "goodman_comp_400M1_HgArNe_2017-07-20_linear.fits",
        10,
        marks=_xfail("misidentified or refused; their own fit's RMSE is 0.62 A, a distorted grid"),
    ),
    pytest.param(
        "goodman_comp_600KOSI_HgAr_2016-03-21_linear.fits",
        10,
        marks=_xfail(_OWN_GRID),
    ),
]


@pytest.mark.parametrize(("name", "min_lines"), LINEAR_GUESS)
def test_linearised_arc_from_its_lamp_made_linear(name, min_lines):
    """With the curvature taken out of the first guess (the library lamp made linear,
    nothing of the arc's own solution), a linearised arc is calibrated."""
    arc = BY_NAME[name]
    assert arc.linearised
    flux, truth, header = history_arc(arc)
    read = as_read(header)
    guess = LinearisedGuess(select_template(read.mode, read.lamp_elements))
    sol = calibrate_arc(flux, None, read.lamp_elements, read.binning, first_guess=guess)
    _graded(sol, truth, min_lines)
