"""Widget logic of the data view, with the in-memory client (no browser, no server)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import record, write_image, write_spectrum

from voila_apps.widgets import pager
from voila_apps.widgets.actions import ActionBar, actions_for
from voila_apps.widgets.data_view import DataView
from voila_apps.widgets.file_index import FileIndex, display_name
from voila_apps.widgets.fitsdata import FileCache, ImageData, SpectrumData, read_fits
from voila_apps.widgets.header_table import HeaderTable, cards_html, filter_cards
from voila_apps.widgets.jobs import JobTracker
from voila_apps.widgets.plotting import ViewOptions, downsample, render_png, zscale_limits
from voila_apps.widgets.preferences import Preferences
from voila_apps.widgets.related import family, tab_labels
from voila_apps.widgets.search_table import SearchTable


def test_page_window_and_parse():
    assert pager.page_window(10, 8617) == [1, None, 9, 10, 11, None, 8617]
    assert pager.page_window(1, 3) == [1, 2, 3]
    assert pager.page_window(1, 1) == [1]
    assert pager.page_count(0, 20) == 1 and pager.page_count(41, 20) == 3
    assert pager.parse_page(" 7 ", 10) == 7
    with pytest.raises(ValueError, match="pages 1 to 10"):
        pager.parse_page("11", 10)
    with pytest.raises(ValueError, match="not a page number"):
        pager.parse_page("x", 10)


def test_observed_index_newest_first_pages_and_go_to(client):
    picked = []
    index = FileIndex(client, "Observed", {"data_type": 0}, picked.append, page_size=10)
    index.load(1)
    assert [r["id"] for r in index.records] == list(range(25, 15, -1))
    assert "25" in index.badge.value
    # one widget holds the page's rows, the full names as tooltips
    assert index.rows.children == (index.list,)
    assert index.list._options_labels[0] == "0025_ZTF20actqfpc"
    assert index.list.tooltips[0] == index.records[0]["file_name"]
    assert index.list.index is None  # nothing selected yet
    # page buttons: ‹ 1 2 3 ›, current marked
    labels = [getattr(b, "description", None) for b in index.pager.buttons.children]
    assert labels == ["‹", "1", "2", "3", "›"]
    index.pager.go_to("3")
    assert index.page == 3 and [r["id"] for r in index.records] == [5, 4, 3, 2, 1]
    index.pager.go_to("4")
    assert index.page == 3 and "pages 1 to 3" in index.pager.message.value
    index.click(0)
    assert picked[-1]["id"] == 5 and index.selected_position == 0
    # a click on the row already active is reported again (the browser sends it)
    index.click(0)
    assert len(picked) == 2
    # another page: the selected file is not on it, nothing is highlighted
    index.pager.go_to("1")
    assert index.selected_position is None and len(picked) == 2
    index.pager.go_to("3")
    assert index.selected_position == 0
    index.mark_selected(4)
    assert index.selected_position == 1 and len(picked) == 2


def test_index_refresh_shows_new_files_only_when_some_arrived(client):
    index = FileIndex(client, "Observed", {"data_type": 0}, lambda r: None, page_size=10)
    index.load(1)
    assert index.refresh_first_page() is False
    client.add(record(26))
    assert index.refresh_first_page() is True and index.top_id == 26


def test_display_name():
    assert display_name("0001_abc.fits") == "0001_abc"
    assert display_name("x" * 80 + ".fits").endswith("…")


def test_family_and_tab_labels(client):
    fam = family(client, client.file(25))
    assert [f["id"] for f in fam] == [103, 102, 101, 25]
    assert tab_labels(fam) == ["Wavelength Calibrated", "Extracted", "Reduced", "Observed Raw"]
    # from a product, the same family
    assert [f["id"] for f in family(client, client.file(102))] == [103, 102, 101, 25]
    # a master calibration is its own family
    assert [f["id"] for f in family(client, client.file(201))] == [201]
    two = [record(1, data_type="3"), record(2, data_type="3"), record(3)]
    assert tab_labels(two) == ["Extracted 1", "Extracted 2", "Observed Raw"]


def test_header_filter_and_escaping():
    cards = [
        {"keyword": "OBJECT", "value": "<b>x</b>", "comment": "target"},
        {"keyword": "AIRMASS", "value": 1.46, "comment": "airmass at start"},
    ]
    assert [c["keyword"] for c in filter_cards(cards, "air")] == ["AIRMASS"]
    assert [c["keyword"] for c in filter_cards(cards, "TARGET")] == ["OBJECT"]
    assert len(filter_cards(cards, "  ")) == 2
    out = cards_html(cards)
    assert "&lt;b&gt;x&lt;/b&gt;" in out and "<b>x</b>" not in out


def test_header_fetched_when_opened_and_searchable(client):
    h = HeaderTable(client)
    h.show_file(client.file(25))
    assert ("header", 25) not in client.calls
    h.toggle.value = True
    assert ("header", 25) in client.calls and "OBSTYPE" in h.table.value
    h.search.value = "target"
    assert "OBJECT" in h.table.value and "OBSTYPE" not in h.table.value


def test_read_fits_image_and_spectra(tmp_path):
    img = read_fits(write_image(tmp_path / "i.fits", saturate=3))
    assert isinstance(img, ImageData) and img.data.shape == (60, 80)
    spec = read_fits(write_spectrum(tmp_path / "s.fits"))
    assert isinstance(spec, SpectrumData) and spec.calibrated
    assert spec.x[0] == 5000.0 and spec.x[1] == 5002.0 and spec.x_label == "Wavelength (Å)"
    assert spec.uncertainty is not None and np.all(spec.uncertainty == 3.0)
    pix = read_fits(write_spectrum(tmp_path / "p.fits", calibrated=False))
    assert not pix.calibrated and pix.x_label == "Pixel"
    from astropy.io import fits

    fits.PrimaryHDU().writeto(tmp_path / "empty.fits")
    with pytest.raises(ValueError, match="no image or spectrum"):
        read_fits(tmp_path / "empty.fits")


def test_render_image_marks_saturated_and_checks_limits(tmp_path):
    img = read_fits(write_image(tmp_path / "i.fits", saturate=5))
    img.saturation = 69257.0
    low, high = zscale_limits(img.data)
    assert 50 < low < high < 200  # zscale ignores the saturated outliers (70000)
    from matplotlib.figure import Figure

    from voila_apps.widgets.plotting import draw_image

    info = draw_image(Figure(), img, ViewOptions())
    assert info["saturated"] == 5
    info = draw_image(Figure(), img, ViewOptions(show_saturated=False))
    assert info["saturated"] == 0
    with pytest.raises(ValueError, match="max > min"):
        draw_image(Figure(), img, ViewOptions(vmin=5, vmax=1))
    assert render_png(img, ViewOptions(stretch="log", colormap="viridis"))[:4] == b"\x89PNG"


def test_downsample_keeps_saturated_blocks():
    data = np.zeros((100, 300))
    data[7, 13] = 1
    small = downsample(data, (50, 100))
    assert small.shape == (50, 100) and (small > 0).sum() == 1
    assert downsample(data, (200, 400)) is data


def test_file_cache_downloads_once_per_version(client, tmp_path):
    cache = FileCache(client, tmp_path / "cache")
    rec = client.file(103)
    cache.get(rec)
    cache.get(rec)
    assert client.calls.count(("download", 103)) == 1
    cache.get({**rec, "last_modified": "later"})
    assert client.calls.count(("download", 103)) == 2


def test_actions_by_type():
    keys = lambda t: [a.key for a in actions_for({"data_type": t})]  # noqa: E731
    assert keys("0") == ["reduce", "download", "advanced"]
    assert keys("2") == ["extract", "download", "advanced", "delete"]
    assert keys("3") == ["wavelength", "download", "advanced", "delete"]
    assert keys("4") == ["flux", "download", "advanced", "delete"]
    assert keys("5") == ["flux", "download", "advanced", "delete"]
    assert "delete" not in keys("0") and "delete" in keys("4")


def test_actions_follow_the_technique_the_frame_and_the_user():
    def keys(staff=False, **rec):
        return [a.key for a in actions_for({"technique": "Spectroscopy", **rec}, staff)]

    # imaging: reduced and looked at as an image, never extracted nor calibrated
    imaging = {"technique": "Imaging", "obstype": "EXPOSE"}
    assert keys(data_type="0", **imaging) == ["reduce", "download", "advanced"]
    assert keys(data_type="2", **imaging) == ["download", "advanced", "delete"]
    assert "wavelength" not in keys(data_type="3", **imaging)
    # an old record without technique: EXPOSE is Goodman's imaging OBSTYPE
    assert keys(data_type="2", technique=None, obstype="EXPOSE")[0] == "download"
    # raw bias and flat frames are combined into masters, not reduced one by one
    for obstype in ("BIAS", "FLAT", "bias"):
        assert keys(data_type="0", obstype=obstype) == ["download", "advanced"]
        assert "extract" not in keys(data_type="2", obstype=obstype)
    # a science spectrum and an arc are reduced and extracted
    assert keys(data_type="0", obstype="OBJECT")[0] == "reduce"
    assert keys(data_type="2", obstype="COMP")[0] == "extract"
    # master calibrations: looked at by all, deleted by staff only
    assert keys(data_type="1", obstype="BIAS") == ["download", "advanced"]
    assert keys(True, data_type="1", obstype="BIAS") == ["download", "advanced", "delete"]


def test_the_action_bar_offers_staff_delete_on_masters(client):
    master = {**client.file(25), "data_type": "1", "obstype": "BIAS"}
    bar = ActionBar(client, lambda j: None, lambda: None, lambda r: None, background=False)
    bar.show(master)
    assert [b.action for b in bar.buttons.children] == ["download", "advanced"]
    assert bar.lamp.layout.display == "none"
    staff = ActionBar(
        client, lambda j: None, lambda: None, lambda r: None, background=False, staff=True
    )
    staff.show(master)
    assert [b.action for b in staff.buttons.children][-1] == "delete"


def test_action_bar_calibrate_with_chosen_lamp_and_delete_confirmation(client):
    jobs, deleted = [], []
    bar = ActionBar(client, jobs.append, lambda: None, deleted.append, background=False)
    bar.show(client.file(102))
    assert bar.lamp.layout.display == "flex"
    bar.lamp.value = 104
    bar.run("wavelength")
    assert client.calls[-1] == ("calibrate_wavelength", 102, {"lamp_id": 104})
    assert jobs and jobs[-1]["kind"] == "calibrate_wavelength"
    bar.run("delete")
    assert bar.confirm.layout.display == "flex" and 102 in client.records  # nothing yet
    bar.confirm.children[1].click()
    assert 102 not in client.records and deleted[-1]["id"] == 102


def test_action_bar_shows_refusals(client):
    bar = ActionBar(client, lambda j: None, lambda: None, lambda r: None)
    bar.show(client.file(25))
    bar.record = {**client.file(25)}
    bar._delete()
    assert "never be deleted" in bar.message.value


def test_download_goes_through_the_users_server(client, _private_home):
    bar = ActionBar(client, lambda j: None, lambda: None, lambda r: None)
    bar.show(client.file(103))
    bar.run("download")
    assert (_private_home / "gsp-downloads" / "wecfzst_0025.fits").exists()
    assert "/user/alice/files/gsp-downloads/wecfzst_0025.fits" in bar.download_link.value


def test_job_tracker_reports_end_once(client):
    ended = []
    tracker = JobTracker(client, ended.append)
    job = client.reduce(25)
    tracker.watch(job, background=False)
    assert tracker.tick() == [] and "queued" in tracker.lines.value
    client.finish(job["id"], record(110, data_type="2", original_file_id=25))
    assert [j["id"] for j in tracker.tick()] == [job["id"]]
    assert ended[-1]["product_file_id"] == 110 and "done" in tracker.lines.value
    assert tracker.tick() == [] and len(ended) == 1
    failed = client.reduce(24)
    tracker.watch(failed, background=False)
    client.finish(failed["id"], None, state="failed", error="no master bias")
    tracker.tick()
    assert "no master bias" in tracker.lines.value


def test_data_view_flow_and_new_product_appears(client):
    view = DataView(client, Preferences(), live_interval=0)
    view.load()
    view.open_first()
    assert view.tabs.labels == ["Wavelength Calibrated", "Extracted", "Reduced", "Observed Raw"]
    assert view.record["id"] == 103 and view.viewer.kind == "spectrum"
    assert "0025_ZTF20actqfpc.fits" in view.title.value
    assert "gsp-shows-103" in view.viewer.plot._dom_classes
    drawn = view.viewer.draws
    view.tabs.children[3].click()
    assert view.record["id"] == 25 and view.viewer.kind == "image"
    shows = [c for c in view.viewer.plot._dom_classes if c.startswith(("gsp-shows-", "gsp-draw-"))]
    # which file, and a drawing after the one before the click (tests wait for it)
    assert shows == ["gsp-shows-25", f"gsp-draw-{drawn + 1}"]
    assert view.viewer.plot._dom_classes[-1] == "gsp-ready"
    view.tabs.children[1].click()  # extracted: calibrate wavelength
    view.actions.lamp.value = 104
    view.actions.run("wavelength")
    job = view.jobs.active[0]
    client.finish(
        job["id"],
        record(
            120,
            data_type="4",
            original_file_id=25,
            parent_file_id=102,
            file_name="wecfzst_0025_b.fits",
        ),
    )
    view.jobs.tick()
    assert 120 in [f["id"] for f in view.family] and view.record["id"] == 120
    assert (
        "Wavelength Calibrated 2" in view.tabs.labels
        or "Wavelength Calibrated 1" in view.tabs.labels
    )


def test_open_file_deep_link_and_refusal(client):
    view = DataView(client, Preferences(), live_interval=0)
    view.load()
    assert view.open_file(102) and view.record["id"] == 102
    assert view.tabs.active == 1
    assert not view.open_file(999) and "Cannot open file 999" in view.message.value


def test_comments(client):
    view = DataView(client, Preferences(), live_interval=0)
    view.load()
    view.open_file(25)
    view.comments.submit()
    assert "empty" in view.comments.message.value
    view.comments.text.value = "seeing was bad <3"
    view.comments.submit()
    assert "seeing was bad &lt;3" in view.comments.list.children[0].children[0].value


def _widgets_made(action) -> int:
    from ipywidgets.widgets.widget import _instances  # every widget alive, by id

    before = set(_instances)
    action()
    return len(set(_instances) - before)


def test_first_list_waits_for_no_detail_widget(client):
    """The landing page's first picture is the file list: the detail's parts (viewer,
    actions, header, comments, tabs) are built with the first file shown, and a page of
    the index is one widget however many rows it has."""
    holder = {}
    made = _widgets_made(lambda: holder.setdefault("v", DataView(client, Preferences(), 0)))
    view = holder["v"]
    loaded = _widgets_made(view.load)
    assert not view.detail_built and view.detail.children == (
        view._title_bar(),
        view.message,
        view.live_status,
    )
    # 20 + 10 rows on the first pages: the rows add no widget, only the page buttons do
    assert len(view.observed.records) == 20 and loaded < 30, loaded
    detail = _widgets_made(view.open_first)
    assert view.detail_built and view.viewer in view.detail.children
    assert view.observed.selected_position == 0 and view.record["id"] == 103
    # the detail's widgets (~90; the advanced panel's come later still, when opened)
    # are made here, none of them before the list
    assert detail > 50 and detail > 5 * loaded, (made, loaded, detail)
    # a click on the row of the file shown opens it again, its first tab chosen
    view.tabs.children[3].click()
    assert view.record["id"] == 25
    view.observed.click(0)
    assert view.record["id"] == 103


def test_preferences_before_any_file_is_shown(client):
    view = DataView(client, Preferences(), live_interval=0)
    view.set_preferences(Preferences(colormap="viridis"))
    assert not view.detail_built
    view.load()
    view.open_first()
    assert view.viewer.prefs.colormap == "viridis"
    assert view.viewer.panel.colormap.value == "viridis"


def test_observed_frames_in_the_order_they_were_taken(client):
    """A batch registered together (restart, catch-up): the ids say nothing about when
    the frames were taken; the frame number leading the name does."""
    night = "2020-11-28"
    client.add(record(301, file_name="0005_ZTF20actqfpc_28-11-2020.fits", date=night))
    client.add(record(302, file_name="0001_bias_28-11-2020.fits", obstype="BIAS", date=night))
    client.add(record(303, file_name="0002_bias_28-11-2020.fits", obstype="BIAS", date=night))
    view = DataView(client, Preferences(), live_interval=0)
    view.load()
    assert [r["id"] for r in view.observed.records[:3]] == [301, 303, 302]
    # the index asks the service for its observation order (DATE-OBS, then frame
    # number: tests/api/test_observation_order.py), as the search table does; the
    # calibrations index takes the API's default, which is that order too
    asked = [c[3].get("ordering") for c in client.calls if c[0] == "files"]
    assert "-date,-date_obs,-frame_number,-id" in asked
    assert set(asked) <= {"-date,-date_obs,-frame_number,-id", None}
    table = SearchTable(client, ["SOAR2020B-001"], lambda r: None, page_size=10)
    table.load(1)
    assert client.calls[-1][3]["ordering"] == "-date,-date_obs,-frame_number,-id"
    assert [r["id"] for r in table.records[:3]] == [301, 303, 302]


def test_follow_newest_opens_each_new_science_frames_best_product(client):
    view = DataView(client, Preferences(), live_interval=0)
    view.load()
    view.observed.click(5)
    shown = view.record["id"]
    assert shown != 103
    view.follow.value = True  # the newest science frame (25): its calibrated spectrum
    assert view.record["id"] == 103
    # a bias arrives: nothing changes
    client.add(record(26, file_name="0026_bias.fits", obstype="BIAS"))
    view.refresh_files()
    assert view.record["id"] == 103
    # a science frame arrives: its raw opens, then its product when it is made
    client.add(record(27, file_name="0027_ZTF20actqfpc.fits"))
    view.refresh_files()
    assert view.record["id"] == 27
    client.add(
        record(
            401, data_type="2", original_file_id=27, parent_file_id=27, file_name="cfzst_0027.fits"
        )
    )
    view.refresh_files()
    assert view.record["id"] == 401
    # off: new frames no longer take the view away
    view.follow.value = False
    client.add(record(28, file_name="0028_ZTF20actqfpc.fits"))
    view.refresh_files()
    assert view.record["id"] == 401


def test_a_click_does_not_wait_for_the_lookups_of_new_products(client):
    """Through a night, products of other frames arrive all the time: the page looks
    each up (is it of the family shown?) without holding the view, so a click meanwhile
    opens its file at once."""
    import threading
    import time

    view = DataView(client, Preferences(), live_interval=0)
    view.load()
    view.observed.click(0)
    looking, release = threading.Event(), threading.Event()
    lookup = client.file

    def slow_file(file_id):
        if file_id == 999:  # the product of another frame, looked up slowly
            looking.set()
            release.wait(20)
        return lookup(file_id)

    client.file = slow_file
    client.add(
        record(999, data_type="2", original_file_id=3, parent_file_id=3, file_name="cfzst_3.fits")
    )
    view.refresh_delay = 0.0
    view.handle_event({"event": "file.product", "file_id": 999})
    assert looking.wait(10)
    click = threading.Thread(target=view.observed.click, args=(4,))
    click.start()
    click.join(10)
    try:
        assert not click.is_alive(), "the click waited for the lookup of another file's product"
        assert view.record["id"] == view.observed.records[4]["id"]
    finally:
        release.set()
        click.join(10)
    deadline = time.monotonic() + 10
    while not view.refresh_idle and time.monotonic() < deadline:
        time.sleep(0.02)
    assert view.refresh_idle and view.record["id"] == view.observed.records[4]["id"]
