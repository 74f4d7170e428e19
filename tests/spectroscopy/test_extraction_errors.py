"""Honest errors of optimal extraction: the scatter of the flux over noise realisations
against the error the product quotes, for sums over the whole spectrum."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.spectroscopy import find_targets, trace_target
from pipeline.spectroscopy.extract import extract_arrays, summed_std
from tests.spectroscopy.synthetic import frame

SHAPE = (80, 400)
KW = {"sky": 80, "curvature": (0, 0.01, 0)}
ROW = SHAPE[0] / 2


@pytest.fixture(scope="module")
def trace():
    # a bright twin's trace: the trace's own noise set aside
    bright, _, _ = frame(SHAPE, sources=((ROW, 5, 3000),), **KW)
    (target,) = find_targets(bright, max_targets=1)
    return trace_target(bright, target)


@pytest.mark.parametrize("k", [1.0, 2.5])
def test_the_whole_spectrum_s_error_covers_the_profile_s(trace, k):
    """A faint source (40 ADU per column on a sky of 80, 400 columns, 30 realisations):
    the optimal flux summed over the spectrum scattered 1.3x (+-1 FWHM) and 2.0x
    (+-2.5 FWHM) the error its columns quoted in quadrature, since the data-corrected
    profile errs alike on every column (and with the sky fitted beside it); with the
    profile's covariance (summed_std) the pull's standard deviation is 1.06 and 0.87."""
    source = ((ROW, 5, 40),)
    noiseless, _, _ = frame(SHAPE, sources=source, gain=1e7, rdnoise=0.0, **KW)
    hw = k * trace.fwhm
    truth = extract_arrays(noiseless, trace, "fractional", half_width=hw).flux.sum()
    pulls = []
    for seed in range(1, 31):
        ccd, _, _ = frame(SHAPE, sources=source, seed=seed, **KW)
        spec = extract_arrays(ccd, trace, "optimal", half_width=hw)
        pulls.append((spec.flux.sum() - truth) / summed_std(spec))
    assert 0.8 <= np.std(pulls, ddof=1) <= 1.25
    assert abs(np.mean(pulls)) < 0.6


def test_a_column_s_std_is_its_scatter(trace):
    """Per column, a faint source (40 ADU per column on a sky of 80, 400 columns,
    +-2.5 FWHM, 40 realisations): the flux's variance over the realisations, averaged
    over the columns, over the mean quoted std^2: 0.99 fractional (the control), 1.02
    optimal. Optimal's std left out each column's own share of the profile's error
    (the diagonal of the profile's covariance): 1.19 (1.105 +- 0.003 over 500
    realisations of 600 columns, benchmarks/grade_bin_errors.py)."""
    source = ((ROW, 5, 40),)
    hw = 2.5 * trace.fwhm
    runs = {"fractional": ([], []), "optimal": ([], [])}
    for seed in range(1, 41):
        ccd, _, _ = frame(SHAPE, sources=source, seed=seed, **KW)
        for method, (flux, var) in runs.items():
            spec = extract_arrays(ccd, trace, method, half_width=hw)
            flux.append(spec.flux)
            var.append(spec.std**2)
    ratio = {}
    for method, (flux, var) in runs.items():
        flux, var = np.array(flux), np.array(var)
        ratio[method] = np.var(flux, axis=0, ddof=1).mean() / var.mean()
    # the ratio's standard error is about 0.013 here (0.003 over 500 realisations of
    # 600 columns in benchmarks/grade_bin_errors.py)
    assert abs(ratio["fractional"] - 1.0) < 0.06
    assert abs(ratio["optimal"] - 1.0) < 0.06


def test_a_low_response_spot_on_the_trace_masks_its_column_with_the_reason(trace):
    """Three pixels on a bright trace 10 % low (a dust shadow) are no light the sky or
    the source could make: their column is masked and says why; the clean frame and a
    strong emission line with a profile of its own, tilted, mask nothing."""
    star = ((ROW, 5, 1e5),)
    ccd, rows, _ = frame(SHAPE, sources=star, seed=3, **KW)
    spot = ccd.copy()
    r = int(round(rows[0][200]))
    spot.data[r - 1 : r + 2, 200] *= 0.9
    line, _, _ = frame(
        SHAPE, sources=star, seed=3, lines=((150.3, 1.3, 5e6, 2.5),), tilt=0.02, **KW
    )
    for method in ("fractional", "optimal"):
        spec = extract_arrays(spot, trace, method)
        assert list(spec.meta["mask_reasons"]) == [200] and spec.mask[200]
        assert "low-response pixels" in spec.meta["mask_reasons"][200]
        for clean in (ccd, line):
            out = extract_arrays(clean, trace, method)
            assert out.meta["mask_reasons"] == {} and not out.mask[195:206].any()


def test_a_column_s_share_of_the_profile_s_error_is_never_negative(trace):
    """A faint source (40 ADU per column on a sky of 80, 400 columns, +-2.5 FWHM): the
    profile covariance's diagonal is negative on the columns whose flux fell below
    zero (the cross term takes the sign of the flux it is linearised at), 1-5 % of
    them; that share in their std (and ``COVDIAG``) quoted them less than their own
    noise. The std holds only a positive share, and the sum's error is unchanged
    (what the std does not hold stays in the shared part)."""
    ccd, _, _ = frame(SHAPE, sources=((ROW, 5, 40),), seed=2, **KW)
    spec = extract_arrays(ccd, trace, "optimal", half_width=2.5 * trace.fwhm)
    cov = spec.meta["profile_covariance"]
    assert (cov.diagonal < 0).any()  # the case arises here
    in_std = cov.shared_noise.in_std
    assert (in_std >= 0).all()
    assert np.allclose(in_std, np.clip(cov.diagonal, 0.0, None))
    # the sum's variance: the std's and the shared part's, the diagonal counted once
    var = spec.std**2
    pick = np.isfinite(var) & ~spec.mask
    full = cov.of_sum(pick) + float(in_std[pick].sum())
    expected = float((var[pick] - in_std[pick]).sum()) + full
    assert summed_std(spec) ** 2 == pytest.approx(expected, rel=1e-9)
