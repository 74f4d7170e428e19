"""Goodman instrument tables: readout modes, saturation, raw geometry."""

import warnings

import numpy as np
import pytest

from pipeline import instrument


def test_pixels_saturate_at_the_full_well_or_16_bits_not_the_half_well():
    # Red 344 kHz ATTN3: half full well 69257 ADU is above the 16-bit range.
    assert instrument.saturation_level(1.48, 3.89, "Red") == 65535
    # Blue 200 kHz ATTN0 (half well 49928) and Blue 100 kHz ATTN3, HD109379's mode
    # (33932): full wells of 99856 and 67864 ADU, so 16 bits come first.
    assert instrument.saturation_level(1.4, 4.74, "Blue") == 65535
    assert instrument.saturation_level(2.06, 3.99, "Blue") == 65535
    # Blue 400 kHz ATTN0: full well 2 x 12328 ADU is inside 16 bits.
    assert instrument.saturation_level(5.67, 8.62, "Blue") == 24656
    # The flat check keeps goodman_pipeline's half full well.
    assert instrument.half_well_level(2.06, 3.99, "Blue") == 33932
    assert instrument.half_well_level(1.48, 3.89, "Red") == 65535


def test_camera_restricts_the_match():
    assert instrument.find_readout_mode(1.4, 4.74, "Red") is None
    assert instrument.find_readout_mode(1.4, 4.74, "blue").rate_khz == 200


def test_unknown_pair_falls_back_to_65535_with_a_warning():
    with pytest.warns(instrument.UnknownReadoutModeWarning, match="GAIN=9.9 RDNOISE=1.1"):
        assert instrument.saturation_level(9.9, 1.1) == 65535


def test_every_table_row_is_found_again():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for mode in instrument.READOUT_MODES:
            assert instrument.find_readout_mode(mode.gain, mode.rdnoise, mode.camera) is mode


@pytest.mark.parametrize(
    ("binning", "shape", "trim"),
    [
        (1, (1896, 4142), "[51:4110,2:1896]"),
        (2, (948, 2071), "[26:2055,2:948]"),
        (3, (632, 1381), "[18:1370,2:632]"),
    ],
)
def test_spectroscopic_geometry_matches_real_frames(binning, shape, trim):
    geometry = instrument.frame_geometry(binning)
    assert geometry.shape == shape
    assert geometry.trim_section == trim
    assert geometry.roi == f"Spectroscopic {binning}x{binning}"


def test_imaging_geometry_and_bad_binning():
    assert instrument.frame_geometry(2, imaging=True).roi == "Imaging 2x2"
    with pytest.raises(ValueError, match=r"use one of \(1, 2, 3\)"):
        instrument.frame_geometry(4)


def test_binned_pixel_centres():
    np.testing.assert_allclose(instrument.binned_pixel_centres(2, 3), [0.5, 2.5, 4.5])
    np.testing.assert_allclose(instrument.binned_pixel_centres(3, 2), [1.0, 4.0])
    np.testing.assert_allclose(instrument.binned_pixel_centres(1, 2), [0.0, 1.0])
