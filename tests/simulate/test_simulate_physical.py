"""Arcs drawn from physical truth: NIST lines where truth.json says, truth != optics."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
import pytest
from astropy.io import fits
from simhelpers import fit_peak, trimmed

from pipeline import lamps
from pipeline.cli import simulate as cli
from pipeline.optics import dispersion_model_from_header
from pipeline.simulate import NightConfig, NightSimulator, SimulationConfigError
from pipeline.simulation.physical import arc_1d, nist_lines


@pytest.fixture
def physical_arc(one_arc):
    """A one-arc night drawn from physical truth (NIST lines at the optics' places)."""
    return functools.partial(one_arc, seed=5, arc_source="physical")


@pytest.mark.parametrize(
    ("binning", "flexure", "mode", "lamp"),
    [(2, 0.63, "400_M2", None), (1, -1.2, "930_M5", "Ne"), (2, 2.1, "1200_M3", "FeHeAr")],
)
def test_nist_lines_are_where_truth_says(binning, flexure, mode, lamp, physical_arc):
    _, night, rec, hdul = physical_arc(binning, flexure, mode, lamp)
    img = trimmed(hdul[0].data, night)
    yc, tilt = night["slit_centre_row"], night["tilt"]
    rows = np.arange(img.shape[0])
    near = np.abs(rows - yc) <= 20
    profile = np.median(img[near], axis=0)
    offset = tilt * np.mean(rows[near] - yc)
    half = max(3, math.ceil(1.5 * night["line_fwhm_px"]))
    errors = []
    for line in rec["lines"]:
        if line["expected"] and line["peak_adu"] >= 300:
            errors.append(
                fit_peak(profile, line["column"] + offset, half) - line["column"] - offset
            )
    assert len(errors) >= 8
    assert np.max(np.abs(errors)) < 0.05, np.round(errors, 3)
    # every line's wavelength is the truth's wavelength at its column
    wave = np.asarray(rec["wavelength"])
    cols = np.arange(wave.size)
    for line in rec["lines"]:
        assert np.interp(line["column"], cols, wave) == pytest.approx(line["wavelength"], abs=0.02)


def test_lines_are_the_nist_lines_of_the_lamp_with_blends_saturation_and_weak_lines(physical_arc):
    sim, night, rec, hdul = physical_arc(2, 0.0, noise=True)
    assert rec["line_source"] == "nist" and night["wavelength_source"]["source"] == "physical"
    elements = lamps.elements(sim.lamp)
    catalogue = {(ln.element, ln.wavelength) for el in elements for ln in nist_lines(el)}
    assert all((ln["element"], ln["wavelength"]) in catalogue for ln in rec["lines"])
    assert {ln["element"] for ln in rec["lines"]} <= elements
    flags = {k: sum(ln[k] for ln in rec["lines"]) for k in ("blended", "saturated", "expected")}
    assert flags["blended"] >= 5 and flags["expected"] >= 15
    # the 3 brightest (and lines as bright: blends measured in the library flux)
    assert 3 <= flags["saturated"] <= 12
    assert sum(ln["snr_row"] < 10 for ln in rec["lines"]) >= 10  # weak lines too
    # saturated lines really are clipped in the raw frame
    sat = night["saturation_adu"]
    data = hdul[0].data.astype(float)
    raw_row = int(round(night["slit_centre_row"])) + night["trim_offset"]["row"]
    for ln in rec["lines"]:
        if ln["saturated"]:
            c = int(round(ln["column"])) + night["trim_offset"]["col"]
            assert data[raw_row, c - 1 : c + 2].max() >= sat - 1


def test_truth_is_the_optics_plus_a_few_pixels_and_not_the_library(physical_arc):
    sim, night, rec, hdul = physical_arc(1, 0.0, noise=False)
    wave = np.asarray(rec["wavelength"])
    u = np.arange(wave.size, dtype=float)
    optics = dispersion_model_from_header(hdul[0].header)  # what a pipeline would compute
    # in pixels: where the optics put the truth's wavelengths
    off_optics = u - optics.pixel(wave)
    shift = np.median(off_optics)
    # the shape is the optics' plus a few-pixel distortion ...
    assert 0.3 < np.max(np.abs(off_optics - shift)) < 12.0
    # ... at the zero-point of the real 400_M2 lamp, which the optics miss by ~35 px
    # (beyond their own tolerance, so the truth sits where the instrument puts lines)
    assert abs(shift) > optics.shift_tolerance_px
    lamp_shift = np.median(u - optics.pixel(sim.library_template.wavelength(u)))
    assert abs(lamp_shift - shift) < 6.0, (lamp_shift, shift)
    off_library = (wave - sim.library_template.wavelength(u)) / np.gradient(wave)
    assert np.max(np.abs(off_library)) > 0.3
    # the truth is stored exactly: the Chebyshev model in truth.json gives every column
    coeffs = night["wavelength_model"]["coefficients"]
    assert np.allclose(np.polynomial.chebyshev.chebval(u, coeffs), wave, atol=2e-4)


def test_library_source_stays_the_default():
    cfg = NightConfig(n_bias=0, n_flats=0, n_arcs=1, n_science=0, seed=5)
    sim = NightSimulator(cfg)
    assert sim.night_truth()["wavelength_source"] == {"source": "library"}
    rec = next(sim.frames()).truth
    assert "template_pixel" in rec["lines"][0]
    assert np.allclose(sim.template.coefficients, sim.library_template.coefficients)


def test_arc_1d_is_the_same_renderer_as_the_night(physical_arc):
    sim, night, rec, _ = physical_arc(2, 0.0, noise=False, tilt=0.0)
    arc = arc_1d("400_M2", 2, seed=5, noise=False)
    assert [ln["wavelength"] for ln in arc.lines] == [ln["wavelength"] for ln in rec["lines"]]
    assert np.allclose(
        [ln["column"] for ln in arc.lines], [ln["column"] for ln in rec["lines"]], atol=1e-4
    )
    assert np.allclose(arc.wavelength, rec["wavelength"], atol=1e-3)


def test_custom_angles_have_no_library_mode_and_put_lines_by_the_optics(physical_arc):
    sim, night, rec, hdul = physical_arc(
        2,
        0.0,
        mode="930_M2",
        lamp="CuHeAr",
        noise=False,
        grating_angle=13.0,
        camera_angle=24.0,
        camera="Blue",
    )
    h = hdul[0].header
    assert (h["WAVMODE"], h["GRT_TARG"], h["CAM_TARG"]) == ("Custom", 13.0, 24.0)
    m = dispersion_model_from_header(h)
    assert m.library_mode is None
    wave = np.asarray(rec["wavelength"])
    assert wave[wave.size // 2] == pytest.approx(m.central_wavelength, abs=10 * m.dispersion)
    assert len(rec["lines"]) >= 20


def test_old_spellings_and_no_lamp_keywords():
    cfg = NightConfig(
        n_bias=1,
        n_flats=1,
        n_arcs=1,
        n_science=1,
        seed=5,
        obstype_convention="old",
        lamp_keywords=False,
        wavmode_card="400 m2",
        instrume_card="Goodman Spectro",
    )
    sim = NightSimulator(cfg)
    headers = [f.hdul[0].header for f in sim.frames()]
    assert [h["OBSTYPE"] for h in headers] == ["ZERO", "LAMPFLAT", "ARC", "SPECTRUM"]
    assert not any(k.startswith("LAMP_") for h in headers for k in h)
    assert headers[2]["OBJECT"] == sim.lamp and headers[2]["WAVMODE"] == "400 m2"
    assert all(h["INSTRUME"] == "Goodman Spectro" for h in headers)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"arc_source": "nist"}, "arc_source 'nist'"),
        ({"grating_angle": 13.0, "camera_angle": 24.0}, "allowed: physical"),
        ({"arc_source": "physical", "grating_angle": 13.0}, "go together"),
        ({"arc_source": "physical", "grating_angle": 13.0, "camera_angle": 5.0}, "camera must"),
        ({"truth_distortion_px": -1}, "truth_distortion_px"),
        ({"n_saturated_lines": 99}, "n_saturated_lines"),
    ],
)
def test_bad_truth_settings_are_refused_clearly(kw, match):
    with pytest.raises(SimulationConfigError, match=match):
        NightSimulator(NightConfig(**kw))


