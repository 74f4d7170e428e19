"""The data browser in a real browser, through the real hub, as a PI uses it.

The tests run in file order on one logged-in page (alice, PI of the first proposal):
land, open a spectrum, switch tabs, search the header, filter the table, add a
collaborator, change a setting, calibrate a spectrum and watch the product appear; then
another proposal's files never show, and every request stayed on the hub's origin.
"""

from __future__ import annotations

import re

from conftest import REQUESTS, login, new_page, shot
from live_world import P1
from playwright.sync_api import expect

SPINNER_FREE = 90_000
ACTIVE = re.compile(r"\bgsp-active\b")


def _tab(page, label_start: str):
    return page.locator(".gsp-tabs .jupyter-button", has_text=re.compile("^" + label_start))


def world_origin(page) -> str:
    return re.match(r"https?://[^/]+", page.url)[0]


def _plot_shown(page) -> None:
    """Wait until the plot drawn is the one of the file named in the header bar."""
    page.wait_for_function(
        """() => { const id = document.querySelector('.gsp-header .gsp-file-id');
                   return id && document.querySelector(
                     '.gsp-plot.gsp-shows-' + id.dataset.fileId + ' img'); }"""
    )


def _open_raw(page, name_start: str) -> None:
    page.locator(".gsp-file-index .jupyter-button", has_text=name_start).first.click()
    page.wait_for_selector(f".gsp-detail .gsp-panel-head:has-text('{name_start}')")
    # the family's first file is shown (header and plot): the tabs are this file's
    page.wait_for_selector(f".gsp-header .gsp-panel-head:has-text('{name_start}')")
    _plot_shown(page)


def test_login_lands_on_the_data_browser_with_a_spectrum(alice, world):
    assert alice.url.endswith("/user/alice/voila/render/data_browser.ipynb")
    rows = alice.locator(".gsp-file-index").first.locator(".gsp-filelist .jupyter-button")
    assert rows.count() >= 10
    _open_raw(alice, "0010_ZTF20actqfpc")
    first = alice.locator(".gsp-tabs .jupyter-button").first
    expect(first).to_have_text(re.compile("^Wavelength Calibrated"))
    expect(first).to_have_class(ACTIVE)
    _plot_shown(alice)
    shot(alice, "01_data_browser_spectrum")


def test_switch_tabs_to_the_raw_frame(alice):
    _tab(alice, "Observed Raw").click()
    alice.wait_for_selector(
        ".gsp-header .gsp-panel-head:has-text('0010_ZTF20actqfpc_26-11-2020.fits')"
    )
    expect(_tab(alice, "Observed Raw")).to_have_class(ACTIVE)
    alice.wait_for_selector(".gsp-actions .jupyter-button:has-text('Reduce')")
    _plot_shown(alice)
    assert alice.locator(".gsp-actions .jupyter-button", has_text="Delete").count() == 0
    shot(alice, "02_raw_frame")
    # Download: the kernel fetches the file with the user's token; the browser saves it
    # from the user's own server
    alice.locator(".gsp-actions .jupyter-button", has_text="Download").click()
    link = alice.wait_for_selector("a.gsp-download")
    answer = alice.request.get(world_origin(alice) + link.get_attribute("href"))
    assert answer.status == 200 and answer.body()[:6] == b"SIMPLE"


def test_open_and_search_the_header(alice):
    alice.locator(".gsp-header .jupyter-button", has_text="Header").click()
    alice.wait_for_selector(".gsp-header-table td.gsp-key")
    total = alice.locator(".gsp-header-table tbody tr").count()
    alice.locator(".gsp-header input[placeholder='Filter header']").fill("OBSTYPE")
    alice.wait_for_function(
        "n => document.querySelectorAll('.gsp-header-table tbody tr').length < n", arg=total
    )
    rows = alice.locator(".gsp-header-table tbody tr").all_inner_texts()
    assert rows and all("obstype" in r.lower() for r in rows)
    assert "OBSTYPE" in alice.locator(".gsp-header-table td.gsp-key").all_inner_texts()
    shot(alice, "03_header_search")
    alice.locator(".gsp-header .jupyter-button", has_text="Header").click()


