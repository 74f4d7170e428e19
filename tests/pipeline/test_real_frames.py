"""Real Goodman files (tests/data/real): classified, read with the right geometry, reduced.

None of these files was written by this project; see tests/data/real/README.md.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from pipeline.classify import classify, classify_path
from pipeline.night import reduce_night
from pipeline.reduction.frame import read_raw

REAL = Path(__file__).resolve().parents[1] / "data" / "real"
FULL = REAL / "dragons_soar" / "full"
HEADERS = REAL / "dragons_soar" / "headers_only"
FOCUS = REAL / "goodman_focus"

# file: (technique, role, engineering, camera, binning, grating, l/mm, wavmode, lamps)
# fmt: off
EXPECTED = {
    "goodman_focus/sp_400m1.fits": (
        "Spectroscopy", "other", "focus sequence", "Red", (1, 1), "400_SYZY", 400.0,
        "400_M1", {"Hg", "Ar", "Ne"},
    ),
    "goodman_focus/im_g_SDSS.fits": (
        "Imaging", "other", "focus sequence", "Red", (1, 1), "NO_GRATING", None,
        "Imaging", set(),
    ),
    "dragons_soar/full/goodman_blue_bias.fits": (
        "Spectroscopy", "bias", "", "Blue", (1, 1), "600_SYZY_OLD", 600.0, "600_BLUE", set(),
    ),
    "dragons_soar/full/goodman_blue_flat.fits": (
        "Spectroscopy", "flat", "", "Blue", (1, 1), "600_SYZY_OLD", 600.0, "600_BLUE", set(),
    ),
    "dragons_soar/full/goodman_blue_spec.fits": (
        "Spectroscopy", "science", "", "Blue", (1, 1), "600_SYZY_OLD", 600.0, "600_BLUE",
        set(),
    ),
    "dragons_soar/headers_only/goodman_2016.fits": (
        "Spectroscopy", "arc", "", "Blue", (1, 1), "600_SYZY_OLD", 600.0, "unknown",
        {"Cu", "He", "Ar"},
    ),
    "dragons_soar/headers_only/goodman_blue_acq.fits": (
        "Imaging", "other", "acquisition", "Blue", (1, 1), "NO_GRATING", None, "Custom",
        set(),
    ),
    "dragons_soar/headers_only/goodman_blue_comp.fits": (
        "Spectroscopy", "arc", "", "Blue", (1, 1), "400_SYZY", 400.0, "400_M1", {"Hg", "Ar"},
    ),
    "dragons_soar/headers_only/goodman_blue_imag.fits": (
        "Imaging", "science", "", "Blue", (2, 2), "NO_GRATING", None, "Imaging", set(),
    ),
    "dragons_soar/headers_only/goodman_red_bias.fits": (
        "Spectroscopy", "bias", "", "Red", (1, 2), "400_SYZY", 400.0, "unknown", set(),
    ),
    "dragons_soar/headers_only/goodman_red_comp.fits": (
        "Spectroscopy", "arc", "", "Red", (1, 2), "400_SYZY", 400.0, "unknown",
        {"Hg", "Ar", "Ne"},
    ),
    "dragons_soar/headers_only/goodman_red_flat.fits": (
        "Spectroscopy", "flat", "", "Red", (1, 2), "400_SYZY", 400.0, "unknown", set(),
    ),
    "dragons_soar/headers_only/goodman_red_imag.fits": (
        "Imaging", "standard", "", "Red", (2, 2), "NO_GRATING", None, "Imaging", set(),
    ),
    "dragons_soar/headers_only/goodman_red_spec.fits": (
        "Spectroscopy", "science", "", "Red", (1, 2), "400_SYZY", 400.0, "Custom", set(),
    ),
}
# fmt: on


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_real_file_classifies(name):
    c = classify_path(REAL / name)
    technique, role, engineering, camera, binning, grating, lines, wavmode, lamps = EXPECTED[name]
    assert c.ok, c.status
    assert (c.technique, c.role, c.engineering) == (technique, role, engineering)
    assert (c.camera, c.binning, c.grating, c.lines_per_mm) == (camera, binning, grating, lines)
    assert c.wavmode == wavmode
    assert c.lamps == frozenset(lamps)
    # Angles for the optics model: the measured ones (GRT_ANG/CAM_ANG) when present.
    header = fits.getheader(REAL / name)
    assert c.grating_angle == pytest.approx(header["GRT_ANG"], abs=1e-4)
    assert c.camera_angle == pytest.approx(header["CAM_ANG"], abs=1e-4)


def test_decisions_are_spelled_out():
    old = classify_path(HEADERS / "goodman_2016.fits")
    assert "lamps CuHeAr from OBJECT 'CuHeAr' (no LAMP_* cards)" in old.decisions
    assert any(d.startswith("camera Blue from the readout mode") for d in old.decisions)
    assert any(d.startswith("WAVMODE missing or empty -> unknown") for d in old.decisions)
    focus = classify_path(FOCUS / "sp_400m1.fits")
    assert any("FOCUS" in d and "engineering frame" in d for d in focus.decisions)
    blue = classify_path(FULL / "goodman_blue_spec.fits")
    assert "GRATING 'SYZY_600-OLD' -> 600_SYZY_OLD (600 l/mm)" in blue.decisions
    assert blue.slit_width == pytest.approx(1.03)


def _column_profile(path):
    return np.median(fits.getdata(path).astype(float)[1:], axis=0)


def test_red_prescan_is_dark_and_excluded():
    """sp_400m1: unbinned columns 6-50 sit at the bias level, scattered lamp light
    starts at column 51, where the trim section starts."""
    path = FOCUS / "sp_400m1.fits"
    state = read_raw(path)
    assert state.trim_section == "[51:4110,2:400]"
    profile = _column_profile(path)
    assert np.all(np.abs(profile[5:50] - state.prescan_level) < 2)
    assert np.median(profile[50:60]) > state.prescan_level + 5
    assert profile[0] > state.prescan_level + 100  # a readout artifact, left out
    assert state.cards["GSP_PSEC"][0] == "[6:50]"
    assert state.ccd.shape == (400, 4142)
    assert "GSP_OSEC" not in state.cards  # the Red camera is lit to its right edge


@pytest.mark.parametrize("kind", ["bias", "flat", "spec"])
def test_blue_prescan_level_from_dark_columns_only(kind):
    """The Blue camera gets light from unbinned column 18: only 3-17 measure the bias."""
    path = FULL / f"goodman_blue_{kind}.fits"
    state = read_raw(path)
    assert state.trim_section == "[51:4110,2:500]"
    profile = _column_profile(path)
    bias_level = np.median(_column_profile(FULL / "goodman_blue_bias.fits")[2:17])
    assert state.prescan_level == pytest.approx(bias_level, abs=2.0)
    if kind == "bias":
        assert state.cards["GSP_PSEC"][0] == "[3:50]"
    else:
        assert state.cards["GSP_PSEC"][0] == "[3:17]"
        assert np.all(profile[17:50] > bias_level + 5)  # lit prescan: not the bias level
        assert any("18-50 are above the bias level" in n for n in state.notes)
    assert any("TRIMSEC [1:4142,1:500] not used" in n for n in state.notes)
    # Dark again right of the lit area (unbinned 4114-4142): an overscan-like strip.
    first, last = (int(v) for v in state.cards["GSP_OSEC"][0].strip("[]").split(":"))
    assert 4111 <= first <= 4127 and last == 4142
    assert np.all(np.abs(profile[first - 1 :] - state.prescan_level) < 3)


@pytest.mark.parametrize("b", [2, 3])
def test_blue_prescan_when_binned(b):
    """The real Blue science frame binned b x b the way the chip does it (charge summed,
    one bias level): the prescan is ceil(50/b) columns, the dark part still found."""
    raw = fits.getdata(FULL / "goodman_blue_spec.fits").astype(float)
    # The chip adds its bias once per binned pixel: charge = frame - its real bias frame.
    charge_1x1 = raw - fits.getdata(FULL / "goodman_blue_bias.fits").astype(float)
    bias = 700.0
    ny, nx = raw.shape[0] // b, -(-raw.shape[1] // b)
    padded = np.zeros((ny * b, nx * b))
    padded[:, : raw.shape[1]] = charge_1x1[: ny * b]
    charge = padded.reshape(ny, b, nx, b).sum(axis=(1, 3))
    from astropy.nddata import CCDData

    from pipeline.reduction.geometry import dark_prescan, raw_geometry

    geometry = raw_geometry(charge.shape, (b, b), "[1:4142,1:500]")
    assert geometry.prescan == {2: 25, 3: 17}[b]
    assert geometry.trimmed_shape == (ny - 1, 4060 // b)
    prescan = dark_prescan(CCDData(charge + bias, unit="adu").data, geometry)
    # The bias drifted between the two exposures: b*b times the 1x1 prescan difference.
    expected = bias + b * b * np.mean(charge_1x1[1:, 2:17])
    assert prescan.level == pytest.approx(expected, abs=0.5)
    assert prescan.columns.stop <= 17 // b + 1  # light from unbinned 17 is left out


def test_pre_2016_cube_and_window_read(tmp_path):
    """A 1 x ny x nx data cube (pre-2016) and an acquisition window are read."""
    header = fits.getheader(HEADERS / "goodman_2016.fits")
    cube = np.full((1, 40, 4142), 500, np.uint16)
    cube[0, :, 50:] += 100
    path = tmp_path / "old.fits"
    fits.PrimaryHDU(cube, header=header).writeto(path)
    state = read_raw(path)
    assert state.ccd.shape == (40, 4142) and state.trim_section == "[51:4110,2:40]"
    assert state.prescan_level == pytest.approx(500)
    assert any("3-D array" in n for n in state.notes)
    acq = read_raw(HEADERS / "goodman_blue_acq.fits")
    assert acq.trim_section == "[1:400,1:1896]" and acq.prescan_level is None


def test_absurd_values_are_refused_naming_key_and_value():
    header = fits.getheader(FULL / "goodman_blue_spec.fits")
    header["GAIN"] = 0
    c = classify(header)
    assert not c.ok and "GAIN=0 is not a gain" in c.status and "missing" not in c.status
    header["GAIN"] = 2.06
    header["CCDSUM"] = "0 0"
    c = classify(header)
    assert not c.ok and "CCDSUM='0 0' is not a binning" in c.status and "'2 2'" in c.status


def test_blue_night_reduces_end_to_end(tmp_path):
    """bias + flat + HD109379, no arc: master bias, science reduced and extracted, and
    the statuses say why there is no flat field and no wavelength solution."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = reduce_night(FULL, tmp_path / "out")
    assert not report.failed
    bias = report.by_name("goodman_blue_bias.fits")
    assert (
        bias.status == "calibration"
        and "master_bias_BLUE_SP_1x1_R03.99_G02.06_500x4142.fits" in bias.reason
    )
    flat = report.by_name("goodman_blue_flat.fits")
    # The real flat exceeds the readout mode's half full well (33932 ADU, goodman_pipeline's
    # flat-rejection level) on a fifth of the chip.
    assert flat.status == "skipped" and "saturated" in flat.reason
    science = report.by_name("goodman_blue_spec.fits")
    assert science.status == "reduced"
    names = [Path(p).name for p in science.products]
    assert "czt_goodman_blue_spec.fits" in names
    assert "eczt_goodman_blue_spec_target_1.fits" in names
    assert "no compatible master flat" in science.reason
    assert "wavelength skipped: no arc of mode 600 Blue" in science.reason
    assert "add an arc" in science.reason
    with fits.open(tmp_path / "out" / "czt_goodman_blue_spec.fits") as hdul:
        header = hdul[0].header
        data = hdul[0].data
    assert data.shape == (499, 4060)
    history = "\n".join(header["HISTORY"])
    assert "GSP: GRATING 'SYZY_600-OLD' -> 600_SYZY_OLD (600 l/mm)" in history
    assert "TRIMSEC [1:4142,1:500] not used" in history
    # Bias removed: the sky far from the star is near zero, not at 760 ADU.
    assert abs(np.median(data[50:100, 1000:3000])) < 30
    master = fits.getheader(
        tmp_path / "out" / "master_bias_BLUE_SP_1x1_R03.99_G02.06_500x4142.fits"
    )
    assert "GSP: WAVMODE '600 Blue' -> 600_BLUE" in "\n".join(master["HISTORY"])
    wave = [p for p in report.spectra if p.data_type == 4]
    assert wave and wave[0].status == "skipped"


def test_focus_frames_are_registered_not_reduced(tmp_path):
    report = reduce_night(FOCUS, tmp_path / "out")
    assert not report.failed
    for name in ("sp_400m1.fits", "im_g_SDSS.fits"):
        r = report.by_name(name)
        assert r.status == "skipped" and not r.products
        assert "engineering frame (focus sequence, OBSTYPE=FOCUS)" in r.reason
        assert "registered, not reduced" in r.reason
