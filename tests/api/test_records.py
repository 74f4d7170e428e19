"""File records, the one path (plain columns): exact seed values, in UTC and another zone.

The records are compared with values written out here from what was registered, not
with a second serializer: there is only one.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from sqlalchemy import select

from gsp_extension.store import Database, File
from gsp_extension.store.files import register_file
from gsp_extension.store.serialize import (
    FILE_RECORD_FIELDS,
    SEED_FILE_FIELDS,
    file_record,
    file_records,
    file_records_query,
    record_from_row,
)
from tests.migrated import migrate


@pytest.fixture
def files(db_url, request):
    migrate(db_url, request)
    db = Database(db_url)
    with db.transaction() as s:
        raw = register_file(
            s,
            "/data/raw/a.fits",
            checksum="a" * 64,
            size=10,
            fields={
                "proposal_id": "SOAR2020B-008",
                "date": "2020-11-26",
                "gain": "1.48",
                "image_id": 7,
                "obstype": "OBJECT",
            },
        ).file
        product = register_file(
            s,
            "/data/products/b.fits",
            checksum="b" * 64,
            size=5,
            data_type=2,
            parent=raw,
            fields={"proposal_id": "SOAR2020B-008"},
        ).file
        # A whole second (isoformat() then leaves the microseconds out) and one with them.
        product.created = dt.datetime(2021, 2, 18, 13, 22, 10, tzinfo=dt.UTC)
        product.last_modified = dt.datetime(2021, 2, 18, 13, 22, 10, 250, tzinfo=dt.UTC)
        ids = raw.id, product.id
    yield db, ids
    db.dispose()


def test_records_have_the_seed_values(files):
    db, (raw_id, product_id) = files
    santiago = zoneinfo.ZoneInfo("America/Santiago")  # UTC-3 in February
    with db.session() as s:
        raw, product = file_records(s, [raw_id, product_id])
        local = file_record(s, s.get(File, product_id), tz=santiago)
    assert list(raw) == list(FILE_RECORD_FIELDS)
    assert list(raw)[: len(SEED_FILE_FIELDS)] == list(SEED_FILE_FIELDS)
    # "a.fits" has no frame number, and its header no DATE-OBS
    assert raw["date_obs"] is None and raw["frame_number"] is None
    assert raw["gain"] == "1.48" and raw["image_id"] == 7 and raw["date"] == "2020-11-26"
    assert raw["data_type"] == "0" and raw["normalized"] is False
    assert raw["original_file"] == raw["parent_file"] == "a.fits"
    assert raw["original_file_id"] == raw["parent_file_id"] == raw_id
    assert (raw["file_name"], raw["directory_name"], raw["full_path"]) == (
        "a.fits",
        "/data/raw",
        "/data/raw/a.fits",
    )
    assert dt.datetime.fromisoformat(raw["created"]).utcoffset() == dt.timedelta(0)
    assert product["data_type"] == "2"
    assert product["original_file"] == product["parent_file"] == "a.fits"
    assert (product["original_file_id"], product["parent_file_id"]) == (raw_id, raw_id)
    assert product["created"] == "2021-02-18T13:22:10+00:00"
    assert product["last_modified"] == "2021-02-18T13:22:10.000250+00:00"
    assert product["date"] is None and product["gain"] is None  # given none
    assert local["created"] == "2021-02-18T10:22:10-03:00"
    assert {k: v for k, v in local.items() if k not in ("created", "last_modified")} == {
        k: v for k, v in product.items() if k not in ("created", "last_modified")
    }


def test_records_of_a_query_and_of_ids_agree(files):
    db, (raw_id, product_id) = files
    with db.session() as s:
        dialect = s.get_bind().dialect.name
        query = file_records_query(select(File.id).order_by(File.id.desc()), dialect)
        rows = s.connection().execute(query).all()
        assert [record_from_row(r) for r in rows] == file_records(s, [product_id, raw_id])
        assert file_records(s, [raw_id, 10**6]) == file_records(s, [raw_id])


def test_records_carry_the_observation_order_in_utc(db_url, request):
    """``date_obs`` is the header's DATE-OBS in UTC whatever zone the service shows its
    own times in, ``frame_number`` the name's leading digits; a product carries its
    raw frame's."""
    migrate(db_url, request)
    db = Database(db_url)
    with db.transaction() as s:
        raw = register_file(
            s,
            "/data/raw/0042_ZTF20actqfpc.fits",
            checksum="c" * 64,
            size=10,
            header=[["DATE-OBS", "2020-11-27T01:02:03.250", "UTC start of exposure"]],
        ).file
        product = register_file(
            s,
            "/data/products/cfzst_0042_ZTF20actqfpc.fits",
            checksum="d" * 64,
            size=5,
            data_type=2,
            parent=raw,
        ).file
        ids = raw.id, product.id
    santiago = zoneinfo.ZoneInfo("America/Santiago")
    with db.session() as s:
        for tz in (dt.UTC, santiago):
            for record in file_records(s, list(ids), tz=tz):
                assert record["date_obs"] == "2020-11-27T01:02:03.250000+00:00", tz
                assert record["frame_number"] == 42
    db.dispose()
