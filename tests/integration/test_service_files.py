"""The gsp service through a real hub: lockdown, status, files listing and detail, errors."""

from __future__ import annotations

import re

import pytest
import requests

from gsp_extension.store.serialize import SEED_FILE_FIELDS

# Run against a hub whose service uses SQLite, and one using PostgreSQL.
pytestmark = pytest.mark.databases("sqlite", "postgresql")

SEED_TYPES = {
    "id": int,
    "created": str,
    "last_modified": str,
    "original_file_id": int,
    "parent_file_id": int,
    "file_name": str,
    "directory_name": str,
    "full_path": str,
    "data_type": str,
    "normalized": bool,
    "image_id": int,
    "saturation_value": int,
    "gain": str,
    "cam_targ": str,
    "date": str,
}


def get(world, path, who="alice", **kwargs):
    return requests.get(world.url(path), headers=world.headers(who), timeout=30, **kwargs)


def test_status_answers_the_caller(world, world_db):
    r = get(world, "")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok" and body["user"] == "alice" and body["staff"] is False
    # The service really runs on the database this round is about.
    assert body["database"] == world_db


@pytest.mark.parametrize("scheme", ["token", "Token", "Bearer"])
def test_token_header_is_case_insensitive(world, scheme):
    token = world.hub.token_for("alice")
    r = requests.get(world.url(""), headers={"Authorization": f"{scheme} {token}"}, timeout=30)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("who", [None, "bad"])
def test_no_or_bad_token_is_401_json_never_a_redirect(world, who):
    r = requests.get(
        world.url("files/"), headers=world.headers(who), allow_redirects=False, timeout=30
    )
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Token"
    assert "authentication required" in r.json()["detail"]


@pytest.mark.parametrize(
    "path", ["api/contents", "api/kernels", "api/sessions", "api/terminals", "api/kernelspecs"]
)
def test_jupyter_resources_are_refused(world, path):
    url = f"{world.hub.url}/services/gsp/{path}"
    headers = world.headers("staffer")
    assert requests.get(url, headers=headers, timeout=30).status_code == 404
    assert requests.post(url, headers=headers, json={}, timeout=30).status_code == 404


