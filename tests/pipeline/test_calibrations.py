"""Master combination, normalization, slit detection and master selection."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
import rawframes  # noqa: I001
from astropy.nddata import CCDData

from pipeline.calibrations.bias import make_master_bias
from pipeline.calibrations.combine import sigma_clipped_median
from pipeline.calibrations.flat import check_saturation, make_master_flat
from pipeline.calibrations.masters import MasterInfo
from pipeline.calibrations.normalize import normalize_flat
from pipeline.calibrations.selection import bias_groups, flat_groups, select_master
from pipeline.calibrations.slit import detect_slit
from pipeline.classify import classify


def _ccd(data, trim="[26:2055,2:948]"):
    c = CCDData(np.asarray(data, np.float32), unit="adu")
    c.header["GSP_TRIM"] = trim
    return c


def test_sigma_clipped_median_rejects_a_cosmic_ray():
    rng = np.random.default_rng(0)
    stack = rng.normal(100, 2, (5, 50, 60)).astype(np.float32)
    stack[2, 10, 10] = 5000
    combined, n_used = sigma_clipped_median(stack, noise=2.0)
    assert abs(combined[10, 10] - 100) < 5
    assert n_used[10, 10] == 4 and n_used[0, 0] == 5
    one, n1 = sigma_clipped_median(stack[:1])
    assert (one == stack[0]).all() and (n1 == 1).all()


@pytest.mark.parametrize("n", [3, 4, 5, 7])
@pytest.mark.parametrize("noise", ["scalar", "per-pixel", "mad"])
def test_clipped_pixels_get_the_median_of_their_kept_values(n, noise):
    # Reference: the median of each pixel's values that survive the clip, pixel by
    # pixel with np.median (the combine takes a vectorised path for these pixels).
    rng = np.random.default_rng(n)
    stack = rng.normal(100, 2, (n, 20, 30)).astype(np.float32)
    stack[rng.random(stack.shape) < 0.05] += 300  # cosmic rays, some pixels hit twice
    stack[:, 3, 4] = np.float32(100) * 10.0 ** np.arange(n)  # every value rejected
    scatter = {
        "scalar": np.float32(2.0),
        "per-pixel": np.full(stack.shape[1:], 2.0, np.float32),
        "mad": None,
    }[noise]
    combined, n_used = sigma_clipped_median(stack, noise=scatter)
    plain = np.median(stack, axis=0)
    spread = 1.4826 * np.median(np.abs(stack - plain), axis=0) if scatter is None else scatter
    kept = np.abs(stack - plain) <= 3.0 * spread
    assert (~kept).any(axis=0).sum() > 10  # the clipped path is exercised
    for y, x in np.ndindex(*stack.shape[1:]):
        values = stack[kept[:, y, x], y, x]
        expected = np.median(values) if values.size else plain[y, x]
        assert combined[y, x] == np.float32(expected), (y, x)
        assert n_used[y, x] == max(values.size, 1)
    assert combined.dtype == np.float32


def test_master_bias_from_one_and_many_frames():
    rng = np.random.default_rng(1)
    frames = [_ccd(412 + rng.normal(0, 2.6, (40, 50))) for _ in range(5)]
    single = make_master_bias(frames[:1], gain=1.48, rdnoise=3.89)
    assert single.header["NCOMBINE"] == 1
    assert np.allclose(single.uncertainty.array, (3.89 / 1.48) ** 2)
    master = make_master_bias(frames, gain=1.48, rdnoise=3.89)
    assert master.header["NCOMBINE"] == 5
    assert abs(master.data.mean() - 412) < 0.2
    assert master.uncertainty.array.mean() < single.uncertainty.array.mean() / 2
    with pytest.raises(ValueError, match="trim section"):
        make_master_bias([frames[0], _ccd(frames[1].data, trim="[1:50,1:40]")], 1.48, 3.89)


def test_saturation_check_and_scaled_flat_combination():
    sat = np.zeros((100, 100), bool)
    assert check_saturation(sat, 1.0) is None
    sat[:2, :] = True  # 2 % of the pixels
    assert "2.00 % of pixels saturated" in check_saturation(sat, 1.0)
    base = np.full((60, 80), 1000.0)
    master = make_master_flat([_ccd(base), _ccd(base * 1.5), _ccd(base * 0.8)])
    assert np.allclose(master.data, base.mean() * 1.1, rtol=1e-3)


def _spectral_flat(ny=200, nx=300, lo=30.0, hi=170.0):
    rows = np.arange(ny)[:, None]
    lamp = 1000 + 800 * np.sin(np.pi * np.arange(nx) / nx)
    illum = 0.5 * (np.tanh((rows - lo) / 0.8) - np.tanh((rows - hi) / 0.8))
    return _ccd(illum * lamp[None, :])


def test_slit_detection_finds_half_illumination_edges():
    flat = _spectral_flat()
    edges = detect_slit(flat)
    assert edges.lower == pytest.approx(30.0, abs=0.3)
    assert edges.upper == pytest.approx(170.0, abs=0.3)
    assert edges.section == "[1:300,32:170]"  # rows 31..169 (0-based): 1 row inside each edge
    assert detect_slit(_ccd(np.zeros((50, 50)))) is None
    # A slit running off the detector keeps that side whole.
    open_top = detect_slit(_spectral_flat(hi=500))
    assert open_top.upper is None and open_top.section.endswith(",32:200]")


@pytest.mark.parametrize("method", ["mean", "simple", "full"])
def test_normalization_methods(method):
    flat = _spectral_flat()
    edges = detect_slit(flat)
    from pipeline.reduction.slit_trim import slit_trim

    cut = slit_trim(flat, edges.section)
    norm = normalize_flat(cut, method, order=15)
    assert norm.header["GSP_NORM"] == method
    centre = norm.data[norm.shape[0] // 2]
    if method == "mean":
        assert norm.data.mean() == pytest.approx(1.0, rel=1e-4)
    else:
        # The lamp spectrum is gone: flat along the dispersion, 1 at the slit centre.
        assert np.allclose(centre, 1.0, atol=0.01)
    with pytest.raises(ValueError, match="allowed values: mean, simple, full"):
        normalize_flat(cut, "median")


def _info(kind, key_from, minutes, n=5, trim="[26:2055,2:948]", name=None):
    c = classify(key_from)
    return MasterInfo(
        kind=kind,
        name=name or f"{kind}_{minutes}",
        readout_key=c.readout_key,
        optics_key=c.optics_key if kind == "flat" else None,
        trim_section=trim,
        date_obs=datetime(2024, 3, 20) + timedelta(minutes=minutes),
        n_frames=n,
        final=n >= 10,
    )


def test_select_master_nearest_compatible_in_time():
    frame = classify(rawframes.header(**{"DATE-OBS": "2024-03-20T01:00:00.000"}))
    candidates = [
        _info("bias", rawframes.header("bias"), 10),
        _info("bias", rawframes.header("bias"), 50),
        _info("bias", rawframes.header("bias"), 70, n=3),
        _info("bias", rawframes.header("bias", GAIN=3.87, RDNOISE=7.05), 60),
        _info("bias", rawframes.header("bias"), 60, trim="[1:2030,1:946]", name="other_trim"),
        _info("bias", rawframes.header("bias"), -60 * 24, name="last_night"),
    ]
    chosen = select_master(frame, candidates, "bias", "[26:2055,2:948]")
    assert chosen.name == "bias_50"  # 10 min away, beats 70 (also 10 min) on frames
    only_old = [candidates[-1], candidates[3]]
    assert select_master(frame, only_old, "bias", "[26:2055,2:948]").name == "last_night"
    assert select_master(frame, [candidates[3]], "bias", "[26:2055,2:948]") is None


def test_flat_selection_needs_the_same_optics():
    frame = classify(rawframes.header())
    same = _info("flat", rawframes.header("flat"), 0, name="same")
    other_slit = _info("flat", rawframes.header("flat", SLIT="0.45_LONG_SLIT"), 0, name="slit")
    other_angle = _info("flat", rawframes.header("flat", GRT_TARG=6.1), 0, name="angle")
    assert select_master(frame, [other_slit, other_angle, same], "flat").name == "same"
    assert select_master(frame, [other_slit, other_angle], "flat") is None


def test_grouping_rules():
    frames = [
        classify(rawframes.header("bias")),
        classify(rawframes.header("bias", **{"DATE-OBS": "2024-03-20T00:00:00.000"})),
        classify(rawframes.header("bias", INSTCONF="Blue")),
        classify(rawframes.header("flat", WAVMODE="400 M1")),
        classify(rawframes.header("flat", WAVMODE="400_M1")),
        classify(rawframes.header("flat", FILTER2="GG455")),
    ]
    groups = bias_groups(frames)
    assert sorted(len(g) for g in groups.values()) == [1, 2]
    red = next(g for g in groups.values() if len(g) == 2)
    assert red[0].date_obs < red[1].date_obs  # time order, whatever the input order
    assert sorted(len(g) for g in flat_groups(frames).values()) == [1, 2]
