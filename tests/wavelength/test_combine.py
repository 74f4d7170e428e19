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


def test_combined_arcs_report_what_each_measured_of_the_lamp_light():
    """Two exposures of the real 1200 M6 HgAr pen lamp (its high-excitation Ar I lines
    0.08-0.25 px red of the others, ``GSP_WPEN``): the science product of both carries
    the offset, their inverse-variance mean with its smaller error, as each arc's own
    product does; a lamp measurement no arc made stays absent."""
    import dataclasses

    from pipeline.lamps import lamp_dir, read_template
    from pipeline.wavelength.refit_library import refit_solution

    a = refit_solution(read_template(lamp_dir() / "goodman_comp_1200M6_GG495_HgAr.fits"))
    assert a.pen_shift_pixel is not None
    offset, error = a.pen_shift_pixel
    b = dataclasses.replace(a, pen_shift_pixel=(offset + 0.03, 2.0 * error), arcs=["b.fits"])
    sol, note = combine_solutions([a, b], [None, None])
    assert "combined" in note
    want = (offset / error**2 + (offset + 0.03) / (4 * error**2)) / (1.25 / error**2)
    assert abs(sol.pen_shift_pixel[0] - want) < 1e-9
    assert abs(sol.pen_shift_pixel[1] - error / np.sqrt(1.25)) < 1e-9
    assert not sol.pen_shift_applied
    cards = {k: (v, c) for k, v, c in sol.header_cards()}
    assert cards["GSP_WPEN"][0] == round(want, 4) and "not applied" in cards["GSP_WPEN"][1]
    assert sol.ne_bulb_pixel is None and "GSP_WNBO" not in cards


def test_combined_arcs_say_whether_their_bulbs_terms_were_applied():
    """The Ne bulb's terms of two arcs are averaged, with the standard error of that
    mean; the combined solution is the HgAr bulb's only where every arc's was, and its
    header says which."""
    import dataclasses

    from pipeline.lamps import lamp_dir, read_template
    from pipeline.wavelength.refit_library import refit_solution

    a = refit_solution(read_template(lamp_dir() / "goodman_comp_1200M6_GG495_HgAr.fits"))
    a = dataclasses.replace(
        a, ne_bulb_pixel=(0.16, 0.26), ne_bulb_error=(0.01, 0.02), ne_bulb_applied=False
    )
    b = dataclasses.replace(
        a, ne_bulb_pixel=(0.18, 0.30), ne_bulb_error=(0.02, 0.04), arcs=["b.fits"]
    )
    sol, _ = combine_solutions([a, b], [None, None])
    assert np.allclose(sol.ne_bulb_pixel, (0.17, 0.28)) and not sol.ne_bulb_applied
    # the plain mean's error: the arcs' errors in quadrature, halved
    assert np.allclose(sol.ne_bulb_error, (np.hypot(0.01, 0.02) / 2, np.hypot(0.02, 0.04) / 2))
    cards = {k: (v, c) for k, v, c in sol.header_cards()}
    assert cards["GSP_WNBO"][0] == 0.17 and "not applied" in cards["GSP_WNBO"][1]
    assert cards["GSP_WNBE"][0] == round(np.hypot(0.01, 0.02) / 2, 4)
    assert cards["GSP_WNSE"][0] == round(np.hypot(0.02, 0.04) / 2, 4)
    # an arc whose terms came without errors leaves the mean's error unstated
    unstated = dataclasses.replace(b, ne_bulb_error=None)
    sol = combine_solutions([a, unstated], [None, None])[0]
    assert sol.ne_bulb_error is None
    assert "GSP_WNBE" not in {k for k, _, _ in sol.header_cards()}
    both = [dataclasses.replace(s, ne_bulb_applied=True) for s in (a, b)]
    assert combine_solutions(both, [None, None])[0].ne_bulb_applied
    mixed = combine_solutions([both[0], b], [None, None])[0]
    assert not mixed.ne_bulb_applied