def test_cli_writes_a_physical_night(tmp_path, capsys):
    import argparse

    p = argparse.ArgumentParser()
    cli.add_arguments(p)
    night = tmp_path / "n"
    args = p.parse_args(
        [
            str(night),
            "--arc-source",
            "physical",
            "--n-bias",
            "0",
            "--n-flats",
            "0",
            "--n-science",
            "0",
            "--n-arcs",
            "1",
            "--angles",
            "7.0,16.0",
        ]
    )
    assert cli.run(args) == 0
    truth = json.loads((night / "truth.json").read_text())
    assert truth["wavelength_source"]["optics"]["grating_angle"] == pytest.approx(7.0, abs=0.01)
    h = fits.getheader(next(night.glob("*_comp.fits")))
    assert h["WAVMODE"] == "Custom"
    zz = tmp_path / "zz"
    args = p.parse_args(
        [
            str(zz),
            "--n-bias",
            "1",
            "--n-flats",
            "0",
            "--n-science",
            "0",
            "--n-arcs",
            "1",
            "--roi-rows",
            "400",
            "--roi-name",
            "Spectroscopic ZZ Ceti",
            "--trimsec",
            "[1:4142,1:400]",
            "--arc-serial-binning",
            "1",
            "--obstype-convention",
            "old",
            "--no-lamp-keywords",
            "--wavmode",
            "400 m2",
            "--instrume",
            "Goodman Spectrograph",
        ]
    )
    assert cli.run(args) == 0
    shapes = {
        fits.getheader(f)["OBSTYPE"]: (fits.getdata(f).shape, fits.getheader(f)["CCDSUM"])
        for f in zz.glob("*.fits")
    }
    assert shapes == {"ZERO": ((200, 2071), "2 2"), "ARC": ((200, 4142), "1 2")}
    bad = p.parse_args([str(tmp_path / "m"), "--arc-source", "physical", "--angles", "7"])
    assert cli.run(bad) == 2
    assert "two numbers GRT,CAM" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def _zz_ceti_night(**kw):
    cfg = NightConfig(
        mode="930_M2",
        lamp="FeHeAr",
        camera="Blue",
        binning=2,
        n_bias=1,
        n_flats=0,
        n_arcs=1,
        n_science=1,
        arc_source="physical",
        grating_angle=13.0,
        camera_angle=24.0,
        roi_rows=400,
        roi_name="Spectroscopic ZZ Ceti",
        trimsec_card="[1:4142,1:400]",
        arc_serial_binning=1,
        obstype_convention="old",
        lamp_keywords=False,
        wavmode_card="Custom",
        flexure_px=0.4,
        cosmic_rate=0.0,
        seed=2,
        **kw,
    )
    sim = NightSimulator(cfg)
    return sim, sim.night_truth(), list(sim.frames())


