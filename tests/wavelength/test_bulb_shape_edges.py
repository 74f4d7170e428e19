"""A two-bulb lamp solved on its HgAr bulb: past its outermost lines the bulbs' shape
is continued straight, not as the polynomial fitted between them
(:func:`pipeline.wavelength.calibrate._shape_beyond_lines`).

Judged at a line no solution used: the unresolved Ar I 7723.76/7724.21 Å pair (NIST
intensities 400:300) that the 1200 l/mm lamps at the OG570 angles show bright past
their bluest used line.
"""

from __future__ import annotations

import numpy as np

from pipeline.lamps import lamp_dir, read_template
from pipeline.wavelength.lines import find_lines
from pipeline.wavelength.refit_library import refit_solution

#: Intensity-weighted centroid of the unresolved Ar I pair, Å.
PAIR = (7723.76 * 400 + 7724.21 * 300) / 700


def _pixel_of(wavelength_of, wave: float, npix: int) -> float:
    j = np.linspace(0.0, npix - 1.0, 8 * npix)
    w = wavelength_of(j)
    if w[-1] < w[0]:
        j, w = j[::-1], w[::-1]
    return float(np.interp(wave, w, j))


def _line_near(sol, pixel: float) -> float:
    """Centre of the lamp's line nearest ``pixel`` (the refit's line table: every line
    found)."""
    pix = np.asarray(sol.lines["pixel"], float)
    return float(pix[np.argmin(np.abs(pix - pixel))])


def _lamp(name: str):
    return read_template(lamp_dir() / f"goodman_comp_{name}.fits")


def test_the_canir_refit_places_the_blue_argon_pair_past_its_lines():
    """1200 CaNIR HgArNe: lines from 883 px, Ne bulb apart with an order-5 shape. The
    refit put the pair at 165.8 px 2.1 px off, 1.6 px of it the shape continued as a
    polynomial; the stored corrected model places it to 0.1 px, the optics continued
    at the lines' departure to 0.6. A pixel is what the continuation rule can answer
    for so far from the lines; 2 px is not."""
    template = _lamp("1200_CaNIR_OG570_HgArNe")
    sol = refit_solution(template)
    line = _line_near(sol, 165.8)
    assert abs(line - 165.8) < 1.0
    used = np.asarray(sol.lines["pixel"], float)[np.asarray(sol.lines["used"], bool)]
    assert used.min() > 800  # the pair lies far past the bluest used line
    assert abs(_pixel_of(sol.wavelength, PAIR, sol.npix) - line) < 1.0


def test_the_1200m7_hgarne_refit_places_the_pair_as_its_modes_lamps_do():
    """1200 M7 HgArNe (Ne bulb apart, lines from 839 px): its refit placed the pair 0.26
    px from where the mode's other lamps' corrected models do (the pair's centroid in
    these lamps is not NIST's 400:300 to a few tenths of a pixel, but it is the same in
    every lamp of the mode); continued straight, 0.05 px."""
    template = _lamp("1200M7_OG570_HgArNe")
    sol = refit_solution(template)
    line = _line_near(sol, 103.4)
    own = _pixel_of(sol.wavelength, PAIR, sol.npix) - line
    others = []
    for name in ("1200M7_OG570_Ar", "1200M7_OG570_CuHeAr", "1200M7_OG570_HgAr"):
        t = _lamp(name)
        assert t.corrected
        found = find_lines(t.flux, threshold=30.0).centre
        at = float(found[np.argmin(np.abs(found - line))])  # its own line: flexure apart
        assert abs(at - line) < 1.0
        others.append(_pixel_of(t.wavelength, PAIR, t.npix) - at)
    assert abs(own - np.median(others)) < 0.15, (own, others)
