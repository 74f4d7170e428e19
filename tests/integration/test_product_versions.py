"""A re-reduced product keeps its id working: the old id redirects to the current
version, the history is listed, and nothing of it shows to another proposal.

The rows are written as the engine leaves them after a re-reduction (new products of the
same parent registered, the old chain marked superseded: gsp_extension.engine.products);
tests/engine/test_engine_wavelength.py checks that the engine's own re-calibration ends
in that state.
"""

from __future__ import annotations

import numpy as np
import pytest
import requests
from conftest import P3, _fields, _raw_header, _write_fits

pytestmark = pytest.mark.databases("sqlite", "postgresql")


@pytest.fixture(scope="module")
def versions(world):
    """In the fuzzer's proposal (P3, PI fred): a frame reduced twice (``czt_`` then
    ``cfzst_``) with a spectrum of target 1 each time, and a target 2 found only by the
    first reduction."""
    from gsp_extension.store import Database
    from gsp_extension.store.files import register_file
    from gsp_extension.store.types import utcnow

    root = world.hub.data_root
    db = Database(world.hub.database_url)
    ids: dict[str, int] = {}

    def write(s, key, name, data_type, parent, folder="products"):
        # A night of its own: on the shared world's night, fred (whose requests the
        # fuzzer sends) would become an observer allowed to build its calibrations.
        h = _raw_header(P3, "OBJECT", "VersionStar", 700 + len(ids), night="2020-10-10")
        if data_type:
            h["RLEVEL"] = 60 + data_type
        path = root / folder / "20201010" / name
        checksum, size = _write_fits(path, h, np.full((8, 8), len(ids), "f4"))
        file = register_file(
            s,
            path,
            checksum=checksum,
            size=size,
            fields=_fields(h),
            data_type=data_type,
            parent=parent,
        ).file
        ids[key] = file.id
        return file

    with db.transaction() as s:
        raw = write(s, "raw", "0700_VersionStar.fits", 0, None, folder="raw")
        old = write(s, "old_reduced", "czt_0700_VersionStar.fits", 2, raw)
        old_t1 = write(s, "old_t1", "eczt_0700_VersionStar_target_1.fits", 3, old)
        old_t2 = write(s, "old_t2", "eczt_0700_VersionStar_target_2.fits", 3, old)
        new = write(s, "new_reduced", "cfzst_0700_VersionStar.fits", 2, raw)
        write(s, "new_t1", "ecfzst_0700_VersionStar_target_1.fits", 3, new)
        now = utcnow()
        for file in (old, old_t1, old_t2):
            file.superseded_at = now
    db.dispose()
    return ids


def get(world, path, who="fred", **kwargs):
    return requests.get(world.url(path), headers=world.headers(who), timeout=30, **kwargs)


def test_an_old_id_redirects_to_the_current_version(world, versions):
    old, new = versions["old_reduced"], versions["new_reduced"]
    r = get(world, f"files/{old}/", allow_redirects=False)
    assert r.status_code == 301, r.text
    assert r.headers["Location"].endswith(f"/services/gsp/api/files/{new}/")
    followed = get(world, f"files/{old}/")
    assert followed.status_code == 200 and followed.json()["id"] == new
    assert followed.json()["file_name"] == "cfzst_0700_VersionStar.fits"
    # a spectrum follows its own target
    r = get(world, f"files/{versions['old_t1']}/")
    assert r.json()["id"] == versions["new_t1"]
    # downloads too
    r = get(world, f"files/{old}/download/", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"].endswith(f"/files/{new}/download/")
    assert (
        get(world, f"files/{old}/download/").content == get(world, f"files/{new}/download/").content
    )


def test_the_history_is_listed(world, versions):
    old, new = versions["old_reduced"], versions["new_reduced"]
    for asked in (old, new):
        body = get(world, f"files/{asked}/versions/").json()
        assert body["count"] == 2 and body["current"] == new
        assert [v["id"] for v in body["results"]] == [old, new]
        assert [v["current"] for v in body["results"]] == [False, True]
        assert body["results"][0]["superseded_at"] is not None
        assert body["results"][0]["file_name"] == "czt_0700_VersionStar.fits"


def test_a_version_nothing_replaced_stays_readable(world, versions):
    # target 2 was found only by the first reduction: its record is history, kept
    r = get(world, f"files/{versions['old_t2']}/", allow_redirects=False)
    assert r.status_code == 200 and r.json()["id"] == versions["old_t2"]
    body = get(world, f"files/{versions['old_t2']}/versions/").json()
    assert body["current"] is None and body["count"] == 1


def test_another_proposal_learns_nothing(world, versions):
    for key in ("old_reduced", "new_reduced"):
        for path in ("files/{}/", "files/{}/versions/", "files/{}/download/"):
            r = get(world, path.format(versions[key]), "dave", allow_redirects=False)
            assert r.status_code == 404, (path, r.status_code)
    # the same answer as an id that does not exist
    missing = get(world, "files/999998/versions/", "dave")
    assert missing.status_code == 404