def test_real_night_variant_zz_ceti_roi_with_1x2_arcs():
    """The real Blue night of issue 12: ROI 'Spectroscopic ZZ Ceti' (200 x 2071 at 2x2),
    Fe arcs at CCDSUM '1 2', TRIMSEC of the unbinned chip, old spellings, custom angles."""
    sim, night, frames = _zz_ceti_night()
    by_role = {f.truth["role"]: f for f in frames}
    bias, arc, sci = by_role["bias"], by_role["arc"], by_role["science"]
    assert bias.hdul[0].data.shape == (200, 2071) and sci.hdul[0].data.shape == (200, 2071)
    assert arc.hdul[0].data.shape == (200, 4142)
    hs, ha = sci.hdul[0].header, arc.hdul[0].header
    assert (hs["CCDSUM"], ha["CCDSUM"]) == ("2 2", "1 2")
    assert hs["ROI"] == ha["ROI"] == "Spectroscopic ZZ Ceti"
    assert hs["TRIMSEC"] == ha["TRIMSEC"] == "[1:4142,1:400]"
    assert (ha["OBSTYPE"], ha["OBJECT"], ha["WAVMODE"]) == ("ARC", "FeHeAr", "Custom")
    assert night["trimmed_shape"] == [199, 2030] and arc.truth["trimmed_shape"] == [199, 4060]
    # one truth for both binnings: science pixel j is centred on unbinned 2j + 0.5
    wa, ws = np.asarray(arc.truth["wavelength"]), np.asarray(sci.truth["wavelength"])
    assert np.allclose(
        np.interp(2 * np.arange(ws.size) + 0.5, np.arange(wa.size), wa), ws, atol=0.01
    )
    # the science target is inside the window
    rows = np.asarray(sci.truth["targets"][0]["trace_centres"])
    assert 10 < rows.min() and rows.max() < 189


