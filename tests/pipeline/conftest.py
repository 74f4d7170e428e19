"""Fixtures of the CCD-reduction tests: one simulated night, reduced once."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # rawframes helper


@pytest.fixture(scope="session")
def reduced_night(tmp_path_factory):
    """A simulated 400_M2 Red 2x2 night and its reduction (default settings)."""
    from pipeline.night import reduce_night
    from pipeline.simulate import NightConfig, simulate_night

    root = tmp_path_factory.mktemp("night")
    raw, out = root / "raw", root / "out"
    simulate_night(
        raw,
        NightConfig(
            mode="400_M2",
            camera="Red",
            binning=2,
            n_bias=5,
            n_flats=5,
            n_arcs=2,
            n_science=2,
            seed=0,
        ),
    )
    truth = json.loads((raw / "truth.json").read_text())
    report = reduce_night(raw, out)
    return {"raw": raw, "out": out, "truth": truth, "report": report}
