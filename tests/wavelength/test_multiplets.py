"""He I fine-structure multiplets are fitted at their blend's predicted centre.

The 2p 3P term of He I is inverted: every 2p 3P - n 3S/3D multiplet has its J=0
component 0.16-0.49 A red of the J=1,2 pair, with a ninth of the strength (LS
coupling's sum rule), unresolved by every Goodman mode. Named after its first
component, an arc line of one was set aside as a blend (4471.48 with 4471.68 at 8 : 1,
5875.64 with 5875.97) or fitted 0.02 A off (4026.19); the real library lamps show it
0.017-0.041 A red of that component, as the centre predicts
(``pipeline/data/lamps/nist_lines/fine_structure_multiplets.txt``,
``benchmarks/line_systematics.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.lamps import lamp_dir, read_template
from pipeline.wavelength.nist import lamp_lines, with_fill_gas
from pipeline.wavelength.refit_library import refit_solution


def _line(sol, lo, hi):
    wave = np.asarray(sol.lines["reference_wavelength"], float)
    return sol.lines[(wave > lo) & (wave < hi)]


def test_every_listed_component_is_a_strong_list_line():
    """A typo would merge nothing: each component is a He I line of the strong list."""
    from pipeline.wavelength.multiplets import multiplets

    cat = lamp_lines(with_fill_gas({"Cu"}))
    he = cat.wavelength[cat.ion == "He I"]
    assert len(multiplets()) >= 6
    for m in multiplets():
        for w in m.wavelength:
            assert np.abs(he - w).min() < 1e-4, w


def test_the_centre_is_the_centroid_unresolved_and_follows_the_resolution():
    """At a coarse resolution the fitted centre is the strength-weighted centroid; at a
    finer one the J=0 component, farther off, counts for less (5875.97 at 0.35 A)."""
    from pipeline.wavelength.multiplets import multiplet_centre

    w = np.array([5875.6148, 5875.6404, 5875.9663])
    s = np.array([5.0, 3.0, 1.0])
    centroid = float(np.sum(w * s) / s.sum())
    sigma = 2.6 / 2.3548
    coarse = multiplet_centre(w, s, sigma, 4.0 / 2.6)
    fine = multiplet_centre(w, s, sigma, 0.6 / 2.6)
    assert abs(coarse - centroid) < 0.001
    assert w[0] + 0.02 < fine < centroid - 0.005


@pytest.mark.parametrize(
    "lamp, lo, hi",
    [
        ("930M3_GG385_CuHeAr", 4713.0, 4713.5),
        ("930M3_GG385_CuHeAr", 5875.5, 5876.1),
        ("600UV_CuHeAr", 4713.0, 4713.5),
        ("1200M1_CuHeAr", 4471.3, 4471.8),
    ],
)
def test_real_lamps_fit_the_multiplet_on_its_centre(lamp, lo, hi):
    """On main each was set aside as a blend, 0.035-0.071 px from its first component;
    at its predicted centre it is fitted and lies within 0.02 px of the other lines."""
    sol = refit_solution(read_template(lamp_dir() / f"goodman_comp_{lamp}.fits"))
    row = _line(sol, lo, hi)
    assert len(row) == 1
    assert str(row["status"][0]) == "used"
    assert abs(float(row["residual_pixel"][0])) < 0.02