def test_filter_the_table(alice):
    alice.locator(".gsp-nav .jupyter-button", has_text="Search").click()
    alice.wait_for_selector(".gsp-search-view .gsp-grid .gsp-cell")
    box = alice.locator(".gsp-filter-obstype input")
    box.fill("COMP")
    box.press("Enter")
    alice.wait_for_function(
        """() => {
            const rows = [...document.querySelectorAll('.gsp-search-view .gsp-grid .widget-hbox')]
              .filter(r => r.querySelector('.gsp-cell'));
            return rows.length > 0 && rows.every(r => r.querySelectorAll('.gsp-cell')[1].innerText === 'COMP');
        }"""
    )
    shot(alice, "04_table_filtered_comp")
    # a row opens the file in the data view
    alice.locator(".gsp-search-view .gsp-grid .widget-hbox .jupyter-button").first.click()
    alice.wait_for_selector(".gsp-data-view .gsp-tabs .jupyter-button")
    expect(alice.locator(".gsp-nav .jupyter-button", has_text="Data")).to_have_class(ACTIVE)


def test_add_a_collaborator_and_change_a_setting(alice):
    alice.locator(".gsp-nav .jupyter-button", has_text="Proposals").click()
    card = alice.locator(
        ".gsp-proposals-view .widget-hbox", has=alice.locator(f"[data-soar-id='{P1}']")
    )
    card.locator(".gsp-proposal-collaborators").click()
    alice.locator(".gsp-collaborators input[placeholder='Collaborator Email']").fill(
        "new.person@example.org"
    )
    alice.locator(".gsp-collaborators .jupyter-button", has_text="Add").click()
    alice.wait_for_selector(".gsp-collaborator-email:has-text('new.person@example.org')")
    shot(alice, "05_collaborator_added")

    card.locator(".gsp-proposal-settings").click()
    field = alice.locator(".gsp-setting-max_targets input")
    alice.wait_for_function(
        "() => { const e = document.querySelector('.gsp-setting-max_targets input');"
        " return e && e.value !== ''; }"
    )
    new = "4" if field.input_value() == "2" else "2"
    field.fill("0")
    field.press("Enter")
    alice.locator(".gsp-settings .jupyter-button", has_text="Save settings").click()
    alice.wait_for_selector(".gsp-settings .gsp-error:has-text('out of range')")
    field.fill(new)
    field.press("Enter")
    alice.locator(".gsp-settings .jupyter-button", has_text="Save settings").click()
    alice.wait_for_selector(".gsp-settings .gsp-ok:has-text('Saved: max_targets')")
    shot(alice, "06_settings_saved")


def test_wavelength_calibration_with_another_lamp_appears_without_reload(alice):
    """Re-extract a reduced frame with a chosen arc: the engine extracts and calibrates
    in wavelength with that lamp; the new products appear in the open page."""
    alice.locator(".gsp-nav .jupyter-button", has_text="Data").click()
    _open_raw(alice, "0009_ZTF20actqfpc")
    _tab(alice, "Reduced").last.click()
    alice.wait_for_selector(".gsp-actions .jupyter-button:has-text('Extract')")
    lamp = alice.locator(".gsp-lamp select")
    options = lamp.locator("option").all_inner_texts()
    arcs = [o for o in options if "comp" in o]
    assert arcs, options
    lamp.select_option(label=arcs[-1])
    url_before = alice.url
    alice.locator(".gsp-actions .jupyter-button", has_text="Extract").click()
    alice.wait_for_selector(".gsp-job")
    shot(alice, "07_extraction_queued")
    alice.wait_for_selector(
        ".gsp-job[data-state='done'], .gsp-job[data-state='failed']", timeout=180_000
    )
    jobs = alice.locator(".gsp-job").all_inner_texts()
    assert alice.locator(".gsp-job[data-state='done']").count() >= 1, jobs
    # the product is shown in its own tab, and the page was not reloaded
    alice.wait_for_function(
        """() => { const a = document.querySelector('.gsp-tabs .gsp-active');
                   return a && /^(Wavelength Calibrated|Extracted)/.test(a.innerText); }"""
    )
    _plot_shown(alice)
    assert alice.url == url_before
    shot(alice, "08_new_product_shown")


