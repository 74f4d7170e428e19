"""An imaging night: no slit trim, filter-matched flats normalized by their mean."""

from __future__ import annotations

from astropy.io import fits

from pipeline.night import reduce_night
from pipeline.settings import ReductionSettings
from pipeline.simulate import NightConfig, simulate_night


def test_imaging_night(tmp_path):
    raw = tmp_path / "raw"
    simulate_night(raw, NightConfig(imaging=True, n_bias=2, n_flats=2, n_science=1, seed=3))
    report = reduce_night(raw, tmp_path / "out", ReductionSettings(cosmic_ray_rejection="none"))
    assert not report.failed
    science = next(r for r in report.results if r.role == "science")
    assert science.technique == "Imaging" and science.status == "reduced"
    h = fits.getheader(science.products[0])
    assert science.products[0].split("/")[-1].startswith("fzt_")
    assert h["GSP_SLIT"] == "none" and h["GSP_FLAT"].startswith("norm_master_flat_")
    (norm,) = (tmp_path / "out").glob("norm_master_flat_*")
    assert fits.getheader(norm)["GSP_NORM"] == "mean"
    assert "_sky_" in norm.name
