"""Arc/science compatibility from the normalised setup (grating, angles, filter,
camera), with the spellings of real Goodman headers, not from WAVMODE as written."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData

from pipeline.spectroscopy.arc_solutions import compatible_arcs
from pipeline.wavelength.arc_match import (
    CAMERA_ANGLE_TOLERANCE_DEG,
    GRATING_ANGLE_TOLERANCE_DEG,
    setup_mismatch,
    setup_of,
)
from tests.conftest import REPO

REAL = REPO / "tests" / "data" / "real" / "dragons_soar" / "headers_only"


def _real(name: str) -> fits.Header:
    return fits.getheader(REAL / name)


def _header(**cards) -> fits.Header:
    header = fits.Header()
    for key, value in cards.items():
        header[key] = value
    return header


def test_real_red_custom_science_and_blank_wavmode_arc_share_their_setup():
    """The real Red night: science WAVMODE 'Custom', arc WAVMODE '' (empty), the same
    SYZY_400 at 6.927/13.853 deg: the same setup, whatever the labels say."""
    science, arc = _real("goodman_red_spec.fits"), _real("goodman_red_comp.fits")
    assert science["WAVMODE"] == "Custom" and arc["WAVMODE"].strip() == ""
    assert setup_of(science).grating == setup_of(arc).grating == "400_SYZY"
    assert setup_mismatch(setup_of(science), setup_of(arc)) == ""


def test_real_blue_arc_of_another_grating_is_refused_by_name():
    """The real Blue files: a '400 m1' SYZY_400 arc cannot calibrate a '600 Blue'
    SYZY_600-OLD spectrum; the reason names both gratings."""
    science, arc = _real("goodman_blue_spec.fits"), _real("goodman_blue_comp.fits")
    why = setup_mismatch(setup_of(science), setup_of(arc))
    assert "arc grating 400_SYZY" in why and "science grating 600_SYZY_OLD" in why


@pytest.mark.parametrize(
    ("science_mode", "arc_mode"), [("400_M2", "400 M2"), ("400 m2", "400_M2"), ("400_M2", "400_m2")]
)
def test_wavmode_spellings_of_one_library_mode_match_without_angles(science_mode, arc_mode):
    science = _header(WAVMODE=science_mode, GRATING="SYZY_400", FILTER2="GG455")
    arc = _header(WAVMODE=arc_mode, GRATING="400_SYZY", FILTER2="GG-455")
    assert setup_mismatch(setup_of(science), setup_of(arc)) == ""


def test_different_library_modes_without_angles_are_refused_with_both_names():
    science = _header(WAVMODE="400 M2", GRATING="SYZY_400")
    arc = _header(WAVMODE="400_M1", GRATING="SYZY_400")
    assert setup_mismatch(setup_of(science), setup_of(arc)) == (
        "arc of mode 400_M1, science is 400_M2"
    )


def test_custom_modes_match_by_angles_within_tolerance_only():
    base = dict(WAVMODE="Custom", GRATING="SYZY_930", FILTER2="<NO FILTER>", INSTCONF="Blue")
    science = setup_of(_header(GRT_ANG=13.0004, CAM_ANG=24.0210, **base))
    same = setup_of(_header(GRT_ANG=13.0011, CAM_ANG=23.9987, **base))
    assert setup_mismatch(science, same) == ""
    moved = setup_of(_header(GRT_ANG=13.0 + 2 * GRATING_ANGLE_TOLERANCE_DEG, CAM_ANG=24.0, **base))
    why = setup_mismatch(science, moved)
    assert "angles must agree within" in why and "GRT 13.1 deg" in why
    camera = setup_of(_header(GRT_ANG=13.0, CAM_ANG=24.0 + 2 * CAMERA_ANGLE_TOLERANCE_DEG, **base))
    assert "angles must agree" in setup_mismatch(science, camera)


def test_angles_decide_over_a_wrong_or_missing_label():
    """A library WAVMODE on one side and Custom on the other, same angles: compatible."""
    cards = dict(GRATING="SYZY_400", FILTER2="GG455", GRT_ANG=11.6, CAM_ANG=23.2)
    assert (
        setup_mismatch(
            setup_of(_header(WAVMODE="400_M2", **cards)),
            setup_of(_header(WAVMODE="Custom", **cards)),
        )
        == ""
    )


def test_no_angles_and_no_readable_mode_cannot_be_matched_and_says_what_to_write():
    science = setup_of(_header(WAVMODE="400WD", GRATING="SYZY_400"))
    arc = setup_of(_header(WAVMODE="", GRATING="SYZY_400"))
    assert science.wavmode == arc.wavmode == "unknown"
    assert "write GRT_ANG and CAM_ANG, or a library WAVMODE" in setup_mismatch(science, arc)


def test_filter_and_camera_must_agree():
    cards = dict(WAVMODE="Custom", GRATING="SYZY_400", GRT_ANG=11.6, CAM_ANG=23.2)
    gg455 = setup_of(_header(FILTER2="GG455", **cards))
    clear = setup_of(_header(FILTER2="<NO FILTER>", **cards))
    assert setup_mismatch(gg455, clear) == "arc filter NO_FILTER, science filter GG455"
    red = setup_of(_header(FILTER2="GG455", INSTCONF="Red", **cards))
    blue = setup_of(_header(FILTER2="GG455", INSTCONF="Blue", **cards))
    assert setup_mismatch(red, blue) == "arc camera Blue, science camera Red"


def test_compatible_arcs_uses_the_setup_not_the_wavmode_text():
    """The chain's arc choice on frames with the real Red headers."""
    science_header = _real("goodman_red_spec.fits")
    arc_header = _real("goodman_red_comp.fits")
    data = np.zeros((4, 6), np.float32)
    science = CCDData(data, unit="adu", header=science_header)
    good = CCDData(data, unit="adu", header=arc_header.copy())
    other = arc_header.copy()
    other["GRT_ANG"], other["GRT_TARG"] = 7.5, 7.5
    usable, refused = compatible_arcs(
        science,
        [(good, "arc_same.fits"), (CCDData(data, unit="adu", header=other), "arc_7.5.fits")],
    )
    assert [name for _, name in usable] == ["arc_same.fits"]
    assert refused[0][0] == "arc_7.5.fits" and "angles must agree" in refused[0][1]
