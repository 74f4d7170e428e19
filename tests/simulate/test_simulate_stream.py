"""Streaming a night frame by frame, and rebuilding a night's simulator from its truth."""

from __future__ import annotations

import json

import numpy as np
from astropy.io import fits
from simhelpers import trimmed

from pipeline.simulate import NightConfig, NightSimulator, stream_night


def test_stream_night_writes_whole_files_one_at_a_time(tmp_path):
    cfg = NightConfig(n_bias=2, n_flats=1, n_arcs=1, n_science=0, binning=3)
    night = tmp_path / "live"
    seen = []
    for frame in stream_night(night, cfg):
        files = sorted(p.name for p in night.iterdir())
        seen.append(frame.name)
        # only whole frames and the truth so far; no temporary names left
        assert files == sorted([*seen, "truth.json"])
        truth = json.loads((night / "truth.json").read_text())
        assert [f["file"] for f in truth["frames"]] == seen
        with fits.open(night / frame.name) as hdul:
            assert np.array_equal(hdul[0].data, frame.hdul[0].data)
    assert len(seen) == 4


def test_simulator_from_truth_reproduces_the_pixel_response(small_night):
    night, truth = small_night
    sim = NightSimulator.from_truth(truth)
    response = sim.detector.pixel_response
    assert response.shape == tuple(truth["trimmed_shape"])
    assert np.allclose(sim.detector.column_pattern, truth["bias_column_pattern_adu"], atol=1e-3)
    # the flat divided by its smooth model leaves the pixel response
    flat = next(f for f in truth["frames"] if f["role"] == "flat")
    img = trimmed(fits.getdata(night / flat["file"]), truth)
    img = (
        img
        - np.asarray(truth["bias_column_pattern_adu"])[
            truth["trim_offset"]["col"] : truth["trim_offset"]["col"] + img.shape[1]
        ]
    )
    rows = slice(300, 700)
    block = img[rows, 500:1500]
    smooth = (
        np.median(block, axis=0)[None, :]
        * np.asarray(truth["illumination"]["profile"])[rows, None]
        / np.median(np.asarray(truth["illumination"]["profile"])[rows])
    )
    measured = block / smooth
    expected = response[rows, 500:1500]
    corr = np.corrcoef(measured.ravel(), expected.ravel())[0, 1]
    assert corr > 0.8
