"""Proposals, settings, collaborators, header, download, visualize, actions, jobs, logs,
comments and events through the real hub."""

from __future__ import annotations

import json
import time

import pytest
import requests

from gsp_extension.store.serialize import SEED_PROPOSAL_FIELDS, SEED_USER_FIELDS


def call(world, method, path, who="alice", **kwargs):
    return requests.request(
        method, world.url(path), headers=world.headers(who), timeout=60, **kwargs
    )


# --- proposals and settings ------------------------------------------------------------------


def test_proposal_list_and_detail(world):
    r = call(world, "GET", "proposals/", "bob")
    assert r.status_code == 200
    results = r.json()["results"]
    assert [p["soar_id"] for p in results] == ["SOAR2020B-001"]
    assert list(results[0]) == list(SEED_PROPOSAL_FIELDS)
    assert list(results[0]["user"]) == list(SEED_USER_FIELDS)
    assert call(world, "GET", f"proposals/{world.proposals['p2']}/", "bob").status_code == 404
    # Staff see every proposal (other modules sharing this world create some).
    from sqlalchemy import select

    from gsp_extension.store import Database, Proposal

    db = Database(world.hub.database_url)
    try:
        with db.session() as s:
            every = sorted(s.scalars(select(Proposal.soar_id)))
    finally:
        db.dispose()
    staff = call(world, "GET", "proposals/", "staffer", params={"page_size": 1000}).json()
    assert staff["count"] == len(every) >= 4
    assert sorted(p["soar_id"] for p in staff["results"]) == every


def test_settings_read_by_members_edited_by_pi(world):
    pid = world.proposals["p1"]
    r = call(world, "GET", f"proposals/{pid}/settings/", "bob")
    assert r.status_code == 200 and r.json()["min_bias_frames"] == 10
    version = r.json()["version"]
    r = call(world, "PUT", f"proposals/{pid}/settings/", "bob", json={"max_targets": 2})
    assert r.status_code == 403 and "only the PI" in r.json()["detail"]
    r = call(world, "PUT", f"proposals/{pid}/settings/", "alice", json={"max_targets": 2})
    assert r.status_code == 200, r.text
    assert r.json()["max_targets"] == 2 and r.json()["version"] == version + 1
    bad = call(
        world,
        "PUT",
        f"proposals/{pid}/settings/",
        "alice",
        json={"max_targets": "two", "flat_normalization": "weird", "ignore_bias": 1},
    )
    assert bad.status_code == 400
    detail = bad.json()["detail"]
    assert "max_targets" in detail and "flat_normalization" in detail and "ignore_bias" in detail
    # Nothing half-done: the refused change recorded no version.
    again = call(world, "GET", f"proposals/{pid}/settings/", "alice").json()
    assert again["version"] == version + 1
    assert call(world, "GET", f"proposals/{pid}/settings/", "dave").status_code == 404


# --- collaborators ------------------------------------------------------------------------------


