"""Voilà's page templates compiled once per process (voila_apps/template_cache.py)."""

from __future__ import annotations

import jinja2
import nbformat
import pytest
import voila.notebook_renderer
from traitlets.config import Config
from voila.paths import collect_template_paths

from voila_apps import template_cache
from voila_apps.config import TEMPLATE, template_root
from voila_apps.template_cache import (
    COMPILED,
    CachingVoilaExporter,
    CompiledTemplates,
    render_page,
)

BROWSER = template_root().parent / "data_browser.ipynb"


@pytest.fixture
def apps_path(monkeypatch) -> list[str]:
    """The apps' template folder first on JUPYTER_PATH, as in a user's server; the
    template paths Voilà's server extension computes there."""
    monkeypatch.setenv("JUPYTER_PATH", str(template_root()))
    return collect_template_paths(["voila", "nbconvert"], TEMPLATE)


def render(exporter) -> str:
    """The page as Voilà's handler renders it with progressive rendering."""
    nb = nbformat.read(BROWSER, as_version=4)
    return render_page(exporter, nb, "data_browser", "/u/", kernel_id="k-1")


def exporter(cls, paths):
    return cls(template_paths=paths, template_name=TEMPLATE, config=Config(), base_url="/u/")


def test_pages_share_the_compiled_templates_and_render_the_same(apps_path):
    template_cache.install()
    assert voila.notebook_renderer.VoilaExporter is CachingVoilaExporter
    first, second = (
        exporter(CachingVoilaExporter, apps_path),
        exporter(CachingVoilaExporter, apps_path),
    )
    page = render(first)
    assert render(second) == page
    assert "k-1" in page and "/u/voila/static/voila.js" in page
    # Voilà's own exporter renders the same page
    assert render(exporter(template_cache.VoilaExporter, apps_path)) == page
    # the second page's templates are the first one's code, not compiled again
    a = first.environment.get_template("index.html.j2")
    b = second.environment.get_template("index.html.j2")
    assert a is not b
    assert a.root_render_func.__code__ is b.root_render_func.__code__
    assert len(COMPILED) >= 10


def test_the_forkservers_warm_up_leaves_the_first_page_nothing_to_compile(apps_path, monkeypatch):
    from hub.singleuser import warm_up

    COMPILED.clear()
    warm_up()
    assert len(COMPILED) >= 10

    def compile_again(*args, **kwargs):
        raise AssertionError("a template compiled after the warm-up")

    monkeypatch.setattr(jinja2.Environment, "compile", compile_again)
    assert "voila.js" in render(exporter(CachingVoilaExporter, apps_path))


def test_a_changed_source_or_another_syntax_is_compiled_again(tmp_path):
    cache = CompiledTemplates()
    (tmp_path / "t.j2").write_text("<{{ x }}>")

    def env(**kwargs):
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(tmp_path), bytecode_cache=cache, **kwargs
        )

    assert env().get_template("t.j2").render(x=1) == "<1>"
    assert len(cache) == 1
    (tmp_path / "t.j2").write_text("(( x )){{ x }}")
    assert env().get_template("t.j2").render(x=2) == "(( x ))2"
    # other delimiters make other code: the cached one is not taken
    other = env(variable_start_string="((", variable_end_string="))")
    assert other.get_template("t.j2").render(x=3) == "3{{ x }}"
    assert len(cache) == 2
    assert env().get_template("t.j2").render(x=4) == "(( x ))4"
