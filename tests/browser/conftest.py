"""Browser tests: Debian's chromium driven by playwright-python, through the real hub.

One world for the session (a real hub, accounts, a simulated night processed by the
project's engine: see ``live_world.py``), one browser. Every request any page makes is
recorded; ``test_every_request_stays_on_the_hub`` checks them. Screenshots go to
``test-artifacts/`` at the repository root (gitignored).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.requirements import require

sys.path.insert(0, str(Path(__file__).resolve().parent))

from live_world import PASSWORD, start_world, stop_world  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
REQUESTS: list[str] = []
#: GSP_TOKEN_CACHE_SECONDS of the world's gsp service (how long a revoked token may work).
TOKEN_CACHE_SECONDS = float(os.environ.get("GSP_TOKEN_CACHE_SECONDS", "5"))


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    require(
        CHROMIUM.exists() and shutil.which("node") is not None,
        "browser tests need /usr/bin/chromium (apt install chromium) and node",
    )
    import playwright.sync_api  # noqa: F401 - installed by make test; an ImportError is a real failure

    if os.environ.get("GSP_BROWSER_WORLD_URL"):
        # An already running world (live_world.start_world in another process), to
        # iterate on the tests without processing a night each time.
        yield SimpleNamespace(
            url=os.environ["GSP_BROWSER_WORLD_URL"].rstrip("/") + "/",
            other_file_names=["0001_NGC1234_26-11-2020.fits"],
        )
        return
    # A closed page's kernel is shut down 10 s after its last connection went (60 s in
    # production): test_page_kernels waits that long, not a minute.
    os.environ.setdefault("GSP_PAGE_KERNEL_TIMEOUT", "10")
    # The gsp service trusts the hub's word on a token this long (30 s in production):
    # the revoked-token test waits that long for the refusal, not half a minute.
    os.environ.setdefault("GSP_TOKEN_CACHE_SECONDS", f"{TOKEN_CACHE_SECONDS:g}")
    w = start_world(tmp_path_factory.mktemp("gsp-browser"))
    yield w
    stop_world(w)


@pytest.fixture(scope="session")
def browser(world):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


def new_page(browser, width=1500, height=1000):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.on("request", lambda r: REQUESTS.append(r.url))
    page.set_default_timeout(60_000)
    return page


def login(page, url: str, username: str) -> None:
    page.goto(url + "hub/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit], button[type=submit]")


#: The plot's drawing count (its ``gsp-draw-<n>`` class; 0 before the first drawing).
DRAWS = """() => { const p = document.querySelector('.gsp-plot');
    const m = p && [...p.classList].map(c => /^gsp-draw-(\\d+)$/.exec(c)).find(Boolean);
    return m ? Number(m[1]) : 0; }"""


def plot_draws(page) -> int:
    """How many plots the page has drawn: read before a click, for :func:`new_plot`."""
    return page.evaluate(DRAWS)


def new_plot(page, before: int, element: str = "", timeout: float | None = None) -> str:
    """Wait for a plot drawn after drawing number ``before`` (``gsp-ready``), of the
    file the header names, holding ``element`` (``img``, ``canvas``) if given; return
    that file's id.

    What the page showed before the click satisfies no check of it, even when the same
    file is drawn again: the kernel names the file in the header before it draws, so
    once a later drawing is on the page, the header names its file.
    """
    page.wait_for_function(
        """([before, element]) => {
             const p = document.querySelector('.gsp-plot.gsp-ready');
             const id = document.querySelector('.gsp-header .gsp-file-id');
             if (!p || !id) return false;
             const m = [...p.classList].map(c => /^gsp-draw-(\\d+)$/.exec(c)).find(Boolean);
             return Boolean(m) && Number(m[1]) > before
                    && p.classList.contains('gsp-shows-' + id.dataset.fileId)
                    && (!element || p.querySelector(element) !== null);
           }""",
        arg=[before, element],
        timeout=timeout,
    )
    return page.locator(".gsp-header .gsp-file-id").get_attribute("data-file-id")


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture(scope="session")
def alice(browser, world):
    """Alice (PI of the first proposal), logged in, on the data browser."""
    page = new_page(browser)
    login(page, world.url, "alice")
    page.wait_for_url("**/voila/render/data_browser.ipynb**", timeout=120_000)
    page.wait_for_selector(".gsp-file-index .jupyter-button", timeout=120_000)
    page.wait_for_selector(
        ".gsp-plot.gsp-ready img", timeout=60_000
    )  # the newest file, opened at start
    yield page
    page.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed and "alice" in item.funcargs:
        try:
            shot(item.funcargs["alice"], f"FAILED_{item.name}")
        except Exception:  # the page may be gone; the failure itself is what matters
            pass
    return report
