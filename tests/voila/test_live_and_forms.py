"""Live updates from the event stream, the lamp chooser, the management forms and the
API token panel, with the in-memory client (no browser, no server)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from conftest import FakeClient, record

from voila_apps.widgets.actions import AUTOMATIC, ActionBar
from voila_apps.widgets.data_view import DataView
from voila_apps.widgets.jobs import JobTracker
from voila_apps.widgets.lamps import header_lamp, header_time, lamp_options
from voila_apps.widgets.live import LiveFeed
from voila_apps.widgets.management import ManagementView
from voila_apps.widgets.navigation import TokenPanel, UserMenu, mask
from voila_apps.widgets.preferences import Preferences


def wait_until(condition, timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError(f"not within {timeout} s: {what}")


def cards(date_obs: str, **lamps) -> list[dict]:
    return [{"keyword": "DATE-OBS", "value": date_obs, "comment": ""}] + [
        {"keyword": k, "value": v, "comment": ""} for k, v in lamps.items()
    ]


# --- lamp chooser ----------------------------------------------------------------------------


@pytest.fixture
def arcs(client):
    """Science 102 (extracted, frame 25, 01:00); arcs of the same setup: exposure 30 raw,
    reduced and extracted (00:50, HgAr), exposure 31 raw only (01:20, Ne), exposure 32 on
    the next night; and arcs of other setups."""
    client.records[102]["image_id"] = 25
    client.records[104]["image_id"] = 24
    client.headers[102] = cards("2020-11-26T01:00:00.5")
    arc = {"obstype": "COMP", "object": "HgAr", "original_file_id": 30, "image_id": 30}
    header = cards("2020-11-26T00:50:00", LAMP_HGA="TRUE", LAMP_NE="FALSE")
    client.add(record(30, **arc, parent_file_id=30, file_name="0030_comp.fits"), header=header)
    client.add(
        record(130, **arc, data_type="2", parent_file_id=30, file_name="c_0030_comp.fits"),
        header=header,
    )
    client.add(
        record(131, **arc, data_type="3", parent_file_id=130, file_name="e_0030_comp.fits"),
        header=header,
    )
    client.add(
        record(31, obstype="ARC", object="Ne", image_id=31, file_name="0031_arc.fits"),
        header=cards("2020-11-26T01:20:00", LAMP_NE="TRUE"),
    )
    client.add(
        record(32, obstype="COMP", image_id=2, date="2020-11-27", file_name="0032_comp.fits"),
        header=cards("2020-11-27T00:10:00", LAMP_HGA="TRUE"),
    )
    client.add(record(33, obstype="COMP", grating="930_SYZY", file_name="0033_other_grating.fits"))
    client.add(record(34, obstype="COMP", roi="Spectroscopic 1x1", file_name="0034_1x1.fits"))
    client.add(record(35, obstype="COMP", cam_targ="32.0", file_name="0035_camera.fits"))
    client.add(record(36, obstype="FLAT", file_name="0036_flat.fits"))
    return client


def test_lamp_options_one_per_exposure_same_night_nearest_in_time_first(arcs):
    options = lamp_options(arcs, arcs.file(102))
    ids = [v for _, v in options]
    # 104 (extracted arc of exposure 24, no header time: after the timed ones of its night)
    assert ids == [130, 31, 104, 32]
    labels = dict((v, k) for k, v in options)
    assert labels[130] == "c_0030_comp.fits · HgAr · 10 min before (reduced)"
    assert labels[31] == "0031_arc.fits · Ne · 20 min after (raw)"
    assert "1 frame before" in labels[104] and "(extracted)" in labels[104]
    assert "23.2 h after" in labels[32]


def test_header_time_and_lamps():
    assert header_time(cards("2020-11-26T01:02:03")).minute == 2
    assert (
        header_time(
            [
                {"keyword": "DATE-OBS", "value": "2020-11-26"},
                {"keyword": "TIME-OBS", "value": "03:04:05"},
            ]
        ).hour
        == 3
    )
    assert header_time(cards("yesterday")) is None and header_time([]) is None
    assert header_lamp(cards("x", LAMP_HGA="TRUE", LAMP_NE="TRUE", LAMP_AR="FALSE")) == "HgAr+Ne"
    assert header_lamp(cards("x", LAMP_QUA="TRUE")) is None


def test_chooser_fills_in_the_background_and_calibrates_with_the_choice(arcs):
    jobs = []
    bar = ActionBar(arcs, jobs.append, lambda: None, lambda r: None, background=True)
    bar.show(arcs.file(102))
    assert bar.lamp.value == AUTOMATIC and bar.lamp.layout.display == "flex"
    wait_until(lambda: "4 compatible arcs" in bar.lamp_note.value, what="arcs listed")
    assert len(bar.lamp.options) == 5  # set before the note
    bar.run("wavelength")  # automatic: the engine chooses
    assert arcs.calls[-1] == ("calibrate_wavelength", 102, {"lamp_id": None})
    bar.lamp.value = 31
    bar.run("wavelength")
    assert arcs.calls[-1] == ("calibrate_wavelength", 102, {"lamp_id": 31}) and jobs[-1]["id"]


def test_chooser_of_a_file_left_meanwhile_is_not_applied(arcs):
    bar = ActionBar(arcs, lambda j: None, lambda: None, lambda r: None, background=False)
    science = arcs.file(102)
    bar.show(arcs.file(103))  # wavelength-calibrated: no chooser
    assert bar.lamp.layout.display == "none"
    bar.fill_lamps(science)  # a late answer for a file no longer shown
    assert bar.lamp.options == ()


def test_chooser_says_when_no_arc_or_the_api_refuses(client):
    bar = ActionBar(client, lambda j: None, lambda: None, lambda r: None, background=False)
    del client.records[104]
    bar.show(client.file(102))
    assert [v for _, v in bar.lamp.options] == [AUTOMATIC]
    assert "No compatible arc visible to you" in bar.lamp_note.value

    def refuse(**_):
        from gsp_extension.client import GSPAPIError

        raise GSPAPIError(400, "wavmode filter is bad")

    client.files = refuse
    bar.show(client.file(101))
    assert "wavmode filter is bad" in bar.lamp_note.value and bar.lamp.value == AUTOMATIC


# --- the event feed --------------------------------------------------------------------------


def test_feed_resumes_after_the_last_event_polls_while_down_and_stops(client):
    got, polls = [], []
    feed = LiveFeed(
        client,
        got.append,
        lambda: polls.append(time.monotonic()),
        fallback=0.05,
        read_timeout=0.3,
        backoff=(0.02, 0.2),
    )
    feed.start()
    client.push_event("file.registered", file_id=1)
    client.push_event("file.registered", file_id=2)
    wait_until(lambda: len(got) == 2, what="two events")
    assert feed.healthy and feed.last_id == 2 and polls == []
    client.stream.put(ConnectionError("connection reset"))
    wait_until(lambda: ("events", 2) in client.calls, what="reconnect after id 2")
    assert len(polls) >= 1 and "connection reset" in feed.last_error
    client.push_event("job.done", job_id=7)
    wait_until(lambda: len(got) == 3, what="event after reconnect")
    assert feed.failures == 0
    # down for a while: polled every `fallback` seconds, reconnects backing off
    before = len(polls)
    for _ in range(4):
        client.stream.put(ConnectionError("refused"))
    wait_until(lambda: feed.failures >= 4, what="failures")
    assert len(polls) > before
    feed.stop()
    wait_until(lambda: not feed.running, timeout=5, what="thread ended")


def test_a_broken_handler_does_not_end_the_feed(client):
    seen = []

    def handler(event):
        seen.append(event["id"])
        raise RuntimeError("bug in a widget")

    feed = LiveFeed(client, handler, lambda: None, read_timeout=0.3)
    feed.start()
    client.push_event("x")
    client.push_event("y")
    wait_until(lambda: seen == [1, 2], what="both events")
    feed.stop(wait=2)
    assert not feed.running


def test_job_done_event_shows_the_product_without_polling(client):
    view = DataView(client, Preferences(), live_interval=1)
    view.actions.background = False
    view.load()
    view.open_file(102)
    view.start_live()
    wait_until(lambda: ("events", None) in client.calls, what="stream opened")
    view.actions.lamp.value = 104
    view.actions.run("wavelength")
    job = view.jobs.active[0]
    product = record(
        120, data_type="4", original_file_id=25, parent_file_id=102, file_name="wecfzst_0025_b.fits"
    )
    client.finish(job["id"], product)
    time.sleep(0.3)
    assert view.record["id"] == 102  # nothing told the page yet
    client.push_event("job.done", job_id=job["id"], file_id=102)
    wait_until(lambda: view.record["id"] == 120, what="product shown")
    assert 120 in [f["id"] for f in view.family]
    assert view.jobs.polls == 0 and "done" in view.jobs.lines.value
    wait_until(lambda: "data-events='1'" in view.live_status.value, what="event counted")
    assert "gsp-live-on" in view.live_status.value
    view.stop_live()


def test_products_and_new_files_made_elsewhere_appear(client):
    view = DataView(client, Preferences(), live_interval=1)
    view.actions.background = False
    view.refresh_delay = 0.05
    view.load()
    view.open_file(103)
    view.start_live()
    # the live engine re-calibrated raw 25 (no job of this page)
    client.add(record(121, data_type="4", original_file_id=25, parent_file_id=102))
    client.push_event("file.product", file_id=121, job_id=999)
    wait_until(
        lambda: (
            121 in [f["id"] for f in view.tabs.files]
            and view.tabs.files[view.tabs.active]["id"] == 103
        ),
        what="tab added, the mark still on the file looked at",
    )
    assert view.record["id"] == 103  # the file looked at stays
    wait_until(lambda: view.refresh_idle, what="that refresh ended")
    tabs = [f["id"] for f in view.tabs.files]
    # a product of another family does not touch the tabs
    client.add(record(122, data_type="2", original_file_id=5, parent_file_id=5))
    client.push_event("file.product", file_id=122)
    client.add(record(26))
    client.push_event("file.registered", file_id=26)
    # the end state: both events handled (in one refresh or two) and no refresh left;
    # not the list's top, which a refresh changes before it looks at the product
    wait_until(lambda: view.file_events == 3 and view.refresh_idle, what="both events handled")
    assert view.observed.top_id == 26  # new raw listed
    assert 122 not in [f["id"] for f in view.family]
    assert [f["id"] for f in view.tabs.files] == tabs and view.record["id"] == 103
    view.stop_live()


def test_file_lists_follow_the_fallback_while_the_stream_is_down(client):
    view = DataView(client, Preferences(), live_interval=1, fallback_interval=0.05)
    view.load()
    view.live.backoff = (0.5, 0.5)
    view.live.read_timeout = 0.3
    client.stream.put(ConnectionError("proxy restarted"))
    client.add(record(26))
    view.start_live()
    wait_until(lambda: view.observed.top_id == 26, what="polled")
    assert view.live.polls >= 1
    wait_until(lambda: "gsp-live-off" in view.live_status.value, what="shown as down")
    assert "checking every 0.05 s" in view.live_status.value
    view.stop_live()
    wait_until(lambda: not view.live.running, timeout=5, what="stopped")


def test_job_tracker_polls_only_as_a_safety_net_while_the_stream_works(client):
    ended = []
    live = SimpleNamespace(healthy=True)
    tracker = JobTracker(client, ended.append, interval=0.02, live=live, safety_interval=60)
    job = client.reduce(25)
    tracker.watch(job)
    time.sleep(0.2)
    assert tracker.polls == 0
    assert tracker.handle_event({"event": "job.done", "job_id": 424242}) is None  # not ours
    live.healthy = False  # the stream dropped: the tracker polls by itself
    client.finish(job["id"], record(110, data_type="2", original_file_id=25))
    wait_until(lambda: ended, what="job end polled")
    assert tracker.polls >= 1 and ended[0]["product_file_id"] == 110
    # the stream's late report of the same end is not reported twice
    assert tracker.handle_event({"event": "job.done", "job_id": job["id"]}) is None
    assert len(ended) == 1
    tracker.stop()


# --- management ------------------------------------------------------------------------------


@pytest.fixture
def staff():
    c = FakeClient(user="staffer", staff=True)
    view = ManagementView(c)
    view.load()
    return c, view


def test_add_user_clears_the_form_and_refreshes_the_list(staff):
    client, view = staff
    view.user_email.value = "dora@example.org"
    view.user_first.value = "Dora"
    view.add_user()
    msg = view.user_form.message.value
    assert "Added user dora" in msg and "invitation sent to dora@example.org" in msg
    assert view.user_email.value == "" and view.user_first.value == ""
    assert "data-username='dora'" in view.users_table.value
    assert ("create_user", "dora@example.org", None, False) in client.calls


def test_add_user_shows_the_apis_reason(staff):
    client, view = staff
    view.user_email.value = "bob@example.org"
    view.add_user()
    assert "already belongs to a user" in view.user_form.message.value
    assert view.user_email.value == "bob@example.org"  # kept to correct it
    view.user_email.value = "eve@example.org"
    view.user_staff.value = True
    view.add_user()
    assert "only a superuser creates staff users" in view.user_form.message.value
    view.user_email.value = "not an address"
    view.add_user()
    assert "not an email address" in view.user_form.message.value


def test_add_proposal_with_a_new_and_a_known_pi(staff):
    client, view = staff
    view.soar_id.value = "SOAR2021A-007"
    view.proposal_title.value = "Novae"
    view.pi_email.value = "nina@example.org"
    view.add_proposal()
    msg = view.proposal_form.message.value
    assert "Added proposal SOAR2021A-007 with PI" in msg
    assert "invitation sent to nina@example.org" in msg
    assert view.soar_id.value == "" and "data-soar-id='SOAR2021A-007'" in view.proposals_table.value
    assert "data-username='nina'" in view.users_table.value
    view.soar_id.value = "SOAR2021A-008"
    view.proposal_title.value = "More novae"
    view.pi_email.value = "carol@example.org"
    view.add_proposal()
    assert "invitation" not in view.proposal_form.message.value
    view.soar_id.value = "SOAR2021A-008"
    view.proposal_title.value = "Again"
    view.add_proposal()
    assert "exists" in view.proposal_form.message.value
    view.soar_id.value = "SOAR2021A-009"
    view.proposal_title.value = ""
    view.add_proposal()
    assert "the title is required" in view.proposal_form.message.value


# --- API token -----------------------------------------------------------------------------


def test_token_panel_outside_a_hub_says_why_no_token_can_be_made(monkeypatch):
    for name in ("JUPYTERHUB_API_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "server-token-9876")
    panel = TokenPanel("https://hub.example/services/gsp/")
    panel.create.click()
    assert "does not run under one" in panel.message.value
    # nothing secret reaches the page: the server's own token is never shown
    assert panel.box.value == "" and panel.row.layout.display == "none"
    assert "server-token" not in repr([c.value for c in panel.children if hasattr(c, "value")])
    help_html = panel.children[-1].value
    assert "/hub/token" in help_html and "Authorization: token &lt;key&gt;" in help_html
    assert "GSPClient('https://hub.example/services/gsp/', '&lt;key&gt;')" in help_html


def test_mask_hides_all_but_the_last_four():
    assert mask("0123456789abcdef") == "•" * 12 + "cdef"
    assert mask("") == "" and mask("abcd").endswith("abcd") and mask("abcd").count("•") == 8


def test_user_menu_points_scripts_at_the_public_address(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://gsp.example.org/user/alice/")
    menu = UserMenu({"user": "alice"}, Preferences(), lambda **_: None)
    assert "'https://gsp.example.org/services/gsp/'" in menu.token.children[-1].value


# --- interactive plot range --------------------------------------------------------------------


def test_interactive_plot_shows_its_range_as_it_is_zoomed(client):
    from voila_apps.widgets.viewer import Viewer

    viewer = Viewer(client, Preferences(plot_mode="interactive"))
    viewer.show(client.file(103))  # 400 px from 5000 Å by 2 Å
    assert "Showing λ" in viewer.limits.value
    ax = viewer.figure.axes[0]
    x0, x1 = ax.get_xlim()
    assert x0 <= 5000 and x1 >= 5798
    ax.set_xlim(5200, 5300)  # what the toolbar's zoom does
    assert "data-xmin='5200' data-xmax='5300'" in viewer.limits.value
    viewer.set_preferences(Preferences(plot_mode="static"))
    assert viewer.limits.value == ""


def test_closing_the_view_stops_its_threads(client):
    view = DataView(client, Preferences(), live_interval=1)
    view.live.read_timeout = 0.2
    view.start_live()
    wait_until(lambda: ("events", None) in client.calls, what="stream opened")
    assert view.live.running and view.live._thread.daemon
    view.close()
    wait_until(lambda: not view.live.running, timeout=5, what="feed thread ended")


def test_no_chooser_for_an_arc_and_never_its_own_exposure(arcs):
    bar = ActionBar(arcs, lambda j: None, lambda: None, lambda r: None, background=False)
    bar.show(arcs.file(130))  # a reduced arc: Extract needs no lamp
    assert bar.lamp.layout.display == "none" and bar.lamp_note.layout.display == "none"
    arcs.records[102]["original_file_id"] = 31  # pretend the science came from exposure 31
    assert 31 not in [v for _, v in lamp_options(arcs, arcs.file(102))]


def test_a_wavelength_job_shows_its_calibrated_spectrum(client):
    view = DataView(client, Preferences(), live_interval=0)
    view.load()
    view.open_file(102)
    view.actions.run("wavelength")
    job = view.jobs.active[0]
    # the engine re-extracts (first product) and calibrates from that spectrum
    client.add(record(141, data_type="4", original_file_id=25, parent_file_id=140))
    client.finish(job["id"], record(140, data_type="3", original_file_id=25, parent_file_id=101))
    view.jobs.tick()
    assert view.record["id"] == 141


def test_an_unreachable_service_is_said_on_the_page_and_a_bug_is_not_hidden():
    import socket

    from gsp_extension.client import GSPClient, GSPConnectionError
    from voila_apps.widgets.comments import Comments

    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = GSPClient(f"http://127.0.0.1:{port}/services/gsp/", token="t", timeout=5)
    with pytest.raises(GSPConnectionError) as raised:
        client.comments(1)
    assert "cannot be reached" in raised.value.detail
    comments = Comments(client)
    comments.show(1)
    assert "gsp-error" in comments.message.value
    assert "cannot be reached" in comments.message.value

    class Broken(FakeClient):
        def comments(self, file_id):
            raise KeyError("a bug in the page, not a refusal of the API")

    with pytest.raises(KeyError):
        Comments(Broken()).show(1)
