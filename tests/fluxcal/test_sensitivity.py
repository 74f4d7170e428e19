"""Sensitivity and flux calibration on 1-D spectra of known flux (fast, no frames)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from pipeline.fluxcal.apply import IncompatibleSensitivity, choose_sensitivity, flux_calibrate
from pipeline.fluxcal.extinction import computed_airmass, frame_airmass
from pipeline.fluxcal.io import read_spectrum
from pipeline.fluxcal.sensitivity import (
    PENALTIES,
    TELLURIC_BANDS,
    StandardRejected,
    compute_sensitivity,
    excluded,
    fit_pspline,
    read_sensitivity,
    write_sensitivity,
)
from pipeline.wavelength.fits_io import write_spectrum
from pipeline.wavelength.shared_noise import SharedNoise
from tests.fluxcal import known_flux as kf

WAVE = np.arange(3600.0, 8900.0, 2.0)


def _sensitivity(airmass=1.2, wave=WAVE, filter_cut=None, seed=2, **cards):
    truth = kf.true_sensitivity(wave, filter_cut)
    # 300 s of LTT 3218: S/N ~100 per 2 Å bin, as a standard is usually exposed
    std = kf.observe(kf.star_flux("LTT3218", wave), wave, airmass, 300, seed, truth)
    return compute_sensitivity(std, kf.header("LTT3218", airmass, 300, **cards)), truth


def _outside_telluric(w):
    keep = np.ones(w.size, bool)
    for lo, hi in TELLURIC_BANDS:
        keep &= (w < lo) | (w > hi)
    return keep


@pytest.mark.parametrize("filter_cut", [None, 4550.0])
def test_sensitivity_shape_within_2_percent_away_from_the_ends(filter_cut):
    sens, truth = _sensitivity(filter_cut=filter_cut)
    s, err = sens(WAVE)
    lo = WAVE[0] + 200 if filter_cut is None else filter_cut + 200
    inner = (WAVE > lo) & (WAVE < WAVE[-1] - 200)
    ratio = s[inner] / truth[inner]
    # the units are right too: electrons for a unit flux, not only the shape
    assert abs(np.median(ratio) - 1) < 0.01
    assert np.max(np.abs(ratio / np.median(ratio) - 1)) < 0.02
    # the quoted uncertainty is of the size of the actual error, not far smaller
    assert np.median(np.abs(ratio - 1)) < 3 * np.median(err[inner] / s[inner])


@pytest.mark.parametrize(("x_std", "x_sci"), [(1.0, 2.0), (2.0, 1.0), (1.4, 1.4), (1.05, 1.6)])
def test_recovered_flux_within_3_percent_at_airmasses_1_to_2(x_std, x_sci):
    sens, _ = _sensitivity(airmass=x_std)
    science = kf.observe(kf.target_flux(WAVE), WAVE, x_sci, 1200, seed=5)
    header = kf.header("AT2026xyz", x_sci, 1200, OBSRA="10:00:00", OBSDEC="-50:00:00")
    calibrated, airmass = flux_calibrate(science, header, sens)
    assert airmass == x_sci
    assert calibrated.unit.to_string() == "erg / (Angstrom s cm2)"
    good = ~calibrated.mask & _outside_telluric(WAVE)
    rel = calibrated.flux[good] / kf.target_flux(WAVE)[good] - 1
    assert np.median(np.abs(rel)) <= 0.03
    # without the extinction correction the same data are off by the airmass difference
    if abs(x_std - x_sci) > 0.5:
        plain, _ = flux_calibrate(science, header, sens, extinction=False)
        rel_plain = plain.flux[good] / kf.target_flux(WAVE)[good] - 1
        assert np.median(np.abs(rel_plain)) > 0.05


def test_uncertainty_is_propagated():
    sens, _ = _sensitivity()
    science = kf.observe(kf.target_flux(WAVE), WAVE, 1.3, 1200, seed=9)
    header = kf.header("AT2026xyz", 1.3, 1200, OBSRA="10:00:00", OBSDEC="-50:00:00")
    cal, _ = flux_calibrate(science.to_spectrum(), header, sens)
    std = cal.uncertainty.array
    pull = (cal.flux.value - kf.target_flux(WAVE)) / std
    good = ~cal.mask & _outside_telluric(WAVE)
    # Gaussian errors: the median |pull| is 0.67 when the uncertainty is right
    assert 0.5 < np.median(np.abs(pull[good])) < 0.85


def test_too_little_signal_is_refused_with_the_reason():
    faint = kf.observe(kf.star_flux("LTT3218", WAVE) * 1e-3, WAVE, 1.2, 5, seed=1)
    with pytest.raises(StandardRejected, match="too little signal: median S/N"):
        compute_sensitivity(faint, kf.header("LTT3218", 1.2, 5))


def test_outside_the_table_range_is_refused_with_the_reason():
    red = np.arange(9800.0, 12000.0, 2.0)
    spec = kf.observe(np.full(red.size, 5e-14), red, 1.2, 60)
    with pytest.raises(StandardRejected, match="outside the table's wavelength range"):
        compute_sensitivity(spec, kf.header("LTT3218", 1.2, 60))


def test_not_a_library_star_is_refused():
    spec = kf.observe(kf.star_flux("LTT3218", WAVE), WAVE, 1.2, 60)
    header = kf.header("NGC 1234", 1.2, 60, OBSRA="01:00:00", OBSDEC="-10:00:00")
    with pytest.raises(StandardRejected, match="not a star of the flux library"):
        compute_sensitivity(spec, header)


@pytest.mark.parametrize(
    ("card", "value", "what"),
    [("CCDSUM", "1 1", "binning"), ("WAVMODE", "400_M2", "mode"), ("INSTCONF", "Blue", "camera")],
)
def test_a_sensitivity_of_another_setup_is_never_applied(card, value, what):
    sens, _ = _sensitivity()
    science = kf.observe(kf.target_flux(WAVE), WAVE, 1.3, 1200)
    header = kf.header("AT2026xyz", 1.3, 1200, OBSRA="10:00:00", OBSDEC="-50:00:00")
    header[card] = value
    if card == "INSTCONF":
        header["GAIN"], header["RDNOISE"] = 1.4, 4.74  # a Blue readout
    with pytest.raises(IncompatibleSensitivity, match=what):
        flux_calibrate(science, header, sens)
    choice = choose_sensitivity(header, [sens])
    assert choice.sensitivity is None and what in choice.reason()


def test_nearest_compatible_in_time_then_preferred_star():
    early, _ = _sensitivity(**{"DATE-OBS": "2026-12-04T23:00:00"})
    late, _ = _sensitivity(**{"DATE-OBS": "2026-12-05T06:00:00"})
    late.standard = "EG274"
    other, _ = _sensitivity(CCDSUM="1 1", **{"DATE-OBS": "2026-12-05T01:00:00"})
    header = kf.header("AT2026xyz", 1.3, 600, **{"DATE-OBS": "2026-12-05T01:30:00"})
    choice = choose_sensitivity(header, [late, other, early])
    assert choice.sensitivity is early and choice.age_days == pytest.approx(2.5 / 24)
    assert choose_sensitivity(header, [late, early], preferred="eg 274").sensitivity is late


def test_master_round_trip_and_specutils_reads_it(tmp_path):
    from specutils import Spectrum

    sens, _ = _sensitivity()
    path = write_sensitivity(sens, tmp_path)
    assert (
        path.name == "master_sens_400_m1_RED_2x2_20261204_ltt3218.fits"
    )  # 01:00 UT on the 5th: the night of the 4th
    back = read_sensitivity(path)
    assert back.setup == sens.setup and back.standard == "LTT3218"
    assert back.airmass == pytest.approx(1.2) and back.frame == sens.frame
    np.testing.assert_allclose(back(WAVE)[0], sens(WAVE)[0], rtol=1e-9)
    spec = Spectrum.read(path)
    assert spec.spectral_axis.unit.to_string() == "Angstrom"
    assert spec.flux.unit.to_string() == "cm2 electron / erg"
    # provenance: the standard frame, its airmass, mode, binning, slit and date
    header = fits.getheader(path)
    assert header["GSP_SFRM"] == "wecfzst_0001_LTT3218_target_1.fits"
    assert header["GSP_SRAW"] == "0001_LTT3218.fits"
    assert header["GSP_SAIR"] == pytest.approx(1.2) and header["GSP_SASR"] == "AIRMASS card"
    assert header["GSP_SMOD"] == "400_M1" and header["GSP_SBIN"] == "2x2"
    assert header["GSP_SCAM"] == "RED" and header["GSP_SSLT"] == "1.0_LONG_SLIT"
    assert header["GSP_SDAT"] == "2026-12-05T01:00:00" and header["GSP_SSTD"] == "LTT3218"
    assert header["GSP_SPEN"] == sens.penalty and header["GSP_SEXF"] == "ctioextinct.dat"
    # its uncertainty is written beside it, and is small for a 300 s standard
    np.testing.assert_allclose(spec.uncertainty.array, sens.uncertainty, rtol=1e-12)
    assert 0 < np.median(sens.uncertainty / sens.sensitivity) < 0.01


def test_a_written_sensitivity_holds_the_values_its_master_reads_back_as(tmp_path):
    """What the process that made a master calibrates with is what a later job reading
    the file does, bit for bit; the digest names those values (GSP_SSUM) and changes
    with them, whatever the file's name."""
    from dataclasses import replace

    sens, _ = _sensitivity(airmass=1.23456789)
    computed_axis = sens.wavelength.copy()
    path = write_sensitivity(sens, tmp_path)
    back = read_sensitivity(path)
    for name in ("wavelength", "sensitivity", "uncertainty"):
        np.testing.assert_array_equal(getattr(sens, name), getattr(back, name), err_msg=name)
    np.testing.assert_allclose(sens.wavelength, computed_axis, rtol=1e-12)  # only rounding
    assert sens.airmass == back.airmass == 1.2346
    assert sens.digest == back.digest == fits.getval(path, "GSP_SSUM")
    # a master remade under the same name with other values has another digest
    remade = replace(back, sensitivity=back.sensitivity * (1 + 1e-5))
    assert write_sensitivity(remade, tmp_path) == path
    assert read_sensitivity(path).digest == remade.digest != back.digest
    assert replace(back, extinction=not back.extinction).digest != back.digest


