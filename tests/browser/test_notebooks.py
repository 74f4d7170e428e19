"""The power users' notebooks (notebooks/*.ipynb), executed with nbclient against the
running platform of the browser tests, as alice (PI) with her own API token; and
JupyterLab, their editor, opened in the browser through the hub."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from conftest import login, new_page, shot

ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"

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


def test_jupyterlab_does_not_ask_about_jupyter_news(browser, world):
    """The announcements plugin is disabled in the page config the user's server serves
    (hub/singleuser_config.py): JupyterLab asks no one about Jupyter news."""
    page = new_page(browser)
    try:
        login(page, world.url, "bob")
        page.wait_for_url("**/voila/render/data_browser.ipynb**", timeout=120_000)
        response = page.goto(world.url + "user/bob/lab")
        assert response is not None and response.ok
        # the page config in the HTML the server sent (what PageConfig reads): only the
        # announcements plugin is disabled
        served = re.search(
            r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
            response.text(),
            re.S,
        )
        assert served, "no jupyter-config-data in the JupyterLab page"
        assert json.loads(served[1])["disabledExtensions"] == [ANNOUNCEMENTS]
        page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
        # Enabled, the plugin asks as soon as the app is restored (the file browser listed).
        page.wait_for_selector(".jp-DirListing-item", timeout=60_000)
        page.wait_for_timeout(5_000)
        assert page.get_by_text("official Jupyter news").count() == 0
        assert page.locator(".Toastify__toast", has_text="Jupyter news").count() == 0
        shot(page, "16_jupyterlab_no_news_question")
    finally:
        page.close()
