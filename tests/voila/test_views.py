"""Search table, proposals, settings form, logs, management, app and preferences."""

from __future__ import annotations

import datetime as dt
import json

import nbformat
import pytest
from conftest import FakeClient, record

from voila_apps.app import App, parse_query
from voila_apps.config import configure_voila_template, offline_page_config, template_root
from voila_apps.widgets import preferences as prefs
from voila_apps.widgets.logs import LogsView
from voila_apps.widgets.management import ManagementView
from voila_apps.widgets.navigation import views_for
from voila_apps.widgets.proposals import ProposalsView, can_manage, check_email
from voila_apps.widgets.search_table import (
    SearchTable,
    build_query,
    toggle_ordering,
)
from voila_apps.widgets.settings_form import SettingsForm, changes, validate
from voila_apps.widgets.theme import theme_of


def test_build_query_drops_empty_values_and_checks_dates():
    q = build_query(
        {
            "proposal_id": "All",
            "obstype": " COMP ",
            "filter": "",
            "date_after": dt.date(2020, 1, 2),
            "technique": None,
        }
    )
    assert q == {
        "page": 1,
        "page_size": 20,
        "ordering": "-date,-date_obs,-frame_number,-id",
        "obstype": "COMP",
        "date_after": "2020-01-02",
    }
    with pytest.raises(ValueError, match="reversed"):
        build_query({"date_after": dt.date(2020, 2, 1), "date_before": dt.date(2020, 1, 1)})


def test_ordering_toggles():
    # by night, then in the order the frames were taken (DATE-OBS, then frame number)
    newest = "-date,-date_obs,-frame_number,-id"
    assert toggle_ordering(newest, "date") == "date,date_obs,frame_number,id"
    assert toggle_ordering("date,date_obs,frame_number,id", "date") == newest
    assert toggle_ordering("-date,-id", "file_name") == "-file_name,-id"


def test_search_table_filters_sorts_pages_and_opens(client):
    opened = []
    client.add(record(30, obstype="BIAS", date="2020-11-27"))
    table = SearchTable(client, ["SOAR2020B-001"], opened.append, page_size=10)
    table.load(1)
    assert table.count == len(client.records) and len(table.rows.children) == 10
    table.text_filters["obstype"].value = "COMP"
    assert [r["id"] for r in table.shown] == [104]
    table.text_filters["obstype"].value = ""
    table.data_type.value = 0
    before = table.count
    table.hide_raw_cal.value = True
    # Hidden by the API before paging: the count drops and the request says so.
    assert client.calls[-1][3]["hide_raw_calibrations"] is True
    assert 30 not in [r["id"] for r in table.shown] and table.count < before
    table.sort_by("file_name")
    assert table.ordering == "-file_name,-id" and "▼" in table.header_row.children[0].description
    table.rows.children[0].children[0].click()
    assert opened and opened[-1]["id"] == table.shown[0]["id"]
    table.reset_filters()
    assert table.data_type.value == "All" and table.count == len(client.records)
    table.date_after.value = dt.date(2020, 12, 1)
    table.date_before.value = dt.date(2020, 11, 1)
    assert "reversed" in table.status.value


def test_search_rows_are_reused_between_pages(client):
    table = SearchTable(client, [], lambda r: None, page_size=10)
    table.load(1)
    first = list(table.rows.children)
    table.load(2)
    assert list(table.rows.children) == first[: len(table.rows.children)]


