"""The address follows the view in a real browser: clicks change it, Back and Forward
restore the view, and a copied address opens the same view in another session.

As bob (collaborator of the first proposal) in a context of his own; the copied
address is then opened by alice (PI of the same proposal), who may see it too.
"""

from __future__ import annotations

import re

from conftest import login, shot
from playwright.sync_api import expect


def _shown_id(page) -> str:
    return page.locator(".gsp-header .gsp-file-id").get_attribute("data-file-id")


def _wait_shown(page, file_id: str) -> None:
    page.wait_for_selector(f".gsp-plot.gsp-ready.gsp-shows-{file_id}")


def _session(browser, world, user: str):
    context = browser.new_context(viewport={"width": 1500, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(90_000)
    login(page, world.url, user)
    page.wait_for_url("**/voila/render/data_browser.ipynb**", timeout=120_000)
    page.wait_for_selector(".gsp-plot.gsp-ready", timeout=120_000)
    return context, page


def _address(page) -> str:
    """The address's query string as the page has it (Playwright's page.url can lag a
    history.pushState behind)."""
    return page.evaluate("location.search")


def _wait_address(page, pattern: str) -> str:
    page.wait_for_function("p => new RegExp(p).test(location.search)", arg=pattern)
    return _address(page)


def test_back_forward_and_a_copied_address(browser, world):
    context, page = _session(browser, world, "bob")
    try:
        # the file opened at start is in the address (in place of the bare one)
        first = re.search(r"file=(\d+)", _wait_address(page, r"^\?file=\d+$"))[1]
        _wait_shown(page, first)
        assert _shown_id(page) == first
        # a click on another file: a new address
        rows = page.locator(".gsp-file-index").first.locator(".gsp-filelist .jupyter-button")
        rows.nth(3).click()
        second = re.search(r"file=(\d+)", _wait_address(page, rf"^\?file=(?!{first}$)\d+$"))[1]
        _wait_shown(page, second)
        # another tab of its family
        third = second
        tabs = page.locator(".gsp-tabs .jupyter-button")
        if tabs.count() > 1:
            tabs.nth(1).click()
            third = re.search(r"file=(\d+)", _wait_address(page, rf"^\?file=(?!{second}$)\d+$"))[1]
            _wait_shown(page, third)
        # the search view, filtered
        page.locator(".gsp-nav .jupyter-button", has_text="Search").click()
        _wait_address(page, r"^\?view=search$")
        page.locator(".gsp-filter-obstype input").fill("OBJECT")
        page.locator(".gsp-filter-obstype input").press("Enter")
        copied = _wait_address(page, r"^\?view=search&obstype=OBJECT$")
        page.wait_for_selector(".gsp-search-view .gsp-grid .jupyter-button")
        shot(page, "23_address_search_filtered")
        # Back: unfiltered; Back: the data view with the file and tab shown before
        page.go_back()
        _wait_address(page, r"^\?view=search$")
        expect(page.locator(".gsp-filter-obstype input")).to_have_value("")
        page.go_back()
        _wait_address(page, rf"^\?file={third}$")
        _wait_shown(page, third)
        expect(page.locator(".gsp-data-view")).to_be_visible()
        if third != second:
            page.go_back()
            _wait_shown(page, second)
            page.go_forward()
            _wait_shown(page, third)
        # Forward twice: the filtered table again
        page.go_forward()
        page.go_forward()
        _wait_address(page, r"^\?view=search&obstype=OBJECT$")
        expect(page.locator(".gsp-filter-obstype input")).to_have_value("OBJECT")
    finally:
        context.close()
    # the copied address, opened by alice (PI of the same proposal): the same view
    context, other = _session(browser, world, "alice")
    try:
        other.goto(world.url + "user/alice/voila/render/data_browser.ipynb" + copied)
        other.wait_for_selector(".gsp-search-view .gsp-grid .jupyter-button")
        expect(other.locator(".gsp-filter-obstype input")).to_have_value("OBJECT")
        shot(other, "24_copied_address_opened_by_another_member")
    finally:
        context.close()