def test_airmass_is_computed_when_the_header_has_none():
    header = kf.header("LTT3218", 1.0, 60)
    del header["AIRMASS"]
    # LTT 3218 on the meridian: zenith distance = |latitude - dec| = 2.7 deg
    header["DATE-OBS"] = "2026-03-01T01:00:00"
    value, source = frame_airmass(header)
    assert "computed" in source and 1.0 <= value < 3.0
    del header["OBSRA"]
    with pytest.raises(ValueError, match="OBSRA, OBSDEC and DATE-OBS are needed"):
        computed_airmass(header)


def test_computed_airmass_is_astropys_altaz_at_mid_exposure():
    """No AIRMASS card: sec z from OBSRA/OBSDEC seen from SOAR at the middle of the
    exposure, as astropy's AltAz frame gives it (an unusable card counts as none)."""
    import astropy.units as u
    from astropy.coordinates import AltAz, EarthLocation, SkyCoord
    from astropy.time import Time
    from astropy.utils import iers

    header = kf.header("LTT3218", 1.0, 1800, **{"DATE-OBS": "2026-03-01T07:00:00"})
    header["AIRMASS"] = "n/a"
    soar = EarthLocation.from_geodetic(-70.7337 * u.deg, -30.2379 * u.deg, 2738 * u.m)
    star = SkyCoord("08:41:32.37", "-32:56:32.9", unit=(u.hourangle, u.deg))

    def secz(when):
        with iers.conf.set_temp("auto_download", False):
            return float(star.transform_to(AltAz(obstime=Time(when), location=soar)).secz)

    mid = secz(Time("2026-03-01T07:00:00") + 900 * u.s)
    value, source = frame_airmass(header)
    assert "computed" in source
    assert value == pytest.approx(mid, rel=1e-4)
    # 7 h after transit the star sinks fast: the start of the exposure would be wrong
    assert abs(secz("2026-03-01T07:00:00") - mid) > 0.1
    sens, _ = _sensitivity(**{"AIRMASS": "", "DATE-OBS": "2026-03-01T07:00:00", "EXPTIME": 300})
    assert sens.airmass == pytest.approx(secz(Time("2026-03-01T07:00:00") + 150 * u.s), rel=1e-4)
    assert "computed" in sens.airmass_source


