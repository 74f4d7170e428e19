"""The packaged reference lamp library."""

import numpy as np
from astropy.io import fits
from numpy.polynomial import chebyshev

from pipeline import lamps


def test_library_is_complete_and_readable():
    library = lamps.library()
    assert len(library) == 80
    for template in library:
        assert template.flux.ndim == 1 and template.npix >= 2000
        assert template.line_pixels.size == template.line_wavelengths.size > 0
        assert np.all(np.diff(template.line_pixels) > 0)
        # The catalogued lines agree with the stored model they were named from to
        # better than a few Å (TABLE.md); the NIST-corrected model renames a few (930M2
        # Ar's line catalogued as Ar I 5187.75 is Ar I 5151.39: 36 Å)
        resid = template.library_wavelength(template.line_pixels) - template.line_wavelengths
        assert np.sqrt(np.mean(resid**2)) < 1.5, template.file_name


def test_licence_and_origin_ship_with_the_data():
    assert (lamps.lamp_dir() / "LICENSE.goodman_pipeline").is_file()
    nist = lamps.lamp_dir() / "nist_lines"
    assert len(list(nist.glob("nist_air_strong_lines_*.txt"))) == 6
    # the lines NIST's strong lists lack, taken from PypeIt's NIST-flagged lists
    assert len(list(nist.glob("nist_air_extra_lines_*.txt"))) == 5
    assert (nist / "LICENSE_PypeIt_BSD3.rst").is_file()


def test_mode_spelling_variants():
    assert lamps.normalize_mode("400 m2") == "400_M2"
    assert lamps.normalize_mode(" 1200_M5 ") == "1200_M5"
    assert lamps.templates_for_mode("400 M2") == lamps.templates_for_mode("400_M2")
    assert lamps.templates_for_mode("400 M2")


def test_find_template_by_lamp_elements():
    assert lamps.find_template("400_M2", {"Hg", "Ar", "Ne"}).lamp == "HgArNe"
    assert lamps.find_template("400 M2", lamps.elements("CuHeAr")).lamp == "CuHeAr"
    # No template of that mode has Cu: no silent fallback to another lamp.
    assert lamps.find_template("1200_M5", {"Xe"}) is None
    assert lamps.find_template("NO_SUCH_MODE") is None
    assert lamps.find_template("400_M2").line_pixels.size > 0


def test_lamps_on_reads_header_keywords():
    header = fits.Header({"LAMP_HGA": "TRUE", "LAMP_NE": "TRUE", "LAMP_AR": "FALSE"})
    assert lamps.lamps_on(header) == {"Hg", "Ar", "Ne"}
    assert lamps.lamps_on(fits.Header()) == frozenset()


def test_binned_wavelength_is_the_model_at_binned_centres():
    template = lamps.find_template("400_M2", {"Hg", "Ar", "Ne"})
    binned = template.binned_wavelength(2)
    assert binned.size == template.npix // 2
    # The centre of binned pixel j is unbinned 2j + 0.5, not its left edge 2j: the
    # difference is half an unbinned pixel, about 0.5 Å for this grating (the bias goodman shows).
    expected = chebyshev.chebval(2 * np.arange(binned.size) + 0.5, template.coefficients)
    np.testing.assert_allclose(binned, expected)
    left_edges = chebyshev.chebval(2 * np.arange(binned.size), template.coefficients)
    assert 0.45 < np.median(binned - left_edges) < 0.55
