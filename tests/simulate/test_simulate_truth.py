"""truth.json agrees with the pixels: arc line peaks, slit edges, traces, cosmic rays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.io import fits
from simhelpers import fit_peak, trimmed

from pipeline.simulate import NightConfig, NightSimulator, iter_night


@pytest.mark.parametrize(
    ("binning", "flexure", "mode", "lamp", "noise"),
    [
        (1, -1.37, "400_M2", None, True),
        (2, 0.63, "400_M2", None, True),
        (3, 2.71, "400_M2", None, True),
        (2, 0.29, "600_UV", "CuHeAr", True),
        (3, -0.85, "930_M2", "CuHeAr", False),
    ],
)
def test_arc_line_peaks_are_where_truth_says(binning, flexure, mode, lamp, noise, one_arc):
    _, night, rec, hdul = one_arc(binning, flexure, mode, lamp, noise)
    img = trimmed(hdul[0].data, night)
    yc, tilt = night["slit_centre_row"], night["tilt"]
    rows = np.arange(img.shape[0])
    near = np.abs(rows - yc) <= 20
    # the median over rows symmetric about the slit centre removes noise; its mean
    # offset from the centre row shifts tilted lines by tilt * mean offset
    profile = np.median(img[near], axis=0)
    offset = tilt * np.mean(rows[near] - yc)
    half = max(3, math.ceil(1.5 * night["line_fwhm_px"]))
    checked = []
    for line in rec["lines"]:
        if not line["isolated"] or line["peak_adu"] < 300:
            continue
        expected = line["column"] + offset
        if not half <= expected < img.shape[1] - half:
            continue
        found = fit_peak(profile, expected, half)
        checked.append(found - expected)
    assert len(checked) >= 15
    assert np.max(np.abs(checked)) < 0.05, np.round(checked, 3)
    # the flexure moved the lines by flexure/b binned columns
    assert rec["shift_binned_px"] == pytest.approx(flexure / binning)


def test_wavelength_truth_matches_lines_and_template(small_night):
    night, truth = small_night
    arc = next(f for f in truth["frames"] if f["role"] == "arc")
    wave = np.asarray(arc["wavelength"])
    cols = np.arange(wave.size)
    assert wave.size == truth["trimmed_shape"][1] and np.all(np.diff(wave) > 0)
    for line in arc["lines"]:
        assert np.interp(line["column"], cols, wave) == pytest.approx(line["wavelength"], abs=0.02)
    coeffs = truth["wavelength_model"]["coefficients"]
    b = truth["binning"]
    u = b * cols + (b - 1) / 2 - arc["flexure_px"]
    assert np.allclose(wave, np.polynomial.chebyshev.chebval(u, coeffs), atol=1e-3)


def test_slit_edges_are_where_truth_says(small_night):
    night, truth = small_night
    flat = next(f for f in truth["frames"] if f["role"] == "flat")
    img = trimmed(fits.getdata(night / flat["file"]), truth)
    profile = np.median(img[:, 800:1200], axis=1)
    centre = profile[int(round(truth["slit_centre_row"]))]
    lo_true, hi_true = truth["slit_edges"]
    half = 0.5 * centre
    rows = np.arange(profile.size, dtype=float)
    lower = rows[: int(lo_true) + 10]
    lo = np.interp(half, profile[: lower.size], lower)  # rising edge
    upper = slice(int(hi_true) - 10, profile.size)
    hi = np.interp(half, profile[upper][::-1], rows[upper][::-1])  # falling edge
    assert lo == pytest.approx(lo_true, abs=0.25)
    assert hi == pytest.approx(hi_true, abs=0.25)
    # the real 2x2 slit trim was rows 110:928 (1-based)
    assert 105 < lo_true < 112 and 924 < hi_true < 932
    # the recorded illumination profile is the flat's shape along the slit
    model = np.asarray(truth["illumination"]["profile"])
    inside = slice(int(lo_true) + 20, int(hi_true) - 20)
    ratio = profile[inside] / model[inside]
    assert np.std(ratio) / np.mean(ratio) < 0.01


def test_traces_are_where_truth_says(small_night):
    night, truth = small_night
    sci = next(f for f in truth["frames"] if f["role"] == "science")
    img = trimmed(fits.getdata(night / sci["file"]), truth).astype(float)
    sky = np.asarray(sci["sky_adu"])
    illum = np.asarray(truth["illumination"]["profile"])
    img -= sky[None, :] * illum[:, None]
    assert len(sci["targets"]) == 2
    for tgt in sci["targets"]:
        centres = np.asarray(tgt["trace_centres"])
        errors = []
        for x0 in range(100, img.shape[1] - 100, 200):
            block = np.median(img[:, x0 - 10 : x0 + 10], axis=1)
            c = centres[x0]
            r = np.arange(int(c) - 6, int(c) + 7)
            w = np.clip(block[r], 0, None)
            errors.append(np.sum(w * r) / np.sum(w) - np.mean(centres[x0 - 10 : x0 + 10]))
        assert np.median(np.abs(errors)) < 0.15, np.round(errors, 3)
        assert tgt["fwhm"] == pytest.approx(1.0 / 0.15 / 2)


def test_emission_lines_are_on_the_trace(small_night):
    night, truth = small_night
    sci = next(f for f in truth["frames"] if f["role"] == "science")
    img = trimmed(fits.getdata(night / sci["file"]), truth)
    tgt = sci["targets"][0]
    z = tgt["redshift"]
    wave = np.asarray(tgt["wavelength_at_trace"])
    cols = np.arange(wave.size)
    for line in tgt["emission_lines"]:
        assert line["observed"] == pytest.approx(line["rest"] * (1 + z))
        x = line["column_at_trace"]
        assert np.interp(x, cols, wave) == pytest.approx(line["observed"], abs=0.05)
    ha = next(line for line in tgt["emission_lines"] if line["name"] == "Halpha")
    r = int(round(ha["row_at_trace"]))
    spectrum = img[r - 2 : r + 3].sum(axis=0)
    assert fit_peak(spectrum, ha["column_at_trace"], 4) == pytest.approx(
        ha["column_at_trace"], abs=0.1
    )


def test_cosmic_rays_are_where_truth_says(small_night):
    night, truth = small_night
    sci = next(f for f in truth["frames"] if f["role"] == "science")
    rays = sci["cosmic_rays"]
    assert 100 < rays["events"] < 600
    data = fits.getdata(night / sci["file"]).astype(float)
    noise = truth["readout_mode"]["rdnoise"] / truth["readout_mode"]["gain"]
    rr, cc = np.asarray(rays["raw_rows"]), np.asarray(rays["raw_cols"])
    assert np.array_equal(rr, np.asarray(rays["rows"]) + 1)
    assert np.array_equal(cc, np.asarray(rays["cols"]) + truth["trim_offset"]["col"])
    hit = np.zeros(data.shape, bool)
    hit[rr, cc] = True
    bright = 0
    for r, c in zip(rr, cc, strict=True):
        win = data[max(r - 3, 0) : r + 4, max(c - 3, 0) : c + 4]
        clean = win[~hit[max(r - 3, 0) : r + 4, max(c - 3, 0) : c + 4]]
        if data[r, c] > np.median(clean) + 5 * max(noise, np.std(clean)):
            bright += 1
    assert bright / rr.size > 0.9
    # bias frames get none
    assert truth["frames"][0]["cosmic_rays"]["events"] == 0


def test_sky_truth_is_the_flat_fielded_sky(small_night):
    night, truth = small_night
    sci = next(f for f in truth["frames"] if f["role"] == "science")
    img = trimmed(fits.getdata(night / sci["file"]), truth)
    illum = np.asarray(truth["illumination"]["profile"])
    sky = np.asarray(sci["sky_adu"])
    # rows far from both targets
    centres = [np.asarray(t["trace_centres"]) for t in sci["targets"]]
    lo, hi = truth["slit_edges"]
    rows = [
        r
        for r in range(int(lo) + 15, int(hi) - 15)
        if all(np.min(np.abs(c - r)) > 40 for c in centres)
    ]
    measured = np.median(img[rows] / illum[rows, None], axis=0)
    cols = slice(50, -50)
    assert np.median(measured[cols] - sky[cols]) == pytest.approx(0, abs=1.0)


def test_iter_night_streams_in_observing_order():
    cfg = NightConfig(n_bias=1, n_flats=1, n_arcs=1, n_science=1, n_standards=0)
    frames = list(iter_night(cfg))
    assert [rec["role"] for _, _, rec in frames] == ["bias", "flat", "arc", "science"]
    assert all(isinstance(h, fits.HDUList) for _, h, _ in frames)


@pytest.mark.parametrize("binning", [1, 3])
def test_slit_edges_at_other_binnings(binning):
    cfg = NightConfig(binning=binning, n_bias=0, n_flats=1, n_arcs=0, n_science=0, noise=False)
    sim = NightSimulator(cfg)
    night = sim.night_truth()
    _, hdul, _ = next(sim.frames())
    img = trimmed(hdul[0].data, night)
    nx = img.shape[1]
    profile = np.median(img[:, nx // 3 : 2 * nx // 3], axis=1)
    centre = profile[int(round(night["slit_centre_row"]))]
    lo_true, hi_true = night["slit_edges"]
    rows = np.arange(profile.size, dtype=float)
    n_lo = int(lo_true) + 10
    lo = np.interp(0.5 * centre, profile[:n_lo], rows[:n_lo])
    upper = slice(int(hi_true) - 10, profile.size)
    hi = np.interp(0.5 * centre, profile[upper][::-1], rows[upper][::-1])
    assert lo == pytest.approx(lo_true, abs=0.25)
    assert hi == pytest.approx(hi_true, abs=0.25)
    # the same physical slit: unbinned edges agree across binnings
    assert (lo_true + 1) * binning + (binning - 1) / 2 == pytest.approx(219.5)


def test_lines_are_tilted_as_truth_says():
    cfg = NightConfig(
        n_bias=0, n_flats=0, n_arcs=1, n_science=0, tilt=0.004, noise=False, flexure_px=0.4
    )
    sim = NightSimulator(cfg)
    night = sim.night_truth()
    _, hdul, rec = next(sim.frames())
    img = trimmed(hdul[0].data, night)
    yc = night["slit_centre_row"]
    line = max((ln for ln in rec["lines"] if ln["isolated"]), key=lambda ln: ln["peak_adu"])
    for dy in (-300, 0, 300):
        row = int(round(yc + dy))
        expected = line["column"] + night["tilt"] * (row - yc)
        assert fit_peak(img[row], expected, 4) == pytest.approx(expected, abs=0.05)