def test_settings_validation():
    clean, errors = validate(
        {
            "saturation_threshold": "2.5",
            "min_bias_frames": "4.5",
            "max_targets": "0",
            "technique": "x",
            "ignore_bias": True,
        }
    )
    assert clean == {"saturation_threshold": 2.5, "ignore_bias": True}
    assert "whole number" in errors["min_bias_frames"]
    assert "out of range" in errors["max_targets"]
    assert "choose one of" in errors["technique"]
    assert changes({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {"b": 3}


def test_settings_form_saves_only_changes_and_refuses_bad_values(client):
    form = SettingsForm(client)
    form.show(client.proposals_[0], editable=True)
    assert form.inputs["flat_normalization_order"].value == "15"
    assert form.inputs["cosmic_ray_rejection"].value == "default"
    form.inputs["max_targets"].value = "x"
    assert form.submit() is False and "not a number" in form.errors["max_targets"].value
    assert not [c for c in client.calls if c[0] == "update_settings"]
    form.inputs["max_targets"].value = "2"
    form.inputs["extraction_type"].value = "optimal"
    assert form.submit() is True
    assert client.calls[-1] == (
        "update_settings",
        1,
        {"max_targets": 2, "extraction_type": "optimal"},
    )
    assert "version 2" in form.version.value
    form.show(client.proposals_[0], editable=False)
    assert form.inputs["max_targets"].disabled and form.submit() is False


def test_proposals_collaborators_for_pi_only(client):
    view = ProposalsView(client, "alice", staff=False, on_data=lambda s: None)
    view.load()
    assert len(view.list.children) == 2
    assert can_manage(client.proposals_[0], "alice", False)
    assert not can_manage(client.proposals_[1], "alice", False)
    assert can_manage(client.proposals_[1], "alice", True)
    view.open_collaborators("SOAR2020B-001")
    box = view.collaborators
    assert box.form.layout.display == "flex"
    box.email.value = "not-an-address"
    box.add_collaborator()
    assert "not an email address" in box.message.value
    box.email.value = "dora@example.org"
    box.add_collaborator()
    assert "dora@example.org" in [c["email"] for c in client.proposals_[0]["collaborators"]]
    # removing asks first, naming who loses access; Cancel keeps them
    trash = [b for row in box.rows.children[1:] for b in row.children[1:]]
    bob = next(b for b in trash if b.email == "bob@example.org")
    bob.click()
    assert "bob@example.org" in [c["email"] for c in client.proposals_[0]["collaborators"]]
    text, yes, no = box.confirm.children
    assert "Remove <b>" in text.value and "bob@example.org" in text.value
    no.click()
    assert box.confirm.children == ()
    assert "bob@example.org" in [c["email"] for c in client.proposals_[0]["collaborators"]]
    bob.click()
    box.confirm.children[1].click()
    assert "bob@example.org" not in [c["email"] for c in client.proposals_[0]["collaborators"]]
    assert "Removed bob@example.org" in box.message.value
    view.open_collaborators("SOAR2020B-002")
    assert view.collaborators.form.layout.display == "none"
    view.open_settings("SOAR2020B-001")
    assert view.right.children[-1] is view.settings
    with pytest.raises(ValueError):
        check_email("a@b")


def test_logs_view_newest_first_and_older(client):
    client.logs_ = [
        {
            "id": i,
            "time": "2020-11-26T01:00:00",
            "level": "INFO",
            "event": "ingest",
            "message": f"m{i}",
            "file_id": i,
            "proposal_id": 1,
        }
        for i in range(1, 8)
    ]
    view = LogsView(client, client.proposals_, limit=3)
    view.load()
    assert [e["id"] for e in view.entries] == [7, 6, 5]
    view.load_older()
    assert [e["id"] for e in view.entries] == [7, 6, 5, 4, 3, 2]
    view.proposal.value = 1
    assert client.calls[-1][1]["proposal_id"] == 1


def test_management_lists_users_and_proposals(client):
    view = ManagementView(client)
    view.load()  # not staff: the API's refusal is shown
    assert "only staff list users" in view.message.value
    client.staff = True
    view.load()
    assert [u["username"] for u in view.users] == ["alice", "bob", "carol"]
    assert view.message.value == ""
    assert "SOAR2020B-002" in view.proposals_table.value and "carol" in view.users_table.value


def test_parse_query():
    assert parse_query("file=12") == {"view": "data", "file": 12, "page": None, "search": {}}
    assert parse_query("view=search") == {
        "view": "search",
        "file": None,
        "page": None,
        "search": {},
    }
    assert parse_query("") == {"view": "data", "file": None, "page": None, "search": {}}
    assert parse_query("view=search&obstype=COMP&page=3") == {
        "view": "search",
        "file": None,
        "page": 3,
        "search": {"obstype": "COMP", "page": "3"},
    }
    with pytest.raises(ValueError, match="page='0' is not a page number"):
        parse_query("page=0")
    with pytest.raises(ValueError, match="not a file id"):
        parse_query("file=abc")
    with pytest.raises(ValueError, match="unknown view"):
        parse_query("view=admin")


def test_app_views_deep_link_and_preferences(client, _private_home, monkeypatch):
    lab = _private_home / "lab-settings"
    monkeypatch.setenv("JUPYTERLAB_SETTINGS_DIR", str(lab))
    app = App(client, live_interval=0)
    assert theme_of(app) == "dark" and "management" not in app.nav.buttons
    app.start("file=102", background=False)
    assert app.data.record["id"] == 102
    table = app.show_view("search")
    assert app.current == "search" and table.count > 0
    table.rows.children[0].children[0].click()
    assert app.current == "data"
    app.update_preferences(theme="light", plot_mode="interactive")
    assert theme_of(app) == "light"
    saved = json.loads((_private_home / ".gsp" / "preferences.json").read_text())
    assert saved["theme"] == "light" and saved["plot_mode"] == "interactive"
    # JupyterLab's own theme follows (the user's settings, where JupyterLab reads it)
    themes = lab / "@jupyterlab" / "apputils-extension" / "themes.jupyterlab-settings"
    assert json.loads(themes.read_text())["theme"] == "JupyterLab Light"
    app.data.viewer.redraw()
    (holder,) = app.data.viewer.plot.children  # the canvas leaves the page in its own box
    assert [type(c).__name__ for c in holder.children] == ["Canvas"]
    with pytest.raises(ValueError, match="theme"):
        app.update_preferences(theme="pink")
    app.show_view("management")
    assert "staff only" in app.message.value and app.current == "data"
    app.search_proposal("SOAR2020B-001")
    assert app.views["search"].proposal.value == "SOAR2020B-001"


def test_app_bad_deep_link_says_why(client):
    app = App(client, live_interval=0)
    app.start("file=x", background=False)
    assert "not a file id" in app.message.value


def test_staff_get_management(_private_home):
    app = App(FakeClient(user="staffer", staff=True), live_interval=0)
    assert [k for k, *_ in views_for(True)][-1] == "management"
    view = app.show_view("management")
    assert app.current == "management" and "SOAR2020B-001" in view.proposals_table.value
    # staff are offered what only staff may do (Delete on master calibrations)
    assert app.data.staff and app.data.actions.staff


def test_a_proposal_added_by_staff_is_offered_in_search_and_logs(_private_home):
    client = FakeClient(user="staffer", staff=True)
    app = App(client, live_interval=0)
    table = app.show_view("search")
    table.proposal.value = "SOAR2020B-002"
    table_loads = table.count
    logs = app.show_view("logs")
    assert "SOAR2021A-900" not in table.proposal.options
    management = app.show_view("management")
    management.soar_id.value = "SOAR2021A-900"
    management.proposal_title.value = "Made by staff"
    assert management.add_proposal() is not None
    assert "SOAR2021A-900" in table.proposal.options
    assert table.proposal.value == "SOAR2020B-002" and table.count == table_loads
    assert "SOAR2021A-900" in [label for label, _ in logs.proposal.options]
    assert logs.proposal.value is None
    # views built later get the new list too
    assert "SOAR2021A-900" in [p["soar_id"] for p in app._proposal_list()]


def test_preferences_load_save_and_bad_values(tmp_path):
    path = tmp_path / "p.json"
    assert prefs.load(path) == prefs.Preferences()
    prefs.save(prefs.Preferences(colormap="viridis"), path)
    assert prefs.load(path).colormap == "viridis"
    path.write_text(json.dumps({"colormap": "nope", "theme": "light", "unknown": 1}))
    loaded = prefs.load(path)
    assert loaded.theme == "light" and loaded.colormap == "gray"
    with pytest.raises(ValueError, match="plot_mode"):
        prefs.Preferences(plot_mode="3d")


def test_template_config_puts_the_offline_template_first():
    from traitlets.config import Config

    c = Config()
    env = {"JUPYTER_PATH": "/elsewhere"}
    configure_voila_template(c, env)
    assert env["JUPYTER_PATH"].split(":")[0] == str(template_root())
    assert c.VoilaConfiguration.template == "gsp"
    index = template_root() / "voila" / "templates" / "gsp" / "index.html.j2"
    assert "cdn" not in index.read_text().split("-#}")[1].lower()
    assert offline_page_config({"a": 1})["fullMathjaxUrl"] == "null"


def test_template_renders_without_external_urls(tmp_path):
    """nbconvert renders the template's head: no http(s) URL outside the hub in it."""
    import re

    from voila.paths import collect_template_paths

    env = {}
    configure_voila_template(__import__("traitlets").config.Config(), env)
    import os

    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = env["JUPYTER_PATH"]
    try:
        paths = collect_template_paths(["voila", "nbconvert"], "gsp")
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH")
        else:
            os.environ["JUPYTER_PATH"] = old
    import jinja2

    loader = jinja2.FileSystemLoader(paths)
    source = loader.get_source(jinja2.Environment(), "index.html.j2")[0]
    assert not re.findall(r"https?://", source.split("-#}")[1])


@pytest.mark.parametrize("name", ["data_browser", "search", "proposals", "logs", "management"])
def test_notebooks_are_thin(name):
    from pathlib import Path

    import voila_apps

    nb = nbformat.read(Path(voila_apps.__file__).with_name(f"{name}.ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(code) == 1 and "from voila_apps.app import main" in code[0].source
    assert len(code[0].source.splitlines()) <= 4


def test_collaborator_counts_and_readable_form_errors():
    from voila_apps.widgets.management import readable_error, users_table
    from voila_apps.widgets.proposals import collaborator_count

    assert collaborator_count({"collaborators": [{}]}) == "1 collaborator"
    assert collaborator_count({"collaborators": [{}, {}]}) == "2 collaborators"
    assert collaborator_count({}) == "no collaborators"
    raw = "body username: String should match pattern '^[A-Za-z0-9@.+_-]{1,150}$'"
    assert readable_error(raw) == (
        "username: use only letters, digits and @ . + _ - (at most 150 characters)"
    )
    both = (
        "body soar_id: String should match pattern '^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$'; "
        "body pi_email: String should match pattern '^x$'"
    )
    text = readable_error(both)
    assert "pattern" not in text and "soar id: start with a letter" in text
    assert "pi email: give the PI's e-mail address" in text
    assert readable_error("proposal SOAR1 exists") == "proposal SOAR1 exists"
    table = users_table(
        [{"username": "a", "is_active": True}, {"username": "b", "is_active": False}]
    )
    assert "<td>yes</td>" in table and "<td>no (deactivated)</td>" in table
