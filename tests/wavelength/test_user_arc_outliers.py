"""A user's arc rejects the lines its own lines say are off, as the library refit does.

The real 1200M4 FeHeAr library lamp calibrated as a user's arc of its mode would be
without its own file (it starts from the mode's CuHeAr lamp): Ar II 6243.12, 0.28 px
off the fit of the other lines, held the correction at order 0 (with it no higher order
predicted the others better) and stayed in, bending the solution to 0.08 px RMS
against NIST where the lamp's refit, which rejected it, is at 0.03.
"""

from __future__ import annotations

import numpy as np

from pipeline import lamps
from pipeline.wavelength import calibrate_arc


def test_a_users_arc_rejects_the_line_its_other_lines_put_off(monkeypatch):
    own = next(t for t in lamps.library() if t.file_name == "goodman_comp_1200M4_GG455_FeHeAr.fits")
    others = tuple(t for t in lamps.library() if t.path != own.path)
    monkeypatch.setattr(lamps, "library", lambda: others)
    sol = calibrate_arc(own.flux, own.mode, own.elements, 1)
    assert sol.template == "goodman_comp_1200M4_GG455_CuHeAr.fits"
    lines = sol.lines
    off = np.isclose(np.asarray(lines["reference_wavelength"], float), 6243.12, atol=0.01)
    assert off.sum() == 1
    assert not np.asarray(lines["used"], bool)[off].any()
    assert sol.rms_pixel <= 0.05
    assert sol.n_used >= 10
