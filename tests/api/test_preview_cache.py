"""The visualize preview cache stays under its bound, least recently used out first, and
an evicted preview is rendered again, identical to a fresh rendering."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from gsp_extension.api.schemas import VisualizeQuery
from gsp_extension.api.visualize import PreviewCache, _render_cached, cache_path, render_png


@pytest.fixture
def image(tmp_path):
    from astropy.io import fits

    path = tmp_path / "raw" / "0001_target.fits"
    path.parent.mkdir()
    rng = np.random.default_rng(3)
    fits.PrimaryHDU(rng.normal(100, 5, (60, 80)).astype("f4")).writeto(path)
    return path


def queries(n):
    return [VisualizeQuery(id=1, width=200 + 10 * i, height=150) for i in range(n)]


def _age(path, seconds_ago):
    t = time.time() - seconds_ago
    os.utime(path, (t, t))


def test_the_cache_stays_under_its_bound_and_re_renders_evicted_previews(image, tmp_path):
    cache_dir = tmp_path / "cache"
    qs = queries(8)
    sizes = [len(render_png(image, q, "t")) for q in qs[:3]]
    bound = sum(sizes) + min(sizes) // 2  # room for about three previews
    targets = [cache_path(cache_dir, 1, "sum", q) for q in qs]
    cache = PreviewCache(targets[0].parent, bound)
    for i, (q, target) in enumerate(zip(qs, targets, strict=True)):
        png = _render_cached(image, target, q, "t", cache)
        assert png == render_png(image, q, "t")
        total = sum(size for _, size, _ in cache.entries())
        assert total <= bound, (i, total, bound)
        assert target.exists()  # the newest preview is kept
        # Distinct mtimes make "least recently used" unambiguous on coarse clocks.
        for age, t in enumerate(reversed(targets[: i + 1])):
            if t.exists():
                _age(t, age)
    kept = {p for _, _, p in cache.entries()}
    assert 2 <= len(kept) < len(qs)
    assert targets[0] not in kept and targets[-1] in kept
    # An evicted preview is rendered again and is the same picture.
    again = _render_cached(image, targets[0], qs[0], "t", cache)
    assert again == render_png(image, qs[0], "t") and targets[0].exists()
    assert sum(size for _, size, _ in cache.entries()) <= bound


def test_a_hit_makes_a_preview_recent(image, tmp_path):
    qs = queries(4)
    targets = [cache_path(tmp_path / "cache", 1, "sum", q) for q in qs]
    sizes = [len(render_png(image, q, "t")) for q in qs]
    cache = PreviewCache(targets[0].parent, sum(sizes[:3]) + 1)
    for q, t in zip(qs[:3], targets[:3], strict=True):
        _render_cached(image, t, q, "t", cache)
    for age, t in zip((30, 20, 10), targets[:3], strict=True):
        _age(t, age)
    # Using the oldest makes it the newest: the second one goes instead.
    before = targets[0].read_bytes()
    assert _render_cached(image, targets[0], qs[0], "t", cache) == before
    _render_cached(image, targets[3], qs[3], "t", cache)
    assert targets[0].exists() and targets[3].exists()
    assert not targets[1].exists()


def test_zero_keeps_nothing_and_a_missing_folder_is_empty(image, tmp_path):
    cache = PreviewCache(tmp_path / "nowhere", 0)
    assert cache.entries() == [] and cache.evict() == 0
    q = queries(1)[0]
    target = cache_path(tmp_path / "c", 1, "sum", q)
    cache = PreviewCache(target.parent, 0)
    assert _render_cached(image, target, q, "t", cache) == render_png(image, q, "t")
    assert cache.entries() == []


def test_the_app_passes_its_bound_to_the_handlers():
    from gsp_extension.app import GSPExtensionApp

    trait = GSPExtensionApp.class_traits()["preview_cache_max_bytes"]
    assert trait.help and trait.default_value > 0 and trait.min == 0
