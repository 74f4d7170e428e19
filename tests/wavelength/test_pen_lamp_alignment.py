"""A pen lamp's arc aligned with NIST lines rendered through another lamp's model.

The real 930M2 Ar library lamp calibrated as a user's arc of its mode would be without
its own file starts from the mode's HgAr lamp, whose flux (Hg lines 10-1000 times its
Ar lines) does not correlate with it (0.14-0.19), so the arc is aligned with the Ar
lines of the NIST list rendered through the HgAr lamp's model. Ar II lines are half
of that list in 3800-5500 Å, each as strong as the Ar I lines after the per-spectrum
rescaling, and an Ar pen lamp shows none of them: the alignment followed them 220 px
away and the arc was refused. Weighted as a pen lamp's ionic lines are in the
identification (``PEN_LAMP_IONIC_WEIGHT``), they no longer lead it.
"""

from __future__ import annotations

import numpy as np

from pipeline import lamps
from pipeline.wavelength import calibrate_arc


def test_a_pen_lamps_arc_is_aligned_on_its_neutral_lines(monkeypatch):
    own = next(t for t in lamps.library() if t.file_name == "goodman_comp_930M2_Ar.fits")
    others = tuple(t for t in lamps.library() if t.path != own.path)
    monkeypatch.setattr(lamps, "library", lambda: others)
    sol = calibrate_arc(own.flux, own.mode, own.elements, 1)
    assert sol.template == "goodman_comp_930M2_HgAr.fits"
    assert sol.reference == "NIST air" and sol.n_used >= 8 and sol.rms_pixel <= 0.05
    # the lamp's own NIST-corrected model, between the lines both measured
    used = np.asarray(sol.lines["pixel"], float)[np.asarray(sol.lines["used"], bool)]
    j = np.arange(used.min(), used.max())
    off = (sol.wavelength(j) - own.wavelength(j)) / np.abs(np.gradient(own.wavelength(j)))
    assert np.sqrt(np.mean(off**2)) < 0.1
