"""The data browser's flux calibration (issue 17): the "Calibrate Flux" action and its
standard chooser, the Flux Calibrated tab, plots in flux units and the settings form,
with the in-memory client (the browser test drives the real page)."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from conftest import record, standard_menu

from voila_apps.widgets.actions import AUTOMATIC, ActionBar, actions_for
from voila_apps.widgets.data_view import DataView
from voila_apps.widgets.fitsdata import read_fits
from voila_apps.widgets.plotting import flux_label
from voila_apps.widgets.preferences import Preferences
from voila_apps.widgets.related import tab_labels
from voila_apps.widgets.settings_form import validate
from voila_apps.widgets.standards import automatic_label, standard_options

OWN = "master_sens_400_m2_GG455_RED_2x2_20201126_ltt3218.fits"
STAFF = "master_sens_400_m2_GG455_RED_2x2_20201120_eg21.fits"


def _candidate(i: int, star: str, name: str, days: float | None, used: bool = False) -> dict:
    return {
        "id": i,
        "file_name": name,
        "standard": star,
        "date": "2020-11-26",
        "days_from_spectrum": days,
        "used": used,
    }


@pytest.fixture
def standards(client):
    """The service's answer for spectrum 103: the staff standard first (the proposal's
    preferred star), then the proposal's own, the one used marked."""
    client.standard_menus[103] = standard_menu(
        103,
        [
            _candidate(302, "EG 21", STAFF, 6.0),
            _candidate(301, "LTT 3218", OWN, 0.05, used=True),
        ],
    )
    return client


def test_calibrate_flux_is_offered_on_star_spectra_not_arcs():
    def keys(**rec):
        return [a.key for a in actions_for({"technique": "Spectroscopy", **rec})]

    assert keys(data_type="4", obstype="OBJECT")[0] == "flux"
    assert keys(data_type="5", obstype="OBJECT")[0] == "flux"
    assert "flux" not in keys(data_type="4", obstype="COMP")
    assert "flux" not in keys(data_type="3", obstype="OBJECT")
    assert "flux" not in keys(data_type="4", technique="Imaging", obstype="EXPOSE")


def test_standard_chooser_lists_the_engines_answer_in_its_order(standards):
    menu = standards.standards(103)
    assert standard_options(menu) == [
        ("EG 21 · 6.0 days apart · " + STAFF, 302),
        ("★ LTT 3218 · 1.2 h apart · " + OWN, 301),
    ]
    assert automatic_label(menu) == f"Automatic (would use {STAFF})"
    menu["standard_frame"] = True
    assert automatic_label(menu) == "Automatic (this standard's own sensitivity)"


def test_action_bar_calibrates_flux_with_the_chosen_standard(standards):
    jobs = []
    bar = ActionBar(standards, jobs.append, lambda: None, lambda r: None, background=False)
    bar.show(standards.file(103))
    assert bar.standard.layout.display == "flex" and bar.lamp.layout.display == "none"
    assert "2 standards of this setup" in bar.standard_note.value
    assert [v for _, v in bar.standard.options] == [AUTOMATIC, 302, 301]
    bar.run("flux")  # automatic: the engine chooses
    assert standards.calls[-1] == ("calibrate_flux", 103, {"standard_id": None})
    bar.standard.value = 302
    bar.run("flux")
    assert standards.calls[-1] == ("calibrate_flux", 103, {"standard_id": 302})
    assert jobs[-1]["kind"] == "calibrate_flux"
    # another file shown: the chooser goes away
    bar.show(standards.file(102))
    assert bar.standard.layout.display == "none" and bar.standard.options == ()


def test_chooser_says_when_there_is_no_standard_yet(client):
    bar = ActionBar(client, lambda j: None, lambda: None, lambda r: None, background=False)
    bar.show(client.file(103))
    assert bar.standard.options == (("Automatic (no standard of this setup yet)", AUTOMATIC),)
    assert "No standard of this setup yet" in bar.standard_note.value


def _flux_spectrum(path):
    flux = (1e-15 * (1 + np.exp(-0.5 * ((np.arange(300) - 150) / 5) ** 2))).astype("f4")
    hdu = fits.PrimaryHDU(flux)
    hdu.header.update(CTYPE1="LINEAR", CUNIT1="Angstrom", CRVAL1=5000.0, CDELT1=2.0, CRPIX1=1.0)
    hdu.header["BUNIT"] = "erg / (Angstrom s cm2)"
    fits.HDUList([hdu, fits.ImageHDU(np.full(300, 1e-17, "f4"), name="STD")]).writeto(path)
    return path


def test_a_flux_job_shows_the_flux_calibrated_tab_in_flux_units(client, tmp_path):
    view = DataView(client, Preferences(), live_interval=0)
    view.load()
    view.open_file(103)
    view.actions.run("flux")
    job = view.jobs.active[0]
    fluxed = record(
        150,
        data_type="5",
        original_file_id=25,
        parent_file_id=103,
        file_name="fwecfzst_0025.fits",
    )
    client.finish(job["id"], fluxed)
    client.paths[150] = _flux_spectrum(tmp_path / "fwecfzst_0025.fits")
    view.jobs.tick()
    assert view.record["id"] == 150
    assert tab_labels(view.family)[0] == "Flux Calibrated"
    spec = read_fits(client.paths[150])
    assert flux_label(spec.flux_unit) == "F$_\\lambda$ (erg s$^{-1}$ cm$^{-2}$ Å$^{-1}$)"


def test_flux_label_keeps_other_units_as_written():
    assert flux_label("adu") == "Flux (adu)"
    assert flux_label("1e-17 erg / (Angstrom s cm2)").startswith("F$_\\lambda$ (1e-17 erg")
    assert flux_label("not a unit") == "Flux (not a unit)"


def test_settings_form_validates_the_flux_fields():
    clean, errors = validate(
        {
            "flux_calibration": False,
            "preferred_standard": " LTT 3218 ",
            "extinction_correction": True,
        }
    )
    assert errors == {}
    assert clean == {
        "flux_calibration": False,
        "preferred_standard": "LTT 3218",
        "extinction_correction": True,
    }
    _, errors = validate({"preferred_standard": "x" * 41, "flux_calibration": "yes"})
    assert "at most 40" in errors["preferred_standard"]
    assert "checked or not" in errors["flux_calibration"]
