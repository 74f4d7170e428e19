"""The reduction stages on small synthetic frames."""

from __future__ import annotations

import numpy as np
import pytest
import rawframes
from astropy.io import fits
from astropy.nddata import CCDData, VarianceUncertainty

from pipeline.calibrations.bias import make_master_bias
from pipeline.classify import classify
from pipeline.reduction import masks
from pipeline.reduction.bias import subtract_bias
from pipeline.reduction.cosmic_rays import remove_cosmic_rays, resolve_method
from pipeline.reduction.flat import MIN_FLAT, flat_field
from pipeline.reduction.frame import read_raw, trim_section_for
from pipeline.reduction.sections import format_section, parse_section
from pipeline.reduction.trim import trim_image


def test_sections_round_trip_and_errors():
    rows, cols = parse_section("[26:2055,2:948]")
    assert (rows, cols) == (slice(1, 948), slice(25, 2055))
    assert format_section(rows, cols) == "[26:2055,2:948]"
    with pytest.raises(ValueError, match="not a FITS section"):
        parse_section("26:2055")


def test_trim_section_from_header_or_geometry():
    c = classify(rawframes.header())
    assert trim_section_for(c, (948, 2071)) == "[26:2055,2:948]"
    no_trimsec = classify(rawframes.header(TRIMSEC=None))
    assert trim_section_for(no_trimsec, (948, 2071)) == "[26:2055,2:948]"
    # A window narrower than the chip has no prescan: kept whole but its first row.
    assert trim_section_for(no_trimsec, (100, 100)) == "[1:100,2:100]"
    # Any height: the ZZ Ceti ROI (200 rows at 2x2) despite an unbinned-chip TRIMSEC.
    zz = classify(rawframes.header(TRIMSEC="[1:4142,1:400]"))
    assert trim_section_for(zz, (200, 2071)) == "[26:2055,2:200]"
    with pytest.raises(ValueError, match="too small"):
        trim_section_for(no_trimsec, (1, 2071))


def test_width_of_another_binning_wins_over_ccdsum(tmp_path):
    """CCDSUM says 2 2 but the frame is 4142 wide: laid out (and relabelled) as 1 2."""
    path = tmp_path / "wide.fits"
    data = np.full((100, 4142), 400, np.uint16)
    data[:, 50:] += 50
    fits.PrimaryHDU(data, header=rawframes.header()).writeto(path)
    state = read_raw(path)
    assert state.trim_section == "[51:4110,2:100]"
    assert state.ccd.header["CCDSUM"] == "1 2"
    assert any("the data win" in n for n in state.notes)
    assert state.prescan_level == pytest.approx(400)


def test_bias_subtraction_is_aligned_to_the_pixel(tmp_path):
    """Master bias and frame trimmed with one section: the 7-column stripes cancel.

    Trimming the master with a section one column off (as goodman_pipeline's offset
    does) leaves the 30-ADU stripes in the frame; subtract_bias refuses that.
    """
    rng = np.random.default_rng(0)
    biases = []
    for i in range(3):
        path = rawframes.write(tmp_path / f"b{i}.fits", "bias", rng)
        state = read_raw(path)
        biases.append(trim_image(state.ccd, state.trim_section))
    master = make_master_bias(biases, gain=1.48, rdnoise=3.89)
    science = read_raw(rawframes.write(tmp_path / "s.fits", "science", rng))
    trimmed = trim_image(science.ccd, science.trim_section)
    reduced = subtract_bias(trimmed, master, gain=1.48, rdnoise=3.89)
    column_profile = np.median(reduced.data[200:700], axis=0)
    assert np.std(column_profile) < 1.0  # no stripes left (they are 30 ADU)
    assert np.median(column_profile) == pytest.approx(200.0, abs=1.0)

    shifted = trim_image(science.ccd, "[27:2056,2:948]")
    with pytest.raises(ValueError, match="not aligned"):
        subtract_bias(shifted, master, gain=1.48, rdnoise=3.89)


