"""Classification of single files from their headers."""

from __future__ import annotations

from pathlib import Path

import pytest
import rawframes
from astropy.io import fits

from pipeline.classify import classify, classify_path, normalize_name

REAL = (
    Path(__file__).resolve().parents[2].parent
    / "shared/reference/real_headers/wecfzst_0304_FRB20240312A_19-03-2024_target_1.fits"
)


@pytest.mark.skipif(not REAL.exists(), reason="shared reference header not present")
def test_real_header():
    c = classify_path(REAL)
    assert c.status == "ok"
    assert (c.technique, c.role, c.obstype) == ("Spectroscopy", "science", "OBJECT")
    assert (c.instconf, c.gain, c.rdnoise, c.binning) == ("Red", 1.48, 3.89, (2, 2))
    assert (c.grating, c.wavmode, c.slit) == ("400_SYZY", "400_M1", "1.0_LONG_SLIT")
    assert (c.cam_targ, c.grt_targ) == (11.6, 5.8)
    assert c.proposal_id == "SOAR"
    assert c.trimsec == "[26:2055,2:948]"
    # Red 344 kHz ATTN3: level 69257 is above 16 bits, so digital saturation rules.
    assert c.saturation == 65535 and not c.warnings
    assert c.date_obs.isoformat().startswith("2024-03-20T00:03:11")


def test_spellings_are_normalized():
    a = classify(rawframes.header(WAVMODE="400 M2", FILTER="<NO FILTER>", FILTER2="GG455"))
    b = classify(rawframes.header(WAVMODE="400_M2", FILTER="NO_FILTER", FILTER2="GG455"))
    assert a.wavmode == b.wavmode == "400_M2"
    assert a.filter == "NO_FILTER"
    assert a.optics_key == b.optics_key and a.readout_key == b.readout_key
    assert normalize_name("<NO GRATING>") == "NO_GRATING"


@pytest.mark.parametrize(
    ("obstype", "roi", "technique", "role"),
    [
        ("LAMPFLAT", "Spectroscopic 2x2", "Spectroscopy", "flat"),
        ("SKYFLAT", "Imaging 2x2", "Imaging", "flat"),
        ("ARC", "Spectroscopic 2x2", "Spectroscopy", "arc"),
        ("COMP", "Spectroscopic 2x2", "Spectroscopy", "arc"),
        ("ZERO", "Spectroscopic 2x2", "Spectroscopy", "bias"),
        ("SPECTRUM", None, "Spectroscopy", "science"),
        ("EXPOSE", None, "Imaging", "science"),
        ("FOCUS", "Spectroscopic 2x2", "Spectroscopy", "other"),
        ("ACQUISITION", "Imaging 2x2", "Imaging", "other"),
    ],
)
def test_obstype_conventions(obstype, roi, technique, role):
    c = classify(rawframes.header(OBSTYPE=obstype, ROI=roi, WAVMODE=None))
    assert (c.technique, c.role) == (technique, role)
    assert c.ok


def test_standard_star_is_a_standard():
    assert classify(rawframes.header(OBJECT="LTT 3218")).role == "standard"
    assert classify(rawframes.header(OBJECT="eg274")).role == "standard"
    assert classify(rawframes.header(OBJECT="NGC 300")).role == "science"


def test_missing_keyword_is_a_status_not_an_exception():
    h = rawframes.header()
    del h["OBSRA"]
    c = classify(h)
    assert c.status == "cannot classify: missing OBSRA"
    # A bias does not need coordinates.
    hb = rawframes.header("bias")
    del hb["OBSRA"]
    assert classify(hb).ok


def test_strange_values_never_raise():
    c = classify(rawframes.header(GAIN="fast", CCDSUM="?", ROI="odd"))
    assert c.status.startswith("cannot classify") and "GAIN" in c.status
    empty = classify(fits.Header())
    assert empty.status == "cannot classify: missing OBSTYPE, GAIN, RDNOISE, DATE-OBS"


def test_unknown_readout_pair_falls_back_to_65535_with_a_warning():
    c = classify(rawframes.header(GAIN=2.22, RDNOISE=9.99))
    assert c.ok and c.saturation == 65535
    assert any("not a known readout mode" in w for w in c.warnings)
    blue = classify(rawframes.header(INSTCONF="Blue", GAIN=1.4, RDNOISE=4.74))
    assert (blue.saturation, blue.half_well) == (65535, 49928) and not blue.warnings


def test_two_cameras_never_share_calibrations():
    red = classify(rawframes.header("bias"))
    blue = classify(rawframes.header("bias", INSTCONF="Blue"))
    assert red.readout_key != blue.readout_key


def test_unreadable_files_get_a_status(tmp_path):
    text = tmp_path / "notes.fits"
    text.write_text("this is not FITS")
    assert classify_path(text).status.startswith("cannot read: not a FITS file")

    good = rawframes.write(tmp_path / "good.fits")
    cut = tmp_path / "cut.fits"
    cut.write_bytes(good.read_bytes()[: 2880 * 5])
    status = classify_path(cut).status
    assert status.startswith("cannot read:") and "truncated" in status

    assert classify_path(tmp_path / "absent.fits").status.startswith("cannot read:")
    assert classify_path(good).ok
