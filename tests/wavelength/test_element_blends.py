"""A NIST line another element of the lamp blends is set aside only in lamps holding it.

Ne I 7472.439 has Ar I 7471.163 (NIST ASD Ritz; absent from the strong lists) 1.28 A to
its blue. That Ar I line shares its upper level with Ar I 7147.042, so every lamp with
argon gives it 3.5 % of that line's photons (2.2e4 / 6.25e5 s-1); in an HgArNe lamp it
is 10-20 % of the faint Ne line and, unresolved, pulls it blue: -0.084 A in 400M2
HgArNe, -0.040 A in 930M5 HgArNe, against -0.013..+0.017 A in the Ne lamps
(``pipeline/data/lamps/nist_lines/lamp_element_blends.txt``). Fitted, it was the
HgArNe lamp's worst Ne line and a user's 400 M2 HgArNe arc (started from the mode's
HgAr lamp) came out 0.057 px from NIST.
"""

from __future__ import annotations

import numpy as np

from pipeline.lamps import lamp_dir, read_template
from pipeline.wavelength import calibrate_arc
from pipeline.wavelength.nist import element_blends, extra_lamp_lines, lamp_lines
from pipeline.wavelength.refit_library import refit_solution

NE_LINE, AR_NEIGHBOUR = 7472.439, 7471.163


def _line(sol, wave):
    rows = np.abs(np.asarray(sol.lines["reference_wavelength"], float) - wave) < 0.005
    return sol.lines[rows]


def test_the_listed_line_and_its_neighbour_are_nist_lines():
    """The blended line is a strong-list Ne I line (a typo would set aside nothing); its
    neighbour is the NIST Ar I line the extra list holds, not a strong-list line (the
    identification's own neighbour rules would see that one)."""
    waves, spectra = element_blends()
    assert list(np.round(waves, 3)) == [NE_LINE] and list(spectra) == ["Ar I"]
    assert np.abs(lamp_lines(frozenset({"Ne"})).wavelength - NE_LINE).min() < 0.001
    assert np.abs(extra_lamp_lines(frozenset({"Ar"})).wavelength - AR_NEIGHBOUR).min() < 0.001
    assert np.abs(lamp_lines(frozenset({"Ar"})).wavelength - AR_NEIGHBOUR).min() > 0.5


def test_a_users_hgarne_arc_sets_it_aside_and_meets_the_accuracy():
    """400M2 HgArNe as a user's arc of its mode, started from the HgAr lamp: on main the
    Ne line was used at -0.12 px and the arc fitted 59 lines at 0.057 px."""
    arc = read_template(lamp_dir() / "goodman_comp_400M2_GG455_HgArNe.fits")
    start = read_template(lamp_dir() / "goodman_comp_400M2_GG455_HgAr.fits")
    sol = calibrate_arc(arc.flux, None, arc.elements, 1, template=start)
    row = _line(sol, NE_LINE)
    assert len(row) == 1  # still found and named
    assert str(row["status"][0]) == "blend"
    assert sol.rms_pixel <= 0.05
    assert abs(sol.mean_pixel) <= 0.03


def test_a_lamp_without_argon_fits_it_on_its_nist_place():
    """The mode's Ne lamp has no argon: the line is fitted, within 0.05 px of NIST."""
    sol = refit_solution(read_template(lamp_dir() / "goodman_comp_400M2_GG455_Ne.fits"))
    row = _line(sol, NE_LINE)
    assert len(row) == 1 and str(row["status"][0]) == "used"
    assert abs(float(row["residual_pixel"][0])) < 0.05