def test_variance_and_mask_travel_through_bias_and_flat():
    data = np.full((20, 30), 1100.0, np.float32)
    frame = CCDData(data, unit="adu", mask=np.zeros(data.shape, bool))
    frame.header["GSP_TRIM"] = "[1:30,1:20]"
    master = CCDData(
        np.full(data.shape, 100.0, np.float32),
        unit="adu",
        uncertainty=VarianceUncertainty(np.full(data.shape, 0.5, np.float32)),
    )
    master.header["GSP_TRIM"] = "[1:30,1:20]"
    reduced = subtract_bias(frame, master, gain=2.0, rdnoise=4.0)
    # 1000 ADU / gain 2 (Poisson) + (4/2)^2 (read noise) + 0.5 (master)
    assert np.allclose(reduced.uncertainty.array, 500 + 4 + 0.5)

    flat = CCDData(np.full(data.shape, 2.0, np.float32), unit="")
    flat.data[0, 0] = MIN_FLAT / 2
    fielded = flat_field(reduced, flat)
    assert fielded.data[5, 5] == pytest.approx(500.0)
    assert fielded.uncertainty.array[5, 5] == pytest.approx(504.5 / 4)
    assert fielded.mask[0, 0] and not fielded.mask[5, 5]
    assert fielded.data[0, 0] == pytest.approx(1000.0)  # left undivided, masked


@pytest.mark.parametrize("method", ["lacosmic", "dcr"])
def test_cosmic_rays_on_a_small_frame(method):
    rng = np.random.default_rng(2)
    ny, nx = 200, 400
    rows = np.arange(ny)[:, None]
    truth = 50 + 2000 * np.exp(-0.5 * ((rows - 100) / 2.0) ** 2) * np.ones((1, nx))
    data = (rng.poisson(truth * 1.48) / 1.48 + rng.normal(0, 2.6, truth.shape)).astype(np.float32)
    ys, xs = rng.integers(5, ny - 5, 60), rng.integers(5, nx - 5, 60)
    data[ys, xs] += rng.uniform(300, 3000, 60)
    ccd = CCDData(data, unit="adu", mask=np.zeros(data.shape, bool))
    cleaned, crmask = remove_cosmic_rays(ccd, method, 1.48, 3.89)
    assert crmask[ys, xs].mean() >= 0.95
    trace = np.abs(rows - 100) <= 4
    hit = np.zeros(data.shape, bool)
    hit[ys, xs] = True
    from scipy import ndimage

    false = crmask & np.broadcast_to(trace, data.shape) & ~ndimage.binary_dilation(hit)
    assert false.sum() / np.broadcast_to(trace, data.shape).sum() < 0.001
    found = crmask[ys, xs]
    residual = np.abs(cleaned.data[ys, xs] - truth[ys, xs])[found]
    noise = np.sqrt(truth[ys, xs][found] / 1.48 + 2.6**2)
    assert np.median(residual / noise) < 3  # cleaned back to the local level
    untouched, none_mask = remove_cosmic_rays(ccd, "none", 1.48, 3.89)
    assert untouched is ccd and not none_mask.any()


def test_default_method_by_binning():
    assert resolve_method("default", (1, 1)) == "dcr"
    assert resolve_method("default", (2, 2)) == "lacosmic"
    assert resolve_method("default", (1, 2)) == "lacosmic"  # binned along rows
    assert resolve_method("none", (1, 1)) == "none"
    with pytest.raises(ValueError, match="use default, lacosmic, dcr or none"):
        resolve_method("median", 2)


def test_saturated_pixels_are_flagged_at_read(tmp_path):
    data = rawframes.pixels("science", np.random.default_rng(4))
    data[500, 1000] = 65535
    state = read_raw(rawframes.write(tmp_path / "sat.fits", data=data))
    assert state.flags[500, 1000] & masks.SATURATED
    assert state.ccd.mask[500, 1000]
    assert state.prescan_level == pytest.approx(rawframes.BIAS_LEVEL, abs=0.3)
