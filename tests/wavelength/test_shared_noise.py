"""The error of sums over a product's bins: the COVAR and COVBAND extensions and their reader."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from specutils import Spectrum

from pipeline.spectroscopy import find_targets, trace_target
from pipeline.spectroscopy.extract import extract_arrays, summed_std
from pipeline.wavelength.fits_io import write_spectrum
from pipeline.wavelength.resample import _overlap_resample, resample_arrays
from pipeline.wavelength.shared_noise import summed_error
from pipeline.wavelength.solution import WavelengthSolution
from tests.spectroscopy.synthetic import frame

SHAPE = (80, 300)
KW = {"sky": 80, "curvature": (0, 0.01, 0)}
#: A non-linear solution, blue to the right (the resampling flips the bins).
SOLUTION = WavelengthSolution(
    np.array([6000.0, -1.5, 2e-4]), SHAPE[1], 1, 0, 0, 0, 0, None, "", "", ""
)


@pytest.fixture(scope="module")
def faint():
    """A faint source (40 ADU per column on a sky of 80) in a +-2.5 FWHM aperture: the
    profile's shared error is most of the error of a whole-spectrum sum."""
    bright, _, _ = frame(SHAPE, sources=((40, 5, 3000),), **KW)
    (target,) = find_targets(bright, max_targets=1)
    trace = trace_target(bright, target)
    ccd, _, _ = frame(SHAPE, sources=((40, 5, 40),), seed=4, **KW)
    return {
        m: extract_arrays(ccd, trace, m, half_width=2.5 * trace.fwhm)
        for m in ("optimal", "fractional")
    }


def _exact_covariance(spec):
    """The pixels' covariance, whole: std^2 on the diagonal plus the profile's part
    off it (its diagonal, each column's own share, is in std)."""
    cov = np.diag(spec.std**2)
    shared = spec.meta.get("profile_covariance")
    if shared is not None:
        g, h, m = shared.factors()
        profile = g.T @ m @ g + h.T @ g + g.T @ h
        cov = cov + profile - np.diag(np.diag(profile))
    return np.where(spec.mask[:, None] | spec.mask[None, :], 0.0, cov)


def _resampling_matrix(spec):
    """The resampling as a matrix, column by column (it is linear in the counts)."""
    plain = type(spec)(
        flux=np.zeros(spec.flux.size),
        std=np.zeros(spec.flux.size),
        mask=spec.mask,
        axis=spec.axis,
        axis_unit=spec.axis_unit,
        unit=spec.unit,
    )
    columns = []
    for j in range(spec.flux.size):
        plain.flux[:] = 0.0
        plain.flux[j] = 1.0
        columns.append(resample_arrays(plain, SOLUTION).flux)
    return np.array(columns).T


def test_the_pixel_product_gives_summed_std_back(faint, tmp_path):
    """ecfzst_ (pixels): the error of sums read from the product (COVAR, COVDIAG) is
    summed_std's to 0.5 % (one column: its std, each column's own share of the profile's
    error counted once), 1.5-2x the quadrature sum over long ranges, and specutils
    still reads the product."""
    spec = faint["optimal"]
    path = write_spectrum(spec, tmp_path / "ecfzst_x.fits")
    read = Spectrum.read(path)
    assert read.flux.size == spec.flux.size
    with fits.open(path) as hdul:
        assert "COVAR" in hdul and hdul["COVAR"].header["NVEC"] == hdul["COVAR"].data.shape[0]
    axis = np.arange(spec.flux.size)
    for lo, hi in ((None, None), (20, 220), (100, 104), (150, 150)):
        pick = ~spec.mask & (axis >= (lo or 0)) & (axis <= (hi if hi is not None else axis.size))
        honest = summed_std(spec, pick)
        assert summed_error(path, lo, hi).to_value(u.adu) == pytest.approx(honest, rel=5e-3)
    assert summed_std(spec) > 1.5 * np.sqrt((spec.std[~spec.mask] ** 2).sum())


@pytest.mark.parametrize("method", ["optimal", "fractional"])
def test_a_resampled_product_s_error_of_sums_is_exact(faint, tmp_path, method):
    """wecfzst_ (resampled, non-linear, flipped): the error of a sum over a wavelength
    range read from the product is that of R C R^T, R the resampling and C the pixels'
    covariance, to 0.5 %; the quadrature sum of the bins' STD misses the pixels split
    between bins (and, optimal, the profile's shared error)."""
    spec = faint[method]
    res = resample_arrays(spec, SOLUTION)
    path = write_spectrum(res, tmp_path / "wecfzst_x.fits")
    wave = Spectrum.read(path).spectral_axis.to_value(u.AA)
    r = _resampling_matrix(spec)
    exact = r @ _exact_covariance(spec) @ r.T
    for lo, hi in ((5650.0, 5900.0), (5700.0, 5710.0), (None, None)):
        pick = ~res.mask & (wave >= (lo or 0)) & (wave <= (hi or np.inf))
        truth = np.sqrt(exact[np.ix_(pick, pick)].sum())
        assert summed_error(path, lo, hi).to_value(u.adu) == pytest.approx(truth, rel=5e-3)
        assert summed_std(res, pick) == pytest.approx(truth, rel=5e-3)
        assert np.sqrt((res.std[pick] ** 2).sum()) < 0.95 * truth


def test_overlap_band_is_the_shared_pixels_covariance():
    """The neighbouring bins' covariance of a resampling is sum frac_k frac_l var over
    the pixels they share: two bins of width 1.5 pixels share pixel 1."""
    edges_in = np.arange(4.0)
    counts, var, bad = np.ones(3), np.array([1.0, 4.0, 9.0]), np.zeros(3, bool)
    *_, band = _overlap_resample(edges_in, counts, var, bad, np.array([0.0, 1.5, 3.0]), True)
    assert band[0, 0] == pytest.approx(0.5 * 0.5 * 4.0)
    assert band[1].sum() == 0.0
