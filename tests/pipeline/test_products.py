"""Product names, lineage cards, atomic writes that never touch raw files."""

from __future__ import annotations

import numpy as np
import pytest
import rawframes
from astropy.io import fits

from pipeline.classify import classify
from pipeline.products import (
    ProtectedFileError,
    lineage_cards,
    master_bias_name,
    master_flat_name,
    normalized_flat_name,
    product_name,
    write_fits_atomic,
)
from pipeline.settings import ReductionSettings


def test_goodman_prefixes():
    assert product_name("cfzst", "0304_x.fits") == "cfzst_0304_x.fits"
    assert product_name("e", "cfzst_0304_x.fits") == "ecfzst_0304_x.fits"
    assert product_name("w", "ecfzst_0304_x.fits") == "wecfzst_0304_x.fits"
    assert product_name("", "raw.fits") == "raw.fits"


def test_master_names():
    c = classify(rawframes.header("bias"))
    assert master_bias_name(c) == "master_bias_RED_SP_2x2_R03.89_G01.48.fits"
    f = classify(rawframes.header("flat", WAVMODE="400 M2", FILTER2="GG455"))
    name = master_flat_name(f)
    assert name.startswith("master_flat_400m2_GG455_1.0_dome_RED_2x2")
    assert normalized_flat_name(name) == f"norm_{name}"
    imaging = classify(rawframes.header("flat", ROI="Imaging 2x2", FILTER="g-SDSS"))
    assert master_flat_name(imaging, "sky").startswith("master_flat_g_SDSS_sky_")


def test_lineage_cards():
    cards = {
        k: v
        for k, v, _ in lineage_cards(
            original="/raw/0304.fits",
            parent="0304.fits",
            file_name="cfzst_0304.fits",
            rlevel=62,
            technique="Spectroscopy",
            bias="/out/master_bias_x.fits",
            extra={"GSP_COSM": "LACosmic"},
            settings=ReductionSettings(),
        )
    }
    assert cards["RLEVEL"] == 62
    assert (cards["GSP_ONAM"], cards["GSP_BIAS"], cards["GSP_FLAT"]) == (
        "0304.fits",
        "master_bias_x.fits",
        "none",
    )
    assert cards["GSP_COSM"] == "LACosmic" and cards["GSP_MINB"] == 10 and cards["GSP_VERS"]


def _hdul(name="x.fits"):
    hdu = fits.PrimaryHDU(np.zeros((3, 3), np.float32))
    hdu.header["GSP_FNAM"] = name
    return fits.HDUList([hdu])


def test_atomic_write_and_raw_protection(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    target = rawframes.write(raw / "0001.fits")
    before = target.read_bytes()
    with pytest.raises(ProtectedFileError, match="raw"):
        write_fits_atomic(_hdul(), target, raw_dirs=[raw])
    with pytest.raises(ProtectedFileError):  # not ours even without raw_dirs
        write_fits_atomic(_hdul(), target)
    assert target.read_bytes() == before

    out = tmp_path / "out" / "p.fits"
    write_fits_atomic(_hdul("p.fits"), out)
    write_fits_atomic(_hdul("p.fits"), out)  # our own product may be replaced
    assert fits.getheader(out)["GSP_FNAM"] == "p.fits"
    assert [p.name for p in out.parent.iterdir()] == ["p.fits"]  # no temp files left
