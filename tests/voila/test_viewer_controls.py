"""The advanced visualization panel on 2-D images: colour map, X limits, colour bar."""

from __future__ import annotations

from astropy.io import fits
from conftest import write_image
from matplotlib.figure import Figure

from voila_apps.widgets.fitsdata import read_fits
from voila_apps.widgets.plotting import ViewOptions, draw_image, image_unit
from voila_apps.widgets.preferences import Preferences
from voila_apps.widgets.viewer import Viewer


def test_colour_map_chosen_in_the_page_redraws_after_preferences_were_applied(client):
    viewer = Viewer(client, Preferences(plot_mode="static"))
    viewer.show(client.file(101))  # a reduced 2-D frame
    gray = viewer.image.value
    # what broke it: preferences applied again (theme, mode...) removed every observer
    viewer.set_preferences(Preferences(plot_mode="static"))
    assert viewer.image.value == gray
    # the browser's dropdown sends an index, as ipywidgets' front end does
    panel = viewer.panel
    panel.colormap.index = panel.colormap.options.index("viridis")
    assert panel.colormap.value == "viridis"
    assert viewer.image.value != gray
    viridis = viewer.image.value
    panel.show_saturated.value = False
    assert viewer.image.value != viridis


def test_x_limits_apply_to_images_and_the_colour_bar_has_a_unit(tmp_path):
    img = read_fits(write_image(tmp_path / "i.fits", shape=(60, 80)))
    fig = Figure()
    draw_image(fig, img, ViewOptions(xmin=10, xmax=30))
    ax, cbar = fig.axes
    assert ax.get_xlim() == (10, 30)
    assert cbar.get_ylabel() == "ADU"  # raw frames carry no BUNIT
    fig.canvas.draw()
    ticks = [t for t in cbar.get_yticklabels() if t.get_text()]
    assert 3 <= len(ticks) <= 7
    boxes = [t.get_window_extent() for t in ticks]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_image_unit_from_bunit():
    assert image_unit(fits.Header({"BUNIT": "electron"})) == "electron"
    assert image_unit(fits.Header({"BUNIT": "adu"})) == "adu"
    assert image_unit(fits.Header({"BUNIT": "counts per fortnight"})) == "counts per fortnight"
    assert image_unit(fits.Header()) == "ADU"


def test_a_file_shown_again_is_not_drawn_again_unless_rewritten(client, monkeypatch):
    import voila_apps.widgets.viewer as viewer_module

    drawn = []
    real = viewer_module.render_png

    def counted(loaded, opts):
        drawn.append(opts)
        return real(loaded, opts)

    monkeypatch.setattr(viewer_module, "render_png", counted)
    viewer = Viewer(client, Preferences(plot_mode="static"))
    spectrum, image = client.file(103), client.file(101)
    viewer.show(spectrum)
    first = viewer.image.value
    viewer.show(image)
    viewer.show(spectrum)  # back to the spectrum: the same picture, not drawn again
    assert len(drawn) == 2 and viewer.image.value == first
    assert "gsp-shows-103" in viewer.plot._dom_classes
    viewer.panel.colormap.index = viewer.panel.colormap.options.index("viridis")
    assert len(drawn) == 3, "other options are another picture"
    rewritten = dict(spectrum, last_modified="2020-11-27T00:00:00+00:00")
    viewer.show(rewritten)
    assert len(drawn) == 4, "a rewritten file is drawn again"
