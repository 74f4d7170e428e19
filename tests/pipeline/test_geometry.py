"""Raw layouts of every ROI and binning seen in real Goodman nights."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.instrument import frame_geometry
from pipeline.reduction.geometry import dark_prescan, raw_geometry


@pytest.mark.parametrize(
    "roi, shape, binning, trimsec, trim, prescan, x0",
    [
        ("Spectroscopic 1x1", (1896, 4142), (1, 1), "[30:4110,1:1896]", "[51:4110,2:1896]", 50, 50),
        ("Spectroscopic 2x2", (948, 2071), (2, 2), "[26:2055,2:948]", "[26:2055,2:948]", 25, 50),
        ("Spectroscopic 3x3", (632, 1381), (3, 3), "", "[18:1370,2:632]", 17, 51),
        (
            "user-defined, 400 rows",
            (400, 4142),
            (1, 1),
            "[1:4142,1:400]",
            "[51:4110,2:400]",
            50,
            50,
        ),
        (
            "user-defined, 500 rows",
            (500, 4142),
            (1, 1),
            "[1:4142,1:500]",
            "[51:4110,2:500]",
            50,
            50,
        ),
        ("Spectroscopic ZZ Ceti", (200, 2071), (2, 2), "[1:4142,1:400]", "[26:2055,2:200]", 25, 50),
        (
            "ZZ Ceti arc, CCDSUM 1 2",
            (200, 4142),
            (1, 2),
            "[1:4142,1:400]",
            "[51:4110,2:200]",
            50,
            50,
        ),
        ("user-defined 1 2", (948, 4142), (1, 2), "[1:4142,1:1896]", "[51:4110,2:948]", 50, 50),
        ("Imaging 2x2", (2048, 2071), (2, 2), "[1:3096,1:3096]", "[26:2055,2:2048]", 25, 50),
        ("Slit Imaging/Alignment", (1896, 400), (1, 1), "[1:400,1:1896]", "[1:400,1:1896]", 0, 0),
        ("window, no TRIMSEC", (300, 700), (2, 2), "", "[1:700,2:300]", 0, 0),
    ],
)
def test_layout_from_binning_and_shape(roi, shape, binning, trimsec, trim, prescan, x0):
    g = raw_geometry(shape, binning, trimsec)
    assert (g.trim_section, g.prescan, g.first_unbinned_column) == (trim, prescan, x0), roi
    if trimsec and trimsec != trim:
        assert g.decisions, "a TRIMSEC that is not used must be said"


@pytest.mark.parametrize("b", [1, 2, 3])
def test_agrees_with_the_simulator_geometry(b):
    """The simulator writes frames with instrument.frame_geometry; both layouts agree."""
    sim = frame_geometry(b)
    g = raw_geometry(sim.shape, (b, b), sim.trim_section)
    assert g.trim_section == sim.trim_section and not g.decisions


def test_dark_prescan_skips_artifacts_and_light():
    rng = np.random.default_rng(3)
    data = rng.normal(500.0, 2.0, (200, 4142))
    data[:, :4] += 300.0  # readout artifact columns
    data[:, 30:] += 40.0  # light reaching part of the prescan
    g = raw_geometry(data.shape, (1, 1))
    prescan = dark_prescan(data, g)
    assert prescan.columns == slice(4, 30)
    assert prescan.level == pytest.approx(500.0, abs=0.1)
    assert "31-50 are above the bias level" in prescan.note
    # Light rising across the whole prescan: no three columns agree, so no level is
    # given rather than a wrong one.
    lit = rng.normal(500.0, 2.0, (200, 4142)) + 10.0 * np.arange(4142)[None, :]
    prescan = dark_prescan(lit, g)
    assert prescan.level is None and "no run of dark columns" in prescan.note
