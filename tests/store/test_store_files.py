"""File registration: idempotent by path and checksum, versions, lineage, placeholders."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select
from store_helpers import digest

from gsp_extension.store.errors import InvalidState, InvalidValue
from gsp_extension.store.files import (
    children,
    current_file_by_path,
    file_versions,
    header_to_json,
    list_files_query,
    mark_deleted,
    register_file,
)
from gsp_extension.store.models import File, Proposal
from gsp_extension.store.proposals import get_proposal_by_soar_id

RAW = "/data/raw/20201126/0353_Orion-Burst_26-11-2020_comp.fits"
FIELDS = {
    "obstype": "ARC",
    "object": "ZTF20actqfpc",
    "gain": 1.48,
    "rdnoise": "3.89",
    "proposal_id": "SOAR2020B-008",
    "image_id": "34304",
    "date": "2020-11-26T23:59:01.5",
    "saturation_value": 69257,
    "normalized": False,
}


def test_same_path_and_checksum_registers_once(db, people):
    with db.transaction() as s:
        first = register_file(s, RAW, checksum=digest("v1"), size=10, fields=FIELDS)
    with db.transaction() as s:
        again = register_file(s, RAW, checksum=digest("v1"), size=10, fields=FIELDS)
    assert first.created and not again.created
    assert again.file.id == first.file.id
    with db.session() as s:
        assert len(s.scalars(select(File)).all()) == 1


def test_rewritten_file_becomes_a_new_version_not_a_duplicate(db, people):
    with db.transaction() as s:
        v1 = register_file(s, RAW, checksum=digest("v1"), size=10, fields=FIELDS).file
    with db.transaction() as s:
        reg = register_file(s, RAW, checksum=digest("v2"), size=12, fields=FIELDS)
    assert reg.created
    assert reg.file.version == 2 and reg.superseded.id == v1.id
    with db.session() as s:
        versions = file_versions(s, RAW)
        assert [f.version for f in versions] == [1, 2]
        assert versions[0].superseded_at is not None and versions[1].superseded_at is None
        assert current_file_by_path(s, RAW).checksum == digest("v2")
        listed = s.scalars(list_files_query(s, data_type=0)).all()
        assert [f.id for f in listed] == [reg.file.id]
    # Going back to the first content is a third version, not a return to the first row.
    with db.transaction() as s:
        v3 = register_file(s, RAW, checksum=digest("v1"), size=10, fields=FIELDS)
    assert v3.created and v3.file.version == 3


def test_fields_are_normalised_to_the_seed_types(db, people):
    with db.transaction() as s:
        f = register_file(s, RAW, checksum=digest("x"), size=1, fields=FIELDS).file
    with db.session() as s:
        f = s.get(File, f.id)
        assert f.gain == "1.48" and f.image_id == 34304
        assert f.date == dt.date(2020, 11, 26)
        assert f.created.tzinfo is not None


def test_raw_file_is_its_own_original_and_parent_products_inherit(db, people):
    with db.transaction() as s:
        raw = register_file(s, RAW, checksum=digest("raw"), size=1, fields=FIELDS).file
        reduced = register_file(
            s,
            "/data/products/20201126/cfzst_0353.fits",
            checksum=digest("red"),
            size=1,
            data_type=2,
            parent=raw,
            fields={"proposal_id": "SOAR2020B-008"},
        ).file
        extracted = register_file(
            s,
            "/data/products/20201126/ecfzst_0353.fits",
            checksum=digest("ext"),
            size=1,
            data_type=3,
            parent=reduced,
            fields={"proposal_id": "SOAR2020B-008"},
        ).file
    assert (raw.original_file_id, raw.parent_file_id) == (raw.id, raw.id)
    assert (reduced.original_file_id, reduced.parent_file_id) == (raw.id, raw.id)
    assert (extracted.original_file_id, extracted.parent_file_id) == (raw.id, reduced.id)
    with db.session() as s:
        assert [c.id for c in children(s, s.get(File, raw.id))] == [reduced.id]


def test_unknown_propid_creates_a_placeholder_and_keeps_the_file(db):
    with db.transaction() as s:
        f = register_file(
            s, RAW, checksum=digest("p"), size=1, fields={"proposal_id": "SOAR2099Z-999"}
        ).file
    with db.session() as s:
        proposal = get_proposal_by_soar_id(s, "SOAR2099Z-999")
        assert proposal is not None and proposal.placeholder and proposal.pi_id is None
        assert s.get(File, f.id).proposal_id == "SOAR2099Z-999"
        # one placeholder, however many files name it
    with db.transaction() as s:
        register_file(
            s, RAW + "2", checksum=digest("q"), size=1, fields={"proposal_id": "SOAR2099Z-999"}
        )
    with db.session() as s:
        assert len(s.scalars(select(Proposal)).all()) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"full_path": "relative/x.fits"}, "not absolute"),
        ({"checksum": "abc"}, "SHA-256"),
        ({"size": -1}, "non-negative"),
        ({"data_type": 9}, "data_type"),
        ({"data_type": 3}, "needs its parent"),
        ({"fields": {"colour": "red"}}, "colour: not a settable file field"),
        ({"fields": {"image_id": "twelve"}}, "image_id: 'twelve' is not an integer"),
        ({"fields": {"date": "yesterday"}}, "not a date YYYY-MM-DD"),
        ({"status": "lost"}, "status 'lost'"),
    ],
)
def test_bad_registration_says_what_is_wrong(db, kwargs, message):
    args = {"full_path": RAW, "checksum": digest("a"), "size": 1, **kwargs}
    with db.transaction() as s, pytest.raises(InvalidValue, match=message):
        register_file(s, args.pop("full_path"), **args)


def test_raw_files_are_never_deleted_products_are(db, people):
    with db.transaction() as s:
        raw = register_file(s, RAW, checksum=digest("r"), size=1, fields=FIELDS).file
        product = register_file(
            s,
            "/p/cfzst.fits",
            checksum=digest("c"),
            size=1,
            data_type=2,
            parent=raw,
            fields={"proposal_id": "SOAR2020B-008"},
        ).file
    with db.transaction() as s:
        with pytest.raises(InvalidState, match="raw files are never deleted"):
            mark_deleted(s, s.get(File, raw.id))
        # who may delete is the access policy's (tests/store/test_store_access.py)
        mark_deleted(s, s.get(File, product.id))
    with db.session() as s:
        assert s.get(File, product.id).deleted_at is not None
        assert product.id not in [
            f.id
            for f in s.scalars(
                list_files_query(
                    s,
                )
            )
        ]
        assert product.id in [f.id for f in s.scalars(list_files_query(s, include_deleted=True))]
    # Making the deleted product again registers a new version.
    with db.transaction() as s:
        again = register_file(
            s,
            "/p/cfzst.fits",
            checksum=digest("c"),
            size=1,
            data_type=2,
            parent=s.get(File, raw.id),
        )
    assert again.created and again.file.version == 2


def test_listing_is_newest_first(db, people):
    with db.transaction() as s:
        for day, name in [(3, "c"), (1, "a"), (2, "b")]:
            register_file(
                s,
                f"/raw/{name}.fits",
                checksum=digest(name),
                size=1,
                fields={"date": f"2021-01-0{day}", "proposal_id": "SOAR2020B-008"},
            )
    with db.session() as s:
        names = [f.file_name for f in s.scalars(list_files_query(s, proposal_id="SOAR2020B-008"))]
    assert names == ["c.fits", "b.fits", "a.fits"]


def test_header_is_kept_as_ordered_cards_with_duplicates():
    from astropy.io import fits

    header = fits.Header()
    header["OBSTYPE"] = ("ARC", "observation type")
    header["GAIN"] = 1.48
    header["COMMENT"] = "one"
    header["COMMENT"] = "two"
    header["NOVALUE"] = None
    cards = header_to_json(header)
    assert cards[:2] == [["OBSTYPE", "ARC", "observation type"], ["GAIN", 1.48, ""]]
    assert [c[1] for c in cards if c[0] == "COMMENT"] == ["one", "two"]
    assert ["NOVALUE", None, ""] in cards


def test_batch_registration_follows_the_same_rules(db, people):
    from gsp_extension.store.errors import InvalidValue
    from gsp_extension.store.files import NewFile, register_files

    def entry(name, content, **kw):
        return NewFile(f"/raw/{name}", digest(content), 10, **kw)

    with db.transaction() as s:
        register_file(s, "/raw/old.fits", checksum=digest("old"), size=10)
    with db.transaction() as s:
        results = register_files(
            s,
            [
                entry("a.fits", "a", fields={"proposal_id": "SOAR2040A-001", "image_id": "7"}),
                entry("old.fits", "old"),  # unchanged
                entry("bad.fits", "x", fields={"image_id": "seven"}),  # refused alone
                entry("old.fits", "new"),  # rewritten in place
                entry("a.fits", "a"),  # twice in one batch
                NewFile("relative.fits", digest("r"), 1),
            ],
        )
    a, old, bad, rewritten, a_again, relative = results
    assert a.created and a.file.version == 1 and a.file.original_file_id == a.file.id
    assert not old.created and old.file.version == 1
    assert isinstance(bad, InvalidValue) and "image_id" in str(bad)
    assert rewritten.created and rewritten.file.version == 2
    assert rewritten.superseded.id == old.file.id
    assert not a_again.created and a_again.file.id == a.file.id
    assert isinstance(relative, InvalidValue)
    with db.session() as s:
        assert get_proposal_by_soar_id(s, "SOAR2040A-001").placeholder
        paths = s.execute(select(File.full_path, File.version).order_by(File.id)).all()
        assert paths == [("/raw/old.fits", 1), ("/raw/a.fits", 1), ("/raw/old.fits", 2)]
        assert s.get(File, a.file.id).image_id == 7
    with db.transaction() as s:  # a second run changes nothing
        again = register_files(s, [entry("a.fits", "a"), entry("old.fits", "new")])
    assert [r.created for r in again] == [False, False]


def test_batch_registration_survives_a_concurrent_registration(db, db_url, monkeypatch):
    """Another process registers a path between the batch's look-up and its insert."""
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serializes writers (BEGIN IMMEDIATE): no interleaving possible")
    from gsp_extension.store import Database
    from gsp_extension.store import files as store_files
    from gsp_extension.store.files import NewFile, register_files

    other = Database(db_url)
    real_utcnow = store_files.utcnow
    fired = []

    def utcnow_with_a_rival():
        if not fired:
            fired.append(True)
            with other.transaction() as s:
                register_file(s, "/raw/race.fits", checksum=digest("same"), size=3)
        return real_utcnow()

    monkeypatch.setattr(store_files, "utcnow", utcnow_with_a_rival)
    try:
        with db.transaction() as s:
            (result,) = register_files(s, [NewFile("/raw/race.fits", digest("same"), 3)])
            assert fired and not result.created  # fell back and found the rival's row
    finally:
        other.dispose()
    with db.session() as s:
        assert len(s.scalars(select(File)).all()) == 1


def test_a_retired_product_made_again_byte_for_byte_is_current_again(db, people):
    """A flux job that read a spectrum replaced meanwhile retires what it made; the job
    made again writes the same bytes (the data did not change): a new current version."""
    product = "/data/products/20201126/master_sens_x.fits"
    with db.transaction() as s:
        raw = register_file(s, RAW, checksum=digest("raw"), size=10, fields=FIELDS).file
        first = register_file(s, product, checksum=digest("p"), size=5, data_type=1, parent=raw)
        first.file.superseded_at = first.file.created
    with db.transaction() as s:
        again = register_file(s, product, checksum=digest("p"), size=5, data_type=1, parent=raw)
    assert again.created and again.file.version == 2 and again.file.superseded_at is None
    with db.transaction() as s:
        same = register_file(s, product, checksum=digest("p"), size=5, data_type=1, parent=raw)
    assert not same.created and same.file.id == again.file.id
