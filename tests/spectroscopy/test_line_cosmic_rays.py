"""Cosmic rays on emission-line cores: rejected against the spatial profile by both methods."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from pipeline.reduction.masks import COSMIC_RAY
from pipeline.settings import ReductionSettings
from pipeline.spectroscopy import find_targets, trace_target
from pipeline.spectroscopy.chain import _extraction_cards
from pipeline.spectroscopy.extract import extract_arrays
from pipeline.spectroscopy.reduced_frame import load_reduced
from tests.spectroscopy.synthetic import frame

#: A bright line of the source (its own spatial profile is the continuum's) on a
#: continuum of 2000 ADU per column: its core pixels hold ~5000 ADU.
LINE = ((200.3, 1.3, 1e5, 5.0),)


@pytest.fixture(scope="module")
def line_frame():
    ccd, _, _ = frame((120, 400), sources=((60, 5, 2000),), curvature=(0, 0.01, 0), lines=LINE)
    (target,) = find_targets(ccd)
    return ccd, trace_target(ccd, target)


@pytest.mark.parametrize("method", ["fractional", "optimal"])
def test_a_ray_on_a_line_core_is_rejected_and_recorded(line_frame, method):
    """A 1500 ADU ray on the core of a bright line (astroscrappy spares such rays: its
    contrast test protects the line) no longer reaches the fractional sum (+1500 on
    main, 11 sigma): it departs from flux x profile, the line does not. The pixel is
    bridged with the profile, its column and row recorded in ``meta["rejected"]`` and
    counted in the product's GSP_EXCR."""
    ccd, trace = line_frame
    clean = extract_arrays(ccd, trace, method)
    hit = ccd.copy()
    row = int(round(trace()[200]))
    hit.data[row, 200] += 1500.0
    spec = extract_arrays(hit, trace, method)
    assert abs(spec.flux[200] - clean.flux[200]) < 3 * clean.std[200]
    assert not spec.mask[195:206].any()
    assert 200 in spec.meta["rejected"] and f"[{row}]" in spec.meta["rejected"][200]
    assert spec.meta["rejected_pixels"] >= 1
    cards = _extraction_cards(trace, spec, ReductionSettings(extraction_type=method), 10.0)
    assert cards["GSP_EXCR"][0] == spec.meta["rejected_pixels"]


def test_a_clean_line_keeps_its_flux(line_frame):
    """On the clean frame the rejection leaves the line alone: no pixel of its columns
    is rejected and the fractional sum over the line is the plain one's."""
    ccd, trace = line_frame
    spec = extract_arrays(ccd, trace, "fractional")
    plain = extract_arrays(ccd, trace, "fractional", reject_cosmic_rays=False)
    assert not any(190 <= c <= 212 for c in spec.meta["rejected"])
    assert spec.flux[190:212].sum() == pytest.approx(plain.flux[190:212].sum(), rel=1e-4)


def test_arcs_are_not_tested_against_a_target_profile():
    """An arc (no background subtracted) fills the slit: nothing is rejected against
    the target's profile, and the sum is the plain fractional one."""
    ccd, _, _ = frame((120, 400), sources=((60, 5, 2000),), curvature=(0, 0.01, 0), lines=LINE)
    (target,) = find_targets(ccd)
    trace = trace_target(ccd, target)
    arc = ccd.copy()
    arc.data = arc.data + 500.0 * np.exp(-0.5 * ((np.arange(400) - 100) / 1.3) ** 2)[None, :]
    spec = extract_arrays(arc, trace, "fractional", background=False)
    assert spec.meta["rejected"] == {}
    weights = np.clip(
        np.minimum(np.arange(120)[:, None] + 0.5, trace()[None, :] + spec.meta["aperture"])
        - np.maximum(np.arange(120)[:, None] - 0.5, trace()[None, :] - spec.meta["aperture"]),
        0,
        1,
    )
    assert spec.flux == pytest.approx((weights * arc.data).sum(axis=0))


@pytest.mark.parametrize("method", ["fractional", "optimal"])
def test_a_pixel_the_2d_cleaning_filled_low_is_bridged(line_frame, method, tmp_path):
    """astroscrappy fills a flagged pixel with its neighbours' mean, on a line's core far
    below the pixel's light (-8 to -40 sigma on simulated line cores): a reduced product
    read back (load_reduced) keeps the COSMIC_RAY bits in ``flags``, and extraction
    bridges those pixels with the profile instead (main's fractional sum took the
    filled value: -2700 ADU, 19 sigma)."""
    ccd, trace = line_frame
    clean = extract_arrays(ccd, trace, method)
    row = int(round(trace()[200]))
    filled = ccd.copy()
    box = ccd.data[row - 2 : row + 3, 198:203]
    filled.data[row, 200] = (box.sum() - box[2, 2]) / 24  # astroscrappy's "meanmask"
    bits = np.zeros(ccd.shape, np.uint8)
    bits[row, 200] = COSMIC_RAY
    path = tmp_path / "cfzst_x.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(filled.data, fits.Header({"BUNIT": "adu"})),
            fits.ImageHDU(ccd.uncertainty.array, name="UNCERT"),
            fits.ImageHDU(bits, name="MASK"),
        ]
    ).writeto(path)
    read, _ = load_reduced(path)
    spec = extract_arrays(read, trace, method)
    assert abs(spec.flux[200] - clean.flux[200]) < 3 * clean.std[200]
    assert not spec.mask[200] and spec.meta["cleaned_bridged"] == 1
    assert "cleaned by the 2-D cosmic-ray step" in spec.meta["rejected"][200]


@pytest.mark.parametrize("seed", [0, 1, 5, 6])
@pytest.mark.parametrize("method", ["fractional", "optimal"])
def test_a_ray_that_makes_its_column_summed_is_still_rejected(method, seed):
    """On a brighter line (2.7e5 ADU, core pixels ~14000) a ray of a tenth of a core
    pixel is rejected by the smooth profile, and that rejection made its column a
    candidate to be summed, which the line's marginal misfit then passed; the local
    profile's wider allowance kept the ray (+6 sigma on the column on main, these
    seeds). A pixel the smooth fit rejected now stays rejected unless the local
    profile explains it within the smooth fit's allowance."""
    ccd, _, _ = frame(
        (120, 400),
        sources=((60, 5, 2000),),
        curvature=(0, 0.01, 0),
        sky=80,
        lines=((200.4, 1.3, 2.7e5, 5.0),),
        seed=seed,
    )
    (target,) = find_targets(ccd)
    trace = trace_target(ccd, target)
    clean = extract_arrays(ccd, trace, method)
    hit = ccd.copy()
    row = int(round(trace()[200]))
    hit.data[row, 200] += 0.1 * ccd.data[row, 200]
    spec = extract_arrays(hit, trace, method)
    assert abs(spec.flux[200] - clean.flux[200]) < 3 * clean.std[200]
    assert f"[{row}]" in spec.meta["rejected"].get(200, "")
