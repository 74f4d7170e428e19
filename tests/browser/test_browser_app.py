"""The data browser in a real browser, through the real hub, as a PI uses it.

The tests run in file order on one logged-in page (alice, PI of the first proposal):
land, open a spectrum, switch tabs, search the header, filter the table, add a
collaborator, change a setting, extract and calibrate a spectrum with arcs chosen in the
lamp chooser and watch the products appear (pushed by the event stream); then another
proposal's files never show, zoom and pan an interactive plot, see the API token; staff
add a user and a proposal; and every request stayed on the hub's origin.
"""

from __future__ import annotations

import re
import time

import requests
from conftest import REQUESTS, TOKEN_CACHE_SECONDS, login, new_page, new_plot, plot_draws, shot
from live_world import P1
from playwright.sync_api import TimeoutError as PlaywrightTimeout
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
    # Drawn for this click: the file may be the one shown already, whose old tabs,
    # header and plot would pass every check below before the kernel took the click.
    before = plot_draws(page)
    page.locator(".gsp-file-index .jupyter-button", has_text=name_start).first.click()
    new_plot(page, before)
    page.wait_for_selector(f".gsp-detail .gsp-panel-head:has-text('{name_start}')")
    # the family's first file is shown (header and plot): the tabs are this file's
    page.wait_for_selector(f".gsp-header .gsp-panel-head:has-text('{name_start}')")
    _plot_shown(page)


def test_login_lands_on_the_data_browser_with_a_spectrum(alice, world):
    # the file opened at start is in the address (test_browser_address.py)
    assert re.search(r"/user/alice/voila/render/data_browser\.ipynb(\?file=\d+)?$", alice.url)
    rows = alice.locator(".gsp-file-index").first.locator(".gsp-filelist .jupyter-button")
    assert rows.count() >= 10
    _open_raw(alice, "0010_ZTF20actqfpc")
    first = alice.locator(".gsp-tabs .jupyter-button").first
    expect(first).to_have_text(re.compile("^Wavelength Calibrated"))
    expect(first).to_have_class(ACTIVE)
    _plot_shown(alice)
    shot(alice, "01_data_browser_spectrum")


#: Addresses of the user's server whose scripts a browser keeps without asking again:
#: Voilà's front end at its versioned address (voila_apps/static_cache.py), the widget
#: labextensions (hashed names), the template's files (``?v=<hash>``).
KEPT_SCRIPTS = re.compile(
    r"/voila/static-v/[0-9a-f]{16}/[^/?]+\.js$"
    r"|/voila/labextensions/.+\.js(\?v=[0-9a-f]+)?$"
    r"|/voila/templates/gsp/static/[^?]+\.js\?v=[0-9a-f]+$"
)


def test_the_browser_keeps_the_pages_scripts(alice):
    """A returning astronomer's browser loads the page's ~80 scripts from its cache:
    every one comes from an address served immutable (Voilà's own voila/static/ is
    served without Cache-Control: each was asked for again or guessed fresh)."""
    scripts = alice.evaluate(
        "performance.getEntriesByType('resource').map(e => e.name)"
        ".filter(n => /\\.js(\\?|$)/.test(n))"
    )
    ours = [u for u in scripts if "/user/alice/" in u]
    assert len(ours) > 50, ours
    assert [u for u in ours if not KEPT_SCRIPTS.search(u)] == []
    front_end = [u for u in ours if "/voila/static-v/" in u]
    assert any(u.endswith("/voila.js") for u in front_end) and len(front_end) > 40
    for url in (front_end[0], front_end[-1]):
        answer = alice.request.get(url)
        assert answer.ok, url
        assert "immutable" in answer.headers["cache-control"], url


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
    arcs = _arcs_offered(alice)
    alice.locator(".gsp-lamp select").select_option(index=len(arcs))
    # a mark on the window: gone if the page were reloaded (the address itself follows
    # the product shown, test_browser_address.py)
    alice.evaluate("window.__gspSamePage = true")
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
    assert alice.evaluate("window.__gspSamePage === true")
    shot(alice, "08_new_product_shown")


def _arcs_offered(page) -> list[str]:
    """The lamp chooser's arcs, once the page has looked them up (in the background)."""
    page.wait_for_function(
        "() => document.querySelectorAll('.gsp-lamp select option').length > 1"
        " && document.querySelector('.gsp-lamp-note').innerText.includes('compatible')"
    )
    options = [
        o.replace("\xa0", " ") for o in page.locator(".gsp-lamp select option").all_inner_texts()
    ]
    assert options[0].startswith("Automatic"), options
    arcs = [o for o in options[1:] if "comp" in o.lower()]
    assert arcs and len(arcs) == len(options) - 1, options
    # one exposure each, labelled with the lamp and the time to the science frame
    assert all(re.search(r" · .+ · .*(before|after|night)", o) for o in arcs), arcs
    return arcs


