"""The listing's column-based records equal the store's serializer, field for field."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from sqlalchemy import select

from gsp_extension.api.queries import file_records_query, record_from_row
from gsp_extension.store import Database, File, upgrade_database
from gsp_extension.store.files import register_file
from gsp_extension.store.serialize import file_record


def test_records_equal_the_store_serializer(db_url):
    upgrade_database(db_url)
    db = Database(db_url)
    try:
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
            # A whole second: isoformat() then leaves the microseconds out.
            product.created = dt.datetime(2021, 2, 18, 13, 22, 10, tzinfo=dt.UTC)
        santiago = zoneinfo.ZoneInfo("America/Santiago")
        with db.session() as s:
            for tz in (dt.UTC, santiago):
                rows = (
                    s.connection()
                    .execute(file_records_query(select(File.id).order_by(File.id)))
                    .all()
                )
                files = s.scalars(select(File).order_by(File.id)).all()
                assert [record_from_row(r, tz) for r in rows] == [
                    file_record(f, tz=tz) for f in files
                ]
    finally:
        db.dispose()
