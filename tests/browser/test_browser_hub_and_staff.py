"""Through the real hub in Chromium: the hub's pages in the observatory's dark theme
that follows the user's preference, "Back to the data browser" after a password change,
the staff tools (edit and deactivate a user with confirmation, edit a proposal, one's
own details) and the table view from the file index with no column cut at 1280-1920 px.
"""

from __future__ import annotations

from conftest import login, new_page, shot
from live_world import P1, P2, PASSWORD
from playwright.sync_api import expect

DARK_BG, LIGHT_BG = "rgb(55, 71, 79)", "rgb(236, 239, 241)"
NEW_PASSWORD = "Night-Owl-Changed-2026!"


def _accounts(world) -> None:
    """night_owl (collaborator of P1) and leaving (collaborator of P2), once."""
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import create_user, get_user_by_username
    from gsp_extension.store.proposals import add_collaborator, get_proposal_by_soar_id
    from hub.passwords import PasswordHasher

    db = Database(world.hub.database_url)
    hashed = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    try:
        with db.transaction() as s:
            for name, soar_id in (("night_owl", P1), ("leaving", P2)):
                if get_user_by_username(s, name) is None:
                    user = create_user(s, name, email=f"{name}@example.org", password_hash=hashed)
                    add_collaborator(s, get_proposal_by_soar_id(s, soar_id), user)
    finally:
        db.dispose()


def _theme(page) -> tuple[str, str]:
    return tuple(
        page.evaluate(
            "() => [document.documentElement.getAttribute('data-bs-theme'),"
            " getComputedStyle(document.body).backgroundColor]"
        )
    )


def test_hub_pages_are_branded_dark_then_follow_the_users_theme(browser, world):
    _accounts(world)
    page = new_page(browser)
    page.goto(world.url + "hub/login")
    assert _theme(page) == ("dark", DARK_BG)  # before login: dark, whatever the system says
    expect(page.locator("#gsp-login-banner")).to_contain_text("SOAR Telescope")
    expect(page.locator("#gsp-brand")).to_contain_text("Goodman Spectroscopic Pipeline Live")
    shot(page, "20_login_dark")
    login(page, world.url, "night_owl")
    page.wait_for_url("**/voila/render/data_browser.ipynb**", timeout=120_000)
    page.wait_for_selector(".gsp-file-index .jupyter-button", timeout=120_000)
    page.locator(".gsp-nav .gsp-user").click()
    page.locator(".gsp-pref-theme select").select_option("light")
    page.wait_for_selector(".gsp-app.gsp-light")
    page.wait_for_function("() => localStorage.getItem('jupyterhub-bs-theme') === 'light'")

    page.goto(world.url + "hub/change-password")
    assert _theme(page) == ("light", LIGHT_BG)  # the preference, on the hub's pages too
    page.goto(world.url + "hub/no-such-page")
    assert _theme(page) == ("light", LIGHT_BG)
    expect(page.locator("#gsp-brand")).to_be_visible()
    page.goto(world.url + "hub/change-password")
    page.fill("#old_password", PASSWORD)
    page.fill("#new_password", NEW_PASSWORD)
    page.fill("#new_password_confirmation", NEW_PASSWORD)
    page.click("#change-password-submit")
    page.wait_for_selector("#password-done")
    shot(page, "21_password_changed_light")
    page.click("#back-to-data-browser")
    # the data browser, not the hub's "Stop My Server" page
    page.wait_for_url("**/voila/render/data_browser.ipynb**", timeout=120_000)
    page.wait_for_selector(".gsp-file-index .jupyter-button", timeout=120_000)
    page.locator(".gsp-nav .gsp-user").click()
    page.locator(".gsp-pref-theme select").select_option("dark")
    page.wait_for_function("() => localStorage.getItem('jupyterhub-bs-theme') === 'dark'")
    page.close()