def test_lines_of_1x2_arcs_are_where_truth_says():
    sim, night, frames = _zz_ceti_night()
    arc = next(f for f in frames if f.truth["role"] == "arc")
    rec = arc.truth
    img = trimmed(
        arc.hdul[0].data,
        {**night, "trim_offset": rec["trim_offset"], "trimmed_shape": rec["trimmed_shape"]},
    )
    rows = np.arange(img.shape[0])
    yc, tilt = rec["slit_centre_row"], rec["tilt"]
    near = np.abs(rows - yc) <= 20
    profile = np.median(img[near], axis=0)
    offset = tilt * np.mean(rows[near] - yc)
    half = max(3, math.ceil(1.5 * rec["line_fwhm_px"]))
    errors = [
        fit_peak(profile, ln["column"] + offset, half) - ln["column"] - offset
        for ln in rec["lines"]
        if ln["expected"] and ln["peak_adu"] >= 300
    ]
    assert len(errors) >= 8
    assert np.max(np.abs(errors)) < 0.05, np.round(errors, 3)


@pytest.mark.parametrize(
    ("kw", "match"),
    [({"roi_rows": 10}, "roi_rows"), ({"arc_serial_binning": 4}, "arc_serial_binning")],
)
def test_bad_geometry_settings_are_refused_clearly(kw, match):
    with pytest.raises(SimulationConfigError, match=match):
        NightSimulator(NightConfig(**kw))


def test_nist_parsing_keeps_flagged_lines():
    hg = {ln.wavelength: ln for ln in nist_lines("Hg")}
    assert hg[4358.328].intensity == 1000 and hg[4046.563].intensity == 400  # "P" flags
    assert hg[4358.328].ion == "Hg I"


@pytest.mark.parametrize("mode", ["1200_M4", "930_M2", "600_BLUE", "2100_650"])
def test_physical_arcs_look_like_the_real_library_lamp(mode):
    """Intensities come from the real lamp: the noise-free 1x1 physical arc correlates
    with the library flux, at the lag of the truth's few-pixel distortion."""
    arc = arc_1d(mode, 1, noise=False, n_saturated=0)
    t = next(x for x in lamps.library() if x.file_name == arc.lamp_template)
    f = arc.flux - np.percentile(arc.flux, 20)
    g = t.flux - np.percentile(t.flux, 20)
    corr = {k: np.corrcoef(np.roll(f, k), g)[0, 1] for k in range(-30, 31)}
    lag = max(corr, key=corr.get)
    assert corr[lag] >= 0.75 and abs(lag) <= 5, (lag, corr[lag])


def _lamp_peak(template, wavelength):
    """Height of the library lamp's flux peak within 4 px of a wavelength's place."""
    u = np.arange(template.npix, dtype=float)
    p = int(round(float(np.interp(wavelength, template.wavelength(u), u))))
    return template.flux[p - 4 : p + 5].max() - np.percentile(template.flux[p - 40 : p + 41], 20)


@pytest.mark.parametrize(
    ("mode", "lamp", "dark", "lit"),
    [
        # He I 6678.15 (NIST 200) and Ar I 6677.28 (3), 2.9 px apart: the lamp's one
        # peak, of its lines' width, sits on Ar I's place (1200_M4: 0.01 px; 1200_M5,
        # refitted to 19 lines at 0.014 px: 0.15 px redward, so He I holds 5 % of it)
        ("1200_M4", "FeHeAr", 6678.1517, 6677.282),
        ("1200_M5", "CuHeAr", 6678.1517, 6677.282),
        # Cu II 4931.70 (600, 60 weighted) and Ar II 4933.21 (12), 2.3 px: on Ar II's
        ("600_BLUE", "CuHeAr", 4931.698, 4933.209),
    ],
)
def test_a_peak_shared_by_two_spectra_goes_to_the_line_where_the_lamp_has_it(mode, lamp, dark, lit):
    """NIST intensities of two spectra are on unrelated scales: the real lamp's flux at
    each line's place splits their shared peak. Split by NIST, the line the lamp does
    not show was drawn with nearly all the light, an expected line no solver can find."""
    from pipeline.simulation.night import pick_template
    from pipeline.simulation.physical import physical_truth

    template = pick_template(mode, lamp)
    truth = physical_truth(template, seed=0)
    strength = dict(zip(truth.template.line_wavelengths.tolist(), truth.strengths, strict=True))
    # the lamp does not show it: not drawn, or with a trace that holds the peak's
    # centre where the lamp has it (split by NIST it took 98 % of the light)
    assert strength.get(dark, 0.0) < 0.1 * strength[lit]
    assert strength[lit] == pytest.approx(_lamp_peak(template, lit), rel=0.15)