def test_telluric_bands_are_masked_and_bridged():
    """Deep O2 (B, A) and H2O absorption in the standard does not reach the sensitivity:
    those bins are left out and the fit crosses them smoothly."""
    for lo, hi in TELLURIC_BANDS:
        assert excluded(np.array([lo + 1, hi - 1])).all()
    assert not excluded(np.array([5500.0, 6000.0, 8500.0])).any()
    truth = kf.true_sensitivity(WAVE)
    absorbed = np.ones(WAVE.size)
    for lo, hi in TELLURIC_BANDS:  # 60 % absorbed: far beyond the 2 % tolerance
        absorbed[(WAVE >= lo + 10) & (WAVE <= hi - 10)] = 0.4
    std = kf.observe(kf.star_flux("LTT3218", WAVE), WAVE, 1.2, 300, 2, truth * absorbed)
    sens = compute_sensitivity(std, kf.header("LTT3218", 1.2, 300))
    s, _ = sens(WAVE)
    bands = (absorbed < 1) & (WAVE < WAVE[-1] - 200)
    assert bands.sum() > 100
    assert np.max(np.abs(s[bands] / truth[bands] - 1)) < 0.02


def test_smoothing_is_chosen_by_cross_validation():
    """The same smooth curve (with a filter edge): noisy data get a stiffer fit than
    clean data, and the chosen fit predicts left-out points better than the loosest and
    the stiffest fits of the grid."""
    from scipy.interpolate import BSpline

    x = np.linspace(4000.0, 8000.0, 1500)
    y = np.log(kf.true_sensitivity(x, 4550.0))
    chosen = {}
    for sigma in (1e-3, 1e-1):
        noisy = y + np.random.default_rng(4).standard_normal(x.size) * sigma
        chosen[sigma] = fit_pspline(x, noisy, np.full(x.size, sigma))["penalty"]
    assert chosen[1e-1] > chosen[1e-3]
    held = np.arange(x.size) % 7 == 0
    noisy = y + np.random.default_rng(5).standard_normal(x.size) * 0.1

    def error(penalties):
        fit = fit_pspline(x[~held], noisy[~held], np.full((~held).sum(), 0.1), penalties)
        curve = BSpline(fit["knots"], fit["coefficients"], 3)(x[held])
        return np.sqrt(np.mean((curve - y[held]) ** 2))

    best = error(PENALTIES)
    assert best < 0.95 * error(PENALTIES[:1]) and best < 0.5 * error(PENALTIES[-1:])


