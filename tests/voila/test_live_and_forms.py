"""Live updates from the event stream, the lamp chooser, the management forms and the
API token panel, with the in-memory client (no browser, no server)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from conftest import FakeClient, lamp_candidate, lamp_menu, record

from voila_apps.widgets.actions import AUTOMATIC, ActionBar, lamp_choices
from voila_apps.widgets.data_view import DataView
from voila_apps.widgets.jobs import JobTracker
from voila_apps.widgets.lamps import offset_text
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


# --- lamp chooser ----------------------------------------------------------------------------


@pytest.fixture
def arcs(client):
    """Science spectrum 102, for which the service lists a reduced arc 130 (HgAr, 10 min
    before, used by the current calibration) and 131 (Ne, 20 min after)."""
    arc = {"obstype": "COMP", "data_type": "2", "object": "HgAr"}
    client.add(record(130, **arc, parent_file_id=30, file_name="c_0030_comp.fits"))
    client.lamp_menus[102] = lamp_menu(
        102,
        [
            lamp_candidate(130, "c_0030_comp.fits", "HgAr", -600.0, used=True),
            lamp_candidate(131, "c_0031_arc.fits", "Ne", 1200.0),
        ],
        used_automatically=True,
    )
    return client


def test_the_chooser_shows_the_service_list_in_its_order_with_the_used_arc_marked(arcs):
    choices = lamp_choices(arcs, arcs.file(102))
    assert choices == [
        ("Automatic (used c_0030_comp.fits)", AUTOMATIC),
        ("★ c_0030_comp.fits · HgAr · 10 min before", 130),
        ("c_0031_arc.fits · Ne · 20 min after", 131),
    ]
    assert ("lamps", 102) in arcs.calls
    # made with a chosen lamp: Automatic says what it would take instead
    arcs.lamp_menus[102]["used_automatically"] = False
    assert lamp_choices(arcs, arcs.file(102))[0][0] == (
        "Automatic (would use c_0030_comp.fits, c_0031_arc.fits)"
    )
    arcs.lamp_menus[102]["candidates"].append(lamp_candidate(132, "c_0032_comp.fits"))
    arcs.lamp_menus[102]["automatic"].append(132)
    assert lamp_choices(arcs, arcs.file(102))[0][0].endswith("c_0031_arc.fits and 1 more)")
    assert lamp_choices(arcs, arcs.file(102))[-1][0] == "c_0032_comp.fits · lamp · same night"


def test_offsets_in_words():
    assert offset_text(-30) == "30 s before"
    assert offset_text(90) == "2 min after"
    assert offset_text(-5400) == "1.5 h before"
    assert offset_text(None) == "same night"


def test_chooser_fills_in_the_background_and_calibrates_with_the_choice(arcs):
    jobs = []
    bar = ActionBar(arcs, jobs.append, lambda: None, lambda r: None, background=True)
    bar.show(arcs.file(102))
    assert bar.lamp.value == AUTOMATIC and bar.lamp.layout.display == "flex"
    wait_until(lambda: "2 compatible arcs" in bar.lamp_note.value, what="arcs listed")
    assert len(bar.lamp.options) == 3  # set before the note
    bar.run("wavelength")  # automatic: the engine chooses
    assert arcs.calls[-1] == ("calibrate_wavelength", 102, {"lamp_id": None})
    bar.lamp.value = 131
    bar.run("wavelength")
    assert arcs.calls[-1] == ("calibrate_wavelength", 102, {"lamp_id": 131}) and jobs[-1]["id"]


def test_chooser_of_a_file_left_meanwhile_is_not_applied(arcs):
    bar = ActionBar(arcs, lambda j: None, lambda: None, lambda r: None, background=False)
    science = arcs.file(102)
    bar.show(arcs.file(103))  # wavelength-calibrated: no chooser
    assert bar.lamp.layout.display == "none"
    bar.fill_lamps(science)  # a late answer for a file no longer shown
    assert bar.lamp.options == ()


def test_chooser_says_when_no_arc_or_the_api_refuses(client):
    bar = ActionBar(client, lambda j: None, lambda: None, lambda r: None, background=False)
    client.lamp_menus[102] = lamp_menu(102, [])
    bar.show(client.file(102))
    assert bar.lamp.options == (("Automatic (no arc of this setup on the night yet)", AUTOMATIC),)
    assert "No compatible arc on this night yet" in bar.lamp_note.value

    def refuse(file_id):
        from gsp_extension.client import GSPAPIError

        raise GSPAPIError(409, f"file {file_id} is an arc, not a science spectrum")

    client.lamps = refuse
    bar.show(client.file(101))
    assert "is an arc, not a science spectrum" in bar.lamp_note.value
    assert bar.lamp.value == AUTOMATIC


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


def test_no_chooser_for_an_arc(arcs):
    bar = ActionBar(arcs, lambda j: None, lambda: None, lambda r: None, background=False)
    bar.show(arcs.file(130))  # a reduced arc: Extract needs no lamp
    assert bar.lamp.layout.display == "none" and bar.lamp_note.layout.display == "none"
    assert ("lamps", 130) not in arcs.calls


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
