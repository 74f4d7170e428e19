"""GSPClient against the real service."""

from __future__ import annotations

import pytest

from gsp_extension.client import GSPAPIError, GSPClient, JobFailed


@pytest.fixture(scope="module")
def alice(world):
    return GSPClient(world.hub.url + "/services/gsp", world.hub.token_for("alice"))


def test_finds_url_and_token_in_a_hub_server_environment(world, monkeypatch):
    monkeypatch.delenv("GSP_API_URL", raising=False)
    monkeypatch.delenv("GSP_API_TOKEN", raising=False)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", world.hub.token_for("bob"))
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", world.hub.url + "/")
    monkeypatch.setenv("JUPYTERHUB_BASE_URL", "/")
    assert GSPClient().status()["user"] == "bob"
    monkeypatch.setenv("GSP_API_URL", world.hub.url + "/services/gsp/")
    monkeypatch.delenv("JUPYTERHUB_PUBLIC_URL")
    assert GSPClient().status()["user"] == "bob"


def test_no_url_or_token_says_what_to_set(monkeypatch):
    for name in ("GSP_API_URL", "JUPYTERHUB_PUBLIC_URL", "GSP_API_TOKEN", "JUPYTERHUB_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="GSP_API_URL"):
        GSPClient()
    with pytest.raises(ValueError, match="token"):
        GSPClient("http://x/services/gsp/")


def test_pages_iterate_every_file(world, alice):
    records = list(alice.iter_files(page_size=2, ordering="id"))
    assert len(records) == alice.files(page_size=1)["count"]
    assert [r["id"] for r in records] == sorted(r["id"] for r in records)
    assert {r["proposal_id"] for r in alice.iter_files(data_type=0)} == {"SOAR2020B-001"}


def test_file_header_download_visualize(world, alice, tmp_path):
    fid = world.ids["p1_raw"]
    assert alice.file(fid)["id"] == fid
    assert any(c["keyword"] == "OBJECT" for c in alice.header(fid))
    path = alice.download(fid, tmp_path)
    assert path.name == alice.file(fid)["file_name"] and path.read_bytes()[:6] == b"SIMPLE"
    assert alice.visualize(fid, tmp_path / "p.png", width=200, height=150)[:4] == b"\x89PNG"


def test_errors_carry_status_and_detail(world, alice):
    with pytest.raises(GSPAPIError) as err:
        alice.file(world.ids["p2_raw"])
    assert err.value.status == 404 and "no file" in err.value.detail
    with pytest.raises(GSPAPIError) as err:
        alice.delete_file(world.ids["p1_raw"])
    assert err.value.status == 403


def test_actions_jobs_and_waiting(world, alice):
    job = alice.reclassify(world.ids["p1_arc"])
    assert job["state"] in ("queued", "running", "done", "failed")
    assert alice.job(job["id"])["id"] == job["id"]
    assert job["id"] in [j["id"] for j in alice.jobs()]
    # Whether or not an engine runs the job within the wait, the answer is truthful.
    try:
        final = alice.wait_for_job(job, timeout=0.5, poll=0.2, raise_on_failure=False)
    except TimeoutError as exc:
        state = alice.job(job["id"])["state"]
        assert state in ("queued", "running") and state in str(exc)
    else:
        assert final["state"] in ("done", "failed")
        if final["state"] == "failed":
            with pytest.raises(JobFailed):
                alice.wait_for_job(job, timeout=0.5)


def test_proposals_settings_comments_logs(world, alice):
    pid = world.proposals["p1"]
    assert [p["soar_id"] for p in alice.proposals()] == ["SOAR2020B-001"]
    assert alice.settings(pid)["proposal_id"] == pid
    assert alice.update_settings(pid, min_flat_frames=7)["min_flat_frames"] == 7
    comment = alice.add_comment(world.ids["p1_raw"], "from the client")
    assert comment["text"] in [c["text"] for c in alice.comments(world.ids["p1_raw"])]
    alice.delete_comment(world.ids["p1_raw"], comment["id"])
    assert alice.logs(limit=5)
