"""Several arcs for one science frame: one solution, naming the arcs used."""

from __future__ import annotations

from datetime import datetime

import numpy as np

from pipeline.spectroscopy.arc_solutions import combine_solutions
from pipeline.wavelength import calibrate_arc, select_template
from tests.wavelength.synthetic_arcs import synth_arc


def _solution(shift, seed, name):
    t = select_template("400_M2", "HgArNe")
    arc, truth = synth_arc(t, shift, 2, "catalogue", seed=seed)
    return calibrate_arc(arc, "400_M2", "HgArNe", 2, arc_name=name), truth


def test_agreeing_arcs_are_combined():
    a, truth = _solution(1.2, 1, "a.fits")
    b, _ = _solution(1.2, 2, "b.fits")
    sol, note = combine_solutions([a, b], [None, None])
    assert sol.arcs == ["a.fits", "b.fits"] and "combined" in note
    assert sol.n_used == a.n_used + b.n_used
    disp = np.abs(np.gradient(truth))
    err = (sol.wavelength() - truth) / disp
    # the mean of two independent solutions is at least as good as the worse one
    worse = max(np.sqrt(np.mean(((s.wavelength() - truth) / disp) ** 2)) for s in (a, b))
    assert np.sqrt(np.mean(err**2)) <= worse + 1e-6
    assert ("GSP_LAMP", "a.fits,b.fits") in [(k, v) for k, v, _ in sol.header_cards()]


def test_disagreeing_arcs_pick_the_nearest_in_time():
    a, _ = _solution(-3.0, 1, "early.fits")
    b, _ = _solution(2.0, 2, "late.fits")  # flexure moved by 5 unbinned px
    when = datetime(2026, 11, 22, 3, 0)
    dates = [datetime(2026, 11, 22, 0, 0), datetime(2026, 11, 22, 2, 50)]
    sol, note = combine_solutions([a, b], dates, when)
    assert sol.arcs == ["late.fits"] and "nearest in time" in note
