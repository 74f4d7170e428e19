"""Masters are built from whatever there is and rebuilt as frames arrive."""

from __future__ import annotations

import rawframes
from astropy.io import fits

from pipeline.calibrations.build import build_master_bias, build_master_flat
from pipeline.classify import classify_path
from pipeline.settings import ReductionSettings


def test_master_bias_rebuilt_under_the_same_name_until_final(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    paths = [
        rawframes.write(raw / f"b{i}.fits", "bias", **{"DATE-OBS": f"2024-03-20T00:0{i}:00.000"})
        for i in range(3)
    ]
    settings = ReductionSettings(min_bias_frames=3)
    out = tmp_path / "out"
    first = build_master_bias([classify_path(paths[0])], out, settings, raw_dirs=[raw])
    assert first.master.info.n_frames == 1 and not first.master.info.final
    again = build_master_bias([classify_path(p) for p in paths], out, settings, raw_dirs=[raw])
    assert again.master.name == first.master.name
    assert again.master.info.final
    h = fits.getheader(out / again.master.name)
    assert (h["NCOMBINE"], h["GSP_MFIN"], h["GSP_MINN"]) == (3, True, 3)
    assert h["DATE-OBS"].startswith("2024-03-20T00:01:00")  # median time of the inputs
    assert [c for c in h["HISTORY"]] == ["input: b0.fits", "input: b1.fits", "input: b2.fits"]


def test_flat_without_bias_and_its_normalized_twin(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    flat = classify_path(rawframes.write(raw / "f0.fits", "flat"))
    result = build_master_flat([flat], tmp_path / "out", ReductionSettings(), master_bias=None)
    names = sorted(p.name for p in result.products)
    assert names[0].startswith("master_flat_400m1_1.0_dome_RED_2x2")
    assert names[1] == f"norm_{names[0]}"
    assert "prescan level" in result.notes[0]
    norm = fits.getheader(tmp_path / "out" / names[1])
    assert norm["RLEVEL"] == 61 and norm["GSP_NORM"] == "simple"
    lower, upper = rawframes.SLIT_ROWS
    assert abs(norm["GSP_SLEL"] - (lower - 0.5)) <= 1 and abs(norm["GSP_SLEU"] - (upper + 0.5)) <= 1