def test_a_sensitivity_made_without_extinction_is_applied_consistently():
    wave = WAVE
    truth = kf.true_sensitivity(wave)
    std = kf.observe(kf.star_flux("LTT3218", wave), wave, 1.9, 300, 2, truth)
    sens = compute_sensitivity(std, kf.header("LTT3218", 1.9, 300), extinction=False)
    assert not sens.extinction
    science = kf.observe(kf.target_flux(wave), wave, 1.0, 1200, seed=5)
    header = kf.header("AT2026xyz", 1.0, 1200, OBSRA="10:00:00", OBSDEC="-50:00:00")
    cal, _ = flux_calibrate(science, header, sens)  # corrects the airmass difference
    good = ~cal.mask & _outside_telluric(wave)
    assert np.median(np.abs(cal.flux[good] / kf.target_flux(wave)[good] - 1)) <= 0.03


def test_a_spectrum_without_exposure_time_is_refused_saying_what_to_fix():
    from pipeline.fluxcal.sensitivity import FluxInputError

    sens, _ = _sensitivity()
    science = kf.observe(kf.target_flux(WAVE), WAVE, 1.3, 1200)
    header = kf.header("AT2026xyz", 1.3, 1200, OBSRA="10:00:00", OBSDEC="-50:00:00")
    header["EXPTIME"] = "n/a"
    with pytest.raises(FluxInputError, match="EXPTIME='n/a' is not an exposure time"):
        flux_calibrate(science, header, sens)


