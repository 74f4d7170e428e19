"""The page's address follows the view; Back/Forward and copied addresses restore it.

The app with the in-memory client; the browser's side (the script the hidden HTML
widget carries, the popstate listener) is exercised by tests/browser/test_address.py.
"""

from __future__ import annotations

import html
import re
import threading

import pytest

from voila_apps.app import App
from voila_apps.widgets.address import encode


def _pushed(app) -> tuple[str, str]:
    """(how, query) of the last address sent to the browser."""
    value = html.unescape(app.address.script.value)
    return re.search(r"data-how='(\w*)'", value)[1], re.search(r"data-query='(.*?)'", value)[1]


def test_encode_leaves_out_empty_entries():
    assert encode({"view": None, "file": 12, "page": None}) == "?file=12"
    assert encode({"view": "search", "search": "NGC 1", "x": ""}) == "?view=search&search=NGC+1"
    assert encode({}) == ""


def test_clicks_make_history_entries_automatic_changes_replace(client, _private_home):
    app = App(client, live_interval=0)
    app.start("", background=False)  # the newest file opened by itself
    assert _pushed(app) == ("replaceState", "?file=103")
    # a click on another file: a new entry (clicks arrive on the kernel's main thread)
    app.data.observed.click(3)
    how, query = _pushed(app)
    assert how == "pushState" and query == f"?file={app.data.record['id']}"
    # a tab of the family: the product's id says which tab
    app.data.observed.click(0)
    app.data.tabs.choose(1)
    assert _pushed(app) == ("pushState", f"?file={app.data.family[1]['id']}")
    # something that happens by itself (a background thread): replaced
    t = threading.Thread(target=app.data.select, args=(client.file(20),))
    t.start()
    t.join()
    assert _pushed(app) == ("replaceState", "?file=20")
    # another page of the index
    app.data.observed.pager.go_to("2")
    assert _pushed(app) == ("pushState", "?file=20&page=2")


def test_search_filters_and_page_in_the_address_and_back(client, _private_home):
    app = App(client, live_interval=0)
    app.start("", background=False)
    table = app.show_view("search")
    assert _pushed(app)[1] == "?view=search"
    table.text_filters["obstype"].value = "OBJECT"
    table.pager.go_to("2")
    assert _pushed(app) == ("pushState", "?view=search&obstype=OBJECT&page=2")
    # Back (the browser reports the address it went to): the data view and its file
    app.address.inbox.value = "file=103#1"
    assert app.current == "data" and app.data.record["id"] == 103
    # Forward: the table, filtered, on its page; nothing new pushed meanwhile
    pushes = app.address.pushes
    app.address.inbox.value = "view=search&obstype=OBJECT&page=2#2"
    assert app.current == "search" and table.page == 2
    assert table.text_filters["obstype"].value == "OBJECT"
    assert app.address.pushes == pushes


def test_an_address_naming_a_raw_frame_shows_the_raw_frame(client, _private_home):
    """The raw tab chosen, then Back and Forward: the raw frame, not its best product."""
    app = App(client, live_interval=0)
    app.start("file=25", background=False)
    assert app.data.record["id"] == 25
    assert app.data.tabs.active == [f["id"] for f in app.data.family].index(25)
    app.address.inbox.value = "file=103#1"
    assert app.data.record["id"] == 103
    app.address.inbox.value = "file=25#2"
    assert app.data.record["id"] == 25


def test_a_copied_address_opens_the_same_view(client, _private_home):
    first = App(client, live_interval=0)
    first.start("", background=False)
    table = first.show_view("search")
    table.technique.value = "Spectroscopy"
    table.sort_by("file_name")
    copied = _pushed(first)[1]
    assert copied == "?view=search&technique=Spectroscopy&ordering=-file_name%2C-id"
    other = App(client, live_interval=0)
    from urllib.parse import unquote

    other.start(unquote(copied[1:]), background=False)
    assert other.current == "search"
    same = other.views["search"]
    assert same.technique.value == "Spectroscopy" and same.ordering == "-file_name,-id"
    assert [r["id"] for r in same.records] == [r["id"] for r in table.records]
    assert "▼" in same.header_row.children[0].description


@pytest.mark.parametrize(
    "query, message",
    [
        ("view=search&data_type=9", "data_type='9'"),
        ("view=search&date_after=yesterday", "date_after='yesterday' is not a date"),
        ("view=search&ordering=-password", "ordering='-password'"),
        ("view=search&proposal_id=SOAR2099A-999", "not a proposal you can see"),
    ],
)
def test_a_bad_address_says_what_is_wrong(client, _private_home, query, message):
    app = App(client, live_interval=0)
    app.start(query, background=False)
    assert message in html.unescape(app.message.value)
    assert app.current == "search"  # the view still opens, its filters untouched
