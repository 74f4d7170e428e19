"""The whole chain on simulated frames: products, headers, bad input, and gsp reduce."""

from __future__ import annotations

import argparse
import json

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty
from specutils import Spectrum

from pipeline.spectroscopy.chain import process_science
from pipeline.wavelength import solution_from_header
from pipeline.wavelength.lines import fit_centres


def _trimmed(hdul, night, name) -> CCDData:
    raw = hdul[0].data.astype(float)
    pre = night["prescan_columns"][1]
    ny, nx = night["trimmed_shape"]
    level = np.median(raw[:, :pre], axis=1, keepdims=True)
    data = (raw - level)[1 : 1 + ny, pre : pre + nx]
    h = hdul[0].header.copy()
    h["GSP_FNAM"] = "cfzst_" + name  # as the CCD reduction names it
    h["GSP_ONAM"] = name
    unc = np.sqrt(np.clip(data, 0, None) / h["GAIN"] + (h["RDNOISE"] / h["GAIN"]) ** 2)
    return CCDData(data, unit=u.adu, uncertainty=StdDevUncertainty(unc), meta=h)


@pytest.fixture(scope="module")
def frames():
    """Trimmed science and arcs of a 400_M2 2x2 night (two targets), with truth."""
    from pipeline.simulate import NightConfig, iter_night
    from pipeline.simulation.night import NightSimulator

    cfg = NightConfig(
        mode="400_M2",
        binning=2,
        flexure_px=-2.3,
        n_bias=1,
        n_flats=1,
        n_arcs=2,
        n_science=1,
        n_targets=2,
        seed=4,
    )
    night = NightSimulator(cfg).night_truth()
    out = {"arcs": [], "night": night}
    for name, hdul, truth in iter_night(cfg):
        if truth["role"] == "arc":
            out["arcs"].append(_trimmed(hdul, night, name))
        elif truth["role"] == "science":
            out["science"] = _trimmed(hdul, night, name)
            out["truth"] = truth
    return out


@pytest.fixture(scope="module")
def processed(frames, tmp_path_factory):
    """``(out_dir, results)`` of the science processed with both arcs and defaults, made
    once for the tests that only read it (a test that writes more copies ``out_dir``)."""
    out = tmp_path_factory.mktemp("processed")
    return out, process_science(frames["science"], frames["arcs"], out_dir=out)


def _by_type(results, data_type):
    """Products of the science targets (calibrated arcs, ``target`` None, excluded)."""
    return [r for r in results if r.data_type == data_type and r.target is not None]


def _arc_products(results):
    return [r for r in results if r.data_type == 4 and r.target is None]


def test_products_headers_and_accuracy(frames, processed):
    _, results = processed
    assert len(_by_type(results, 3)) == 2 and len(_by_type(results, 4)) == 2
    assert all(r.status == "written" for r in results), [r.reason for r in results]
    truth_targets = sorted(frames["truth"]["targets"], key=lambda t: np.median(t["trace_centres"]))
    for r, tt in zip(_by_type(results, 4), truth_targets, strict=True):
        assert r.file.endswith(f"_target_{r.target}.fits")
        assert r.file.split("/")[-1].startswith("wecfzst_") or "wecfzst_" in r.file
        hdr = fits.getheader(r.file)
        assert hdr["RLEVEL"] == 64
        assert hdr["GSP_PNAM"].startswith("ecfzst_")
        assert hdr["GSP_ONAM"] == frames["science"].header["GSP_ONAM"]
        assert "comp" in hdr["GSP_LAMP"] and "," in hdr["GSP_LAMP"]  # both arcs named
        for key in (
            "GSP_FUNC",
            "GSP_ORDR",
            "GSP_NPIX",
            "GSP_C000",
            "GSP_WRMS",
            "GSP_WPOI",
            "GSP_WREJ",
            "GSP_TMOD",
            "GSP_TORD",
            "GSP_TC00",
            "GSP_TERR",
            "GSP_EXTR",
            "GSP_BKG1",
        ):
            assert key in hdr, key
        # the header's solution, along the trace, against the truth
        truth = np.asarray(tt["wavelength_at_trace"])
        j = np.arange(truth.size)
        wave = np.polynomial.chebyshev.chebval(j, solution_from_header(hdr))
        err = (wave - truth) / np.abs(np.gradient(truth))
        assert np.sqrt(np.mean(err**2)) <= 0.1
        assert np.abs(err).max() <= 0.3
        assert abs(err.mean()) <= 0.05
        # the product reads back with specutils, in Å, with an uncertainty
        spec = Spectrum.read(r.file)
        assert spec.spectral_axis.unit == u.AA
        assert spec.uncertainty is not None
        # emission lines sit at their true wavelengths (isolated, bright ones)
        w = spec.spectral_axis.value
        step = w[1] - w[0]
        flux = np.where(spec.mask, 0.0, spec.flux.value)
        checked = 0
        lines = tt["emission_lines"]
        for line in lines:
            obs = line["observed"]
            blend = any(o is not line and abs(o["column"] - line["column"]) < 8 for o in lines)
            if blend or not (w[10] < obs < w[-10]) or line["flux_adu"] < 3000:
                continue
            found = fit_centres(flux, np.array([(obs - w[0]) / step]), 1.2, 5)
            assert len(found) == 1
            assert abs(w[0] + step * found.centre[0] - obs) / step <= 0.15, line["name"]
            checked += 1
        assert checked >= 3
        assert "GSP_WSKY" not in hdr  # same flexure: the sky check leaves it alone
    ecf = _by_type(results, 3)[0]
    hdr = fits.getheader(ecf.file)
    assert hdr["RLEVEL"] == 63 and ecf.quality["trace_rms"] > 0