def test_seed_example_list_of_raw_files(world):
    """The seed's first example, host and prefix changed."""
    token = world.hub.token_for("alice")
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    r = requests.get(world.url("files/"), params={"data_type": "0"}, headers=headers, timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert set(body) >= {"count", "next", "previous", "results"}
    assert body["count"] == len(body["results"]) >= 3
    assert body["previous"] is None and body["next"] is None
    ids = {rec["id"] for rec in body["results"]}
    assert {world.ids["p1_raw"], world.ids["p1_arc"], world.ids["p1_raw2"]} <= ids
    for record in body["results"]:
        assert list(record)[: len(SEED_FILE_FIELDS)] == list(SEED_FILE_FIELDS)
        for name, kind in SEED_TYPES.items():
            assert isinstance(record[name], kind), (name, record[name])
        assert record["proposal_id"] == "SOAR2020B-001" and record["data_type"] == "0"
        assert record["original_file_id"] == record["id"] == record["parent_file_id"]
        assert re.match(r"\d{4}-\d\d-\d\dT.*[+-]\d\d:\d\d$", record["created"])


def test_visibility_of_listing(world):
    def names(who, **params):
        """Ids the caller sees; master calibrations (visible to all) are set apart."""
        r = get(world, "files/", who, params={"page_size": 1000, **params})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert world.ids["master_bias"] in {rec["id"] for rec in results}
        return {rec["id"] for rec in results if rec["data_type"] != "1"}

    alice = names("alice")
    assert world.ids["p1_raw"] in alice
    assert world.ids["p2_raw"] not in alice
    assert names("dave") == {world.ids["p2_raw"]}
    assert names("eve") == set()
    assert world.ids["p2_raw"] in names("staffer")
    # Asking for another proposal by name shows nothing of it.
    r = get(world, "files/", "dave", params={"proposal_id": "SOAR2020B-001"})
    assert r.json()["results"] == []


def test_filters_ordering_and_search(world):
    def ids(**params):
        r = get(world, "files/", "alice", params=params)
        assert r.status_code == 200, r.text
        return [rec["id"] for rec in r.json()["results"]]

    assert ids(obstype="COMP") == [world.ids["p1_arc"]]
    assert ids(search="sn2020") == [world.ids["p1_raw2"]]
    assert set(ids(parent_file_id=world.ids["p1_reduced"])) == {
        world.ids["p1_extracted"],
        world.ids["p1_deletable"],
        world.ids["p1_outside"],
    }
    assert ids(date="2020-11-27") == []
    assert len(ids(date_after="2020-11-26", date_before="2020-11-26", data_type="0")) == 3
    ordered = ids(data_type="0", ordering="id")
    assert ordered == sorted(ordered)
    assert ids(data_type="0", ordering="-id") == sorted(ordered, reverse=True)


def test_hiding_raw_calibrations(world):
    from gsp_extension.client import GSPClient

    def ids(**params):
        r = get(world, "files/", "alice", params={"proposal_id": "SOAR2020B-001", **params})
        assert r.status_code == 200, r.text
        return {rec["id"] for rec in r.json()["results"]}

    raw = ids(data_type="0")
    assert world.ids["p1_arc"] in raw
    assert ids(data_type="0", hide_raw_calibrations="true") == raw - {world.ids["p1_arc"]}
    assert ids(data_type="0", exclude_obstype="BIAS,FLAT,COMP") == raw - {world.ids["p1_arc"]}
    # The master bias (data_type 1, OBSTYPE BIAS) is not a raw calibration.
    everything = {rec["id"] for rec in get(world, "files/", "alice").json()["results"]}
    hidden = {
        rec["id"]
        for rec in get(world, "files/", "alice", params={"hide_raw_calibrations": "true"}).json()[
            "results"
        ]
    }
    assert everything - hidden == {world.ids["p1_arc"]}
    assert world.ids["master_bias"] in hidden
    client = GSPClient(world.hub.url + "/services/gsp", world.hub.token_for("alice"))
    page = client.files(proposal_id="SOAR2020B-001", data_type=0, exclude_obstype=["COMP", "FLAT"])
    assert {rec["id"] for rec in page["results"]} == raw - {world.ids["p1_arc"]}
    r = get(world, "files/", "alice", params={"exclude_obstype": "BIAS,SCIENCE"})
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert "exclude_obstype" in detail and "SCIENCE" in detail and "'DARK'" in detail
    r = get(world, "files/", "alice", params={"hide_raw_calibrations": "sometimes"})
    assert r.status_code == 400 and "hide_raw_calibrations" in r.json()["detail"]


def test_pagination_like_the_seed(world):
    r = get(world, "files/", params={"page_size": 2, "ordering": "id"})
    body = r.json()
    assert len(body["results"]) == 2 and body["previous"] is None
    assert "page=2" in body["next"] and "page_size=2" in body["next"]
    total = body["count"]
    seen = [rec["id"] for rec in body["results"]]
    url = body["next"]
    while url:
        page = requests.get(url, headers=world.headers("alice"), timeout=30).json()
        assert page["previous"] is not None
        seen += [rec["id"] for rec in page["results"]]
        url = page["next"]
    assert len(seen) == total == len(set(seen))
    assert seen == sorted(seen)


def test_detail_and_other_proposal_is_404(world):
    fid = world.ids["p1_raw"]
    r = get(world, f"files/{fid}/")
    assert r.status_code == 200 and r.json()["id"] == fid
    r = get(world, f"files/{fid}/", "dave")
    assert r.status_code == 404 and "detail" in r.json()
    # Same answer as a file that does not exist: existence does not leak.
    missing = get(world, "files/999999/", "dave")
    assert missing.status_code == 404
    assert r.json()["detail"].replace(str(fid), "N") == missing.json()["detail"].replace(
        "999999", "N"
    )


@pytest.mark.parametrize(
    ("path", "params", "status", "phrase"),
    [
        ("files/", {"data_type": "9"}, 400, "data_type"),
        ("files/", {"data_type": "raw"}, 400, "data_type"),
        ("files/", {"nonsense": "1"}, 400, "nonsense: unknown field"),
        ("files/", {"page": "0"}, 400, "page"),
        ("files/", {"page": "abc"}, 400, "page"),
        ("files/", {"page": "999"}, 404, "past the last page"),
        # every listing pages alike (proposals answered an empty 200 past the end)
        ("proposals/", {"page": "999"}, 404, "past the last page"),
        ("jobs/", {"page": "999"}, 404, "past the last page"),
        ("files/", {"page_size": "1001"}, 400, "page_size"),
        ("files/", {"ordering": "password"}, 400, "cannot order by"),
        ("files/", {"date": "26/11/2020"}, 400, "date"),
        ("files/abc/", {}, 400, "not a valid id"),
        ("files/0/", {}, 400, "not a valid id"),
        ("files/header/", {}, 400, "id"),
        ("files/visualize/", {"id": "1", "cmap": "rainbow!"}, 400, "cmap"),
        ("proposals/x/", {}, 400, "not a valid id"),
        ("jobs/-1/", {}, 400, "not a valid id"),
    ],
)
def test_bad_query_is_400_with_detail(world, path, params, status, phrase):
    r = get(world, path, params=params)
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert phrase in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "phrase"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"", "request body is empty"),
        (b'{"id": "12"}', "field id"),
        (b'{"id": 1, "extra": 2}', "extra: unknown field"),
        (b"{}", "field id: Field required"),
    ],
)
def test_bad_body_is_400_with_detail(world, body, phrase):
    r = requests.post(
        world.url("files/reduce/"),
        data=body,
        headers={**world.headers("alice"), "Content-Type": "application/json"},
        timeout=30,
    )
    assert r.status_code == 400, r.text
    assert phrase in r.json()["detail"]


def test_wrong_method_is_405_naming_the_right_one(world):
    r = requests.put(world.url("files/"), headers=world.headers("alice"), json={}, timeout=30)
    assert r.status_code == 405
    assert "use GET or POST or DELETE" in r.json()["detail"]
