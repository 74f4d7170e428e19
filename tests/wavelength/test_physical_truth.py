"""The issue's accuracy against PHYSICAL truth, in every library mode at 1x1 and 2x2.

Arcs are drawn from physical truth (``pipeline.simulation.physical``: NIST air lines at
the optics model's relation perturbed by a smooth few-pixel distortion, intensities
from the library lamps' real flux, blends, saturated and weak lines, noise), so a
solver that only reproduces the library's stored solutions fails here. The grading
is ``benchmarks/grade_physical.py`` (which prints the whole table): every expected
line found, RMS <= 0.05 and |mean| <= 0.03 binned px at the expected lines.

These tests were written before the NIST-based solver (issue 12, item 4) was merged:
on a branch with the template-following solver they fail on accuracy, by design. The
grader itself is tested here too (the truth passes, a 0.1 px offset does not), so a
failure is the solver's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.grade_physical import MEAN_LIMIT, RMS_LIMIT, grade, grade_solution
from pipeline import lamps
from pipeline.simulation.physical import arc_1d
from tests.wavelength.physical_cases import read_on_flank


def _solution_from_truth(arc, offset_px=0.0):
    """A WavelengthSolution that is the truth (shifted by ``offset_px``), with the
    expected lines in its line table: what a perfect solver returns."""
    from astropy.table import Table
    from numpy.polynomial import chebyshev

    from pipeline.wavelength import WavelengthSolution

    x = np.arange(arc.flux.size, dtype=float)
    w = np.interp(x - offset_px, x, arc.wavelength)
    coef = chebyshev.Chebyshev.fit(x, w, 7).convert(domain=[-1, 1]).coef
    exp = [ln for ln in arc.lines if ln["expected"]]
    lines = Table(
        {
            "pixel": [ln["column"] for ln in exp],
            "reference_wavelength": [ln["wavelength"] for ln in exp],
            "lab_wavelength": [ln["wavelength"] for ln in exp],
            "fitted_wavelength": [ln["wavelength"] for ln in exp],
            "residual": np.zeros(len(exp)),
            "used": np.ones(len(exp), bool),
        }
    )
    return WavelengthSolution(
        coef,
        arc.flux.size,
        arc.binning,
        0.0,
        0.0,
        len(exp),
        0,
        lines,
        arc.lamp_template,
        arc.lamp,
        arc.mode,
    )


@pytest.mark.parametrize(("mode", "binning"), [("930_M5", 1), ("400_M1", 2)])
def test_the_grader_gives_the_truth_full_marks_and_catches_an_offset(mode, binning):
    """These tests can pass: the truth itself meets them, a 0.1 px offset does not."""
    arc = arc_1d(mode, binning)
    g = grade_solution(arc, _solution_from_truth(arc))
    assert g["found"] == sum(ln["expected"] for ln in arc.lines) > 0
    assert g["rms"] < 0.005 and abs(g["mean"]) < 0.005, g
    off = grade_solution(arc, _solution_from_truth(arc, 0.1))
    # its wavelengths are those 0.1 px to the left: the grader reads -0.1 px
    assert off["mean"] == pytest.approx(-0.1, abs=0.01) and off["rms"] > RMS_LIMIT


#: Cases the solver does not meet yet, each with its diagnosis (benchmarks/grade_physical.py
#: prints them). Strict: a case that starts passing fails here until
#: it is taken off the list. None of these is the truth's or the grader's fault.
KNOWN_FAILURES: dict[tuple[str, int], str] = {
    ("2100_6507A", 1): (
        "noise, not the solver: Ar I 6416.31 (S/N 11 a row, no line within 25 px) is "
        "drawn 0.110 px off its true column by this seed's noise (a plain Gaussian fit "
        "agrees; noiseless, 0.000), 3.3x its scatter over seeds 0-11 (0.033-0.039 px, "
        "main's simulator and this one alike); the solution sets it aside as an "
        "outlier (4.3 of its stated 0.026 px) and meets the accuracy at the other ten "
        "(RMS 0.011 px): 'found 10 of 11'"
    ),
}


#: Modes whose lamp shows no clean line in physical truth, and the line the case draws
#: explicitly instead. 930_M1 HgArNe and HgAr (3125-4510 A): Hg I 3663.28 has Hg I
#: 3662.88 at a quarter of its flux 0.19 FWHM away (NIST ASD), one feature whose centre
#: moves with the lamp's ratio, and every other bright line is saturated or within 3
#: FWHM of another; Ar II 4052.92, once graded, is no line of these lamps (a Gaussian
#: of their width at its place fits ~0 over saturated Hg I 4046.56's halo), so the
#: arcs are not graded (no expected line). The case draws it at the height once read
#: on that halo (:func:`tests.wavelength.physical_cases.read_on_flank`), as a lamp with
#: more argon would show it, and is graded on it.
DRAWN_ON_FLANK = {"930_M1": 4052.921}


def _case(mode, binning):
    why = KNOWN_FAILURES.get((mode, binning))
    marks = [pytest.mark.xfail(reason=why, strict=True)] if why else []
    return pytest.param(mode, binning, marks=marks, id=f"{mode}-{binning}")


@pytest.mark.parametrize(("mode", "binning"), [_case(m, b) for m in lamps.modes() for b in (1, 2)])
def test_physical_truth_arc_meets_the_accuracy(mode, binning):
    drawn = DRAWN_ON_FLANK.get(mode)
    if drawn:
        # the mode's own arc: nothing to grade
        assert not any(ln["expected"] for ln in arc_1d(mode, binning).lines)
    r = grade(mode, binning, line_heights=read_on_flank(mode, None, drawn) if drawn else None)
    # the simulation itself: lines on the detector, some a solver must find
    assert r["injected"] >= 10 and r["expected"] >= (1 if drawn else 2), r
    assert not r["error"], f"{mode} {binning}x{binning} not calibrated: {r['error']}"
    assert r["found"] == r["expected"], f"{r['found']} of {r['expected']} lines found: {r}"
    assert r["rms"] <= RMS_LIMIT and abs(r["mean"]) <= MEAN_LIMIT, r


def test_sparse_arc_keeps_the_order_its_lines_support():
    # 930_M1 2x2, seed 6: 18-21 lines; a flat 5 % gain took order 6 over 3 (4 and 5 no
    # better), 0.08 px off the truth at the expected lines
    from pipeline.wavelength import calibrate_arc

    # Ar II 4052.92 drawn as in test_physical_truth_arc_meets_the_accuracy (930_M1)
    arc = arc_1d("930_M1", 2, seed=6, line_heights=read_on_flank("930_M1", None, 4052.921))
    sol = calibrate_arc(arc.flux, "930_M1", lamps.elements(arc.lamp), binning=2)
    r = grade_solution(arc, sol)
    assert r["found"] == sum(ln["expected"] for ln in arc.lines), r
    # the flat rule: order 6, RMS 0.086 px. Its mean (-0.036 px, two expected lines)
    # is the library lamp's model past the arc's lines, not the order: open in issue 12
    assert sol.correction_order <= 4 and r["rms"] <= RMS_LIMIT, (sol.correction_order, r)


@pytest.mark.slow
def test_physical_truth_night_2x2_reduced_end_to_end(tmp_path):
    """``gsp simulate --arc-source physical`` then ``reduce_night``: the science
    spectrum's wavelengths against the truth along its trace."""
    from astropy.io import fits

    from pipeline.night import reduce_night
    from pipeline.simulate import NightConfig, simulate_night
    from pipeline.wavelength import solution_from_header

    raw, out = tmp_path / "raw", tmp_path / "out"
    simulate_night(
        raw,
        NightConfig(
            mode="400_M2",
            binning=2,
            flexure_px=1.3,
            n_bias=2,
            n_flats=2,
            n_arcs=2,
            n_science=1,
            seed=0,
            arc_source="physical",
        ),
    )
    report = reduce_night(raw, out)
    assert not report.failed, report.table()
    # the science spectrum (the arcs' own calibrated products have no target)
    written = [
        s
        for s in report.spectra
        if s.data_type == 4 and s.status == "written" and s.target is not None
    ]
    assert written, [(s.status, s.reason) for s in report.spectra]
    truth = json.loads((raw / "truth.json").read_text())
    sci = next(f for f in truth["frames"] if f["role"] == "science")
    t = np.asarray(sci["targets"][0]["wavelength_at_trace"])
    hdr = fits.getheader(written[0].file)
    wave = np.polynomial.chebyshev.chebval(np.arange(t.size), solution_from_header(hdr))
    err = (wave - t) / np.abs(np.gradient(t))
    # graded where the arc's lines determine the solution: between its outermost
    # expected lines (GG455 blocks every line in the first ~250 binned px of 400_M2:
    # no solver can know the relation there, only extrapolate it)
    arc = next(f for f in truth["frames"] if f["role"] == "arc")
    lines = [ln["wavelength"] for ln in arc["lines"] if ln["expected"]]
    inside = (t >= min(lines)) & (t <= max(lines))
    rms, mean = float(np.sqrt(np.mean(err[inside] ** 2))), float(err[inside].mean())
    whole = float(np.sqrt(np.mean(err**2)))
    assert inside.sum() > 0.7 * t.size, inside.sum()
    assert rms <= RMS_LIMIT and abs(mean) <= MEAN_LIMIT, (rms, mean, whole)


def test_an_arc_with_no_expected_line_is_counted_apart(monkeypatch, capsys):
    """An arc whose every line is saturated, blended or faint (930_M1 Hg lamps) has
    nothing to judge a solution on: neither a pass nor a fail, but 'not graded'."""
    import benchmarks.grade_physical as gp

    def row(mode, expected, rms):
        return dict(
            mode=mode, binning=1, lamp="HgAr", expected=expected, found=expected, rms=rms,
            mean=0.0, max=rms, error="",
        )  # fmt: skip

    rows = [row("930_M1", 0, np.nan), row("400_M2", 30, 0.01), row("600_UV", 1, 0.2)]
    monkeypatch.setattr(gp, "run_seed", lambda cases, seed, verbose=True: rows)
    assert [gp.graded(r) for r in rows] == [False, True, True]
    assert [gp._passes(r) for r in rows] == [False, True, False]
    gp._main_seeds([("930_M1", 1, "HgAr")], [0])
    out = capsys.readouterr().out
    assert "seed 0: 1/2" in out and "FAIL 600_UV:1 HgAr" in out and "FAIL 930_M1" not in out
    assert "not graded (no expected line): 930_M1:1 HgAr" in out
    assert "1/2 graded arcs meet the accuracy; 1 not graded" in out