def _cut_cells(page) -> list[str]:
    """Header cells and cells of the search table that end past the table or hide part
    of their text, and filters cut by the page's edge (file names in the rows are
    shortened on purpose, with the whole name in their tooltip)."""
    return page.evaluate(
        """() => {
          const view = document.querySelector('.gsp-search-view');
          const table = view.querySelector('.gsp-grid').parentElement;
          const right = table.getBoundingClientRect().right + 1;
          const bad = [];
          const check = (cell, limit) => {
            const box = cell.getBoundingClientRect();
            if (box.right > limit || cell.scrollWidth > cell.clientWidth + 1)
              bad.push(`${cell.innerText.trim()} (${box.right} > ${limit})`);
          };
          for (const cell of view.querySelector('.gsp-grid.widget-hbox').children)
            check(cell, right);
          for (const cell of view.querySelectorAll('.gsp-grid .widget-hbox > .gsp-cell'))
            check(cell, right);
          for (const input of view.querySelectorAll('.gsp-filters input, .gsp-filters select'))
            check(input, document.documentElement.clientWidth + 1);
          return bad;
        }"""
    )


def test_staff_edit_deactivate_and_the_table_view(browser, world):
    _accounts(world)
    page = new_page(browser)
    login(page, world.url, "staffer")
    page.wait_for_url("**/data_browser.ipynb**", timeout=120_000)
    page.wait_for_selector(".gsp-file-index .jupyter-button", timeout=120_000)

    # the table view from the file index, every column whole at 1280-1920 px
    page.locator(".gsp-view-as-table").first.click()
    page.wait_for_selector(".gsp-search-view .gsp-grid .gsp-cell")
    page.locator(".gsp-filter-data_type select").select_option(label="Wavelength Calibrated")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.gsp-search-view .gsp-grid .gsp-cell')]
                 .some(c => c.innerText === 'Wavelength Calibrated')"""
    )
    for width in (1280, 1440, 1920):
        page.set_viewport_size({"width": width, "height": 1000})
        page.wait_for_timeout(300)
        cut = _cut_cells(page)
        assert cut == [], (width, cut)
        shot(page, f"22_table_{width}")

    page.locator(".gsp-nav .jupyter-button", has_text="Management").click()
    editor = page.locator(".gsp-edit-user")
    page.wait_for_selector(".gsp-users tr[data-username='leaving']")
    editor.locator(".gsp-edit-user-choice select").select_option("leaving")
    expect(editor.locator(".gsp-field-email input")).to_have_value("leaving@example.org")
    editor.locator(".gsp-field-partner input").fill("Chile")
    editor.locator(".gsp-field-is_active input").uncheck()
    editor.locator(".jupyter-button", has_text="Save").click()
    expect(editor.locator(".gsp-form-message")).to_contain_text("Click Deactivate to confirm")
    shot(page, "23_deactivate_asks")
    editor.locator(".gsp-confirm-deactivate").click()
    expect(editor.locator(".gsp-form-message")).to_contain_text("Saved leaving")
    row = page.locator(".gsp-users tr[data-username='leaving']")
    expect(row).to_contain_text("no (deactivated)")
    expect(row).to_contain_text("Chile")

    proposals = page.locator(".gsp-edit-proposal")
    proposals.locator(".gsp-edit-proposal-choice select").select_option(P2)
    proposals.locator(".gsp-field-title input").fill("Renamed by staff")
    proposals.locator(".jupyter-button", has_text="Save").click()
    expect(proposals.locator(".gsp-form-message")).to_contain_text(f"Saved {P2}")
    page.locator(".gsp-management-view .lm-TabBar-tab", has_text="Proposals").click()
    expect(page.locator(f".gsp-proposals tr[data-soar-id='{P2}']")).to_contain_text(
        "Renamed by staff"
    )
    shot(page, "24_staff_edits")

    # one's own details, from the user menu
    page.locator(".gsp-nav .gsp-user").click()
    mine = page.locator(".gsp-own-account")
    mine.locator(".gsp-field-last_name input").fill("On Duty")
    mine.locator(".jupyter-button", has_text="Save my details").click()
    expect(mine).to_contain_text("Saved.")

    # the deactivated account cannot log in
    other = new_page(browser)
    login(other, world.url, "leaving")
    expect(other.locator(".login_error")).to_be_visible()
    assert "/hub/login" in other.url
    other.close()
    page.close()