def test_calibrate_wavelength_with_a_chosen_arc_pushed_by_the_event_stream(alice):
    """Calibrate Wavelength on an extracted spectrum with the arc nearest in time: the
    new calibrated product is shown when the event stream reports the job's end."""
    _open_raw(alice, "0010_ZTF20actqfpc")
    before = alice.locator(".gsp-tabs .jupyter-button").count()
    _tab(alice, "Extracted").first.click()
    alice.wait_for_selector(".gsp-actions .jupyter-button:has-text('Calibrate Wavelength')")
    _arcs_offered(alice)
    alice.locator(".gsp-lamp select").select_option(index=1)  # the nearest in time
    shot(alice, "08b_lamp_chooser")
    done = alice.locator(".gsp-job[data-state='done']").count()
    alice.locator(".gsp-actions .jupyter-button", has_text="Calibrate Wavelength").click()
    alice.wait_for_selector(".gsp-ok:has-text('Queued job')")
    alice.wait_for_function(
        "n => document.querySelectorAll(\".gsp-job[data-state='done']\").length > n"
        " || document.querySelector(\".gsp-job[data-state='failed']\")",
        arg=done,
        timeout=180_000,
    )
    assert alice.locator(".gsp-job[data-state='failed']").count() == 0, alice.locator(
        ".gsp-job"
    ).all_inner_texts()
    alice.wait_for_function(
        """() => { const a = document.querySelector('.gsp-tabs .gsp-active');
                   return a && /^Wavelength Calibrated/.test(a.innerText); }"""
    )
    _plot_shown(alice)
    # the job's end came through api/events/: the stream is open and delivered events
    live = alice.locator(".gsp-live")
    expect(live).to_have_class(re.compile(r"\bgsp-live-on\b"))
    assert int(live.get_attribute("data-events")) > 0
    assert alice.locator(".gsp-tabs .jupyter-button").count() >= before
    shot(alice, "08c_wavelength_product_shown")


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


def _limits(page) -> dict[str, float]:
    span = page.locator(".gsp-limits")
    return {k: float(span.get_attribute(f"data-{k}")) for k in ("xmin", "xmax", "ymin", "ymax")}


