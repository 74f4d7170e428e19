"""Wavelength calibration against synthetic arcs with known truth.

The synthetic arcs are library spectra moved and binned; their truth is the library
lamp's wavelength model moved the same way. That model is now the NIST-corrected one
(``GSP_Rnnn``, see ``pipeline.wavelength.refit_library``), i.e. physical wavelengths
of the lines measured in the library's own flux, known only where those lines are:
solutions are graded over the range their NIST lines cover.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.lamps import find_template, lamp_dir, library, read_template
from pipeline.wavelength import (
    NoLampTemplateError,
    WavelengthCalibrationError,
    calibrate_arc,
    canonical_mode,
    parse_elements,
    select_template,
)
from tests.wavelength.synthetic_arcs import synth_arc


def _errors_px(solution, truth, lines_only=False):
    """RMS, worst, mean of solution - truth (binned px), optionally between the
    outermost lines used (where the NIST-corrected truth is measured)."""
    disp = np.abs(np.gradient(truth))
    e = (solution.wavelength() - truth) / disp
    if lines_only:
        used = np.asarray(solution.lines["used"], bool)
        pix = np.asarray(solution.lines["pixel"], float)[used]
        j = np.arange(e.size)
        e = e[(j >= pix.min()) & (j <= pix.max())]
    return float(np.sqrt(np.mean(e**2))), float(np.abs(e).max()), float(e.mean())


# One template per grating family of the issue, both synthesis kinds, all binnings,
# non-integer flexure across -5..+5 unbinned pixels.
CASES = [
    ("400_M1", "HgArNe"),
    ("400_M2", "HgArNe"),
    ("600_BLUE", "CuHeAr"),
    ("930_M4", "HgArNe"),
    ("1200_M5", "HgArNe"),
]


@pytest.mark.parametrize("mode,lamp", CASES)
@pytest.mark.parametrize("binning", [1, 2, 3])
@pytest.mark.parametrize("kind", ["template", "catalogue"])
def test_solution_matches_truth_over_whole_detector(mode, lamp, binning, kind):
    template = select_template(mode, lamp)
    for seed, shift in enumerate((-4.63, -0.71, 2.38, 4.91)):
        arc, truth = synth_arc(template, shift, binning, kind, seed=seed)
        sol = calibrate_arc(arc, mode, lamp, binning)
        rms, worst, mean = _errors_px(sol, truth, lines_only=True)
        assert rms <= 0.1, (shift, rms)
        assert worst <= 0.3, (shift, worst)
        # The "template" arcs' truth is the NIST-corrected model, measured in the same
        # (asymmetric, partly blended) real line profiles at 1x1; sampled at 3x3 (about
        # one binned pixel FWHM) those profiles centre up to ~0.06 binned px (0.2
        # unbinned) apart on average. Gaussian ("catalogue") lines keep the 0.05 limit.
        undersampled = kind == "template" and binning == 3
        assert abs(mean) <= (0.07 if undersampled else 0.05), (shift, mean)
        # the recovered flexure is the one applied (unbinned px)
        assert sol.shift_unbinned == pytest.approx(shift, abs=0.21 if undersampled else 0.15)


def test_binned_centres_not_scaled_coefficients():
    """The 2x2 solution is unbiased: no half-pixel (0.5 Å at 400 l/mm) offset."""
    template = select_template("400_M2", "HgArNe")
    arc, truth = synth_arc(template, 0.0, 2)
    sol = calibrate_arc(arc, "400_M2", "HgArNe", 2)
    # where the NIST-corrected truth is measured (between the outermost lines)
    used = np.asarray(sol.lines["used"], bool)
    pix = np.asarray(sol.lines["pixel"], float)[used]
    j = np.arange(truth.size)
    inside = (j >= pix.min()) & (j <= pix.max())
    assert abs(np.mean((sol.wavelength() - truth)[inside])) < 0.05  # Å


def test_header_cards_follow_goodman():
    template = select_template("400_M2", "HgArNe")
    arc, _ = synth_arc(template, 1.3, 2)
    sol = calibrate_arc(arc, "400 M2", "HGARNE", 2, arc_name="0011_comp.fits")
    cards = {k: v for k, v, _ in sol.header_cards()}
    assert cards["GSP_FUNC"] == "Chebyshev1D"
    assert cards["GSP_NPIX"] == 2030
    order = cards["GSP_ORDR"]
    coef = [cards[f"GSP_C{i:03d}"] for i in range(order + 1)]
    # the cards alone reproduce the solution: chebval on the binned pixel index
    j = np.arange(2030)
    assert np.allclose(np.polynomial.chebyshev.chebval(j, coef), sol.wavelength(), atol=1e-6)
    assert cards["GSP_WPOI"] == sol.n_used >= 10
    assert cards["GSP_WREJ"] == sol.n_rejected
    assert 0 < cards["GSP_WRMS"] < 0.5
    assert cards["GSP_LAMP"] == "0011_comp.fits"
    assert len(sol.lines) == sol.n_used + sol.n_rejected


@pytest.mark.parametrize("spelling", ["400_M2", "400 M2", "400m2", " 400_m2 "])
def test_mode_spellings(spelling):
    assert canonical_mode(spelling) == "400_M2"


def test_lamp_spellings_pick_the_same_template():
    a = select_template("400_M2", parse_elements("HgArNe"))
    b = select_template("400 M2", "HGARNE")
    c = select_template("400m2", "Hg Ar Ne")
    assert a.file_name == b.file_name == c.file_name
    assert a.elements == frozenset({"Hg", "Ar", "Ne"})


def test_unknown_lamp_falls_back_to_richest_template():
    t = select_template("400_M2", None)
    assert t.file_name == find_template("400_M2", None).file_name


def test_mode_without_library_lamp_is_a_clear_error():
    with pytest.raises(NoLampTemplateError, match="no reference lamp.*2100_XYZ.*400_M2"):
        select_template("2100_XYZ", "HgAr")


def test_arc_of_another_mode_is_refused():
    wrong = select_template("400_M1", "HgArNe")
    arc, _ = synth_arc(wrong, 0.5, 2)
    with pytest.raises(WavelengthCalibrationError, match="400_M2"):
        calibrate_arc(arc, "400_M2", "HgArNe", 2)


def test_blank_arc_is_refused():
    rng = np.random.default_rng(0)
    with pytest.raises(WavelengthCalibrationError, match="lines found|do not match"):
        calibrate_arc(rng.normal(100, 5, 2030), "400_M2", "HgArNe", 2)


def test_nan_columns_are_tolerated():
    template = select_template("400_M2", "HgArNe")
    arc, truth = synth_arc(template, -2.2, 2)
    arc[500:540] = np.nan
    arc[1800] = np.nan
    sol = calibrate_arc(arc, "400_M2", "HgArNe", 2)
    rms, worst, _ = _errors_px(sol, truth)
    assert rms <= 0.1 and worst <= 0.3


def test_every_library_template_calibrates_its_own_spectrum():
    """Each template (every mode of the library) recovers a non-integer shift at 2x2,
    with a solution fitted to NIST lines; a lamp with too few NIST lines is refused
    with the reason.

    (This test used to assert agreement with each library model over the whole
    detector; those models are off by up to several pixels against NIST, so it now
    asserts the fit against NIST and the recovered shift.)
    """
    failures, refused = [], []
    for t in library():
        if t.npix < 4060:
            continue
        arc, truth = synth_arc(t, 1.37, 2, "template")
        try:
            sol = calibrate_arc(arc, t.mode, t.lamp, 2, template=t)
        except WavelengthCalibrationError as exc:
            assert "NIST lines" in str(exc), (t.file_name, str(exc))
            refused.append(t.file_name)
            continue
        # the shift is measured against the template's model: against a NIST-corrected
        # one fitted to a dozen lines or more within 0.1 px it is the shift applied; an
        # uncorrected model is itself off NIST, and a looser one is known less well
        well_known = t.corrected and (t.corrected_lines or 0) >= 12 and t.corrected_rms_pixel <= 0.1
        shift_off = abs(sol.shift_unbinned - 1.37) > 0.5 and well_known
        if sol.rms_pixel > 0.3 or shift_off:
            failures.append((t.file_name, sol.rms_pixel, sol.shift_unbinned))
    assert not failures
    # only lamps whose library models could not be refitted (too few NIST lines)
    assert all(not read_template(lamp_dir() / f).corrected for f in refused), refused


def test_lamp_with_too_few_nist_lines_falls_back_to_its_library_model():
    """A blue HgAr mode shows too few lines of the NIST lists for a fit: the arc still
    gets its library lamp's model moved onto it, and the solution says so."""
    from pipeline.wavelength.calibrate import FALLBACK_REFERENCE

    t = read_template(lamp_dir() / "goodman_comp_600Mid_GG385_HgAr.fits")
    # the lamp's own unbinned flux shows ten NIST lines (its refit uses them); binned
    # 2x2 the arc shows two usable ones. (930M2 HgAr, the example before, shows three
    # that fit its NIST-corrected model to 0.05 px once aligned at its own scale.)
    arc, truth = synth_arc(t, 1.37, 2, "template")
    sol = calibrate_arc(arc, t.mode, t.lamp, 2, template=t)
    assert sol.reference == FALLBACK_REFERENCE
    assert dict((k, v) for k, v, _ in sol.header_cards())["GSP_WREF"] == FALLBACK_REFERENCE
    assert sol.shift_unbinned == pytest.approx(1.37, abs=0.3)
    rms, worst, _ = _errors_px(sol, truth)
    assert rms <= 0.15 and worst <= 0.3
    # an arc of another mode is still refused, not fitted to a library model
    wrong = select_template("400_M1", "HgArNe")
    other, _ = synth_arc(wrong, 0.5, 2)
    with pytest.raises(WavelengthCalibrationError, match="do not match"):
        calibrate_arc(other, t.mode, t.lamp, 2, template=t)