def test_a_peak_shared_within_one_spectrum_keeps_the_nist_ratio():
    """Lines of one spectrum keep sharing by NIST (their scale is one): Ne I 5974.63 (50)
    and 5975.53 (60), 2.9 px apart in the 1200_M4 HgArNe lamp."""
    from pipeline.simulation.night import pick_template
    from pipeline.simulation.physical import physical_truth

    truth = physical_truth(pick_template("1200_M4", "HgArNe"), seed=0)
    strength = dict(zip(truth.template.line_wavelengths.tolist(), truth.strengths, strict=True))
    assert strength[5974.6273] / strength[5975.534] == pytest.approx(50 / 60)


def _shared_peak(offset_px, broadening, sigma=1.14, noise=13.5, amplitude=230.0):
    """A lamp whose one peak, shared by Fe I (1.53 px left) and Ar II, lies ``offset_px``
    left of Ar II's place and ``broadening`` times broader than the lamp's width."""
    x = np.arange(200, dtype=float)
    flux = 100.0 + amplitude * np.exp(
        -0.5 * ((x - (100.0 - offset_px)) / (broadening * sigma)) ** 2
    )
    pos = np.array([100.0 - 1.53, 100.0])
    spectra = (("Fe", "I"), ("Ar", "II"))
    return flux, noise, pos, [0, 1], np.array([120.0, 0.7]), spectra, sigma, amplitude


def _fitted_centre(x, y, guess):
    from scipy.optimize import curve_fit

    (_, c, _), _ = curve_fit(
        lambda t, a, c, s: a * np.exp(-0.5 * ((t - c) / s) ** 2), x, y, p0=(y.max(), guess, 1.2)
    )
    return c


def test_a_shared_peak_off_its_line_draws_the_neighbour_that_pulls_it():
    """The 1200_M1 lamp's Ar II 4282.90 sits 0.26 px off its place, 1.15x broad: Fe I
    4282.40's light. Drawn below the detection level, Fe I was dropped and Ar II drawn
    clean at its place; the drawn pair's blend must sit where the lamp's peak does."""
    from pipeline.simulation.physical import _split_by_place

    flux, noise, pos, group, nist, spectra, sigma, height = _shared_peak(0.26, 1.15)
    heights, unlike = _split_by_place(flux, noise, pos, group, nist, spectra, sigma, height)
    x = np.arange(90, 111, dtype=float)
    drawn = sum(
        h * np.exp(-0.5 * ((x - p) / sigma) ** 2) for h, p in zip(heights, pos, strict=True)
    )
    lamp_centre = _fitted_centre(x, flux[90:111] - 100.0, 99.7)
    assert heights[0] > 0  # Fe I drawn
    assert abs(_fitted_centre(x, drawn, 99.7) - lamp_centre) < 0.03
    assert not unlike.any()  # the pair reproduces the peak: an honest blend


def test_a_clean_lamp_peak_stays_one_clean_line():
    """A peak the lamp shows at Ar II's place with the lamp's width draws Ar II alone."""
    from pipeline.simulation.physical import _split_by_place

    heights, unlike = _split_by_place(*_shared_peak(0.03, 1.0))
    assert heights[0] == 0 and heights[1] > 0 and not unlike.any()


def test_a_broad_hump_is_no_clean_line():
    """600_BLUE CuHeAr: Ar II 5216.81 is a flat hump of 3.3 times the lamp's width, no
    line the drawn sharp lines can reproduce; its lines are flagged, never expected."""
    from pipeline.simulation.physical import _split_by_place, line_flags

    heights, unlike = _split_by_place(*_shared_peak(0.0, 3.3))
    assert unlike[heights > 0].all() and (heights > 0).any()
    _, _, expected, _ = line_flags(
        [100.0], [1e5], [2e4], 2.5, 1.0, 4.0, 6e4, 400, unlike_lamp=[True]
    )
    assert not expected.any()


