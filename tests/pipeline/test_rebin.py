"""Software rebinning of arcs for mixed-binning nights, checked on values."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty, VarianceUncertainty

from pipeline.instrument import binned_pixel_centres
from pipeline.reduction.geometry import raw_geometry
from pipeline.reduction.rebin import first_unbinned_column, match_binning, rebin_columns


def _ccd(data, ccdsum="1 2", x0=None, mask=None, variance=None, **cards):
    header = fits.Header({"CCDSUM": ccdsum, **cards})
    if x0 is not None:
        header["GSP_X0"] = x0
    return CCDData(
        np.asarray(data, np.float32),
        unit=u.adu,
        mask=mask,
        uncertainty=None if variance is None else VarianceUncertainty(variance),
        meta=header,
    )


def test_sums_variance_and_mask_of_each_pair():
    data = np.arange(14, dtype=float).reshape(2, 7)  # odd width: last column left over
    variance = np.full((2, 7), 2.0)
    variance[0, 3] = 10.0
    mask = np.zeros((2, 7), bool)
    mask[1, 4] = True
    out = rebin_columns(_ccd(data, x0=50, mask=mask, variance=variance), 2)
    assert out.shape == (2, 3)
    np.testing.assert_allclose(out.data, [[1, 5, 9], [15, 19, 23]])
    np.testing.assert_allclose(out.uncertainty.array, [[4, 12, 4], [4, 4, 4]])
    assert out.mask.tolist() == [[False, False, False], [False, False, True]]
    assert out.header["CCDSUM"] == "2 2"
    assert out.header["GSP_X0"] == 50
    assert out.header["GSP_REBN"] == "2 from 0"
    assert any("rebinned along columns" in h for h in out.header["HISTORY"])


def test_start_offset_and_std_uncertainty_become_variance():
    data = np.tile(np.arange(10.0), (1, 1))
    ccd = _ccd(data, ccdsum="1 1", x0=50)
    ccd.uncertainty = StdDevUncertainty(np.full((1, 10), 3.0))
    out = rebin_columns(ccd, 3, start=1)
    # groups (1,2,3), (4,5,6), (7,8,9)
    np.testing.assert_allclose(out.data, [[6, 15, 24]])
    np.testing.assert_allclose(out.uncertainty.array, [[27, 27, 27]])
    assert out.header["GSP_X0"] == 51 and out.header["CCDSUM"] == "3 1"
    with pytest.raises(ValueError, match="no group"):
        rebin_columns(ccd, 20)


def test_binned_pixel_centres_line_up_with_the_science_binning():
    """A '1 2' arc rebinned for '2 2' (and '1 1' for '3 3') science: pixel j of the
    rebinned arc covers exactly the unbinned columns of science pixel j."""
    for b in (2, 3):
        arc_geo = raw_geometry((200, 4142), (1, 2))
        sci_geo = raw_geometry((200, -(-4142 // b)), (b, 2))
        unbinned = np.arange(arc_geo.trimmed_shape[1], dtype=float)  # library pixel index
        arc = _ccd(
            np.tile(unbinned + arc_geo.first_unbinned_column, (3, 1)),
            x0=arc_geo.first_unbinned_column,
        )
        science = _ccd(
            np.zeros((3, sci_geo.trimmed_shape[1])),
            ccdsum=f"{b} 2",
            x0=sci_geo.first_unbinned_column,
        )
        matched, note = match_binning(arc, science)
        assert matched is not None and "rebinned" in note
        assert matched.shape == science.shape
        # Each summed value / b is the mean unbinned raw column = the pixel's centre.
        centres = matched.data[0] / b
        expected = sci_geo.first_unbinned_column + binned_pixel_centres(b, science.shape[1])
        np.testing.assert_allclose(centres, expected)


def test_refusals_say_why():
    arc = _ccd(np.zeros((4, 40)), ccdsum="2 2", x0=50)
    science = _ccd(np.zeros((4, 20)), ccdsum="3 2", x0=51)
    matched, why = match_binning(arc, science)
    assert matched is None and "not a multiple" in why
    rows = _ccd(np.zeros((4, 40)), ccdsum="2 1", x0=50)
    matched, why = match_binning(rows, _ccd(np.zeros((4, 40)), ccdsum="2 2", x0=50))
    assert matched is None and "along rows" in why
    short = _ccd(np.zeros((4, 30)), ccdsum="1 2", x0=50)
    matched, why = match_binning(short, _ccd(np.zeros((4, 20)), ccdsum="2 2", x0=50))
    assert matched is None and "covers 15 columns" in why


def test_arc_cut_to_the_science_slit_rows():
    arc = _ccd(np.arange(10.0)[:, None] * np.ones((10, 8)), ccdsum="1 2", x0=50)
    science = _ccd(np.zeros((4, 4)), ccdsum="2 2", x0=50, GSP_SLIT="[1:4,3:6]")
    matched, note = match_binning(arc, science)
    assert matched.shape == (4, 4) and "slit rows" in note
    np.testing.assert_allclose(matched.data[:, 0], [4, 6, 8, 10])  # rows 2..5, pairs summed


def test_first_unbinned_column_without_the_card():
    assert first_unbinned_column(fits.Header({"CCDSUM": "2 2"})) == 50
    assert first_unbinned_column(fits.Header({"CCDSUM": "3 3"})) == 51
    assert first_unbinned_column(fits.Header({"CCDSUM": "1 1"})) == 50
