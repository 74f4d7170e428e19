"""A small simulated night shared by the simulator tests (built once per session)."""

from __future__ import annotations

import json

import pytest

from pipeline.simulate import NightConfig, simulate_night

SMALL_NIGHT = NightConfig(
    mode="400_M2",
    camera="Red",
    binning=2,
    n_bias=2,
    n_flats=2,
    n_arcs=1,
    n_science=1,
    n_standards=1,
    n_targets=2,
    flexure_px=[0.37, 0.52, 0.61],
    seed=7,
)


@pytest.fixture(scope="session")
def small_night(tmp_path_factory):
    """(night directory, truth dict) of :data:`SMALL_NIGHT`."""
    night = tmp_path_factory.mktemp("sim") / "night"
    truth = simulate_night(night, SMALL_NIGHT)
    on_disk = json.loads((night / "truth.json").read_text())
    assert on_disk["frames"][0]["file"] == truth["frames"][0]["file"]
    return night, on_disk
