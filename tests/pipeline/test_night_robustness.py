"""One awkward input each; none may stop the rest of the night."""

from __future__ import annotations

import rawframes
from astropy.io import fits

from pipeline.night import reduce_night
from pipeline.settings import ReductionSettings

FAST = ReductionSettings(cosmic_ray_rejection="none")


def _night(tmp_path, n_bias=2, n_flats=2, n_science=1, **cards):
    raw = tmp_path / "raw"
    raw.mkdir(parents=True)
    t = 0
    for role, n in (("bias", n_bias), ("flat", n_flats), ("science", n_science)):
        for i in range(n):
            t += 1
            rawframes.write(
                raw / f"{t:04d}_{role}_{i}.fits",
                role,
                **{"DATE-OBS": f"2024-03-20T00:{t:02d}:00.000", **cards},
            )
    return raw


def _science(report):
    return next(r for r in report.results if r.role == "science" and r.status != "skipped")


def test_one_bias_frame(tmp_path):
    raw = _night(tmp_path, n_bias=1)
    report = reduce_night(raw, tmp_path / "out", FAST)
    bias = next(r for r in report.results if r.role == "bias")
    assert bias.status == "calibration" and "(1 frames)" in bias.reason
    (master,) = (tmp_path / "out").glob("master_bias_*.fits")
    h = fits.getheader(master)
    assert h["NCOMBINE"] == 1 and h["GSP_MFIN"] is False
    science = _science(report)
    assert science.status == "reduced"
    assert fits.getheader(science.products[0])["GSP_BIAS"] == master.name


def test_no_bias_uses_the_prescan_level(tmp_path):
    raw = _night(tmp_path, n_bias=0)
    report = reduce_night(raw, tmp_path / "out", FAST)
    science = _science(report)
    assert science.status == "reduced"
    assert "no compatible master bias: prescan level" in science.reason
    h = fits.getheader(science.products[0])
    assert h["GSP_BIAS"] == "none"
    assert abs(h["GSP_OVER"] - rawframes.BIAS_LEVEL) < 1.0
    assert science.products[0].split("/")[-1].startswith("fost_")
    # The flats were bias-corrected with the prescan as well, and say so.
    flat = next(r for r in report.results if r.role == "flat")
    assert flat.status == "calibration" and "prescan level" in flat.reason


def test_ignore_bias_skips_the_bias_frames(tmp_path):
    raw = _night(tmp_path)
    report = reduce_night(
        raw, tmp_path / "out", ReductionSettings(ignore_bias=True, cosmic_ray_rejection="none")
    )
    for r in report.results:
        if r.role == "bias":
            assert (r.status, r.reason) == ("skipped", "not combined: ignore_bias set")
    science = _science(report)
    assert "ignore_bias set: prescan level" in science.reason
    assert fits.getheader(science.products[0])["GSP_IGNB"] is True
    assert not list((tmp_path / "out").glob("master_bias_*"))


def test_no_flats(tmp_path):
    raw = _night(tmp_path, n_flats=0)
    report = reduce_night(raw, tmp_path / "out", FAST)
    science = _science(report)
    assert science.status == "reduced"
    assert "no compatible master flat: not flat-fielded" in science.reason
    assert science.products[0].split("/")[-1].startswith("zt_")
    assert fits.getheader(science.products[0])["GSP_FLAT"] == "none"


def test_ignore_flats(tmp_path):
    raw = _night(tmp_path)
    report = reduce_night(
        raw, tmp_path / "out", ReductionSettings(ignore_flats=True, cosmic_ray_rejection="none")
    )
    assert "ignore_flats set: not flat-fielded" in _science(report).reason
    assert all(r.status == "skipped" for r in report.results if r.role == "flat")


