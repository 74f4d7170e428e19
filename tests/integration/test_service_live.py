"""The gsp service run by a real hub watches raw/ and runs the job engine (GSP_LIVE=1).

Its own hub (the session's hub runs with GSP_LIVE=0 so that queued jobs stay queued):
a raw frame renamed into the hub's data root is registered by the service's watcher,
listed by ``GET /services/gsp/api/files/`` and reduced by the engine on the service's
dask LocalCluster, without any other process.
"""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
import requests
from gsp_realhub import start_hub, stop_hub

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def livehub(tmp_path_factory):
    previous = os.environ.get("GSP_WORKERS")
    os.environ["GSP_WORKERS"] = "1"  # one dask worker process is enough here
    try:
        hub = start_hub(tmp_path_factory.mktemp("gsp-live-hub"), live=True)
    finally:
        if previous is None:
            os.environ.pop("GSP_WORKERS", None)
        else:
            os.environ["GSP_WORKERS"] = previous
    yield hub
    stop_hub(hub)


def _frame(obstype: str) -> tuple[str, bytes]:
    from pipeline.simulate import NightConfig, iter_night

    cfg = NightConfig(n_bias=1, n_flats=0, n_arcs=0, n_science=1, noise=False, seed=2)
    for frame in iter_night(cfg):
        if frame.hdul[0].header["OBSTYPE"] == obstype:
            return frame.name, frame.fits_bytes()
    raise AssertionError(f"no {obstype} frame simulated")


def test_a_raw_file_dropped_in_is_registered_listed_and_reduced(livehub):
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import create_user

    db = Database(livehub.database_url)
    with db.transaction() as s:
        create_user(s, "livestaff", email="livestaff@example.org", is_staff=True)
    db.dispose()
    headers = {"Authorization": f"token {livehub.token_for('livestaff')}"}

    name, data = _frame("OBJECT")
    night = livehub.data_root / "raw" / "20261121"
    night.mkdir(parents=True, exist_ok=True)
    tmp = night / f".{name}.partial"
    tmp.write_bytes(data)
    os.replace(tmp, night / name)

    def listed():
        r = requests.get(livehub.api + "files/", headers=headers, timeout=30)
        assert r.status_code == 200, r.text
        return {f["file_name"]: f for f in r.json()["results"]}

    deadline = time.monotonic() + 120
    found = {}
    while time.monotonic() < deadline:
        found = listed()
        reduced = [f for n, f in found.items() if n.endswith(name) and n != name]
        if name in found and reduced:
            break
        time.sleep(0.3)
    assert name in found, f"{name} not listed; service log:\n{livehub.log_tail()}"
    raw = found[name]
    assert str(raw["data_type"]) == "0" and raw["full_path"] == str(night / name)
    assert raw["object"] and raw["proposal_id"]
    # the engine in the service reduced it (no masters yet: overscan and trim only)
    assert reduced, f"no product of {name}: {sorted(found)}\n{livehub.log_tail()}"
    assert reduced[0]["original_file_id"] == raw["id"]
    # The operator's view: the service's log says what ingest and the engine did, when.
    said = livehub.log_path.read_text(errors="replace")
    assert re.search(r"gsp_extension\.ingest\.watcher\] ingest: registered 1 raw file", said)
    assert re.search(r"gsp_extension\.engine\.runner\] gsp: reduce job \d+ claimed", said), (
        livehub.log_tail()
    )


def test_the_hub_stops_the_live_service_cleanly_before_escalating(livehub):
    """The hub stops a service with SIGINT, then SIGTERM 30 s later, then SIGKILL.
    jupyter_server handles SIGINT only with a terminal on stdin: without one (systemd,
    Kubernetes, tests) the interrupt broke the service's event loop with nothing
    stopped, and the process waited for its dask and watcher threads until it was
    killed (this module's teardown took 21.7 s). Now it stops its engine and dask
    workers and exits on the SIGINT itself. (Last in this module: it stops the hub.)"""
    import psutil

    hub = psutil.Process(livehub.process.pid)
    (service,) = [p for p in hub.children() if "service_config" in " ".join(p.cmdline())]
    workers = service.children(recursive=True)
    assert workers, "no dask worker process under the service"
    livehub.process.send_signal(signal.SIGTERM)
    # within the hub's SIGINT grace (30 s): a service that needs its SIGTERM fails here
    gone, alive = psutil.wait_procs([service, *workers], timeout=25)
    said = livehub.log_path.read_text(errors="replace")
    assert not alive, f"still running 25 s after the hub's stop: {alive}\n{livehub.log_tail()}"
    assert "gsp: live ingest and job engine stopped" in said, livehub.log_tail()
    assert "received signal 15" not in said, livehub.log_tail()  # no SIGTERM was needed
    livehub.process.wait(30)