def test_another_proposals_files_never_show(alice, world):
    texts = alice.locator(".gsp-file-index").all_inner_texts()
    alice.locator(".gsp-nav .jupyter-button", has_text="Search").click()
    alice.locator(".gsp-filters .jupyter-button", has_text="Reset all filters").click()
    alice.wait_for_selector(".gsp-search-view .gsp-grid .gsp-cell")
    texts += alice.locator(".gsp-search-view").all_inner_texts()
    for name in world.other_file_names:
        assert name.removesuffix(".fits") not in "\n".join(texts)
    assert "NGC1234" not in "\n".join(texts)
    # a deep link to the other proposal's file is refused with a reason
    other = new_page(alice.context.browser)
    login(other, world.url, "alice")
    other.wait_for_url("**/data_browser.ipynb**", timeout=120_000)
    other.goto(world.url + "user/alice/voila/render/data_browser.ipynb?file=1")
    other.wait_for_selector(".gsp-error:has-text('Cannot open file 1')", timeout=SPINNER_FREE)
    shot(other, "09_other_proposal_refused")
    other.close()


def test_deep_link_opens_the_file(alice, world):
    alice.locator(".gsp-nav .jupyter-button", has_text="Data").click()
    _open_raw(alice, "0010_ZTF20actqfpc")
    expect(alice.locator(".gsp-tabs .jupyter-button").first).to_have_class(ACTIVE)
    name = alice.locator(".gsp-tabs .jupyter-button").first.get_attribute("title")
    alice.wait_for_selector(f".gsp-header .gsp-panel-head:has-text('{name}')")
    file_id = alice.locator(".gsp-header .gsp-file-id").get_attribute("data-file-id")
    page = new_page(alice.context.browser)
    login(page, world.url, "alice")
    page.wait_for_url("**/data_browser.ipynb**", timeout=120_000)
    page.goto(world.url + f"user/alice/voila/render/data_browser.ipynb?file={file_id}")
    page.wait_for_selector(f".gsp-header .gsp-panel-head:has-text('{name}')", timeout=SPINNER_FREE)
    _plot_shown(page)
    shot(page, "10_deep_link")
    page.close()


def test_preferences_interactive_plot_and_light_theme(alice):
    """Zoom-and-pan plots (ipympl, its JS served by Voila) and the light theme, no reload."""
    alice.locator(".gsp-nav .jupyter-button", has_text="Data").click()
    alice.locator(".gsp-nav .gsp-user").click()
    alice.locator(".gsp-pref-plot_mode select").select_option("interactive")
    alice.wait_for_selector(".gsp-plot.gsp-ready canvas")
    assert alice.locator(".gsp-plot .jupyter-matplotlib-toolbar, .gsp-plot button").count() > 0
    alice.locator(".gsp-pref-theme select").select_option("light")
    alice.wait_for_selector(".gsp-app.gsp-light")
    alice.wait_for_selector(".gsp-plot.gsp-ready canvas")  # redrawn in the light colours
    shot(alice, "11_interactive_light")
    alice.locator(".gsp-pref-plot_mode select").select_option("static")
    alice.locator(".gsp-pref-theme select").select_option("dark")
    alice.wait_for_selector(".gsp-app.gsp-dark")


def test_every_request_stays_on_the_hub(world):
    assert REQUESTS, "no request was recorded"
    origin = world.url.rstrip("/")
    foreign = [
        u
        for u in REQUESTS
        if not (
            u.startswith(origin + "/") or u.startswith("data:") or u.startswith(f"blob:{origin}/")
        )
    ]
    assert not foreign, foreign
