"""A small simulated night shared by the simulator tests (built once per session)."""

from __future__ import annotations

import json

import pytest

from pipeline.simulate import NightConfig, NightSimulator, simulate_night

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


def _one_arc(binning, flexure, mode="400_M2", lamp=None, noise=True, seed=11, **kw):
    cfg = NightConfig(
        mode=mode,
        lamp=lamp,
        binning=binning,
        n_bias=0,
        n_flats=0,
        n_arcs=1,
        n_science=0,
        flexure_px=flexure,
        cosmic_rate=0.0,
        noise=noise,
        seed=seed,
        **kw,
    )
    sim = NightSimulator(cfg)
    night = sim.night_truth()
    (_, hdul, rec) = next(sim.frames())
    return sim, night, rec, hdul


@pytest.fixture
def one_arc():
    """Draw a night of one arc and nothing else: ``one_arc(binning, flexure, mode, lamp,
    noise, seed, **config)`` gives ``(simulator, night truth, frame record, HDUList)``."""
    return _one_arc