@pytest.mark.parametrize(
    ("mode", "lamp", "line"),
    [
        # Fe I 4282.40's light pulls the lamp's Ar II 4282.90 0.26 px off its place
        ("1200_M1", "FeHeAr", 4282.898),
        # a flat hump 3.3 times the lamp's width, Cu I 5218.20 unresolved beside it
        ("600_BLUE", "CuHeAr", 5216.814),
    ],
)
def test_a_line_the_real_lamp_shows_contaminated_is_not_expected(mode, lamp, line):
    """The library lamp is the evidence: a line it shows pulled or broad is drawn so, or
    flagged, never a clean expected line; its clean neighbours stay expected."""
    arc = arc_1d(mode, 2, lamp=lamp, seed=0, noise=False)
    by_wave = {round(ln["wavelength"], 3): ln for ln in arc.lines}
    assert not by_wave[line]["expected"]
    assert sum(ln["expected"] for ln in arc.lines) >= 15


def _lamp_line_height(template, wavelength):
    """What the library lamp shows of a line: a Gaussian of the lamp's width at its place,
    fitted with a quadratic level (its neighbour's halo) over 9 unbinned px; and the
    lamp's noise (the simulator's estimate)."""
    from pipeline.simulation import physical
    from pipeline.simulation.header import template_header

    f = np.asarray(template.flux, float)
    noise = 1.4826 * np.median(np.abs(np.diff(f) - np.median(np.diff(f)))) / math.sqrt(2.0)
    own = dispersion_model_from_header(template_header(template))
    place = physical._template_positions(template, own, physical.lamp_lines(template.lamp))
    p = float(place(np.array([wavelength]))[0])
    sigma = physical._lamp_sigma(template.file_name, f.tobytes(), noise)(p)
    x = np.arange(round(p) - 4, round(p) + 5, dtype=float)
    t = x - p
    a = np.column_stack([np.ones_like(t), t, t**2, np.exp(-0.5 * (t / sigma) ** 2)])
    coef, *_ = np.linalg.lstsq(a, f[x.astype(int)], rcond=None)
    return float(coef[3]), noise


@pytest.mark.parametrize("mode", ["930_M1", "930_M2"])
def test_a_line_on_a_saturated_neighbours_halo_is_drawn_as_the_lamp_shows_it(mode):
    """930 l/mm HgAr: Ar II 4052.92 lies 15 unbinned px from the saturated Hg I 4046.56,
    whose halo falls across the line's measuring window. The lamp shows no line there (a
    Gaussian of its width at the line's place fits within 5 noise of 0), yet its
    height was read as the window's highest pixel, the halo: 2843 (M1) and 2534 (M2)
    units, as bright as Hg I 4339.22, the arcs' only expected line. Hg I 4339.22, a line
    the lamp shows, keeps the height of its peak."""
    from pipeline.simulation.night import pick_template
    from pipeline.simulation.physical import physical_truth

    template = pick_template(mode, "HgAr")
    shown, noise = _lamp_line_height(template, 4052.921)
    assert abs(shown) < 5.0 * noise, (shown, noise)  # the real lamp: no line
    truth = physical_truth(template, seed=0)
    w = truth.template.line_wavelengths
    height = float(truth.strengths[np.abs(w - 4052.921) < 0.01].sum())
    hg = float(truth.strengths[np.abs(w - 4339.223) < 0.01].max())
    assert height < 5.0 * noise and height < 0.05 * hg, (height, hg)
    assert hg == pytest.approx(_lamp_peak(template, 4339.223), rel=0.05)


@pytest.mark.parametrize("amplitude", [0.0, 400.0])
def test_a_flank_lines_own_height_is_fitted_under_the_halo(amplitude):
    """A line 14 px from a saturated neighbour (a Gaussian core and a broad halo): the
    window's highest pixel is the halo's, 10x the line; the fit at the line's place
    gives the line's own height, and ~0 where there is none."""
    from pipeline.simulation.physical import _height_on_flank, _on_flank

    x = np.arange(200, dtype=float)
    rng = np.random.default_rng(3)
    flux = 100.0 + 2e5 * np.exp(-0.5 * ((x - 114.0) / 1.2) ** 2)
    flux += 20000.0 / (1.0 + ((x - 114.0) / 6.0) ** 2)  # the halo
    flux += amplitude * np.exp(-0.5 * ((x - 100.0) / 1.2) ** 2)
    flux += rng.normal(0.0, 10.0, x.size)
    assert _on_flank(flux, 100.0)
    assert np.max(flux[96:105]) - 100.0 > 10.0 * max(amplitude, 100.0)
    assert _height_on_flank(flux, 100.0, 1.2) == pytest.approx(amplitude, abs=50.0)
