"""The page's controls share blank layouts and styles; the shared ones cannot change."""

from __future__ import annotations

import ipywidgets as w
import pytest
from traitlets import Unicode

from voila_apps.app import App
from voila_apps.widgets import shared_models
from voila_apps.widgets.preferences import Preferences
from voila_apps.widgets.viewer import Viewer


@pytest.fixture
def installed(monkeypatch):
    # (the hook is process-wide: the other tests' widgets keep their own)
    monkeypatch.setattr(w.Widget, "_widget_construction_callback", None)
    shared_models.install()


def _models_opened(action) -> dict[str, int]:
    """Widget models made by ``action``, by model name."""
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    action()
    made: dict[str, int] = {}
    for key in set(_instances) - before:
        name = _instances[key]._model_name
        made[name] = made.get(name, 0) + 1
    return made


def test_controls_made_without_a_layout_share_one_that_cannot_change(installed):
    plain, other = w.Button(description="a"), w.HTML("b")
    own = w.Button(description="c", layout=w.Layout(display="none"))
    box = w.HBox([plain, other, own])
    assert plain.layout is other.layout is box.layout
    assert own.layout is not plain.layout
    assert w.Button().style is plain.style and w.HTML().style is other.style
    with pytest.raises(AttributeError, match="shared"):
        plain.layout.display = "none"
    assert box.layout.display is None
    own.layout.display = "flex"  # a widget's own layout changes as before
    assert own.layout.display == "flex"


def test_shared_layouts_by_css_are_one_per_set_and_frozen():
    a = shared_models.shared_layout(width="auto", margin="4px")
    assert shared_models.shared_layout(margin="4px", width="auto") is a
    assert shared_models.shared_layout(width="auto") is not a
    with pytest.raises(AttributeError):
        a.width = "10px"


def test_other_packages_widgets_keep_their_own(installed):
    class Other(w.DOMWidget):
        _model_module = Unicode("some-package").tag(sync=True)

    assert Other().layout is not Other().layout


def test_the_page_opens_few_layouts_and_styles(client, installed, tmp_path):
    """The app and its first file: a handful of layouts (those shown and hidden, and
    one per distinct set of CSS properties) instead of one per widget."""
    holder = {}

    def build_and_open():
        app = holder["app"] = App(client, prefs_path=tmp_path / "p.json", live_interval=0)
        app.start("", background=False)

    made = _models_opened(build_and_open)
    layouts = made.pop("LayoutModel")
    styles = sum(v for k, v in made.items() if k.endswith("StyleModel"))
    widgets = sum(made.values()) - styles
    assert holder["app"].data.record is not None  # the first file is shown
    assert widgets > 100 and layouts < widgets / 3 and styles < 15, (widgets, layouts, styles)


def test_the_advanced_panel_is_built_when_first_opened(client):
    viewer = Viewer(client, Preferences(plot_mode="static", colormap="viridis"))
    viewer.show(client.file(101))
    drawn = viewer.image.value
    assert viewer._panel is None and len(viewer.children) == 4
    before = viewer.options()
    viewer.toggle_advanced()
    assert viewer.panel in viewer.children and viewer.panel.layout.display == "flex"
    # the panel opens on what was drawn: the same options, nothing drawn again
    assert viewer.options() == before and viewer.panel.colormap.value == "viridis"
    assert viewer.image.value == drawn
