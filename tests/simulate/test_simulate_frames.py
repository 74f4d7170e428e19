"""Frames of a simulated night look like the instrument's: geometry, dtype, header."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest
from astropy.io import fits

from pipeline.instrument import frame_geometry
from pipeline.lamps import LAMP_KEYWORDS, lamps_on
from pipeline.simulate import NightConfig, iter_night

REQUIRED = (
    "INSTCONF INSTRUME OBSTYPE OBJECT EXPTIME DATE DATE-OBS OBSRA OBSDEC RA DEC AIRMASS "
    "GRATING WAVMODE CAM_TARG GRT_TARG FILTER FILTER2 SLIT ROI CCDSUM GAIN RDNOISE TRIMSEC "
    "LAMP_HGA LAMP_NE LAMP_AR LAMP_FE LAMP_CU LAMP_QUA LAMP_QPE LAMP_BUL LAMP_DOM LAMP_DPE "
    "PROPID OBSID CONFID BLOCK_ID IMAGEID RLEVEL"
).split()


def test_every_file_is_written_and_listed(small_night):
    night, truth = small_night
    on_disk = sorted(p.name for p in night.glob("*.fits"))
    assert on_disk == sorted(f["file"] for f in truth["frames"])
    roles = [f["role"] for f in truth["frames"]]
    assert roles == ["bias"] * 2 + ["flat"] * 2 + ["arc", "science", "standard"]
    assert not list(night.parent.glob(".night.*")), "temporary directory left behind"


def test_file_names_follow_the_observatory(small_night):
    _, truth = small_night
    names = [f["file"] for f in truth["frames"]]
    assert names[0] == "0001_bias_21-11-2026.fits"
    assert names[2] == "0003_flat_21-11-2026.fits"
    assert names[4] == "0005_AT2026xyz_21-11-2026_comp.fits"
    assert names[5] == "0006_AT2026xyz_21-11-2026.fits"
    for n in names:
        assert re.fullmatch(r"\d{4}_[A-Za-z0-9_.+-]+_\d\d-\d\d-\d{4}(_comp)?\.fits", n)


def test_raw_geometry_dtype_and_bzero_on_disk(small_night):
    night, truth = small_night
    for rec in truth["frames"]:
        with fits.open(night / rec["file"], do_not_scale_image_data=True) as hdul:
            h = hdul[0].header
            assert h["BITPIX"] == 16 and h["BZERO"] == 32768 and h["BSCALE"] == 1
            assert (h["NAXIS1"], h["NAXIS2"]) == (2071, 948)
            assert h["TRIMSEC"] == "[26:2055,2:948]"
        with fits.open(night / rec["file"]) as hdul:
            data = hdul[0].data
            assert data.dtype == np.uint16
            assert data.max() <= truth["saturation_adu"]


def test_headers_carry_every_key_with_sensible_values(small_night):
    night, truth = small_night
    for rec in truth["frames"]:
        h = fits.getheader(night / rec["file"])
        missing = [k for k in REQUIRED if k not in h]
        assert not missing, f"{rec['file']} lacks {missing}"
        assert h["INSTCONF"] == "Red" and h["INSTRUME"] == "ghts_red"
        assert h["ROI"] == "Spectroscopic 2x2" and h["CCDSUM"] == "2 2"
        assert (h["GAIN"], h["RDNOISE"]) == (1.48, 3.89)
        assert h["WAVMODE"] == "400_M2" and h["GRATING"] == "400_SYZY"
        assert h["FILTER2"] == "GG455"
        assert h["CAM_TARG"] > 0 and h["GRT_TARG"] > 0
        assert h["RLEVEL"] == 0 and h["PROPID"] == "SOAR2026B-001"
        assert h["OBSTYPE"] == rec["obstype"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}", h["DATE-OBS"])
        assert h["DATE"] == h["DATE-OBS"][:10]
        assert h["EXPTIME"] == rec["exptime"]
        assert 1.0 <= h["AIRMASS"] < 3.0
        assert re.fullmatch(r"-?\d\d:\d\d:\d\d\.\d{3}", h["OBSRA"])
        assert re.fullmatch(r"-?\d\d:\d\d:\d\d\.\d{3}", h["OBSDEC"])


def test_observing_order_and_times(small_night):
    _, truth = small_night
    starts = [dt.datetime.fromisoformat(f["date_obs"]) for f in truth["frames"]]
    assert starts == sorted(starts)
    for a, b, rec in zip(starts, starts[1:], truth["frames"], strict=False):
        assert (b - a).total_seconds() >= rec["exptime"]


def test_lamp_keywords_match_the_frame(small_night):
    night, truth = small_night
    for rec in truth["frames"]:
        h = fits.getheader(night / rec["file"])
        comparison = {k for k in LAMP_KEYWORDS if h[k] == "TRUE"}
        if rec["role"] == "arc":
            assert h["OBSTYPE"] == "COMP"
            assert lamps_on(h) == {"Hg", "Ar", "Ne"}  # the HgArNe template
            assert h["LAMP_QUA"] == "FALSE"
        elif rec["role"] == "flat":
            assert h["OBSTYPE"] == "FLAT"
            assert not comparison and h["LAMP_QUA"] == "TRUE" and h["LAMP_QPE"] > 0
        else:
            assert not comparison and h["LAMP_QUA"] == "FALSE"


def test_standard_star_is_from_the_flux_table(small_night):
    night, truth = small_night
    rec = next(f for f in truth["frames"] if f["role"] == "standard")
    h = fits.getheader(night / rec["file"])
    assert h["OBJECT"] == rec["standard"]["name"]
    assert rec["standard"]["esofil_file"].endswith(".dat")


@pytest.mark.parametrize(
    ("binning", "camera", "shape"),
    [(1, "Blue", (1896, 4142)), (3, "Red", (632, 1381))],
)
def test_other_binnings_have_the_real_geometry(binning, camera, shape):
    cfg = NightConfig(camera=camera, binning=binning, n_bias=1, n_flats=0, n_arcs=0, n_science=0)
    name, hdul, rec = next(iter_night(cfg))
    g = frame_geometry(binning)
    assert hdul[0].data.shape == shape == g.shape
    assert hdul[0].header["TRIMSEC"] == g.trim_section
    assert hdul[0].header["INSTRUME"] == ("ghts_blue" if camera == "Blue" else "ghts_red")
    assert hdul[0].header["CCDSUM"] == f"{binning} {binning}"


def test_obstype_conventions():
    # 3x3 binned: the OBSTYPE a role gets does not depend on the frame's size, and 3x3
    # frames have 4/9 of the default 2x2's pixels to simulate
    cfg = NightConfig(
        n_bias=1, n_flats=1, n_arcs=1, n_science=1, obstype_convention="lco", binning=3
    )
    types = [rec["obstype"] for _, _, rec in iter_night(cfg)]
    assert types == ["BIAS", "LAMPFLAT", "ARC", "SPECTRUM"]
    cfg = NightConfig(
        n_bias=0, n_flats=2, n_arcs=0, n_science=0, obstype_convention="mixed", binning=3
    )
    types = {rec["obstype"] for _, _, rec in iter_night(cfg)}
    assert types == {"FLAT", "LAMPFLAT"}


def test_same_seed_same_night():
    cfg = NightConfig(n_bias=1, n_flats=0, n_arcs=1, n_science=0, seed=3)
    a = [(n, h[0].data.copy()) for n, h, _ in iter_night(cfg)]
    b = [(n, h[0].data.copy()) for n, h, _ in iter_night(cfg)]
    assert [n for n, _ in a] == [n for n, _ in b]
    assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b, strict=True))


def test_bias_level_is_in_the_prescan(small_night):
    night, truth = small_night
    data = fits.getdata(night / truth["frames"][0]["file"]).astype(float)
    pre = truth["trim_offset"]["col"]
    prescan = data[1:, :pre]
    assert abs(np.median(prescan) - truth["bias_level_adu"]) < 2
    noise = truth["readout_mode"]["rdnoise"] / truth["readout_mode"]["gain"]
    assert np.std(prescan) == pytest.approx(noise, rel=0.15)


def test_every_library_mode_simulates_and_its_lamp_keys_find_the_template():
    from pipeline import lamps

    for mode in lamps.modes():
        cfg = NightConfig(mode=mode, binning=3, n_bias=0, n_flats=0, n_arcs=1, n_science=0)
        _, hdul, rec = next(iter_night(cfg))
        h = hdul[0].header
        assert h["WAVMODE"] == mode
        found = lamps.find_template(mode, lamps_on(h))
        assert found is not None and found.file_name == rec["lamp_template"], mode
        assert len(rec["lines"]) >= 3, mode
        cols = np.array([line["column"] for line in rec["lines"]])
        assert np.all((cols > -0.5) & (cols < hdul[0].data.shape[1])), mode


def test_imaging_night():
    cfg = NightConfig(imaging=True, n_bias=1, n_flats=1, n_science=1, n_arcs=2)
    frames = list(iter_night(cfg))
    assert [rec["role"] for _, _, rec in frames] == ["bias", "skyflat", "expose"]
    for _, hdul, rec in frames:
        h = hdul[0].header
        assert h["ROI"] == "Imaging 2x2" and hdul[0].data.shape == (2048, 2071)
        assert h["TRIMSEC"] == "[26:2055,2:2048]"
        assert "wavelength" not in rec
    assert frames[2][2]["obstype"] == "EXPOSE" and frames[2][1][0].header["OBSTYPE"] == "EXPOSE"
    stars = frames[2][2]["stars"]
    data = frames[2][1][0].data.astype(float)
    brightest = max(stars, key=lambda s: s["flux_adu"])
    r, c = round(brightest["row"]) + 1, round(brightest["col"]) + 25
    assert data[r, c] > np.median(data) + 1000


def test_noise_free_frames_have_no_noise_and_no_cosmic_rays():
    cfg = NightConfig(n_bias=2, n_flats=0, n_arcs=1, n_science=0, noise=False)
    frames = list(iter_night(cfg))
    a, b = (f[1][0].data.astype(float) for f in frames[:2])
    # bias frames differ only by the sub-ADU level drift (rounded)
    assert np.std(a[1:, 30:2000] - b[1:, 30:2000]) < 0.75
    assert frames[2][2]["cosmic_rays"]["events"] == 0
