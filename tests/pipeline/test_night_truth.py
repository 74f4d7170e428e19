"""A simulated night reduced with default settings, graded against its truth.json."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData
from scipy import ndimage

from pipeline.reduction.masks import COSMIC_RAY
from pipeline.reduction.sections import parse_section


def _norm_flat(out):
    (path,) = out.glob("norm_master_flat_*.fits")
    return path


def _slit_row0(header) -> int:
    return parse_section(header["GSP_SLIT"])[0].start


def _science(night):
    return [f for f in night["truth"]["frames"] if f["role"] == "science"]


def test_every_file_has_a_good_status(reduced_night):
    report = reduced_night["report"]
    statuses = {r.file_name: r.status for r in report.results}
    assert len(statuses) == 14
    assert not report.failed
    assert sum(s == "calibration" for s in statuses.values()) == 10
    assert sum(s == "reduced" for s in statuses.values()) == 4


def test_product_names_and_cards(reduced_night):
    out = reduced_night["out"]
    names = sorted(p.name for p in out.glob("*.fits"))
    assert names[0].startswith("cfzst_0013_")
    assert any(n.startswith("fzst_0011_") for n in names)  # arcs: no cosmic-ray step
    assert any(n.startswith("master_bias_RED_SP_2x2_R03.89_G01.48") for n in names)
    assert any(n.startswith("master_flat_400m2_GG455_") for n in names)
    assert any(n.startswith("norm_master_flat_400m2_GG455_") for n in names)
    assert not list(out.glob(".*"))  # no temporary files left behind

    science = _science(reduced_night)[0]["file"]
    with fits.open(out / f"cfzst_{science}") as hdul:
        h = hdul[0].header
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "MASK", "UNCERT"]
        assert hdul["MASK"].data.dtype == np.uint8
    assert h["RLEVEL"] == 62
    assert h["GSP_ONAM"] == science and h["GSP_PNAM"] == science
    assert h["GSP_FNAM"] == f"cfzst_{science}"
    assert h["GSP_BIAS"].startswith("master_bias_") and h["GSP_FLAT"].startswith("norm_master")
    assert h["GSP_TRIM"] == "[26:2055,2:948]"
    assert h["GSP_COSM"] == "LACosmic" and h["GSP_NORM"] == "simple"
    assert h["GSP_SLIT"].startswith("[1:2030,")
    assert h["GSP_CRRJ"] == "default" and h["GSP_NORD"] == 15  # the settings used
    assert h["GSP_VERS"]
    (bias,) = out.glob("master_bias_*.fits")
    hb = fits.getheader(bias)
    assert hb["RLEVEL"] == 61 and hb["NCOMBINE"] == 5 and hb["GSP_MFIN"] is False


def test_reduced_frame_reads_back_with_uncertainty_and_mask(reduced_night):
    science = _science(reduced_night)[0]["file"]
    ccd = CCDData.read(
        reduced_night["out"] / f"cfzst_{science}", hdu_uncertainty="UNCERT", hdu_mask="MASK"
    )
    assert ccd.unit == "adu"
    assert ccd.uncertainty is not None and ccd.uncertainty.array.shape == ccd.shape
    assert np.all(ccd.uncertainty.array > 0)
    assert ccd.mask is not None and ccd.mask.any()


def test_slit_edges_within_one_binned_pixel(reduced_night):
    truth = reduced_night["truth"]["slit_edges"]
    h = fits.getheader(_norm_flat(reduced_night["out"]))
    assert abs(h["GSP_SLEL"] - truth[0]) <= 1.0
    assert abs(h["GSP_SLEU"] - truth[1]) <= 1.0
    rows, _ = parse_section(h["GSP_SLIT"])
    assert truth[0] < rows.start and rows.stop - 1 < truth[1]


def test_sky_level_within_one_percent(reduced_night):
    out = reduced_night["out"]
    for frame in _science(reduced_night):
        with fits.open(out / f"cfzst_{frame['file']}") as hdul:
            data, mask, h = hdul[0].data, hdul["MASK"].data, hdul[0].header
        row0 = _slit_row0(h)
        rows = np.arange(data.shape[0])[:, None] + row0
        away = np.ones(data.shape, bool)
        for target in frame["targets"]:
            away &= np.abs(rows - np.asarray(target["trace_centres"])[None, :]) > 15
        good = away & (mask == 0)
        sky = np.asarray(frame["sky_adu"])
        # The mean, not the median: at a few ADU of sky the median of Poisson counts
        # is biased low by ~1 %; masked pixels (cosmic rays) are left out.
        measured = np.array([np.mean(data[good[:, j], j]) for j in range(data.shape[1])])
        ratio = np.median(measured / sky)
        assert ratio == pytest.approx(1.0, abs=0.01), f"{frame['file']}: sky ratio {ratio:.4f}"


def test_master_bias_is_aligned_with_the_trimmed_frame(reduced_night):
    """The master bias must carry the raw column pattern at the trimmed columns.

    goodman_pipeline trims the master bias and the frame differently; shifted by even
    one column the 1-ADU column-to-column pattern leaves a residual this test catches.
    """
    truth = reduced_night["truth"]
    pattern = np.asarray(truth["bias_column_pattern_adu"])
    offset = truth["trim_offset"]["col"]
    width = truth["trimmed_shape"][1]
    (bias,) = reduced_night["out"].glob("master_bias_*.fits")
    master = fits.getdata(bias)
    # A mean over rows: values are medians of integers, so a median would be quantized.
    profile = np.mean(master, axis=0) - np.mean(master)
    expected = pattern[offset : offset + width] - np.mean(pattern[offset : offset + width])
    aligned = np.std(profile - expected)
    shifted = np.std(profile[1:] - expected[:-1])
    assert aligned < 0.1
    assert shifted > 5 * aligned


def test_reduced_sky_has_no_bias_column_pattern(reduced_night):
    frame = _science(reduced_night)[0]
    out = reduced_night["out"]
    with fits.open(out / f"cfzst_{frame['file']}") as hdul:
        data, mask = hdul[0].data, hdul["MASK"].data
    residual = np.nanmedian(np.where(mask == 0, data, np.nan), axis=0) - np.asarray(
        frame["sky_adu"]
    )
    pattern = np.asarray(reduced_night["truth"]["bias_column_pattern_adu"])
    offset = reduced_night["truth"]["trim_offset"]["col"]
    expected = pattern[offset : offset + data.shape[1]]
    # Correlation with the pattern is what a misaligned or missing bias would leave.
    corr = np.corrcoef(residual - np.median(residual), expected)[0, 1]
    assert abs(corr) < 0.2


def test_cosmic_rays_removed_and_traces_spared(reduced_night):
    out = reduced_night["out"]
    for frame in _science(reduced_night):
        with fits.open(out / f"cfzst_{frame['file']}") as hdul:
            mask, h = hdul["MASK"].data, hdul[0].header
        row0 = _slit_row0(h)
        cr = frame["cosmic_rays"]
        rows = np.asarray(cr["rows"]) - row0
        cols = np.asarray(cr["cols"])
        inside = (rows >= 0) & (rows < mask.shape[0])
        flagged = (mask[rows[inside], cols[inside]] & COSMIC_RAY) > 0
        assert flagged.mean() >= 0.95, f"{frame['file']}: {flagged.mean():.3f} of CR pixels"

        hits = np.zeros(mask.shape, bool)
        hits[rows[inside], cols[inside]] = True
        near_hit = ndimage.binary_dilation(hits, iterations=1)
        grid = np.arange(mask.shape[0])[:, None] + row0
        trace = np.zeros(mask.shape, bool)
        for target in frame["targets"]:
            centre = np.asarray(target["trace_centres"])[None, :]
            trace |= np.abs(grid - centre) <= target["fwhm"]
        false = ((mask & COSMIC_RAY) > 0) & trace & ~near_hit
        assert false.sum() / trace.sum() < 0.001


def test_raw_files_untouched(reduced_night):
    raw = reduced_night["raw"]
    for path in raw.glob("*.fits"):
        h = fits.getheader(path)
        assert "GSP_FNAM" not in h and "RLEVEL" not in h or h["RLEVEL"] == 0