@pytest.mark.parametrize(
    ("what", "reason"),
    [
        ("faint", "standard not used: too little signal: median S/N"),
        ("red", "standard not used: outside the table's wavelength range"),
    ],
)
def test_a_bad_standard_product_gets_a_status_saying_why(tmp_path, what, reason):
    """The night's and the live job's path (sensitivity_from_product): no master, a
    skipped result whose reason the standard's status shows (saturation: the
    saturated-standard tests of test_flux_night and test_engine_flux)."""
    from pipeline.fluxcal.night_stage import sensitivity_from_product
    from pipeline.wavelength.fits_io import write_spectrum

    if what == "faint":
        spec = kf.observe(kf.star_flux("LTT3218", WAVE) * 1e-3, WAVE, 1.2, 5, seed=1)
        header = kf.header("LTT3218", 1.2, 5)
    else:
        red = np.arange(9800.0, 12000.0, 2.0)
        spec, header = (
            kf.observe(np.full(red.size, 5e-14), red, 1.2, 60),
            kf.header("LTT3218", 1.2, 60),
        )
    path = write_spectrum(spec, tmp_path / "wecfzst_0001_LTT3218_target_1.fits", header)
    sens, result = sensitivity_from_product(path, tmp_path / "out")
    assert sens is None and result.status == "skipped" and result.data_type == 1
    assert result.reason.startswith(reason)
    assert not list(tmp_path.glob("out/master_sens_*"))


def test_the_bins_shared_noise_is_calibrated_with_them(tmp_path):
    """A product's COVAR and COVBAND (the noise its bins share) are read with it and
    scale with each bin's calibration factor, so the fwecfzst_ product's error of sums
    is that of the counts' (no such extensions before: quadrature only)."""
    sens, _ = _sensitivity()
    science = kf.observe(kf.target_flux(WAVE), WAVE, 1.3, 1200, seed=9)
    header = kf.header("AT2026xyz", 1.3, 1200, OBSRA="10:00:00", OBSDEC="-50:00:00")
    rng = np.random.default_rng(0)
    science.meta = {
        "shared_noise": SharedNoise(rng.normal(0, 50, (3, WAVE.size)), 2),
        "neighbour_covariance": np.abs(rng.normal(0, 100, (2, WAVE.size))),
    }
    spec, read_header = read_spectrum(write_spectrum(science, tmp_path / "wecfzst_x.fits", header))
    cal, _ = flux_calibrate(spec, read_header, sens)
    good = ~cal.mask & (spec.flux != 0)
    factor = np.where(good, cal.flux / np.where(good, spec.flux, 1.0), 0.0)
    vectors = spec.meta["shared_noise"].vectors
    assert cal.meta["shared_noise"].positive == 2
    assert np.allclose(cal.meta["shared_noise"].vectors[:, good], (vectors * factor)[:, good])
    band = spec.meta["neighbour_covariance"]
    both = good[:-1] & good[1:]
    expected = band[0, :-1] * factor[:-1] * factor[1:]
    assert np.allclose(cal.meta["neighbour_covariance"][0, :-1][both], expected[both])
