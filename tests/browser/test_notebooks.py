"""The power users' notebooks (notebooks/*.ipynb), executed with nbclient against the
running platform of the browser tests, as alice (PI) with her own API token."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


def test_there_are_at_least_three():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_against_the_platform(path, world, monkeypatch, tmp_path):
    from nbclient import NotebookClient

    if not hasattr(world, "hub"):
        pytest.skip(
            "GSP_BROWSER_WORLD_URL names a world started elsewhere; the notebooks need "
            "the session's own hub to make Alice's token through its admin API"
        )
    monkeypatch.setenv("GSP_API_URL", world.hub.url + "/services/gsp/")
    monkeypatch.setenv("GSP_API_TOKEN", world.hub.token_for("alice"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
