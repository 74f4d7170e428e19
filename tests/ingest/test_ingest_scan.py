"""Reading one raw file: checksum, header, classification, the seed's record fields."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import pytest
from astropy.io import fits
from ingest_helpers import raw_bytes, write_raw

from gsp_extension.ingest.fields import night_date, record_fields
from gsp_extension.ingest.scan import (
    FITS_SUFFIXES,
    check_complete,
    is_fits_name,
    read_and_hash,
    scan_file,
)


def test_suffixes_follow_the_pipeline():
    from pipeline.night import RAW_SUFFIXES

    assert FITS_SUFFIXES == RAW_SUFFIXES


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.fits", True),
        ("A.FITS", True),
        ("b.fits.gz", True),
        (".a.fits", False),
        ("a.fits.part", False),
        ("notes.txt", False),
    ],
)
def test_fits_names(name, expected):
    assert is_fits_name(name) is expected


def test_a_good_file(tmp_path):
    path = write_raw(tmp_path / "0354_comp.fits")
    scanned = scan_file(path)
    content = path.read_bytes()
    assert scanned.checksum == hashlib.sha256(content).hexdigest()
    assert scanned.size == len(content)
    assert scanned.usable and scanned.status_reason is None
    assert (scanned.role, scanned.technique) == ("arc", "Spectroscopy")
    f = scanned.fields
    assert f["obstype"] == "COMP" and f["gain"] == "1.48" and f["cam_targ"] == "16.1"
    assert f["image_id"] == 34304 and f["block_id"] == 0 and f["observation_id"] == 1
    assert f["proposal_id"] == "SOAR2020B-008"
    assert f["saturation_value"] == 65535  # Red 344 kHz ATTN3 level 69257 > 16 bits
    # 00:30 UT on the 27th belongs to the night of the 26th, as in the seed's record
    assert f["date"] == dt.date(2020, 11, 26)
    assert ["PROPID", "SOAR2020B-008", ""] in scanned.cards


def test_header_read_in_one_pass_equals_astropys(tmp_path):
    path = write_raw(tmp_path / "a.fits", shape=(300, 500))
    header, cards, checksum, size = read_and_hash(path)
    reference = fits.getheader(path)
    assert {k: header[k] for k in header} == {k: reference[k] for k in reference}
    assert cards == [[c.keyword, c.value, c.comment] for c in reference.cards]
    assert checksum == hashlib.sha256(path.read_bytes()).hexdigest()


def test_unusable_files_are_scanned_with_the_reason(tmp_path):
    missing = scan_file(write_raw(tmp_path / "nogain.fits", GAIN=None))
    assert not missing.usable and "missing GAIN" in missing.status_reason
    assert missing.fields["proposal_id"] == "SOAR2020B-008"  # still attached
    (tmp_path / "junk.fits").write_bytes(b"hello" * 1000)
    junk = scan_file(tmp_path / "junk.fits")
    assert not junk.usable and junk.status_reason.startswith("cannot read: not a FITS")
    assert junk.checksum == hashlib.sha256(b"hello" * 1000).hexdigest()
    whole = raw_bytes(shape=(200, 300))
    (tmp_path / "cut.fits").write_bytes(whole[: len(whole) - 5000])
    cut = scan_file(tmp_path / "cut.fits")
    assert not cut.usable and "truncated" in cut.status_reason


def test_completeness_check_reads_only_the_header(tmp_path):
    whole = raw_bytes(shape=(200, 300))
    path = tmp_path / "growing.fits"
    path.write_bytes(whole[:1000])
    assert "no END card" in check_complete(path)
    path.write_bytes(whole[:20000])
    assert "bytes of" in check_complete(path) and "written" in check_complete(path)
    path.write_bytes(whole)
    assert check_complete(path) is None
    path.write_bytes(b"PK\x03\x04 zip, not fits" * 200)
    assert "not a FITS file" in check_complete(path)


def test_fields_of_the_real_reference_header(shared_dir):
    from pipeline.classify import classify

    header = fits.getheader(
        shared_dir / "reference/real_headers/wecfzst_0304_FRB20240312A_19-03-2024_target_1.fits"
    )
    fields = record_fields(header, classify(header))
    assert fields["object"] == "FRB20240312A" and fields["roi"] == "Spectroscopic 2x2"
    assert fields["image_id"] == 53756 and fields["proposal_id"] == "SOAR"
    assert fields["obsra"] == "03:26:29.404" and fields["grt_targ"] == "5.8"
    assert fields["date"] == dt.date(2024, 3, 19)  # the file name says 19-03-2024
    assert fields["technique"] == "Spectroscopy"


def test_night_date_boundaries():
    assert night_date(dt.datetime(2021, 2, 18, 23, 0)) == dt.date(2021, 2, 18)
    assert night_date(dt.datetime(2021, 2, 19, 9, 59)) == dt.date(2021, 2, 18)
    assert night_date(dt.datetime(2021, 2, 19, 18, 0)) == dt.date(2021, 2, 19)  # afternoon cals
    assert night_date(None) is None


def _with_header(path, header):
    """A FITS file of ``header`` (as astropy writes it) and a small image."""
    fits.PrimaryHDU(data=np.zeros((4, 5), dtype=np.uint16), header=header).writeto(path)
    return path


def test_every_card_is_read_as_astropy_reads_it(shared_dir, tmp_path):
    from gsp_extension.store.files import header_to_json

    # The reference product has a long-string (CONTINUE) card.
    real = fits.getheader(
        shared_dir / "reference/real_headers/wecfzst_0304_FRB20240312A_19-03-2024_target_1.fits"
    )
    edge = fits.Header()
    edge["QUOTE"] = ("it's a /slash", "comm / ent")
    edge["EMPTY"] = ""
    edge["PADDED"] = "  lead and trail   "
    edge["NOVAL"] = None
    edge["BOOL"] = (False, "no")
    edge["NEG"] = -1059
    edge["EXP"] = 1.5e-12
    edge["HIERARCH ESO DET"] = 1
    edge["COMMENT"] = "a comment / with slash"
    edge["HISTORY"] = "  indented history"
    for name, header in (("real.fits", real), ("edge.fits", edge)):
        path = _with_header(tmp_path / name, header)
        _, cards, _, _ = read_and_hash(path)
        assert cards == header_to_json(fits.getheader(path))
        assert len(cards) > 10


def test_d_exponents_are_read(tmp_path):
    header = fits.Header()
    header["DVAL"] = (0.0, "d exp")
    path = _with_header(tmp_path / "d.fits", header)
    raw = path.read_bytes().replace(
        fits.Card("DVAL", 0.0, "d exp").image.encode(),
        "DVAL    =            1.234D+05 / d exp".ljust(80).encode(),
    )
    path.write_bytes(raw)
    header, cards, _, _ = read_and_hash(path)
    assert header["DVAL"] == 123400.0 and ["DVAL", 123400.0, "d exp"] in cards


@pytest.mark.parametrize(
    ("cards", "expected"),
    [
        ({"GAIN": 0.0}, "GAIN=0.0: the gain must be a positive number"),
        ({"GAIN": -1.5}, "GAIN=-1.5"),
        ({"RDNOISE": -3.0}, "RDNOISE=-3.0: the read noise cannot be negative"),
        ({"CCDSUM": "0 0"}, "CCDSUM='0 0': binning factors must be positive integers"),
        ({"CCDSUM": "2 0"}, "CCDSUM='2 0'"),
    ],
)
def test_absurd_header_values_are_refused_naming_key_and_value(tmp_path, cards, expected):
    scanned = scan_file(write_raw(tmp_path / "a.fits", **cards))
    assert not scanned.usable and expected in scanned.status_reason
    assert scanned.status_reason.startswith("refused: ")


def test_gzip_and_tile_compressed_files_are_read(tmp_path):
    import gzip

    plain = write_raw(tmp_path / "a.fits")
    (tmp_path / "a.fits.gz").write_bytes(gzip.compress(plain.read_bytes()))
    with fits.open(plain) as hdul:
        fits.HDUList(
            [fits.PrimaryHDU(), fits.CompImageHDU(hdul[0].data, header=hdul[0].header)]
        ).writeto(tmp_path / "a.fits.fz")
    reference = scan_file(plain)
    assert reference.usable
    for name in ("a.fits.gz", "a.fits.fz"):
        path = tmp_path / name
        scanned = scan_file(path)
        assert scanned.usable, (name, scanned.status_reason)
        assert (scanned.role, scanned.fields["obstype"]) == (
            reference.role,
            reference.fields["obstype"],
        )
        assert scanned.checksum == hashlib.sha256(path.read_bytes()).hexdigest()
        assert check_complete(path) is None
    cut = tmp_path / "cut.fits.gz"
    cut.write_bytes((tmp_path / "a.fits.gz").read_bytes()[:200])
    assert "no complete compressed FITS file yet" in check_complete(cut)
