"""The seed's two API example scripts, run as written against a real hub and service.

``seed_examples/`` holds the two scripts copied from ``shared/seeds/api_examples.txt``;
only the host (``http://remotehost/``) and the key are replaced when they run. The hub
here has the seed's world: staff user ``observer`` is the PI of proposal 5,
``calibrate`` ("Calibrations", 2020A), which has a raw file.

The first script imports ``HTTPError`` from ``request.exceptions`` (sic: the seed's
typo of ``requests``); the runner puts a two-line ``request`` package on the path that
re-exports ``requests.exceptions``, so the script itself stays as written.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.requirements import require

EXAMPLES = Path(__file__).resolve().parent / "seed_examples"
FAKE_KEY = "'some-fake-api-key-that-does-not-work'"
SEED_HOST = "http://remotehost/"

RUNNER = """
import json, runpy, sys
g = runpy.run_path(sys.argv[1], run_name="__main__")
print(json.dumps({"status": g["response"].status_code, "json": g.get("json_response")}))
"""


def _seed_blocks(text: str) -> dict[str, str]:
    """The two scripts of the seed document, and the proposal it shows as the answer."""
    a = text.index("import requests")
    b = text.index("Will produce a response like this.")
    c = text.index("import requests", b)
    d = text.index("You get a serialized version")
    e = text.index("{", d)
    f = text.index("Since the user did not")
    return {
        "list_raw_files.py": text[a:b].rstrip() + "\n",
        "add_collaborator.py": text[c:d].rstrip() + "\n",
        "proposal": text[e:f].strip(),
    }


@pytest.fixture(scope="module")
def seed_hub(bare_hub):
    """conftest.py's hub with an empty database (the invitation test adds accounts to it,
    never a proposal or a file): the seed's world is built on it as it stands."""
    _build_seed_world(bare_hub)
    return bare_hub


def _build_seed_world(hub) -> None:
    from astropy.io import fits

    from gsp_extension.store import Database
    from gsp_extension.store.accounts import create_user
    from gsp_extension.store.files import register_file
    from gsp_extension.store.proposals import create_proposal

    db = Database(hub.database_url)
    try:
        with db.transaction() as s:
            observer = create_user(
                s,
                "observer",
                email="observer@observatory.cl",
                first_name="Observer",
                last_name="Observer",
                is_staff=True,
            )
            for n in range(1, 5):
                create_proposal(s, f"SOAR2020A-00{n}", semester="2020A", title=f"filler {n}")
            calibrate = create_proposal(
                s,
                "calibrate",
                semester="2020A",
                title="Calibrations",
                abstract="How calibrations will be handled.",
                pi=observer,
            )
            assert calibrate.id == 5
            path = hub.data_root / "raw" / "20210218" / "0001_GHTS_B_400m1_2x2_18-02-2021.fits"
            path.parent.mkdir(parents=True, exist_ok=True)
            fits.PrimaryHDU(np.zeros((4, 4), "f4")).writeto(path)
            register_file(
                s,
                path,
                checksum=hashlib.sha256(path.read_bytes()).hexdigest(),
                size=path.stat().st_size,
                fields={"proposal_id": "calibrate", "date": "2021-02-18", "obstype": "LAMPFLAT"},
            )
    finally:
        db.dispose()


def run_example(name: str, hub, token: str, tmp_path: Path) -> dict:
    """Run seed example ``name`` with only its host and key replaced."""
    text = (EXAMPLES / name).read_text()
    assert text.count(FAKE_KEY) == 1 and SEED_HOST in text
    script = tmp_path / name
    script.write_text(
        text.replace(FAKE_KEY, repr(token)).replace(SEED_HOST, f"{hub.url}/services/gsp/")
    )
    shim = tmp_path / "shim" / "request"
    shim.mkdir(parents=True, exist_ok=True)
    (shim / "__init__.py").write_text("")
    (shim / "exceptions.py").write_text("from requests.exceptions import *  # noqa: F403\n")
    env = {**os.environ, "PYTHONPATH": str(shim.parent)}
    run = subprocess.run(
        [sys.executable, "-c", RUNNER, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_copies_are_the_seed_as_written(shared_dir):
    seed = shared_dir / "seeds" / "api_examples.txt"
    require(seed.exists(), f"the seed document {seed} (shared/ beside the repository)")
    blocks = _seed_blocks(seed.read_text())
    for name in ("list_raw_files.py", "add_collaborator.py"):
        assert (EXAMPLES / name).read_text() == blocks[name], name


def test_list_raw_files_example(seed_hub, tmp_path):
    got = run_example("list_raw_files.py", seed_hub, seed_hub.token_for("observer"), tmp_path)
    assert got["status"] == 200
    page = got["json"]
    assert set(page) >= {"count", "next", "previous", "results"}
    assert page["count"] == 1 and page["previous"] is None and page["next"] is None
    record = page["results"][0]
    assert record["file_name"] == "0001_GHTS_B_400m1_2x2_18-02-2021.fits"
    assert record["data_type"] == "0" and record["proposal_id"] == "calibrate"


def test_add_collaborator_example_answers_the_seeds_proposal(seed_hub, tmp_path, shared_dir):
    token = seed_hub.token_for("observer")
    got = run_example("add_collaborator.py", seed_hub, token, tmp_path)
    assert got["status"] == 200, got
    proposal = got["json"]
    seed = shared_dir / "seeds" / "api_examples.txt"
    require(seed.exists(), f"the seed document {seed} (shared/ beside the repository)")
    expected = json.loads(_seed_blocks(seed.read_text())["proposal"])
    # Same shape, key for key, and the same values but ids and times.
    assert list(proposal) == list(expected)
    assert list(proposal["user"]) == list(expected["user"])
    assert list(proposal["collaborators"][0]) == list(expected["collaborators"][0])
    for key in ("id", "soar_id", "semester", "title", "abstract"):
        assert proposal[key] == expected[key], key
    for key in ("username", "first_name", "last_name", "email", "is_staff", "is_active"):
        assert proposal["user"][key] == expected["user"][key], key
    [new] = proposal["collaborators"]
    for key in ("username", "last_login", "first_name", "last_name", "email", "is_staff"):
        assert new[key] == expected["collaborators"][0][key], key
    # The new account exists in the hub too, in the proposal's group.
    group = seed_hub.hub_api("GET", "/groups/calibrate").json()
    assert "user" in group["users"]
    # Run again: the collaborator is already there; the answer is the same proposal.
    again = run_example("add_collaborator.py", seed_hub, token, tmp_path)
    assert again["status"] == 200 and again["json"]["collaborators"] == proposal["collaborators"]
