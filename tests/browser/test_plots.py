"""Plots in a real browser: one interactive figure per view, whatever is switched.

As bob (collaborator of the first proposal), in a context of his own, so that his
plot-mode preference cannot leak into the other browser tests.
"""

from __future__ import annotations

import re

import pytest
from conftest import login, new_plot, plot_draws, shot

COUNT = """() => [document.querySelectorAll('.gsp-plot .jupyter-matplotlib').length,
                 document.querySelectorAll('.gsp-plot canvas').length]"""


def _plot_mode(page, mode: str) -> None:
    page.locator(".gsp-nav .gsp-user").click()
    page.locator(".gsp-pref-plot_mode select").select_option(mode)
    page.locator(".gsp-nav .gsp-user").click()


def _settles_on_one_figure(page, per_figure: int, when: str) -> None:
    """Wait until the plot area holds exactly one figure (the old one gone, the new one
    drawn: the switch replaces them in two steps); canvases that pile up never settle."""
    try:
        page.wait_for_function(
            f"() => {{ const c = ({COUNT})(); return c[0] === 1 && c[1] === {per_figure}; }}",
            timeout=30_000,
        )
    except Exception as exc:  # noqa: BLE001 - Playwright's timeout: report what was seen
        raise AssertionError(f"{when}: {page.evaluate(COUNT)} (figures, canvases)") from exc


def test_interactive_mode_shows_one_canvas_after_five_switches(browser, world):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(90_000)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    try:
        login(page, world.url, "bob")
        page.wait_for_url("**/voila/render/data_browser.ipynb**", timeout=120_000)
        page.wait_for_selector(".gsp-plot.gsp-ready", timeout=120_000)
        _plot_mode(page, "interactive")
        page.wait_for_selector(".gsp-plot.gsp-ready canvas")
        figures, per_figure = page.evaluate(COUNT)
        assert figures == 1 and per_figure >= 1
        rows = page.locator(".gsp-file-index").first.locator(".gsp-filelist .jupyter-button")
        for i in range(5):
            # The plot drawn for this click, not the one still on the page when the
            # click leaves (reading the header then named the file shown before, whose
            # plot the kernel was taking away: a wait for it never ended).
            before = plot_draws(page)
            if i % 2:  # another file...
                rows.nth(i).click()
            else:  # ... or another tab of the same file
                tabs = page.locator(".gsp-tabs .jupyter-button")
                tabs.nth((i // 2) % max(1, tabs.count())).click()
            new_plot(page, before, "canvas")
            _settles_on_one_figure(page, per_figure, f"after switch {i + 1}")
        shot(page, "21_interactive_one_canvas_after_five_switches")
        # back to static: no canvas left, one image
        _plot_mode(page, "static")
        page.wait_for_selector(".gsp-plot.gsp-ready img")
        assert page.evaluate(COUNT) == [0, 0]
        assert page.locator(".gsp-plot img").count() == 1
        shot(page, "22_static_after_interactive")
    finally:
        _plot_mode(page, "static")
        context.close()
    CONSOLE["warnings"] = [
        m for m in console if re.search(r"Unsatisfied version|No satisfying version", m)
    ]
    CONSOLE["collected"] = True


#: The console of the test above (one login for both tests).
CONSOLE: dict = {"collected": False, "warnings": []}


def test_no_shared_module_version_warning_in_the_console():
    """Collected from the console of the test above."""
    if not CONSOLE["collected"]:
        pytest.skip("the console is collected by the test above: run the whole file")
    assert CONSOLE["warnings"] == [], "\n".join(CONSOLE["warnings"][:5])
