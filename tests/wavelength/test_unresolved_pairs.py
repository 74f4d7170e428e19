"""An arc line made of two NIST lines closer than half a FWHM is one feature, named
the same way at every identification stage, wherever within the pair its predicted
place falls (issue 12: 600_RED 1x1, Ne I 6678.28 beside the far fainter Ar I 6677.28,
0.3 FWHM apart at the blue end; a prediction 0.3 px bluer named the line Ar I and bent
the blue end by 1.5 px)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.grade_physical import MEAN_LIMIT, RMS_LIMIT, grade_solution
from pipeline import lamps
from pipeline.simulation.physical import arc_1d
from pipeline.wavelength import calibrate_arc
from pipeline.wavelength.identify import DOMINANCE, FEATURE_FWHM, _pair

WIDTH = 5.0  # the arc line's FWHM, guess px
#: a bright line and, 0.3 FWHM bluer, one seventeen times fainter; a clean line far off
U_CAT = np.array([100.0, 200.0 - 0.3 * WIDTH, 200.0])
STRENGTH = np.array([40.0, 3.0, 50.0])


def _name(u_line, tol, spectra, dominance=np.inf, settled=False, fine=True):
    u_pred = np.array([u_line])
    feature = (np.array([WIDTH]), np.asarray(spectra), np.array([settled]))
    if fine:
        idx, status = _pair(
            u_pred, U_CAT, tol, STRENGTH, np.array([WIDTH]), np.array([False]),
            np.array([np.nan]), dominance, feature=feature,
        )  # fmt: skip
    else:
        idx, status = _pair(u_pred, U_CAT, tol, STRENGTH, dominance=dominance, feature=feature)
    return int(idx[0]), str(status[0])


@pytest.mark.parametrize("fine", [False, True])
@pytest.mark.parametrize("spectra", [("Ar I", "Ar I", "Ar I"), ("Ne I", "Ar I", "Ne I")])
def test_a_dominated_pair_is_named_after_its_bright_member_wherever_predicted(fine, spectra):
    """Of one spectrum, or of two with a pen lamp's weights (finite dominance), the
    bright member outshines the faint one by more than DOMINANCE: it names the line
    whichever member the prediction puts nearest, at coarse and fine tolerances."""
    assert STRENGTH[2] >= DOMINANCE * STRENGTH[1]
    assert U_CAT[2] - U_CAT[1] < FEATURE_FWHM * WIDTH
    for u_line in np.linspace(U_CAT[1] - 0.5, U_CAT[2] + 0.5, 13):
        for tol in (4.0, 2.0, 0.6):  # the faint member alone within some of them
            if np.abs(U_CAT - u_line).min() > tol:
                continue  # neither member within the tolerance: nothing to name
            assert _name(u_line, tol, spectra, DOMINANCE, fine=fine) == (2, "used"), (u_line, tol)


@pytest.mark.parametrize("settled", [False, True])
def test_an_undominated_pair_is_set_aside_where_the_prediction_cannot_place_it(settled):
    """A hollow cathode's two spectra (infinite dominance): NIST cannot say which member
    the light is. Where the prediction cannot place the line (coarse stage, at or beyond
    the fitted lines' ends) it is a blend whatever member is nearest; between fitted
    lines at a fine tolerance the nearest names it."""
    spectra = ("Cu I", "Ar II", "Cu I")
    for u_line, nearest in ((U_CAT[1] + 0.2, 1), (U_CAT[2] - 0.2, 2)):
        idx, status = _name(u_line, 0.6, spectra, settled=settled)
        assert idx == nearest
        assert status == ("used" if settled else "blend")


def test_a_resolved_neighbour_is_not_part_of_the_feature():
    """Candidates farther apart than FEATURE_FWHM are resolved: the nearest names it."""
    far = U_CAT[2] - 1.1 * FEATURE_FWHM * WIDTH
    u_cat = np.array([100.0, far, 200.0])
    for u_line, nearest in ((far + 0.3, 1), (200.0 - 0.3, 2)):
        idx, status = _pair(
            np.array([u_line]), u_cat, 2.0, STRENGTH, np.array([WIDTH]), np.array([False]),
            np.array([np.nan]), DOMINANCE,
            feature=(np.array([WIDTH]), np.array(["Ne I", "Ar I", "Ne I"]), np.array([False])),
        )  # fmt: skip
        assert (int(idx[0]), str(status[0])) == (nearest, "used")


@pytest.mark.parametrize("seed", [1, 11, 13, 17, 26])
def test_600_red_blue_end_pair_keeps_its_bright_name(seed):
    """The physical-truth 600_RED 1x1 arcs whose blue-end feature was named after the
    faint Ar I 6677.28: named Ne I 6678.28 (or set aside), they meet the accuracy."""
    arc = arc_1d("600_RED", 1, seed=seed)
    pair = {ln["wavelength"]: ln["column"] for ln in arc.lines if ln["wavelength"] // 1 == 6677}
    assert pair, "the Ar I 6677.28 of the pair is not on this arc"
    sol = calibrate_arc(arc.flux, "600_RED", lamps.elements(arc.lamp), binning=1)
    t = sol.lines
    named_faint = np.asarray(t["used"], bool) & (
        np.abs(np.asarray(t["lab_wavelength"]) - 6677.282) < 0.01
    )
    assert not named_faint.any()
    g = grade_solution(arc, sol)
    expected = sum(ln["expected"] for ln in arc.lines)
    assert g["found"] == expected, g
    assert g["rms"] <= RMS_LIMIT and abs(g["mean"]) <= MEAN_LIMIT, g


@pytest.mark.parametrize("binning", [1, 2])
def test_a_partly_resolved_pair_fitted_as_two_lines_is_centred_with_honest_errors(binning):
    """Hg I 3663.28 beside 3662.88 (a quarter of its flux, 0.45 FWHM) at 2100 l/mm: the
    single Gaussian is pulled 0.38 px (1x1) / 0.19 px (2x2) toward the partner, the
    pair fit (separation from NIST, amplitudes free) is not, and its stated error
    describes its scatter (n / (n - 5)-scaled residuals stated it 2.6x too small at 2x2,
    where five parameters sit on ~11 pixels)."""
    from pipeline.wavelength.lines import find_lines, fit_known_pair

    off, z, single = [], [], []
    for seed in range(12):
        arc = arc_1d("2100_3900A", binning, seed=seed)
        col = {round(ln["wavelength"], 3): ln["column"] for ln in arc.lines}
        lines = find_lines(arc.flux, max_lines=250)
        k = int(np.argmin(np.abs(lines.centre - col[3663.279])))
        fit = fit_known_pair(
            arc.flux, lines.centre[k], col[3662.883] - col[3663.279], lines.sigma[k]
        )
        assert fit is not None
        off.append(fit[0] - col[3663.279])
        z.append(off[-1] / fit[1])
        single.append(lines.centre[k] - col[3663.279])
    assert np.mean(single) < -0.15 / binning
    assert abs(np.mean(off)) < 0.01 and np.std(off) < 0.03, off
    # over 40 draws the spread of the normalised offsets was 0.99 (1x1) and 0.86 (2x2)
    assert 0.5 < np.std(z) < 1.6, z