def _drag(page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag with the mouse on the interactive plot, between fractions of its size."""
    box = page.locator(".gsp-plot .jupyter-matplotlib-canvas-div").bounding_box()
    page.mouse.move(box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"], steps=12)
    page.mouse.up()


def _canvas_answers(page, timeout: float = 60.0) -> None:
    """Hover the plot until the kernel's answer (the cursor position) shows under it: the
    canvas has its size and the mouse events reach the figure.

    The hover is repeated: a move made while the canvas is still being (re)built reaches
    no figure and is never answered.
    """
    footer = (
        "() => { const f = document.querySelector('.gsp-plot .jupyter-matplotlib-footer');"
        " return f && f.innerText.includes('='); }"
    )
    deadline = time.monotonic() + timeout
    while True:
        box = page.locator(".gsp-plot .jupyter-matplotlib-canvas-div").bounding_box()
        if box is not None:
            for dx in (0.45, 0.5, 0.55):
                page.mouse.move(box["x"] + dx * box["width"], box["y"] + 0.5 * box["height"])
        try:
            page.wait_for_function(footer, timeout=2000)
            return
        except PlaywrightTimeout:
            if time.monotonic() > deadline:
                raise


def _limits_changed(page, before: dict[str, float], quiet: float = 0.75) -> dict[str, float]:
    """The range shown once it has left ``before`` and then stayed put for ``quiet`` s.

    A drag reaches the kernel as a stream of mouse events, each of which may move the
    axes: a range read as soon as it first differs can be one step of the drag, not
    where the drag ended.
    """
    page.wait_for_function(
        "x => { const s = document.querySelector('.gsp-limits');"
        " return s && s.dataset.xmin !== String(x); }",
        arg=before["xmin"],
    )
    seen = _limits(page)
    settled_since = time.monotonic()
    while time.monotonic() - settled_since < quiet:
        time.sleep(0.1)
        now = _limits(page)
        if now != seen:
            seen, settled_since = now, time.monotonic()
    return seen


def _plot_mode(page, mode: str) -> None:
    """Set the plot format in the user menu (opened and folded again)."""
    page.locator(".gsp-nav .gsp-user").click()
    page.locator(".gsp-pref-plot_mode select").select_option(mode)
    page.wait_for_selector(".gsp-plot.gsp-ready " + ("canvas" if mode == "interactive" else "img"))
    page.locator(".gsp-nav .gsp-user").click()


def test_drag_zoom_and_pan_in_interactive_mode(alice):
    """Drag on the spectrum with the toolbar's zoom, then its pan: the range shown changes."""
    alice.locator(".gsp-nav .jupyter-button", has_text="Data").click()
    _open_raw(alice, "0010_ZTF20actqfpc")
    expect(alice.locator(".gsp-tabs .jupyter-button").first).to_have_class(ACTIVE)
    _plot_mode(alice, "interactive")
    try:
        alice.wait_for_selector(".gsp-limits")
        full = _limits(alice)
        # drag zoom: a rectangle over the middle of the spectrum narrows the range
        _canvas_answers(alice)
        alice.locator(".gsp-plot button[title^='Zoom to rectangle']").click()
        _drag(alice, (0.35, 0.3), (0.6, 0.7))
        zoomed = _limits_changed(alice, full)
        assert full["xmin"] < zoomed["xmin"] < zoomed["xmax"] < full["xmax"], (full, zoomed)
        assert zoomed["ymax"] - zoomed["ymin"] < full["ymax"] - full["ymin"]
        shot(alice, "11a_drag_zoom")
        # pan: dragging right moves the window to shorter wavelengths, same width
        alice.locator(".gsp-plot button[title^='Left button pans']").click()
        _drag(alice, (0.4, 0.5), (0.6, 0.5))
        panned = _limits_changed(alice, zoomed)
        width = zoomed["xmax"] - zoomed["xmin"]
        assert panned["xmin"] < zoomed["xmin"], (zoomed, panned)
        assert abs((panned["xmax"] - panned["xmin"]) - width) < 0.01 * width, (zoomed, panned)
        shot(alice, "11b_pan")
    finally:
        _plot_mode(alice, "static")  # the saved preference must not leak into later tests


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
    alice.locator(".gsp-nav .gsp-user").click()


def test_personal_api_token_from_the_user_menu_outlives_the_server(browser, world):
    """The token copied from the data browser is the user's own hub token, scoped to the gsp
    API: the API accepts it, the hub's Token page lists it, it still works after the
    user's server stopped, and revoking it there ends it."""
    page = new_page(browser)
    login(page, world.url, "bob")
    page.wait_for_url("**/voila/render/data_browser.ipynb**", timeout=120_000)
    page.wait_for_selector(".gsp-nav .gsp-user", timeout=120_000)
    page.locator(".gsp-nav .gsp-user").click()
    page.locator(".gsp-token-note input").fill("bob's reduction script")
    page.locator(".gsp-create-token").click()
    page.wait_for_selector(".gsp-token-made")
    box = page.locator(".gsp-token input")
    assert "•" in box.input_value()
    page.locator(".gsp-reveal-token").click()
    page.wait_for_selector(".gsp-copy-token")
    token = box.input_value()
    assert "•" not in token and len(token) >= 16
    origin = world_origin(page)
    text = page.locator(".gsp-token-panel").inner_text()
    assert "Authorization: token <key>" in text
    assert f"GSPClient('{origin}/services/gsp/', '<key>')" in text  # the URL scripts use
    shot(page, "12_api_token")

    def whoami():
        return requests.get(
            origin + "/services/gsp/api/", headers={"Authorization": f"token {token}"}, timeout=30
        )

    assert whoami().status_code == 200 and whoami().json()["user"] == "bob"
    # the hub knows it as bob's, with the note, limited to the gsp service
    listed = world.hub.hub_api("GET", "/users/bob/tokens").json()["api_tokens"]
    mine = [t for t in listed if t["note"] == "bob's reduction script"]
    assert len(mine) == 1, listed
    # the gsp service, plus only what the hub lets any token read of its own user
    scopes = set(mine[0]["scopes"]) - {"access:services!service=gsp"}
    assert len(mine[0]["scopes"]) == len(scopes) + 1, mine
    assert scopes <= {"read:users:name!user=bob", "read:users:groups!user=bob"}, scopes
    # it is not the server's: it outlives the server
    page.goto(world.url + "hub/home")
    # Stop works once the hub's script has bound the button (#start is always shown):
    # a click before that sends nothing, so click until the hub is asked to stop.
    for _ in range(20):
        try:
            with page.expect_request(
                lambda r: r.method == "DELETE" and "/users/bob/server" in r.url, timeout=3_000
            ):
                page.locator("#stop").click()
            break
        except PlaywrightTimeout:
            continue
    else:
        raise AssertionError("the hub's Stop My Server button never asked the hub to stop")
    # the hub's page may show Start while the stop is still pending (202): wait for it
    deadline = time.monotonic() + 60
    while world.hub.hub_api("GET", "/users/bob").json().get("server") is not None:
        assert time.monotonic() < deadline, "bob's server never stopped"
        time.sleep(0.5)
    assert whoami().status_code == 200
    # listed and revocable on the hub's Token page
    page.goto(world.url + "hub/token")
    row = page.locator("tr", has_text="bob's reduction script")
    expect(row).to_have_count(1)
    row.locator(".revoke-token-btn").click()
    expect(row).to_have_count(0)
    # the service trusts the hub's word on a token GSP_TOKEN_CACHE_SECONDS at most (the
    # world's: TOKEN_CACHE_SECONDS; 30 s in production), so the refusal comes within it
    deadline = time.monotonic() + TOKEN_CACHE_SECONDS + 15
    while whoami().status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert whoami().status_code in (401, 403)
    page.close()


def test_staff_add_a_user_and_a_proposal(browser, world):
    page = new_page(browser)
    login(page, world.url, "staffer")
    page.wait_for_url("**/data_browser.ipynb**", timeout=120_000)
    page.locator(".gsp-nav .jupyter-button", has_text="Management").click()
    page.wait_for_selector(".gsp-management-view .gsp-users tr[data-username='alice']")
    form = page.locator(".gsp-add-user")
    form.locator(".gsp-field-email input").fill("bob@example.org")
    form.locator(".jupyter-button", has_text="Add user").click()
    page.wait_for_selector(".gsp-add-user .gsp-error:has-text('bob@example.org')")
    form.locator(".gsp-field-email input").fill("dora.new@example.org")
    form.locator(".gsp-field-first_name input").fill("Dora")
    form.locator(".jupyter-button", has_text="Add user").click()
    page.wait_for_selector(".gsp-add-user .gsp-ok:has-text('invitation sent')")
    assert form.locator(".gsp-field-email input").input_value() == ""
    page.wait_for_selector(".gsp-users tr[data-username='dora.new']")
    shot(page, "13_user_added")
    prop = page.locator(".gsp-add-proposal")
    prop.locator(".gsp-field-soar_id input").fill("SOAR2021A-777")
    prop.locator(".gsp-field-title input").fill("Browser-made proposal")
    prop.locator(".gsp-field-pi_email input").fill("pi.new@example.org")
    prop.locator(".gsp-field-abstract textarea").fill("Made in a test.")
    prop.locator(".jupyter-button", has_text="Add proposal").click()
    page.wait_for_selector(".gsp-add-proposal .gsp-ok:has-text('SOAR2021A-777')")
    assert "invitation sent to pi.new@example.org" in prop.locator(".gsp-ok").inner_text()
    page.wait_for_selector(".gsp-proposals tr[data-soar-id='SOAR2021A-777']", state="attached")
    page.wait_for_selector(".gsp-users tr[data-username='pi.new']", state="attached")
    shot(page, "14_proposal_added")
    page.close()


def test_notebooks_link_opens_jupyterlab_in_the_users_server(alice):
    link = alice.locator("a.gsp-notebooks")
    href = link.get_attribute("href")
    assert href == "/user/alice/lab"
    # Alice's own (logged-in) page goes there and comes back to the data browser.
    back = alice.url
    alice.goto(back.split("/user/")[0] + href)
    alice.wait_for_selector("#jp-main-dock-panel", timeout=60_000)
    # The app notebooks copied into the home folder are what the file browser lists.
    alice.wait_for_selector(".jp-DirListing-item:has-text('data_browser.ipynb')", timeout=30_000)
    # JupyterLab's own theme is alice's preference (dark; JupyterLab's default is light)
    alice.wait_for_function("() => document.body.dataset.jpThemeName === 'JupyterLab Dark'")
    shot(alice, "15_jupyterlab")
    alice.goto(back)
    alice.wait_for_selector(".gsp-file-index .jupyter-button", timeout=120_000)


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