def test_line_table_and_calibrated_arcs(frames, processed, tmp_path):
    """Each science product carries its line table; each arc used is written once as a
    calibrated 1-D product (goodman's ``wecfzst_`` prefix, data_type 4) with its own."""
    import shutil

    from pipeline.wavelength.line_table import read_lines

    out, results = processed
    science = _by_type(results, 4)
    table = read_lines(science[0].file)
    assert {"pixel", "reference_wavelength", "fitted_wavelength", "status", "used"} <= set(
        table.colnames
    )
    from pipeline.wavelength.identify import STATUSES

    assert set(np.unique(np.asarray(table["status"]))) <= set(STATUSES)
    used = np.asarray(table["used"], bool)
    assert used.sum() == fits.getheader(science[0].file)["GSP_WPOI"]
    # used lines are NIST lines, and their fitted wavelengths agree to the quoted RMS
    ref = np.asarray(table["reference_wavelength"], float)[used]
    fitted = np.asarray(table["fitted_wavelength"], float)[used]
    rms = np.sqrt(np.mean((fitted - ref) ** 2))
    assert rms == pytest.approx(fits.getheader(science[0].file)["GSP_WRMS"], rel=1e-3)

    arcs = _arc_products(results)
    names = sorted(a.header["GSP_FNAM"] for a in frames["arcs"])
    assert sorted(r.file.split("/")[-1] for r in arcs) == ["we" + n for n in names]
    for r in arcs:
        assert r.status == "written" and r.parent in names
        hdr = fits.getheader(r.file)
        assert hdr["RLEVEL"] == 64 and hdr["GSP_PNAM"] == r.parent
        assert hdr["GSP_WREF"] == "NIST air"
        spec = Spectrum.read(r.file)  # no format: the LINES table does not disturb it
        assert spec.spectral_axis.unit == u.AA and spec.flux.size == hdr["NAXIS1"]
        lines = read_lines(r.file)
        assert np.all(np.asarray(lines["arc"])[np.asarray(lines["used"], bool)] == r.parent)
        # the error each line was fitted with, beside its centring error
        fit, centring = (np.asarray(lines[c], float) for c in ("fit_error", "pixel_error"))
        assert "reference_error" in lines.colnames and np.all(fit >= np.nan_to_num(centring))
    # a second science frame of the night does not write the arcs again (into a copy of
    # the night's products: the shared ones stay as made)
    written = {r.parent for r in arcs}
    night = shutil.copytree(out, tmp_path / "night")
    again = process_science(frames["science"], frames["arcs"], out_dir=night, arcs_written=written)
    assert _arc_products(again) == []


def test_no_target_is_a_status(frames, tmp_path):
    blank = frames["science"].copy()
    rng = np.random.default_rng(0)
    blank.data = rng.normal(0, 5, blank.shape)
    (r,) = process_science(blank, frames["arcs"], out_dir=tmp_path)
    assert r.status == "skipped" and "no detectable target" in r.reason
    assert list(tmp_path.iterdir()) == []


def test_no_arc_gives_extracted_product_and_a_reason(frames, tmp_path):
    results = process_science(frames["science"], [], out_dir=tmp_path)
    assert all(r.status == "written" for r in _by_type(results, 3))
    for r in _by_type(results, 4):
        assert r.status == "skipped" and "no arc of mode 400_M2" in r.reason
    assert not list(tmp_path.glob("wecfzst_*"))


def test_arc_of_another_mode_is_refused(frames, tmp_path):
    # another mode is another grating angle (400_M1's, from a real header), whatever
    # the WAVMODE label says
    other = frames["arcs"][0].copy()
    other.header["WAVMODE"] = "400_M1"
    other.header["GRT_ANG"], other.header["CAM_ANG"] = 5.8002, 11.59981
    results = process_science(frames["science"], [other], out_dir=tmp_path)
    for r in _by_type(results, 4):
        assert r.status == "skipped" and "GRT 5.8002 deg" in r.reason, r.reason
        assert "(400_M1)" in r.reason and "angles must agree" in r.reason


