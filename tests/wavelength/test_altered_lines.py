"""Lines whose pixels no optics drew are set aside, not fitted.

The library lamps reduced in 2018 (goodman pipeline 1.0b2, ``GSP_COSM = DCR``: its
cosmic-ray cleaning then also ran on comparison lamps) hold bright lines with one-pixel
edges and notches. 930_M5 HgArNe and Ne, two exposures of one Ne bulb, show the same
profiles to 0.1 % and the same offsets from NIST (Ne I 6678.28 +0.36/+0.31 px, Ne I
6506.53 -0.30/-0.26), 930_M4 HgArNe and Ne the same again (Ne I 6678.28 +0.38, 6163.59
+0.39); the lamps reduced without the cleaning (``GSP_COSM = none``: 2100 l/mm, 400_M1
and 600_MID HgArNe) put these lines within 0.06 px of NIST. Their Gaussian fit is no
measure of their place (:func:`pipeline.wavelength.altered_lines.altered_lines`). The rule is
applied only where the header records the cleaning (:func:`pipeline.lamps.cosmic_cleaned`):
a raw arc, a simulated one or one this pipeline reduced keeps every line it had.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.special import ndtr

from pipeline.lamps import cosmic_cleaned, lamp_dir, library, read_template
from pipeline.wavelength.altered_lines import altered_lines, steepest_step
from pipeline.wavelength.identify import line_shapes
from pipeline.wavelength.lamp_widths import clean_in_lamp
from pipeline.wavelength.lines import find_lines
from pipeline.wavelength.refit_library import refit_solution

SIGMA = 4.5 / 2.3548


def _arc(altered_at=None, n=3000, seed=0):
    """Thirty Gaussian lines of 4.5 px FWHM, pixel-integrated, with noise; the line
    nearest ``altered_at`` has the first pixel of its blue flank above 10 % of its
    height replaced by the background, as a cleaning that took it for a cosmic ray
    (thirty: an arc of fewer bright lines needs each and is not judged)."""
    rng = np.random.default_rng(seed)
    x = np.arange(n, dtype=float)
    centres = np.linspace(60.0, n - 60.0, 30) + rng.uniform(-0.5, 0.5, 30)
    flux = np.full(n, 200.0)
    for c, h in zip(centres, rng.uniform(2e4, 6e4, 30), strict=True):
        flux += (
            h
            * SIGMA
            * np.sqrt(2 * np.pi)
            * (ndtr((x + 0.5 - c) / SIGMA) - ndtr((x - 0.5 - c) / SIGMA))
        )
    flux = rng.normal(flux, np.sqrt(flux))
    if altered_at is not None:
        c = centres[np.argmin(np.abs(centres - altered_at))]
        k = int(np.floor(c)) - 1
        while flux[k - 1] - 200.0 > 0.1 * (flux[int(round(c))] - 200.0):
            k -= 1
        flux[k] = 200.0
    return flux, centres


def test_a_gaussian_line_steps_no_steeper_than_a_gaussian():
    flux, _ = _arc()
    lines = find_lines(flux)
    steep = steepest_step(flux, lines)
    assert lines.centre.size == 30
    assert np.all(steep < 1.15), steep


def test_a_line_with_a_replaced_flank_pixel_is_altered_and_set_aside():
    flux, centres = _arc(altered_at=1500.0)
    lines = find_lines(flux)
    hit = np.argmin(np.abs(lines.centre - centres[np.argmin(np.abs(centres - 1500.0))]))
    shapes = line_shapes(lines, flux, cosmic_cleaned=True)
    altered = altered_lines(flux, lines, shapes.sharp, shapes.local_fwhm)
    assert np.flatnonzero(altered).tolist() == [hit]
    assert shapes.saturated[hit]
    # an arc whose header records no cleaning is not judged: its steep edge is the
    # optics', the sampling's or the noise's, and the line is kept
    assert not line_shapes(lines, flux).saturated[hit]


def test_clean_arcs_lose_no_line():
    for seed in range(5):
        flux, _ = _arc(seed=seed)
        lines = find_lines(flux)
        shapes = line_shapes(lines, flux)
        assert not altered_lines(flux, lines, shapes.sharp, shapes.local_fwhm).any(), seed


def _status(sol, wave):
    rows = np.abs(np.asarray(sol.lines["reference_wavelength"], float) - wave) < 0.005
    return [str(s) for s in sol.lines["status"][rows]]


def test_the_header_tells_which_library_lamps_were_cleaned():
    """74 library lamps were reduced by goodman 1.0b2/1.0b3 with ``GSP_COSM = DCR``, the
    six of 2021-2024 (goodman 1.3.x) with ``none``."""
    cleaned = {t.file_name for t in library() if t.cosmic_cleaned}
    assert len(cleaned) == 74 and len(library()) == 80
    assert "goodman_comp_930M4_GG495_HgArNe.fits" in cleaned
    assert "goodman_comp_400M1_HgArNe.fits" not in cleaned
    assert cosmic_cleaned({"GSP_COSM": "DCR"}) and cosmic_cleaned({"GSP_COSM": "LACosmic"})
    assert not cosmic_cleaned({"GSP_COSM": "none"}) and not cosmic_cleaned({})


def test_the_cleaned_930m4_hgarne_lamp_fits_nist_without_its_altered_lines():
    """Before: 33 lines at 0.0865 px RMS, Ne I 6598.95 (+0.37), 6074.34 (+0.34), Ne I
    5881.90 and Ar I 6266.49 among them; the Ne lines' twins in the Ne lamp taken 2
    minutes later are as far off. After: 30 lines at 0.082 px, or 27 at 0.048: the
    refit's outlier rejection has its blue anchors 0.0001 px inside the clip limit
    (Ne I 5872.83 0.2001 guess px off, limit 0.2002), and a 0.0002-px move of a line
    3000 px away (the wing-valley rule) tips it to the 27-line state, in which Hg I
    5790.66 (altered, 0.45 px from the moved blue end) is left unnamed rather than set
    aside; the committed model is the 30-line one (test_refit_library). Read as
    uncleaned, the lamp refits as before."""
    template = read_template(lamp_dir() / "goodman_comp_930M4_GG495_HgArNe.fits")
    sol = refit_solution(template)
    for wave in (6598.953, 6074.338, 5881.895, 6266.495):
        assert _status(sol, wave) == ["saturated"], (wave, _status(sol, wave))
    assert _status(sol, 5790.663) in (["saturated"], [])
    assert sol.n_used in (27, 30)
    assert sol.rms_pixel <= 0.083, sol.rms_pixel
    raw = refit_solution(dataclasses.replace(template, cosmic_cleaned=False))
    assert raw.n_used == 33 and _status(raw, 6266.495) == ["used"]


def test_a_cleaned_lamp_does_not_vouch_for_its_altered_lines():
    """A library lamp judges a binned arc's coarsely sampled lines by the lines it shows
    clean (:mod:`pipeline.wavelength.lamp_widths`); an altered line's profile is no
    measure of its place there either. 930_M4 Ne (``GSP_COSM = DCR``): Ne I 6128.45 and
    6266.50 have replaced pixels and no longer count as shown clean, while Ne I 5881.90
    and 6402.25 do; read as uncleaned, the lamp shows all four."""
    template = read_template(lamp_dir() / "goodman_comp_930M4_GG495_Ne.fits")
    wave = [5881.895, 6128.450, 6266.495, 6402.246]
    assert clean_in_lamp(template, wave).tolist() == [True, False, False, True]
    raw = dataclasses.replace(template, cosmic_cleaned=False)
    assert clean_in_lamp(raw, wave).all()
