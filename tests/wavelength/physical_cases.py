"""A physical-truth arc case the solver once got wrong, checked the same way everywhere."""

from __future__ import annotations

import numpy as np

from benchmarks.grade_physical import MEAN_LIMIT, RMS_LIMIT, grade_solution
from pipeline import lamps
from pipeline.simulation.physical import arc_1d


def assert_line_used_and_accurate(
    mode: str, binning: int, seed: int, wavelength: float, lamp: str | None = None
) -> None:
    """Calibrate the physical-truth arc ``(mode, binning, seed)`` (of ``lamp``, default the
    mode's richest) and check that the NIST
    line at ``wavelength`` (Å) is used under its own name, that every expected line is
    found, and that the solution meets the accuracy (RMS and mean, binned px)."""
    from pipeline.wavelength import calibrate_arc

    arc = arc_1d(mode, binning, lamp=lamp, seed=seed)
    sol = calibrate_arc(arc.flux, mode, lamps.elements(arc.lamp), binning=binning)
    lab = np.asarray(sol.lines["lab_wavelength"], float)
    k = int(np.nanargmin(np.abs(lab - wavelength)))
    assert abs(lab[k] - wavelength) < 1e-3 and bool(sol.lines["used"][k]), sol.lines[k]
    r = grade_solution(arc, sol)
    assert r["found"] == sum(ln["expected"] for ln in arc.lines), r
    assert r["rms"] <= RMS_LIMIT and abs(r["mean"]) <= MEAN_LIMIT, r