def test_wavmode_spelled_with_a_space_still_calibrates(frames, tmp_path):
    sci = frames["science"].copy()
    sci.header["WAVMODE"] = "400 M2"
    results = process_science(sci, frames["arcs"], out_dir=tmp_path)
    assert all(r.status == "written" for r in results)


def _relabelled(frames, wavmode, drop=()):
    sci = frames["science"].copy()
    arcs = [a.copy() for a in frames["arcs"]]
    for ccd in [sci, *arcs]:
        ccd.header = ccd.header.copy()
        ccd.header["WAVMODE"] = wavmode
        for key in drop:
            ccd.header.remove(key, ignore_missing=True)
    return sci, arcs


def test_mode_without_library_lamp(frames, tmp_path):
    """A WAVMODE the library lacks, on a frame whose angles are a library mode's, finds
    that mode's lamp (and says so); with no angles to compute the optics from, the
    spectra are extracted and the wavelength status names what is missing."""
    sci, arcs = _relabelled(frames, "2100_9999A")
    results = process_science(sci, arcs[:1], out_dir=tmp_path / "a")
    for r in _by_type(results, 4):
        assert r.status == "written", r.reason
        assert "WAVMODE '2100_9999A': the grating angles are library mode 400_M2" in r.reason
    sci, arcs = _relabelled(frames, "2100_9999A", drop=("GRT_ANG", "GRT_TARG"))
    results = process_science(sci, arcs[:1], out_dir=tmp_path / "b")
    assert all(r.status == "written" for r in _by_type(results, 3))
    for r in _by_type(results, 4):
        assert r.status == "skipped", r.reason
        assert "no library lamp for WAVMODE '2100_9999A' and no optics model" in r.reason
        assert "no grating angle" in r.reason


def test_nan_columns_are_masked(frames, tmp_path):
    sci = frames["science"].copy()
    sci.data = sci.data.copy()
    sci.data[:, 1000:1004] = np.nan
    results = process_science(sci, frames["arcs"], out_dir=tmp_path)
    assert all(r.status == "written" for r in results)
    spec = Spectrum.read(_by_type(results, 3)[0].file)
    assert spec.mask[1000:1004].all()


def test_gsp_reduce_night_end_to_end(tmp_path):
    """gsp reduce: raw to wecfzst_ products and products.json."""
    from pipeline.cli import reduce as cli
    from pipeline.simulate import NightConfig, simulate_night

    raw, out = tmp_path / "raw", tmp_path / "out"
    simulate_night(
        raw,
        NightConfig(
            mode="400_M2",
            binning=2,
            flexure_px=1.3,
            n_bias=2,
            n_flats=2,
            n_arcs=2,
            n_science=1,
            seed=0,
        ),
    )
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args([str(raw), "--out", str(out), "--quiet"])
    assert cli.run(args) == 0
    doc = json.loads((out / "products.json").read_text())
    by_type = {}
    for entry in doc["products"]:
        by_type.setdefault(entry["data_type"], []).append(entry)
        if entry["file"]:
            assert (out / entry["file"]).exists()
    assert {1, 2, 3, 4} <= set(by_type)
    # the science spectrum, and each arc calibrated (wecfzst_<arc>, no target)
    (w,) = [e for e in by_type[4] if e.get("target") is not None]
    arcs = [e for e in by_type[4] if e.get("target") is None]
    assert len(arcs) == 2 and all("comp" in e["file"] for e in arcs), arcs
    # goodman's prefixes: the arc's own steps (fzst_, no cosmic-ray cleaning) behind "we"
    assert all(e["file"].startswith("wefzst_") and e["status"] == "written" for e in arcs), arcs
    assert w["file"].startswith("wecfzst_") and w["raw_parent"].endswith(".fits")
    q = w["quality"]
    for key in (
        "trace_rms",
        "wavelength_rms_angstrom",
        "wavelength_rms_pixel",
        "lines_used",
        "lines_rejected",
        "snr_median_per_pixel",
    ):
        assert key in q
    assert q["wavelength_rms_pixel"] < 0.2 and q["lines_used"] >= 20
    truth = json.loads((raw / "truth.json").read_text())
    sci = next(f for f in truth["frames"] if f["role"] == "science")
    hdr = fits.getheader(out / w["file"])
    wave = np.polynomial.chebyshev.chebval(np.arange(2030), solution_from_header(hdr))
    t = np.asarray(sci["targets"][0]["wavelength_at_trace"])
    err = (wave - t) / np.abs(np.gradient(t))
    assert np.sqrt(np.mean(err**2)) <= 0.1 and np.abs(err).max() <= 0.3