def test_seed_collaborator_example_get_works_with_a_token(world):
    """The seed's legacy form: a token-authenticated GET with a form body (deprecated)."""
    pid = world.proposals["p1"]
    token = world.hub.token_for("alice")
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    r = requests.get(
        world.url(f"proposals/collaborators/{pid}/"),
        data={"email": "seed.get@server.net", "action": "add"},
        headers=headers,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert "seed.get@server.net" in {u["email"] for u in r.json()["collaborators"]}
    # Leave the proposal as it was for the other tests.
    r = call(
        world,
        "POST",
        f"proposals/collaborators/{pid}/",
        "alice",
        json={"email": "seed.get@server.net", "action": "remove"},
    )
    assert r.status_code == 200 and "seed.get@server.net" not in {
        u["email"] for u in r.json()["collaborators"]
    }


def test_pi_adds_a_new_collaborator_who_gets_user_hub_user_group_and_mail(world):
    pid = world.proposals["p1"]
    outbox = world.hub.data_root / "outbox"
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()
    r = call(
        world,
        "POST",
        f"proposals/collaborators/{pid}/",
        "alice",
        json={"email": "New.Person@Server.net", "action": "add"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == list(SEED_PROPOSAL_FIELDS)
    added = [u for u in body["collaborators"] if u["email"] == "new.person@server.net"]
    assert len(added) == 1 and added[0]["username"] == "new.person"
    assert added[0]["last_login"] is None and added[0]["is_active"] is True
    assert r.headers.get("X-GSP-Invitation") == "sent"
    mails = set(outbox.glob("*.eml")) - before
    assert len(mails) == 1
    text = mails.pop().read_text()
    assert "new.person@server.net" in text and "set-password?token=" in text
    hub_user = world.hub.hub_api("GET", "/users/new.person")
    assert hub_user.status_code == 200
    assert "SOAR2020B-001" in hub_user.json()["groups"]
    # The new account sees the proposal at once (the app DB is the truth).
    assert call(world, "GET", "proposals/", "new.person").json()["count"] == 1
    # Remove again.
    r = call(
        world,
        "POST",
        f"proposals/collaborators/{pid}/",
        "alice",
        json={"email": "new.person@server.net", "action": "remove"},
    )
    assert r.status_code == 200
    assert all(u["username"] != "new.person" for u in r.json()["collaborators"])
    assert "SOAR2020B-001" not in world.hub.hub_api("GET", "/users/new.person").json()["groups"]
    assert call(world, "GET", "proposals/", "new.person").json()["count"] == 0


def test_collaborators_refusals_change_nothing(world):
    pid = world.proposals["p1"]
    # A collaborator is not the PI.
    r = call(
        world,
        "POST",
        f"proposals/collaborators/{pid}/",
        "bob",
        json={"email": "eve@example.org", "action": "add"},
    )
    assert r.status_code == 403
    # Nobody adds themselves, not even to a proposal they can see.
    r = call(
        world,
        "POST",
        f"proposals/collaborators/{world.proposals['p2']}/",
        "eve",
        json={"email": "eve@example.org", "action": "add"},
    )
    assert r.status_code == 404
    r = call(
        world,
        "POST",
        f"proposals/collaborators/{pid}/",
        "alice",
        json={"email": "alice@example.org", "action": "add"},
    )
    assert r.status_code == 403 and "yourself" in r.json()["detail"]
    r = call(
        world,
        "POST",
        f"proposals/collaborators/{pid}/",
        "alice",
        json={"email": "not-an-email", "action": "add"},
    )
    assert r.status_code == 400
    r = call(
        world,
        "POST",
        f"proposals/collaborators/{pid}/",
        "alice",
        json={"email": "x@y.org", "action": "promote"},
    )
    assert r.status_code == 400 and "action" in r.json()["detail"]
    assert call(world, "GET", "proposals/", "eve").json()["count"] == 0
    emails = [u["email"] for u in call(world, "GET", f"proposals/{pid}/").json()["collaborators"]]
    assert emails == ["bob@example.org"]


# --- header, download, visualize -----------------------------------------------------------------


def test_header_rows(world):
    r = call(world, "GET", "files/header/", params={"id": world.ids["p1_raw"]})
    assert r.status_code == 200, r.text
    cards = r.json()["header"]
    assert {"keyword", "value", "comment"} == set(cards[0])
    assert {"keyword": "OBJECT", "value": "ZTF20actqfpc", "comment": ""} in cards
    r = call(world, "GET", "files/header/", "dave", params={"id": world.ids["p1_raw"]})
    assert r.status_code == 404


def test_download_streams_the_file(world):
    fid = world.ids["p1_raw"]
    r = call(world, "GET", f"files/{fid}/download/", stream=True)
    assert r.status_code == 200
    assert r.headers["Content-Disposition"].startswith('attachment; filename="0001_')
    content = r.raw.read()
    assert content.startswith(b"SIMPLE  =") and len(content) == int(r.headers["Content-Length"])
    assert call(world, "GET", f"files/{fid}/download/", "dave").status_code == 404


def test_paths_outside_the_data_root_are_never_served(world):
    fid = world.ids["p1_outside"]
    for path, params in (
        (f"files/{fid}/download/", {}),
        ("files/visualize/", {"id": fid}),
        ("files/header/", {"id": fid}),
    ):
        r = call(world, "GET", path, params=params)
        assert r.status_code == 403, (path, r.text)
        assert "outside the data root" in r.json()["detail"]
    r = call(world, "POST", "files/", "staffer", json={"full_path": "/etc/passwd"})
    assert r.status_code == 403
    traversal = str(world.hub.data_root / "raw" / ".." / ".." / "etc" / "passwd")
    r = call(world, "POST", "files/", "staffer", json={"full_path": traversal})
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("key", "params"),
    [
        ("p1_raw", {"scale": "zscale", "cmap": "viridis"}),
        ("p1_raw", {"scale": "percentile", "percentile": "99"}),
        ("p1_extracted", {"scale": "minmax"}),
    ],
)
def test_visualize_png_cached(world, key, params):
    params = {"id": world.ids[key], "width": 400, "height": 300, **params}
    t0 = time.perf_counter()
    r = call(world, "GET", "files/visualize/", params=params)
    first = time.perf_counter() - t0
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "image/png" and r.content[:8] == b"\x89PNG\r\n\x1a\n"
    cached = list((world.hub.data_root / "cache" / "visualize").glob(f"{world.ids[key]}-*.png"))
    assert cached
    again = call(world, "GET", "files/visualize/", params=params)
    assert again.content == r.content
    assert first >= 0


# --- actions, jobs, logs, comments, events ----------------------------------------------------------


def test_reduce_queues_a_job_once(world):
    fid = world.ids["p1_raw2"]
    r = call(world, "POST", "files/reduce/", "bob", json={"id": fid})
    assert r.status_code == 202, r.text
    job = r.json()["jobs"][0]
    assert job["kind"] == "reduce" and job["state"] == "queued" and job["file_id"] == fid
    again = call(world, "POST", "files/reduce/", "alice", json={"id": fid})
    assert again.status_code == 200 and again.json()["jobs"][0]["id"] == job["id"]
    detail = call(world, "GET", f"jobs/{job['id']}/", "alice")
    assert detail.status_code == 200 and detail.json()["state"] == "queued"
    assert call(world, "GET", f"jobs/{job['id']}/", "dave").status_code == 404
    listed = call(world, "GET", "jobs/", "bob", params={"state": "queued"}).json()
    assert job["id"] in [j["id"] for j in listed["results"]]


def test_actions_check_the_file_kind_and_the_caller(world):
    r = call(world, "POST", "files/spectrum/extract/", json={"id": world.ids["p1_raw"]})
    assert r.status_code == 409 and "needs a file that is reduced" in r.json()["detail"]
    r = call(world, "POST", "files/reduce/", "dave", json={"id": world.ids["p1_raw"]})
    assert r.status_code == 404
    r = call(world, "POST", "files/reduce/", "alice", json={"id": world.ids["master_bias"]})
    assert r.status_code == 403
    r = call(
        world,
        "POST",
        "files/spectrum/calibrate/wavelength/",
        json={"id": world.ids["p1_extracted"], "lamp_id": world.ids["p1_raw"]},
    )
    assert r.status_code == 409 and "not a comparison lamp" in r.json()["detail"]
    r = call(
        world,
        "POST",
        "files/spectrum/calibrate/wavelength/",
        json={"id": world.ids["p1_extracted"]},
    )
    assert r.status_code == 202 and r.json()["jobs"][0]["kind"] == "calibrate_wavelength"
    r = call(
        world,
        "POST",
        "files/spectrum/extract/",
        json={"id": world.ids["p1_reduced"], "lamp_id": world.ids["p1_arc"]},
    )
    assert r.status_code == 202 and r.json()["jobs"][0]["params"]["lamp_id"] == world.ids["p1_arc"]
    r = call(world, "POST", "files/reclassify/", json={"id": world.ids["p1_raw"]})
    assert r.status_code == 202
    r = call(world, "POST", "files/calibrations/", json={"date": "2020-11-26"})
    assert r.status_code == 202
    assert [j["kind"] for j in r.json()["jobs"]] == ["master_bias", "master_flat"]
    r = call(world, "POST", "files/calibrations/", "eve", json={"date": "2020-11-26"})
    assert r.status_code == 403


def test_delete_products_only(world):
    r = call(world, "DELETE", f"files/{world.ids['p1_raw']}/", "staffer")
    assert r.status_code == 403 and "raw data cannot be deleted" in r.json()["detail"]
    # All or nothing: a raw file in the batch refuses the whole batch.
    r = call(
        world,
        "DELETE",
        "files/",
        "alice",
        json={"ids": [world.ids["p1_deletable"], world.ids["p1_raw"]]},
    )
    assert r.status_code == 403
    assert call(world, "GET", f"files/{world.ids['p1_deletable']}/").status_code == 200
    r = call(world, "DELETE", f"files/{world.ids['p1_deletable']}/", "dave")
    assert r.status_code == 404
    path = call(world, "GET", f"files/{world.ids['p1_deletable']}/").json()["full_path"]
    r = call(world, "DELETE", f"files/{world.ids['p1_deletable']}/", "bob")
    assert r.status_code == 200, r.text
    assert call(world, "GET", f"files/{world.ids['p1_deletable']}/").status_code == 404
    from pathlib import Path

    assert not Path(path).exists()


def test_comments(world):
    fid = world.ids["p1_reduced"]
    r = call(world, "POST", f"files/{fid}/comments/", "bob", json={"text": "nice trace"})
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    assert call(world, "GET", f"files/{fid}/comments/", "dave").status_code == 404
    listed = call(world, "GET", f"files/{fid}/comments/", "alice").json()["results"]
    assert [c["text"] for c in listed] == ["nice trace"] and listed[0]["user"] == "bob"
    assert call(world, "DELETE", f"files/{fid}/comments/{cid}/", "alice").status_code == 403
    assert call(world, "DELETE", f"files/{fid}/comments/{cid}/", "bob").status_code == 204


def test_logs_are_filtered_per_caller(world):
    call(world, "POST", "files/reclassify/", "alice", json={"id": world.ids["p1_raw2"]})
    mine = call(world, "GET", "logs/", "alice").json()["results"]
    assert mine and all(e["proposal_id"] in (world.proposals["p1"], None) for e in mine)
    theirs = call(world, "GET", "logs/", "dave").json()["results"]
    assert all(e["proposal_id"] != world.proposals["p1"] for e in theirs)
    assert call(world, "GET", "logs/", params={"level": "LOUD"}).status_code == 400


def _read_events(world, who, after_id, seconds=4.0):
    r = requests.get(
        world.url("events/"),
        headers=world.headers(who),
        params={"after_id": after_id},
        stream=True,
        timeout=(5, seconds),
    )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/event-stream")
    events = []
    try:
        for line in r.iter_lines(decode_unicode=True):
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    except requests.exceptions.ConnectionError:
        pass  # read timeout: the stream stays open by design
    finally:
        r.close()
    return events


def test_events_stream_only_what_the_caller_may_see(world):
    logs = call(world, "GET", "logs/", "staffer", params={"limit": 1}).json()["results"]
    start = logs[0]["id"] if logs else 0
    assert call(
        world, "POST", "files/reclassify/", "carol", json={"id": world.ids["p2_raw"]}
    ).status_code in (200, 202)
    call(world, "POST", f"files/{world.ids['p1_reduced']}/comments/", "alice", json={"text": "hi"})
    alice = _read_events(world, "alice", start)
    carol = _read_events(world, "carol", start)
    assert any(e["event"] == "comment.added" for e in alice)
    assert all(e["proposal_id"] != world.proposals["p2"] for e in alice)
    assert any(e["event"] == "job.queued" for e in carol)
    assert all(e["proposal_id"] != world.proposals["p1"] for e in carol)


def test_email_is_for_staff(world):
    body = {"subject": "Night report", "message": "All good", "proposal_id": world.proposals["p1"]}
    assert call(world, "POST", "email/", "alice", json=body).status_code == 403
    r = call(world, "POST", "email/", "staffer", json=body)
    assert r.status_code == 200, r.text
    assert set(r.json()["recipients"]) == {"alice@example.org", "bob@example.org"}


def test_register_file_as_staff(world):
    import numpy as np
    from astropy.io import fits

    path = world.hub.data_root / "raw" / "20201127" / "0100_new.fits"
    path.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(np.zeros((10, 10), "f4"))
    hdu.header.update(
        {
            "OBSTYPE": "BIAS",
            "OBJECT": "Bias",
            "PROPID": "SOAR2020B-001",
            "DATE-OBS": "2020-11-27T01:00:00",
            "GAIN": 1.48,
            "RDNOISE": 3.89,
            "CCDSUM": "2 2",
            "ROI": "Spectroscopic 2x2",
        }
    )
    hdu.writeto(path)
    assert call(world, "POST", "files/", "alice", json={"full_path": str(path)}).status_code == 403
    r = call(world, "POST", "files/", "staffer", json={"full_path": str(path)})
    assert r.status_code == 201, r.text
    record = r.json()["file"]
    assert record["obstype"] == "BIAS" and record["date"] == "2020-11-27"
    assert record["proposal_id"] == "SOAR2020B-001" and record["data_type"] == "0"
    again = call(world, "POST", "files/", "staffer", json={"full_path": str(path)})
    assert again.status_code == 200 and again.json()["created"] is False


def test_the_instrument_registers_files_and_nothing_else(world):
    import numpy as np
    from astropy.io import fits

    headers = {"Authorization": f"token {world.hub.instrument_token}"}
    path = world.hub.data_root / "raw" / "20201126" / "0500_instrument.fits"
    hdu = fits.PrimaryHDU(np.zeros((4, 4), "f4"))
    hdu.header.update(
        {
            "OBSTYPE": "BIAS",
            "OBJECT": "Bias",
            "PROPID": "SOAR2020B-002",
            "DATE-OBS": "2020-11-26T02:00:00",
            "GAIN": 1.48,
            "RDNOISE": 3.89,
            "CCDSUM": "2 2",
        }
    )
    hdu.writeto(path)
    r = requests.post(
        world.url("files/"), headers=headers, json={"full_path": str(path)}, timeout=30
    )
    assert r.status_code == 201, r.text
    assert requests.get(world.url("files/"), headers=headers, timeout=30).json()["results"] == []
    r = requests.get(world.url(f"files/{world.ids['p1_raw']}/"), headers=headers, timeout=30)
    assert r.status_code == 404


def test_docs_login_sends_browsers_to_the_hub(world):
    r = requests.get(world.url("docs/login"), allow_redirects=False, timeout=30)
    assert r.status_code == 302
    assert "/hub/api/oauth2/authorize" in r.headers["Location"]