@pytest.mark.parametrize(
    ("arc_lamp", "other_lamp"),
    [
        ("goodman_comp_600UV_CuHeAr.fits", "goodman_comp_600UV_HgAr.fits"),
        ("goodman_comp_600Blue_CuHeAr.fits", "goodman_comp_600Blue_HgAr.fits"),
    ],
)
def test_an_arc_of_lamps_its_mode_lacks_starts_from_another_lamps_model(arc_lamp, other_lamp):
    """A real CuHeAr arc started from its mode's HgAr lamp (what a mode without a
    CuHeAr lamp gives it) correlates at 0.08-0.17 with that lamp's flux, another
    source's lines, and was refused; the lamp's model is the mode's dispersion, and from
    it (the arc's NIST lines rendered through it) the arc is calibrated as from its own
    lamp. An arc of another mode is still refused."""
    arc = read_template(lamp_dir() / arc_lamp)
    sol = calibrate_arc(
        arc.flux, None, arc.elements, 1, template=read_template(lamp_dir() / other_lamp)
    )
    # 600Blue: 53 lines on main; 49 since Ar II 4439.46 and 4309.24 are set aside as
    # displaced (nist_lines/lamp_displaced_lines.txt) and, the scatter smaller, two
    # lines 0.09 px off rejected (RMS 0.041 -> 0.035 px)
    assert sol.reference == "NIST air" and sol.n_used >= 45 and sol.rms_pixel <= 0.07
    used = np.asarray(sol.lines["pixel"], float)[np.asarray(sol.lines["used"], bool)]
    j = np.arange(used.min(), used.max())
    # against the arc's own NIST-corrected model, between the lines both measured
    off = (sol.wavelength(j) - arc.wavelength(j)) / np.abs(np.gradient(arc.wavelength(j)))
    assert np.sqrt(np.mean(off**2)) < 0.05
    with pytest.raises(WavelengthCalibrationError, match="do not match"):
        calibrate_arc(arc.flux, None, arc.elements, 1, template=select_template("400_M1", "HgAr"))


@pytest.mark.parametrize("name", ["goodman_comp_930M2_HgAr.fits", "goodman_comp_930M2_HgArNe.fits"])
def test_a_sparse_arc_of_its_own_lamp_keeps_the_lamps_scale(name):
    """930M2 HgAr binned 2x2 shows three usable NIST lines, so its correction is a shift:
    aligned at the scale the flux correlation found (0.9996) they were left +0.32,
    +0.30 and -0.30 binned px off and the arc was refused (0.30 px RMS). Aligned at the
    lamp's own scale they fit to 0.05 px, and the solution is the lamp's model moved."""
    t = read_template(lamp_dir() / name)
    arc, truth = synth_arc(t, 1.37, 2, "template")
    sol = calibrate_arc(arc, t.mode, t.lamp, 2, template=t)
    assert sol.reference == "NIST air" and sol.n_used >= 3 and sol.rms_pixel <= 0.1
    assert sol.shift_unbinned == pytest.approx(1.37, abs=0.15)
    rms, worst, _ = _errors_px(sol, truth)
    assert rms <= 0.1 and worst <= 0.25
