"""The library's NIST-corrected models: consistent with the committed files, with
provenance, and used by :class:`~pipeline.lamps.LampTemplate`."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from numpy.polynomial import chebyshev

from pipeline.lamps import lamp_dir, library, read_template
from pipeline.wavelength.refit_library import HISTORY_TAG, MAX_RMS_PX, MIN_LINES, refit


def test_most_lamps_carry_a_corrected_model_with_provenance():
    corrected = [t for t in library() if t.corrected]
    assert len(corrected) >= 0.8 * len(library())
    for t in library():
        header = fits.getheader(t.path)
        history = [str(h) for h in header.get("HISTORY", []) if str(h).startswith(HISTORY_TAG)]
        assert history, t.file_name  # every lamp says what the refit did, or why not
        if not t.corrected:
            assert any("no corrected model" in h for h in history), t.file_name
            continue
        assert any("NIST air" in h for h in history) and any("nist_air" in h for h in history)
        assert header["GSP_RNLN"] >= MIN_LINES and header["GSP_RRMS"] <= MAX_RMS_PX
        # both models are kept; the template uses the corrected one
        assert "GSP_C000" in header and t.library_coefficients[0] == header["GSP_C000"]
        x = np.array([0.0, 2000.0, t.npix - 1.0])
        assert np.allclose(t.wavelength(x), chebyshev.chebval(x, t.corrected_coefficients))
        assert np.allclose(t.library_wavelength(x), chebyshev.chebval(x, t.library_coefficients))


@pytest.mark.parametrize(
    "name",
    [
        "goodman_comp_400M1_HgArNe.fits",
        "goodman_comp_400M2_GG455_CuHeAr.fits",
        "goodman_comp_930M5_GG495_FeHeAr.fits",
        "goodman_comp_1200M2_CuHeAr.fits",
    ],
)
def test_refit_reproduces_the_committed_model(name):
    """Running the refit again gives the corrected model stored in the file."""
    template = read_template(lamp_dir() / name)
    result = refit(template)
    assert result.coefficients is not None, result.problem
    x = np.arange(template.npix, dtype=float)
    disp = np.abs(np.gradient(template.wavelength(x)))
    diff = (chebyshev.chebval(x, result.coefficients) - template.wavelength(x)) / disp
    assert np.abs(diff).max() <= 1e-3
    header = fits.getheader(template.path)
    assert result.n_used == header["GSP_RNLN"]
    assert result.rms_pixel == pytest.approx(header["GSP_RRMS"], abs=1e-4)
    # the stored model is worse against the same NIST lines than the corrected one
    assert result.library_rms_pixel > result.corrected_rms_pixel
