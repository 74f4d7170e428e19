"""Flux calibration of whole simulated 2x2 nights, against the simulator's truth."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from pipeline.fluxcal.sensitivity import TELLURIC_BANDS, read_sensitivity
from pipeline.night import reduce_night
from pipeline.simulate import NightConfig, simulate_night
from pipeline.simulation import spectra

NIGHT = NightConfig(
    mode="400_M2",  # with its GG455 order-blocking filter: a sharp edge in the sensitivity
    camera="Red",
    binning=2,
    n_bias=2,
    n_flats=2,
    n_arcs=1,
    n_science=1,
    n_standards=1,
    n_targets=1,
    standard_airmass=1.8,  # the science is near the zenith: extinction matters
    seed=11,
)


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    base = tmp_path_factory.mktemp("fluxnight")
    truth = simulate_night(base / "raw", NIGHT)
    report = reduce_night(base / "raw", base / "out")
    return base, truth, report


def _frame(truth, role):
    return next(f for f in truth["frames"] if f["role"] == role)


def _outside_telluric(w):
    keep = np.ones(w.size, bool)
    for lo, hi in TELLURIC_BANDS:
        keep &= (w < lo) | (w > hi)
    return keep


def test_science_gets_a_flux_calibrated_product_specutils_reads(night):
    from specutils import Spectrum

    base, truth, report = night
    sci = _frame(truth, "science")
    name = "fwecfzst_" + sci["file"].replace(".fits", "_target_1.fits")
    path = base / "out" / name
    assert path.is_file(), report.by_name(sci["file"]).reason
    header = fits.getheader(path)
    assert header["RLEVEL"] == 65
    assert header["GSP_PNAM"] == name[1:]
    assert header["GSP_SENS"].startswith("master_sens_400_m2_GG455_RED_2x2_")
    assert (base / "out" / header["GSP_SENS"]).is_file()
    assert "relative flux" in header["GSP_SLOS"]
    assert header["GSP_FLUX"] is True and header["GSP_EXTC"] is True
    spec = Spectrum.read(path)
    assert spec.flux.unit.to_string() == "erg / (Angstrom s cm2)"
    assert spec.spectral_axis.unit.to_string() == "Angstrom"
    assert spec.uncertainty is not None and np.isfinite(spec.uncertainty.array).sum() > 1000
    from pipeline.spectroscopy.night_stage import products_entries

    entries = products_entries(report, report.spectra)
    assert next(e for e in entries if e["file"] == name)["data_type"] == 5
    sens = next(e for e in entries if e["file"] == header["GSP_SENS"])
    assert sens["data_type"] == 1


def test_gsp_reduce_runs_the_plans_sensitivity_and_flux_steps(night):
    """The plan's last two steps in the batch run: a sensitivity from the standard,
    data_type 5 for every star's spectrum (the standard's own too), none for the arc."""
    base, truth, report = night
    assert {"sensitivity", "flux"} <= set(report.timings)
    made = {Path(p.file).name for p in report.spectra if p.status == "written" and p.file}
    (sens,) = [n for n in made if n.startswith("master_sens_")]
    standard = report.by_name(_frame(truth, "standard")["file"])
    assert sens in {Path(p).name for p in standard.products}
    fluxed = sorted(n for n in made if n.startswith("f"))
    stems = [_frame(truth, role)["file"].removesuffix(".fits") for role in ("science", "standard")]
    assert fluxed == sorted(f"fwecfzst_{stem}_target_1.fits" for stem in stems)
    arc = _frame(truth, "arc")["file"]
    assert not list((base / "out").glob(f"fw*{arc.removesuffix('.fits')}*"))  # (fwefzst_)


def test_recovered_flux_matches_the_truth_within_3_percent(night):
    from pipeline.fluxcal.io import read_spectrum

    base, truth, _ = night
    sci = _frame(truth, "science")
    spec, _ = read_spectrum(
        base / "out" / ("fwecfzst_" + sci["file"].replace(".fits", "_target_1.fits"))
    )
    target = sci["targets"][0]
    tw, tf = np.array(target["wavelength_at_trace"]), np.array(target["flux_true"])
    order = np.argsort(tw)
    true = np.interp(spec.axis, tw[order], tf[order])
    cut = spectra.filter_cut_on("GG455")
    good = (
        ~spec.mask
        & _outside_telluric(spec.axis)
        & (spec.axis > cut + 150)  # below the filter edge there is no light to calibrate
        & (spec.axis < spec.axis.max() - 100)
    )
    rel = spec.flux[good] / true[good] - 1
    assert good.sum() > 1000
    assert np.median(np.abs(rel)) <= 0.03
    # the standard and the science were at very different airmasses
    assert _frame(truth, "standard")["airmass"] - sci["airmass"] > 0.5


def test_sensitivity_shape_matches_the_simulated_throughput(night):
    base, truth, _ = night
    (path,) = (base / "out").glob("master_sens_*.fits")
    sens = read_sensitivity(path)
    std = _frame(truth, "standard")
    assert sens.standard == std["standard"]["name"] and sens.airmass == pytest.approx(
        std["airmass"], abs=1e-4
    )
    header = fits.getheader(path)
    assert header["RLEVEL"] == 61 and header["GSP_EXTC"] is True and "GSP_CRRJ" in header
    assert header["GSP_SFRM"].startswith("wecfzst_") and header["GSP_SMOD"] == "400_M2"
    w = sens.wavelength
    true = spectra.sensitivity_adu(w, "GG455")
    inner = (w > spectra.filter_cut_on("GG455") + 200) & (w < w.max() - 200)
    ratio = sens.sensitivity[inner] / true[inner]
    assert np.max(np.abs(ratio / np.median(ratio) - 1)) <= 0.02


def test_no_standard_keeps_data_type_4_and_says_why_then_an_earlier_night_serves(night, tmp_path):
    base, truth, _ = night
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in truth["frames"]:
        if f["role"] != "standard":
            shutil.copy(base / "raw" / f["file"], raw / f["file"])
    sci = _frame(truth, "science")
    report = reduce_night(raw, tmp_path / "alone")
    assert not list((tmp_path / "alone").glob("fwecfzst_*"))
    assert list((tmp_path / "alone").glob("wecfzst_*"))
    reason = report.by_name(sci["file"]).reason
    assert "no flux calibration (data_type 5): no standard star" in reason
    skipped = [p for p in report.spectra if p.data_type == 5]
    assert skipped and all(p.status == "skipped" for p in skipped)

    report = reduce_night(raw, tmp_path / "with_earlier", calibration_dirs=[base / "out"])
    (made,) = (tmp_path / "with_earlier").glob("fwecfzst_*")
    header = fits.getheader(made)
    (master,) = (base / "out").glob("master_sens_*.fits")
    assert header["GSP_SENS"] == master.name and header["GSP_SAGE"] >= 0


def test_flux_calibration_off_makes_no_data_type_5(night, tmp_path):
    from pipeline.settings import FluxSettings

    base, truth, _ = night
    report = reduce_night(
        base / "raw", tmp_path / "off", flux_settings=FluxSettings(flux_calibration=False)
    )
    assert not list((tmp_path / "off").glob("fwecfzst_*"))
    assert not list((tmp_path / "off").glob("master_sens_*"))
    assert not [p for p in report.spectra if p.data_type in (1, 5)]


def test_a_saturated_standard_is_refused_with_the_reason(tmp_path):
    cfg = NightConfig(
        mode="400_M2",
        binning=2,
        n_bias=1,
        n_flats=1,
        n_arcs=1,
        n_science=0,
        n_standards=1,
        n_targets=1,
        standard_exptime=3000.0,
        seed=5,
    )
    truth = simulate_night(tmp_path / "raw", cfg)
    report = reduce_night(tmp_path / "raw", tmp_path / "out")
    std = _frame(truth, "standard")
    assert not list((tmp_path / "out").glob("master_sens_*"))
    assert "saturated" in report.by_name(std["file"]).reason
    assert [p for p in report.spectra if p.data_type == 1 and "saturated" in p.reason]


def test_a_new_standard_redoes_only_spectra_it_calibrates_better(night, tmp_path):
    """The live path: a standard arriving re-flux-calibrates what it improves."""
    from dataclasses import replace
    from datetime import timedelta

    from pipeline.fluxcal.night_stage import recalibrate_with
    from pipeline.fluxcal.sensitivity import write_sensitivity

    base, truth, _ = night
    out = base / "out"
    (master,) = out.glob("master_sens_*.fits")
    sens = read_sensitivity(master)
    spectra = sorted(out.glob("wecfzst_*.fits"))
    assert recalibrate_with(sens, spectra, out) == []  # already made with it

    older = replace(sens, date_obs=sens.date_obs - timedelta(days=3), standard="EG274")
    write_sensitivity(older, tmp_path)
    redo = recalibrate_with(older, spectra, out)
    assert redo == []  # farther in time than the one used: nothing to redo

    work = tmp_path / "night"
    shutil.copytree(out, work)
    for f in work.glob("fwecfzst_*.fits"):
        f.unlink()
    redo = recalibrate_with(older, sorted(work.glob("wecfzst_*.fits")), work)
    assert len(redo) == 2 and all(r.status == "written" for r in redo)
    assert all("no flux-calibrated product yet" in r.reason for r in redo)
    header = fits.getheader(redo[0].file)
    assert header["GSP_SAGE"] >= 3 - 0.1 and header["GSP_SNIT"] == "another night (fallback)"
    assert "another night" in redo[0].reason
    redo = recalibrate_with(sens, sorted(work.glob("wecfzst_*.fits")), work)
    assert len(redo) == 2 and all("nearer in time" in r.reason for r in redo)


def test_a_sensitivity_made_again_under_its_name_redoes_what_it_calibrated(night, tmp_path):
    """A master is rewritten under its name when its standard is made again (the live
    path re-extracts a standard after a new arc): the spectra calibrated with its earlier
    values are redone, those with the same values are not."""
    from dataclasses import replace

    from pipeline.fluxcal.io import read_spectrum
    from pipeline.fluxcal.night_stage import recalibrate_with
    from pipeline.fluxcal.sensitivity import write_sensitivity

    base, _, _ = night
    work = tmp_path / "night"
    shutil.copytree(base / "out", work)
    (master,) = work.glob("master_sens_*.fits")
    spectra = sorted(work.glob("wecfzst_*.fits"))
    same = read_sensitivity(master)
    write_sensitivity(same, work)  # the same values written again
    assert recalibrate_with(same, spectra, work) == []
    # 1e-5 in the blue: what a standard's re-extraction with a new arc changes
    blue = 1 + 1e-5 * (same.wavelength < same.wavelength[0] + 150)
    remade = replace(same, sensitivity=same.sensitivity * blue)
    assert write_sensitivity(remade, work) == master
    redo = recalibrate_with(remade, spectra, work)
    assert len(redo) == 2 and all("was made again" in r.reason for r in redo)
    for r in redo:
        assert fits.getval(r.file, "GSP_SSUM") == read_sensitivity(master).digest
    flux, _ = read_spectrum(redo[0].file)
    before, _ = read_spectrum(base / "out" / Path(redo[0].file).name)
    assert np.any(flux.flux != before.flux)


def test_specutils_spectra_read_from_the_products_calibrate_directly(night):
    """A notebook user's path: Spectrum.read the products, no header handling."""
    from specutils import Spectrum

    from pipeline.fluxcal.apply import flux_calibrate
    from pipeline.fluxcal.sensitivity import compute_sensitivity

    base, truth, _ = night
    std, sci = _frame(truth, "standard"), _frame(truth, "science")
    out = base / "out"
    std_spec = Spectrum.read(out / ("wecfzst_" + std["file"].replace(".fits", "_target_1.fits")))
    sens = compute_sensitivity(std_spec)
    sci_name = "wecfzst_" + sci["file"].replace(".fits", "_target_1.fits")
    calibrated, airmass = flux_calibrate(Spectrum.read(out / sci_name), None, sens)
    made = Spectrum.read(out / ("f" + sci_name))
    assert airmass == pytest.approx(sci["airmass"], abs=1e-5)
    np.testing.assert_allclose(calibrated.flux.value, made.flux.value, rtol=1e-5, atol=1e-22)


