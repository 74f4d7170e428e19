"""A night at custom grating angles (no library lamp), drawn from physical truth by
``gsp simulate --angles GRT,CAM --arc-source physical`` and reduced by ``reduce_night``:
the science spectra are wavelength-calibrated from the optics model and meet the
issue's accuracy against the simulated truth."""

from __future__ import annotations

import argparse
import json
import warnings

import numpy as np
from astropy.io import fits

from pipeline.cli import simulate as cli
from pipeline.night import reduce_night
from pipeline.wavelength import solution_from_header


def _simulate(night, *args):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args([str(night), *map(str, args)]))


def test_custom_angle_night_is_calibrated_from_the_optics(tmp_path):
    raw = tmp_path / "raw"
    rc = _simulate(
        raw,
        "--mode",
        "930_M2",
        "--angles",
        "13.0,24.0",
        "--arc-source",
        "physical",
        "--camera",
        "blue",
        "--binning",
        2,
        "--n-bias",
        2,
        "--n-flats",
        2,
        "--n-arcs",
        1,
        "--n-science",
        1,
        "--flexure",
        "0.7",
    )
    assert rc == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = reduce_night(raw, tmp_path / "out")
    assert not report.failed, report.table()
    truth = json.loads((raw / "truth.json").read_text())
    science = next(f for f in truth["frames"] if f["role"] == "science")
    arc = next(f for f in truth["frames"] if f["role"] == "arc")
    written = [
        s
        for s in report.spectra
        if s.data_type == 4 and s.status == "written" and s.target is not None
    ]
    assert written, [(s.status, s.reason) for s in report.spectra]
    lines = [ln["wavelength"] for ln in arc["lines"] if ln["expected"]]
    for product in written:
        assert "first guess from the optics" in product.reason, product.reason
        t = np.asarray(science["targets"][(product.target or 1) - 1]["wavelength_at_trace"])
        header = fits.getheader(product.file)
        wave = np.polynomial.chebyshev.chebval(np.arange(t.size), solution_from_header(header))
        err = (wave - t) / np.abs(np.gradient(t))
        inside = (t >= min(lines)) & (t <= max(lines))  # where the arc's lines are
        assert inside.sum() > 0.7 * t.size
        rms, mean = np.sqrt(np.mean(err[inside] ** 2)), err[inside].mean()
        assert rms <= 0.05 and abs(mean) <= 0.03, (rms, mean)
