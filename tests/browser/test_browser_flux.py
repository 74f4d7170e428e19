"""Flux calibration in a real browser (issue 17): a standard star arrives in the raw
folder, the live engine makes its sensitivity and flux-calibrates the night's science;
the PI sees the "Flux Calibrated" tab, chooses the standard in the "Calibrate Flux"
chooser and the new product is shown.

Runs after test_browser_app.py on the same world (the standard is added here, so the
tests there see the night as it was). Then "Follow newest": a science frame taken after
every other one of the night lands, and the page opens its best product by itself.
"""

from __future__ import annotations

import re
import shutil
import time

from conftest import new_plot, plot_draws, shot
from live_world import P1, count_files, engine_busy, simulate
from playwright.sync_api import expect
from test_browser_app import _open_raw, _plot_shown, _tab


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout:.0f} s: {what}")


#: Taken after every frame of the world's night (its science block starts 00:10 UT).
FOLLOWED = "0042_ZTF20actqfpc_26-11-2020.fits"
LATEST_DATE_OBS = "2020-11-27T06:00:00.000"


def _land(hub, frame, night: str, name: str) -> None:
    """Put a raw frame in the raw folder as the instrument does (written aside, renamed)."""
    folder = hub.data_root / "raw" / night
    folder.mkdir()
    shutil.copy(frame, folder / f".{name}.part")
    (folder / f".{name}.part").rename(folder / name)


def test_a_standard_arrives_and_the_science_is_flux_calibrated(alice, world, tmp_path):
    hub = getattr(world, "hub", None)
    if hub is None:  # an already running world (GSP_BROWSER_WORLD_URL): nothing to add
        raise AssertionError("this test needs the world it starts (unset GSP_BROWSER_WORLD_URL)")
    made = simulate(
        tmp_path / "std",
        P1,
        "ZTF20actqfpc",
        1,
        n_bias=0,
        n_flats=0,
        n_arcs=0,
        n_science=0,
        n_standards=1,
    )
    (standard,) = made
    _land(hub, standard, "20201126std", standard.name)
    # the live engine: reduce, extract, sensitivity, then both science frames again
    _wait_for(
        lambda: count_files(hub, 5, P1) >= 3 and not engine_busy(hub),
        300,
        "the standard and both science spectra flux-calibrated after the standard arrived",
    )
    alice.locator(".gsp-nav .jupyter-button", has_text="Data").click()
    _open_raw(alice, "0010_ZTF20actqfpc")
    # the most processed tab first: Flux Calibrated
    first = alice.locator(".gsp-tabs .jupyter-button").first
    first.wait_for()
    assert re.match(r"^Flux Calibrated", first.inner_text()), first.inner_text()
    _plot_shown(alice)
    shot(alice, "09_flux_calibrated_tab")

    # Calibrate Flux again from the wavelength-calibrated spectrum, with the standard chosen
    # The Flux Calibrated tab offers Calibrate Flux too, with its chooser filled: wait for
    # the Wavelength tab to be the one shown and its own chooser to be filled (the note
    # says "Looking for standard stars…" until then), not for the previous tab's.
    _tab(alice, "Wavelength Calibrated").first.click()
    alice.wait_for_function(
        """() => { const a = document.querySelector('.gsp-tabs .gsp-active');
                   return a && /^Wavelength Calibrated/.test(a.innerText); }"""
    )
    alice.wait_for_selector(".gsp-actions .jupyter-button:has-text('Calibrate Flux')")
    # the options are read in the same evaluation that sees them filled: a second read
    # once found the chooser holding only "Automatic" again (a clean-clone run under load)
    options = alice.wait_for_function(
        """() => { const note = document.querySelector('.gsp-standard-note');
                   const opts = document.querySelectorAll('.gsp-standard select option');
                   if (opts.length > 1 && note && / standards? of this setup/.test(note.innerText))
                       return Array.from(opts, o => o.innerText);
                   return null; }"""
    ).json_value()
    assert options[0].startswith("Automatic"), options
    assert any("master_sens_400_m2_GG455_RED_2x2_20201126" in o for o in options[1:]), options
    # nothing of the other proposal is offered
    assert not any(name.split("_")[1] in "".join(options) for name in world.other_file_names)
    alice.locator(".gsp-standard select").select_option(index=1)
    shot(alice, "09b_standard_chooser")
    done = alice.locator(".gsp-job[data-state='done']").count()
    before = plot_draws(alice)
    alice.locator(".gsp-actions .jupyter-button", has_text="Calibrate Flux").click()
    alice.wait_for_selector(".gsp-ok:has-text('calibrate_flux')")
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
                   return a && /^Flux Calibrated/.test(a.innerText); }"""
    )
    # the new product drawn (not the spectrum the job was asked from, still on the page)
    new_plot(alice, before, "img")
    _plot_shown(alice)
    shot(alice, "09c_flux_product_shown")


def test_follow_newest_opens_the_new_science_frames_best_product(alice, world, tmp_path):
    """With "Follow newest" on, a science frame that lands is opened by itself on its
    most processed product (the first tab) as the engine makes its products."""
    from astropy.io import fits

    hub = getattr(world, "hub", None)
    if hub is None:  # an already running world (GSP_BROWSER_WORLD_URL): nothing to add
        raise AssertionError("this test needs the world it starts (unset GSP_BROWSER_WORLD_URL)")
    (science,) = simulate(
        tmp_path / "follow", P1, "ZTF20actqfpc", 3, n_bias=0, n_flats=0, n_arcs=0, n_science=1
    )
    fits.setval(science, "DATE-OBS", value=LATEST_DATE_OBS)
    alice.locator(".gsp-nav .jupyter-button", has_text="Data").click()
    follow = alice.locator(".gsp-follow")
    follow.click()
    expect(follow).to_have_class(re.compile(r"\bmod-active\b"))
    try:
        _land(hub, science, "20201126follow", FOLLOWED)
        stem = FOLLOWED.removesuffix(".fits")
        alice.wait_for_selector(f".gsp-detail .gsp-panel-head:has-text('{stem}')", timeout=120_000)
        # its best product: the first tab (most processed), marked, a product of the frame
        # (not the raw it showed on arrival), named in the header
        alice.wait_for_function(
            """stem => { const tab = document.querySelector('.gsp-tabs .jupyter-button');
                         const head = document.querySelector('.gsp-header .gsp-panel-head');
                         return tab && head && tab.classList.contains('gsp-active')
                                && !/^Observed Raw/.test(tab.innerText)
                                && tab.title.includes('_' + stem)
                                && head.innerText.includes(tab.title); }""",
            arg=stem,
            timeout=120_000,
        )
        _plot_shown(alice)
        shot(alice, "09d_follow_newest")
    finally:
        follow.click()
        expect(follow).not_to_have_class(re.compile(r"\bmod-active\b"))
