"""Records match the seed's API examples: same fields, same order, same JSON types.

The field lists and types are parsed from ``shared/seeds/api_examples.txt`` itself, so
the test follows the seed rather than a copy of it.
"""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from store_helpers import digest

from gsp_extension.store.files import register_file
from gsp_extension.store.models import File, Proposal
from gsp_extension.store.serialize import (
    SEED_FILE_FIELDS,
    file_record,
    proposal_record,
)


def _seed_json_blocks(text: str) -> list[dict]:
    decoder = json.JSONDecoder()
    blocks = []
    for match in re.finditer(r"^\{", text, flags=re.M):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except json.JSONDecodeError:
            continue
        blocks.append(value)
    return blocks


@pytest.fixture(scope="module")
def seed(shared_dir):
    blocks = _seed_json_blocks((shared_dir / "seeds" / "api_examples.txt").read_text())
    files = next(b for b in blocks if "results" in b)
    proposal = next(b for b in blocks if "soar_id" in b)
    return {"files": files["results"], "proposal": proposal}


def _types(records: list[dict]) -> dict[str, set[type]]:
    types: dict[str, set[type]] = {}
    for record in records:
        for key, value in record.items():
            types.setdefault(key, set()).add(type(value))
    return types


#: What the API's record adds after the seed's fields, and the JSON types each takes.
OBSERVATION_ORDER = {"date_obs": {str, type(None)}, "frame_number": {int, type(None)}}


def _check_like_seed(record: dict, seed_records: list[dict]) -> None:
    added = OBSERVATION_ORDER if "file_name" in seed_records[0] else {}
    assert list(record) == [*seed_records[0], *added]
    for key, allowed in added.items():
        assert type(record[key]) in allowed, f"{key}: {type(record[key]).__name__}"
    record = {k: v for k, v in record.items() if k not in added}
    seed_types = _types(seed_records)
    for key, value in record.items():
        # Fields that are null in every seed example may be null; else the seed's type.
        allowed = seed_types[key] | {type(None)}
        assert type(value) in allowed, f"{key}: {type(value).__name__} not in {allowed}"


def _timestamp_ok(value: str) -> None:
    parsed = dt.datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"{value} has no timezone"


def test_seed_field_list_is_ours(seed):
    for record in seed["files"]:
        assert tuple(record) == SEED_FILE_FIELDS


def test_raw_file_record_matches_the_seed(db, people, seed):
    example = seed["files"][1]  # the ARC of SOAR2020B-008
    fields = {
        k: example[k]
        for k in (
            "obstype",
            "object",
            "filter",
            "filter_2",
            "grating",
            "slit",
            "cam_targ",
            "grt_targ",
            "obsra",
            "obsdec",
            "gain",
            "rdnoise",
            "roi",
            "wavmode",
            "proposal_id",
            "observation_id",
            "configuration_id",
            "block_id",
            "image_id",
            "date",
            "normalized",
            "technique",
            "saturation_value",
        )
    }
    path = example["full_path"]
    with db.transaction() as s:
        f = register_file(s, path, checksum=digest(path), size=100, fields=fields).file
    with db.session() as s:
        record = file_record(s, s.get(File, f.id))
    _check_like_seed(record, seed["files"])
    for key in fields:
        assert record[key] == example[key], key
    assert record["data_type"] == "0"
    assert record["original_file"] == record["parent_file"] == example["file_name"]
    assert record["original_file_id"] == record["parent_file_id"] == record["id"]
    assert (record["file_name"], record["directory_name"]) == (
        example["file_name"],
        example["directory_name"],
    )
    _timestamp_ok(record["created"])
    _timestamp_ok(record["last_modified"])
    assert json.loads(json.dumps(record)) == record


def test_record_with_missing_header_values_keeps_seed_types(db, seed):
    with db.transaction() as s:
        f = register_file(s, "/raw/bare.fits", checksum=digest("bare"), size=1).file
    with db.session() as s:
        record = file_record(s, s.get(File, f.id))
    _check_like_seed(record, seed["files"])
    assert record["normalized"] is False and record["data_type"] == "0"


def test_product_record_names_its_parent_and_original(db, people, seed):
    with db.transaction() as s:
        raw = register_file(s, "/raw/0001.fits", checksum=digest("r"), size=1).file
        red = register_file(
            s, "/p/cfzst_0001.fits", checksum=digest("c"), size=1, data_type=2, parent=raw
        ).file
        ext = register_file(
            s, "/p/ecfzst_0001.fits", checksum=digest("e"), size=1, data_type=3, parent=red
        ).file
    with db.session() as s:
        record = file_record(s, s.get(File, ext.id))
    _check_like_seed(record, seed["files"])
    assert record["original_file"] == "0001.fits" and record["parent_file"] == "cfzst_0001.fits"
    assert record["data_type"] == "3"


def test_proposal_record_matches_the_seed(db, people, seed):
    with db.session() as s:
        record = proposal_record(s.get(Proposal, people["a"].id))
    example = seed["proposal"]
    assert list(record) == list(example)
    assert list(record["user"]) == list(example["user"])
    seed_users = [example["user"], *example["collaborators"]]
    for user in [record["user"], *record["collaborators"]]:
        _check_like_seed(user, seed_users)
        _timestamp_ok(user["date_joined"])
    assert record["user"]["username"] == "pia"
    assert [u["username"] for u in record["collaborators"]] == ["cola", "gone"]
    assert record["user"]["last_login"] is None


def test_placeholder_proposal_record_has_no_pi(db):
    with db.transaction() as s:
        register_file(
            s, "/raw/x.fits", checksum=digest("x"), size=1, fields={"proposal_id": "NEW-1"}
        )
    with db.session() as s:
        from gsp_extension.store.proposals import get_proposal_by_soar_id

        record = proposal_record(get_proposal_by_soar_id(s, "NEW-1"))
    assert record["user"] is None and record["collaborators"] == []
