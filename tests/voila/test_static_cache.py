"""Voilà's front end at a versioned address browsers keep (voila_apps/static_cache.py).

A real tornado server on a free port serves Voilà's own static folders (the apps'
template ``gsp``) through the handler the users' servers register; the page
configuration hook points the front end there.
"""

from __future__ import annotations

import asyncio
import os
import socket

import pytest
import tornado.web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from voila.paths import collect_static_paths

from voila_apps.config import STATIC_URL_SETTING, TEMPLATE, offline_page_config, template_root
from voila_apps.static_cache import (
    MAX_AGE,
    static_tag,
    versioned_static_handler,
    versioned_static_url,
)

BASE = "/user/a%40b/"


@pytest.fixture
def voila_static(monkeypatch) -> tuple[str, ...]:
    """The folders Voilà serves ``voila/static/`` from for the apps' template."""
    monkeypatch.setenv("JUPYTER_PATH", str(template_root()))
    paths = tuple(collect_static_paths(["voila", "nbconvert"], TEMPLATE))
    assert any(os.path.exists(os.path.join(p, "voila.js")) for p in paths)
    return paths


def _fetch_all(handler, urls: list[str]) -> list:
    """Serve ``handler`` on a free port; fetch each URL path: responses or HTTP errors."""

    async def run():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = tornado.web.Application([handler]).listen(port, address="127.0.0.1")
        client = AsyncHTTPClient()
        out = []
        try:
            for url in urls:
                try:
                    out.append(await client.fetch(f"http://127.0.0.1:{port}{url}"))
                except HTTPClientError as exc:
                    out.append(exc)
        finally:
            server.stop()
        return out

    return asyncio.run(run())


def test_the_front_end_is_served_immutable_at_its_versioned_address(voila_static):
    url = versioned_static_url(BASE, voila_static)
    assert url == f"{BASE}voila/static-v/{static_tag(voila_static)}"
    old = f"{BASE}voila/static-v/{'0' * 16}/voila.js"
    main, chunk, stale = _fetch_all(
        versioned_static_handler(BASE, voila_static),
        [url + "/voila.js", url + "/7155.voila.js", old],
    )
    for answer in (main, chunk):
        assert answer.code == 200
        assert answer.headers["Cache-Control"] == f"public, max-age={MAX_AGE}, immutable"
    source = next(
        os.path.join(p, "voila.js")
        for p in voila_static
        if os.path.exists(os.path.join(p, "voila.js"))
    )
    with open(source, "rb") as f:
        assert main.body == f.read()
    # an address of other files (before an upgrade) is not answered with these
    assert isinstance(stale, HTTPClientError) and stale.code == 404


def test_the_tag_changes_with_any_file(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    (one / "voila.js").write_text("a")
    paths = (str(one), str(two))
    tags = [static_tag.__wrapped__(paths)]
    (two / "1.voila.js").write_text("b")  # a file added
    tags.append(static_tag.__wrapped__(paths))
    (one / "voila.js").write_text("ab")  # a file rewritten
    tags.append(static_tag.__wrapped__(paths))
    os.utime(one / "voila.js", ns=(0, 0))  # same size, another time
    tags.append(static_tag.__wrapped__(paths))
    assert len(set(tags)) == 4
    assert static_tag.__wrapped__(paths) == tags[-1]


def test_the_page_loads_its_scripts_from_the_versioned_address():
    page = {"fullStaticUrl": f"{BASE}voila/static", "baseUrl": BASE}
    versioned = f"{BASE}voila/static-v/0123456789abcdef"
    out = offline_page_config(page, base_url=BASE, settings={STATIC_URL_SETTING: versioned})
    assert out["fullStaticUrl"] == versioned
    assert out["fullMathjaxUrl"] == out["mathjaxConfig"] == "null"
    # a server whose extension did not route it keeps Voilà's own address
    assert offline_page_config(page, settings={})["fullStaticUrl"] == f"{BASE}voila/static"