def test_each_flux_setting_changes_what_the_pipeline_does(night, tmp_path):
    """extinction_correction off: the sensitivity and the product are not corrected to
    above the atmosphere (the standard at airmass 1.8, the science near the zenith: the
    blue flux differs by the extinction between them, as the issue's accuracy tests
    show it must not with the correction on). preferred_standard: that star's
    sensitivity is used though another is nearer in time. (flux_calibration off:
    test_flux_calibration_off_makes_no_data_type_5.)"""
    from dataclasses import replace
    from datetime import timedelta

    from pipeline.fluxcal.io import read_spectrum
    from pipeline.fluxcal.night_stage import flux_product, sensitivity_from_product
    from pipeline.fluxcal.sensitivity import write_sensitivity
    from pipeline.settings import FluxSettings

    base, truth, _ = night
    out = base / "out"
    std, sci = _frame(truth, "standard"), _frame(truth, "science")
    std_path = out / ("wecfzst_" + std["file"].replace(".fits", "_target_1.fits"))
    sci_path = out / ("wecfzst_" + sci["file"].replace(".fits", "_target_1.fits"))
    default, _ = read_spectrum(out / ("f" + sci_path.name))

    off = FluxSettings(extinction_correction=False)
    sens_off, made = sensitivity_from_product(std_path, tmp_path / "off", off)
    assert made.status == "written" and sens_off.extinction is False
    assert fits.getheader(made.file)["GSP_SEXT"] is False
    result = flux_product(sci_path, [sens_off], tmp_path / "off", off)
    header = fits.getheader(result.file)
    assert header["GSP_FEXT"] is False and header["GSP_EXTC"] is False
    plain, _ = read_spectrum(result.file)
    blue = ~default.mask & ~plain.mask & (default.axis > 4800) & (default.axis < 5200)
    # uncorrected, the science seen through less air than the standard comes out
    # brighter by 10**(0.4 k (X_std - X_sci)), k(5000 Å) ~ 0.19 mag: about 13 %
    assert np.median(plain.flux[blue] / default.flux[blue]) > 1.07

    (master,) = out.glob("master_sens_*.fits")
    night_sens = read_sensitivity(master)
    older = replace(night_sens, date_obs=night_sens.date_obs - timedelta(days=2), standard="EG274")
    write_sensitivity(older, tmp_path)
    chosen = {}
    for preferred in ("", "EG 274"):
        result = flux_product(
            sci_path,
            [night_sens, older],
            tmp_path / f"pref{bool(preferred)}",
            FluxSettings(preferred_standard=preferred),
        )
        chosen[preferred] = fits.getheader(result.file)["GSP_SENS"]
    assert chosen == {"": master.name, "EG 274": older.name}
