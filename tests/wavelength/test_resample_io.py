"""Flux-conserving resampling and the 1-D FITS product."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import StdDevUncertainty
from specutils import Spectrum

from pipeline.wavelength import (
    apply_solution,
    calibrate_arc,
    select_template,
    solution_from_header,
    write_spectrum,
)
from tests.wavelength.synthetic_arcs import synth_arc

REAL_HEADER = "reference/real_headers/wecfzst_0304_FRB20240312A_19-03-2024_target_1.fits"


@pytest.fixture(scope="module")
def solution():
    template = select_template("400_M2", "HgArNe")
    arc, _ = synth_arc(template, 0.8, 2)
    return calibrate_arc(arc, "400_M2", "HgArNe", 2, arc_name="0011_comp.fits")


def _pixel_spectrum(flux, sigma, mask=None):
    return Spectrum(
        flux=flux * u.adu,
        spectral_axis=np.arange(flux.size) * u.pix,
        uncertainty=StdDevUncertainty(sigma),
        mask=mask,
    )


def test_resampling_conserves_counts_and_propagates_variance(solution):
    rng = np.random.default_rng(1)
    flux = rng.uniform(50, 150, solution.npix)
    sigma = np.sqrt(flux)
    out = apply_solution(_pixel_spectrum(flux, sigma), solution)
    axis = out.spectral_axis.to_value(u.AA)
    assert np.allclose(np.diff(axis), np.diff(axis)[0])
    inner = ~out.mask
    # total counts are conserved (up to the half pixels at both ends)
    assert out.flux.value[inner].sum() == pytest.approx(flux.sum(), rel=2e-3)
    # variance: independent pixels split by weights w, var = sum w^2 var_i <= sum var_i
    assert (out.uncertainty.array[inner] ** 2).sum() <= (sigma**2).sum()
    assert (out.uncertainty.array[inner] ** 2).sum() > 0.5 * (sigma**2).sum()


def test_line_stays_at_its_wavelength(solution):
    j = np.arange(solution.npix)
    centre = 1234.37
    flux = 10 + 1000 * np.exp(-0.5 * ((j - centre) / 1.2) ** 2)
    out = apply_solution(_pixel_spectrum(flux, np.ones_like(flux)), solution)
    w = out.spectral_axis.to_value(u.AA)
    f = out.flux.value - 10
    near = np.abs(w - solution.wavelength(centre)) < 10
    measured = np.sum(w[near] * f[near]) / np.sum(f[near])
    assert measured == pytest.approx(float(solution.wavelength(centre)), abs=0.05 * 2)


def test_masked_pixels_mask_their_bins(solution):
    flux = np.full(solution.npix, 100.0)
    mask = np.zeros(solution.npix, bool)
    mask[700:705] = True
    flux[1000] = np.nan
    out = apply_solution(_pixel_spectrum(flux, np.full_like(flux, 10.0), mask), solution)
    w = out.spectral_axis.to_value(u.AA)
    assert out.mask[np.argmin(np.abs(w - solution.wavelength(702)))]
    assert out.mask[np.argmin(np.abs(w - solution.wavelength(1000)))]
    assert np.isfinite(out.flux.value).all()


def test_length_mismatch_is_refused(solution):
    with pytest.raises(ValueError, match="same binning"):
        apply_solution(_pixel_spectrum(np.ones(100), np.ones(100)), solution)


def test_written_product_reads_back_without_format(solution, tmp_path, shared_dir):
    flux = np.linspace(100, 200, solution.npix)
    out = apply_solution(_pixel_spectrum(flux, np.sqrt(flux)), solution)
    header = fits.getheader(shared_dir / REAL_HEADER)
    path = write_spectrum(out, tmp_path / "wecfzst_x.fits", header, solution.header_cards())
    back = Spectrum.read(path)  # no format argument
    assert back.spectral_axis.unit == u.AA
    assert np.allclose(back.spectral_axis.value, out.spectral_axis.to_value(u.AA), atol=1e-6)
    assert isinstance(back.uncertainty, StdDevUncertainty)
    assert np.allclose(back.uncertainty.array, out.uncertainty.array, rtol=1e-5)
    assert np.array_equal(back.mask.astype(bool), out.mask)
    hdr = fits.getheader(path)
    # the raw cards of the parent survive, the solution is in goodman's cards
    assert hdr["OBSTYPE"] == "OBJECT" and hdr["WAVMODE"] == "400_M1"
    assert np.allclose(solution_from_header(hdr), solution.coefficients)
    assert hdr["GSP_NPIX"] == solution.npix
    assert "NAXIS2" not in hdr


def test_line_table_states_the_error_each_line_was_fitted_with(solution, tmp_path):
    """The LINES table carries, beside a line's centring error, its NIST neighbours'
    possible pull and the error the fit weighed it with, in pixels, each column
    described; specutils still reads the spectrum."""
    from pipeline.wavelength.line_table import read_lines

    flux = np.linspace(100, 200, solution.npix)
    out = apply_solution(_pixel_spectrum(flux, np.sqrt(flux)), solution)
    path = write_spectrum(out, tmp_path / "wecfzst_x.fits", solution=solution)
    assert Spectrum.read(path).flux.size == out.flux.size
    table = read_lines(path)
    named = np.isfinite(np.asarray(table["reference_wavelength"], float))
    pull = np.asarray(table["reference_error"], float)
    fit = np.asarray(table["fit_error"], float)
    centring = np.nan_to_num(np.asarray(table["pixel_error"], float), nan=1.0)
    assert table["fit_error"].unit == "pix" and table["reference_error"].unit == "pix"
    assert table["scatter_error"].unit == "pix"
    assert np.all(pull[named] >= 0) and np.all(np.isnan(pull[~named]))
    # the fit's error holds both (and a systematic floor) in quadrature
    assert np.all(fit >= np.hypot(centring, np.nan_to_num(pull)) * (1 - 2e-2))
    hdr = fits.getheader(path, "LINES")
    names = [hdr[f"TTYPE{i}"] for i in range(1, hdr["TFIELDS"] + 1)]
    for i, name in enumerate(names, start=1):
        assert hdr.comments[f"TTYPE{i}"], name


def test_non_linear_axis_is_refused(tmp_path):
    s = Spectrum(flux=np.ones(5) * u.adu, spectral_axis=np.array([1, 2, 4, 8, 16]) * u.AA)
    with pytest.raises(ValueError, match="not linear"):
        write_spectrum(s, tmp_path / "x.fits")


def test_peak_finder_matches_scipy():
    """pipeline.wavelength.peaks reproduces scipy.signal (kept out of gsp reduce)."""
    from scipy import signal

    from pipeline.wavelength.peaks import correlate_full, find_peaks

    rng = np.random.default_rng(0)
    j = np.arange(2030)
    x = rng.normal(0, 2, j.size)
    for c, a, s in zip(
        rng.uniform(0, 2030, 60), rng.uniform(5, 500, 60), rng.uniform(0.8, 3, 60), strict=True
    ):
        x += a * np.exp(-0.5 * ((j - c) / s) ** 2)
    for prom, dist, wlen in [(10, 3, None), (20, 1, 101), (50, 5, None)]:
        idx, props = signal.find_peaks(x, prominence=prom, distance=dist, wlen=wlen, width=1.0)
        ours = find_peaks(x, prom, dist, wlen, 1.0)
        assert np.array_equal(idx, ours.index)
        assert np.allclose(props["prominences"], ours.prominence)
        assert np.allclose(props["widths"], ours.width)
    a, r = rng.normal(size=800), rng.normal(size=500)
    assert np.allclose(signal.correlate(a, r, mode="full"), correlate_full(a, r))


def test_gsp_reduce_stage_imports_stay_light():
    """The batch chain imports neither specutils nor scipy.signal/optimize (~3 s)."""
    import subprocess
    import sys

    code = (
        "import sys, pipeline.spectroscopy.night_stage; "
        "print(sorted(m for m in ('specutils', 'scipy.signal', 'scipy.optimize') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
