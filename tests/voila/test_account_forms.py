"""The edit forms of the management view and the user menu's own details: what they
send, that deactivation asks first, and that refusals are said in words."""

from __future__ import annotations

from conftest import FakeClient

from gsp_extension.client import GSPAPIError
from voila_apps.widgets.account_forms import OwnAccount, changes_of
from voila_apps.widgets.errors import describe
from voila_apps.widgets.management import ManagementView


def _staff_view():
    client = FakeClient(user="staffer", staff=True)
    view = ManagementView(client)
    view.load()
    return client, view


def test_changes_of_sends_only_what_differs():
    import ipywidgets as w

    fields = {"title": w.Text(value=" Same "), "semester": w.Text(value="2026B")}
    assert changes_of({"title": "Same", "semester": "2020B"}, fields) == {"semester": "2026B"}
    assert changes_of({"title": "Same", "semester": None}, {"title": fields["title"]}) == {}


def test_staff_edit_a_user_and_deactivation_asks_first():
    client, view = _staff_view()
    editor = view.user_editor
    assert "bob" in editor.chooser.options
    editor.chooser.value = "bob"
    assert editor.fields["email"].value == "bob@example.org" and editor.active.value
    editor.fields["partner"].value = "Chile"
    editor.active.value = False
    assert editor.submit() is None  # asks first
    assert "Click Deactivate to confirm" in editor.message.value
    assert editor.confirm.layout.display == "flex"
    assert not [c for c in client.calls if c[0] == "update_user"]
    saved = editor.submit(confirmed=True)
    assert saved["is_active"] is False and saved["partner"] == "Chile"
    sent = [c for c in client.calls if c[0] == "update_user"][-1]
    assert sent[2] == {"partner": "Chile", "is_active": False}
    assert "no (deactivated)" in view.users_table.value and "Chile" in view.users_table.value
    editor.chooser.value = "bob"
    assert editor.submit() is None and "Nothing changed" in editor.message.value


def test_staff_edit_a_proposal_and_its_pi():
    client, view = _staff_view()
    editor = view.proposal_editor
    editor.chooser.value = "SOAR2020B-002"
    assert editor.fields["pi_email"].value == "carol@example.org"
    editor.fields["title"].value = "Renamed"
    editor.fields["pi_email"].value = "bob@example.org"
    saved = editor.submit()
    assert saved["title"] == "Renamed" and saved["user"]["username"] == "bob"
    assert "PI Bob" in editor.message.value
    assert [c for c in client.calls if c[0] == "update_proposal"][-1][2] == {
        "title": "Renamed",
        "pi_email": "bob@example.org",
    }
    editor.fields["pi_email"].value = "ghost@example.org"
    assert editor.submit() is None and "add the user first" in editor.message.value


def test_add_user_with_partner_and_proposal_numbered_by_semester():
    client, view = _staff_view()
    assert view.soar_id.placeholder == "default: SOAR2026B-001"
    view.semester.value = "2020B"
    assert view.soar_id.placeholder == "default: SOAR2020B-003"
    view.user_email.value = "noa@example.org"
    view.user_partner.value = "Brazil"
    view.add_user()
    assert view.user_partner.value == ""
    assert any(u.get("partner") == "Brazil" for u in client.extra_users)
    view.proposal_title.value = "Numbered"
    view.semester.value = ""
    view.add_proposal()
    assert [c for c in client.calls if c[0] == "create_proposal"][-1][1] is None


def test_own_details_in_the_user_menu():
    client = FakeClient(user="bob")
    mine = OwnAccount(client)
    mine.load()
    assert mine.fields["email"].value == "bob@example.org"
    mine.fields["last_name"].value = "Builder"
    assert mine.submit()["last_name"] == "Builder" and "Saved" in mine.message.value
    mine.fields["email"].value = "no-at-sign"
    assert mine.submit() is None
    assert "email: give an e-mail address" in mine.message.value
    assert "pattern" not in mine.message.value


def test_every_widget_error_says_patterns_in_words():
    raw = GSPAPIError(400, "body semester: String should match pattern '^\\d{4}[AB]$'")
    assert describe(raw) == "semester: give a semester such as 2026A"
