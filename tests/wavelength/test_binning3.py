"""Lines binned 3x3 (about 1.7 px FWHM) that physical-truth arcs expect and the solver lost.

- A line's unresolved neighbour of another spectrum is judged in the library lamp's
  unbinned flux (``pipeline.wavelength.lamp_widths``), not assumed a blend.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline import lamps
from pipeline.simulation.physical import arc_1d
from pipeline.wavelength import calibrate_arc, select_template
from pipeline.wavelength.lamp_widths import clean_in_lamp


@pytest.mark.parametrize(
    "mode,lamp,wavelength,clean",
    [
        # 0.02 px from its NIST place, as wide as its neighbours (Ar II 8771.86 beside it)
        ("1200_CANIR", "HgArNe", 8771.656, True),
        ("400_M1", "HgArNe", 6029.997, True),
        # the lamp's light is 2.9 px away, at Ar I 6677.28
        ("1200_M4", "FeHeAr", 6678.152, False),
        # the lamp's light is Ar II 4933.21's, 2.3 px away
        ("600_BLUE", "CuHeAr", 4931.698, False),
        # 3.3 times broader than its neighbours
        ("600_BLUE", "CuHeAr", 5218.200, False),
    ],
)
def test_lamp_tells_clean_lines_from_blends(mode, lamp, wavelength, clean):
    template = select_template(mode, lamps.elements(lamp))
    assert clean_in_lamp(template, [wavelength]).tolist() == [clean]


def test_no_corrected_model_no_verdict():
    template = select_template("1200_CANIR", lamps.elements("HgArNe"))
    from dataclasses import replace

    bare = replace(template, corrected_coefficients=None)
    assert not clean_in_lamp(bare, [8771.656]).any()


@pytest.mark.parametrize("seed", [0, 1])
def test_clean_line_with_faint_cross_neighbour_is_used_at_3x3(seed):
    """Ne I 8771.66 (Ar II 8771.86, 0.24 binned px away, beside it) was set aside as a
    blend in every 3x3 arc: its 1.7 px width cannot show the neighbour; the lamp can."""
    arc = arc_1d("1200_CANIR", 3, lamp="HgArNe", seed=seed)
    sol = calibrate_arc(arc.flux, "1200_CANIR", lamps.elements(arc.lamp), binning=3)
    t = sol.lines
    used = np.asarray(t["used"], bool)
    lab = np.asarray(t["lab_wavelength"], float)
    assert np.any(used & np.isclose(lab, 8771.656, atol=0.01))