def test_flexure_between_arcs_and_science_is_taken_from_sky_lines(tmp_path):
    """Arcs at +2.0 px flexure, science at -1.5 px: the sky lines bring it back."""
    from pipeline.simulate import NightConfig, iter_night
    from pipeline.simulation.night import NightSimulator

    cfg = NightConfig(
        mode="400_M2",
        binning=2,
        flexure_px=(2.0, 2.0, -1.5),
        n_bias=1,
        n_flats=1,
        n_arcs=2,
        n_science=1,
        seed=3,
    )
    night = NightSimulator(cfg).night_truth()
    arcs, sci, truth = [], None, None
    for name, hdul, ft in iter_night(cfg):
        if ft["role"] == "arc":
            arcs.append(_trimmed(hdul, night, name))
        elif ft["role"] == "science":
            sci, truth = _trimmed(hdul, night, name), ft
    results = process_science(sci, arcs, out_dir=tmp_path)
    (w,) = _by_type(results, 4)
    assert "solution shifted" in w.reason
    hdr = fits.getheader(w.file)
    assert hdr["GSP_WSKY"] == pytest.approx(-1.75, abs=0.03)
    t = np.asarray(truth["targets"][0]["wavelength_at_trace"])
    wave = np.polynomial.chebyshev.chebval(np.arange(t.size), solution_from_header(hdr))
    err = (wave - t) / np.abs(np.gradient(t))
    assert np.sqrt(np.mean(err**2)) <= 0.1 and abs(err.mean()) <= 0.05


def test_mode_without_library_lamp_calibrates_from_a_first_guess(frames, tmp_path):
    """WAVMODE 'Custom' (no library lamp): with a dispersion model as first guess (the
    optics model's role; here the library model moved 15 px, dispersion 1 % off) the
    science is calibrated; without one, and no angles for the optics, it is skipped
    with the reason."""
    from pipeline.wavelength import select_template
    from tests.wavelength.real_arcs import PerturbedGuess

    # without grating angles there is no optics model to start from either
    science, arcs = _relabelled(frames, "Custom", drop=("GRT_ANG", "GRT_TARG"))
    skipped = _by_type(process_science(science, arcs, out_dir=tmp_path / "a"), 4)
    assert all(r.status == "skipped" and "no optics model" in r.reason for r in skipped)
    guess = PerturbedGuess(select_template("400_M2", "HgArNe"), offset=15.0, scale=1.01)
    results = process_science(science, arcs, out_dir=tmp_path / "b", first_guess=guess)
    truth_targets = sorted(frames["truth"]["targets"], key=lambda t: np.median(t["trace_centres"]))
    for r, tt in zip(_by_type(results, 4), truth_targets, strict=True):
        assert r.status == "written", r.reason
        hdr = fits.getheader(r.file)
        assert hdr["GSP_WTPL"] == guess.name
        truth = np.asarray(tt["wavelength_at_trace"])
        wave = np.polynomial.chebyshev.chebval(np.arange(truth.size), solution_from_header(hdr))
        err = (wave - truth) / np.abs(np.gradient(truth))
        assert np.sqrt(np.mean(err**2)) <= 0.1 and abs(err.mean()) <= 0.05


def test_lamp_offset_settings_reach_each_arcs_solution_and_its_product(
    frames, tmp_path, monkeypatch
):
    """``pen_shift`` and ``bulb_separation`` of the reduction settings are what each arc
    is calibrated with, and the arc's product records them (``GSP_LPEN``, ``GSP_LBLB``)
    beside what the lamp's lines measured."""
    from pipeline.settings import ReductionSettings
    from pipeline.spectroscopy import arc_solutions

    seen = []
    real = arc_solutions.calibrate_arc

    def spy(*args, **kwargs):
        seen.append((kwargs.get("pen_shift"), kwargs.get("separate_bulbs")))
        return real(*args, **kwargs)

    monkeypatch.setattr(arc_solutions, "calibrate_arc", spy)
    settings = ReductionSettings(pen_shift="apply", bulb_separation="apply")
    results = process_science(
        frames["science"], frames["arcs"], settings=settings, out_dir=tmp_path
    )
    arcs = _arc_products(results)
    assert arcs and seen and set(seen) == {("apply", "apply")}
    for r in arcs:
        hdr = fits.getheader(r.file)
        assert hdr["GSP_LPEN"] == "apply" and hdr["GSP_LBLB"] == "apply"
    seen.clear()
    results = process_science(frames["science"], frames["arcs"], out_dir=tmp_path / "default")
    assert set(seen) == {("measure", "measure")}
    assert all(fits.getheader(r.file)["GSP_LBLB"] == "measure" for r in _arc_products(results))