def test_missing_keyword_truncated_and_non_fits_files(tmp_path):
    raw = _night(tmp_path)
    h = rawframes.header()
    del h["OBSRA"]
    fits.PrimaryHDU(
        rawframes.pixels("science", __import__("numpy").random.default_rng(3)), h
    ).writeto(raw / "0100_noobsra.fits")
    good = (raw / "0004_flat_1.fits").read_bytes()
    (raw / "0101_truncated.fits").write_bytes(good[: len(good) // 2])
    (raw / "0102_notes.fits").write_text("observing log, not an image\n")
    report = reduce_night(raw, tmp_path / "out", FAST)
    assert report.by_name("0100_noobsra.fits").reason == "cannot classify: missing OBSRA"
    assert "truncated" in report.by_name("0101_truncated.fits").reason
    assert "not a FITS file" in report.by_name("0102_notes.fits").reason
    for name in ("0100_noobsra.fits", "0101_truncated.fits", "0102_notes.fits"):
        assert report.by_name(name).status == "skipped"
    assert _science(report).status == "reduced"
    assert not report.failed


def test_unknown_gain_rdnoise_pair(tmp_path):
    raw = _night(tmp_path, GAIN=2.22, RDNOISE=9.99)
    report = reduce_night(raw, tmp_path / "out", FAST)
    science = _science(report)
    assert science.status == "reduced"
    assert "not a known readout mode" in science.reason
    assert "_R09.99_G02.22" in fits.getheader(science.products[0])["GSP_BIAS"]


def test_two_cameras_in_one_directory(tmp_path):
    raw = _night(tmp_path)
    for i, role in enumerate(("bias", "bias", "flat", "flat", "science")):
        rawframes.write(
            raw / f"{50 + i:04d}_blue_{role}.fits",
            role,
            INSTCONF="Blue",
            INSTRUME="ghts_blue",
            GAIN=1.4,
            RDNOISE=4.74,
            **{"DATE-OBS": f"2024-03-20T01:{i:02d}:00.000"},
        )
    report = reduce_night(raw, tmp_path / "out", FAST)
    red = fits.getheader(report.by_name("0005_science_0.fits").products[0])
    blue = fits.getheader(report.by_name("0054_blue_science.fits").products[0])
    assert red["GSP_BIAS"].startswith("master_bias_RED_") and "_RED_" in red["GSP_FLAT"]
    assert blue["GSP_BIAS"].startswith("master_bias_BLUE_") and "_BLUE_" in blue["GSP_FLAT"]
    assert len(list((tmp_path / "out").glob("norm_master_flat_*"))) == 2


def test_wavmode_with_spaces_matches(tmp_path):
    raw = _night(tmp_path, n_science=0, WAVMODE="400 M1")
    rawframes.write(raw / "0009_science.fits", "science", WAVMODE="400_M1")
    report = reduce_night(raw, tmp_path / "out", FAST)
    science = report.by_name("0009_science.fits")
    assert fits.getheader(science.products[0])["GSP_FLAT"].startswith("norm_master_flat_400m1")


def test_reverse_time_order_gives_the_same_products(tmp_path):
    forward = _night(tmp_path / "a")
    backward = tmp_path / "b" / "raw"
    backward.mkdir(parents=True)
    files = sorted(forward.glob("*.fits"))
    for i, path in enumerate(reversed(files)):  # names now run against time
        (backward / f"{i:04d}_{path.name[5:]}").write_bytes(path.read_bytes())
    a = reduce_night(forward, tmp_path / "a" / "out", FAST)
    b = reduce_night(backward, tmp_path / "b" / "out", FAST)
    assert sorted(p.name for p in a.products) != []
    assert {p.name.split("_", 2)[-1] for p in a.products if "master" in p.name} == {
        p.name.split("_", 2)[-1] for p in b.products if "master" in p.name
    }
    ha = fits.getheader(_science(a).products[0])
    hb = fits.getheader(_science(b).products[0])
    for key in ("GSP_BIAS", "GSP_FLAT", "GSP_SLIT", "GSP_TRIM"):
        assert ha[key] == hb[key]
    da = fits.getdata(_science(a).products[0])
    db = fits.getdata(_science(b).products[0])
    assert (da == db).all()


def test_masters_of_an_earlier_night_are_used(tmp_path):
    first = _night(tmp_path / "n1", n_science=0)
    reduce_night(first, tmp_path / "n1" / "out", FAST)
    second = tmp_path / "n2" / "raw"
    second.mkdir(parents=True)
    rawframes.write(
        second / "0001_science.fits", "science", **{"DATE-OBS": "2024-03-21T00:10:00.000"}
    )
    alone = reduce_night(second, tmp_path / "n2" / "alone", FAST)
    assert "no compatible master bias" in _science(alone).reason
    helped = reduce_night(
        second, tmp_path / "n2" / "out", FAST, calibration_dirs=[tmp_path / "n1" / "out"]
    )
    h = fits.getheader(_science(helped).products[0])
    assert h["GSP_BIAS"].startswith("master_bias_") and h["GSP_FLAT"].startswith("norm_master_flat")


def test_saturated_flat_is_left_out(tmp_path):
    import numpy as np

    raw = _night(tmp_path, n_flats=2)
    data = rawframes.pixels("flat", np.random.default_rng(5))
    data[100:400, :] = 65535
    rawframes.write(raw / "0050_flat_saturated.fits", "flat", data=data)
    report = reduce_night(raw, tmp_path / "out", FAST)
    r = report.by_name("0050_flat_saturated.fits")
    assert r.status == "skipped" and "saturated, above the saturation threshold of 1 %" in r.reason
    assert "(2 frames)" in report.by_name("0003_flat_0.fits").reason


def test_output_inside_raw_is_refused_per_file(tmp_path):
    raw = _night(tmp_path, n_bias=1, n_flats=0)
    report = reduce_night(raw, raw / "products", FAST)
    assert all(r.status in {"failed", "skipped"} for r in report.results if r.role == "science")
    assert not (raw / "products").exists() or not list((raw / "products").glob("*.fits"))


def test_extra_stages_run_after_the_ccd_product(tmp_path):
    raw = _night(tmp_path)
    seen = []

    class Probe:
        name = "probe"

        def __call__(self, state, context):
            seen.append((state.prefix, [p.name for p in state.products]))
            return state

    reduce_night(
        raw,
        tmp_path / "out",
        FAST,
        extra_stages={("Spectroscopy", "science"): [Probe()]},
        spectra=False,
    )
    assert seen == [("fzst", ["fzst_0005_science_0.fits"])]


def test_technique_setting_overrides_the_header(tmp_path):
    raw = _night(tmp_path, n_bias=1, n_flats=0)
    report = reduce_night(
        raw,
        tmp_path / "out",
        ReductionSettings(technique="Imaging", cosmic_ray_rejection="none"),
        spectra=False,
    )
    science = _science(report)
    assert science.technique == "Imaging"
    assert fits.getheader(science.products[0])["GSP_TECH"] == "Imaging"


def test_products_in_the_raw_folder_are_not_raw_data(tmp_path):
    raw = _night(tmp_path, n_flats=0)
    first = reduce_night(raw, tmp_path / "out", FAST, spectra=False)
    for product in first.products:
        (raw / product.name).write_bytes(product.read_bytes())
    again = reduce_night(raw, tmp_path / "out2", FAST, spectra=False)
    for product in first.products:
        r = again.by_name(product.name)
        assert r.status == "skipped" and r.reason.startswith("not raw: a pipeline product")
    assert _science(again).status == "reduced"


def test_an_unwritable_product_folder_stops_the_night_instead_of_failing_its_frames(tmp_path):
    """A storage error is no frame's own failure: written down as one, the live engine
    failed the job for good (the chaos benchmark's extraction into a read-only
    products/). It is raised, so the engine waits for the storage and runs the job again.
    """
    import errno

    import pytest

    from pipeline.products import raise_if_storage_error
    from tests.engine.engine_helpers import unwritable

    raw = _night(tmp_path, n_bias=0, n_flats=0)
    out = tmp_path / "out"
    out.mkdir()
    with unwritable(out), pytest.raises(PermissionError):
        reduce_night(raw, out, FAST, spectra=False)
    report = reduce_night(raw, out, FAST, spectra=False)  # writable again: reduced
    assert _science(report).status == "reduced"

    wrapped = RuntimeError("frame.fits: step failed")
    wrapped.__cause__ = OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(RuntimeError):
        raise_if_storage_error(wrapped)
    raise_if_storage_error(OSError("Header missing END card."))  # a bad file: recorded
    raise_if_storage_error(ValueError("no usable overscan"))
