"""Frames whose mode, lamps, binning or readout cannot be read from the header.

Each is reduced as far as it can be (or refused, for absurd values) with a status that
names the missing piece and what would fix it; the rest of the night is untouched.
"""

from __future__ import annotations

import rawframes
from astropy.io import fits

from pipeline.night import reduce_night
from pipeline.settings import ReductionSettings

FAST = ReductionSettings(cosmic_ray_rejection="none")
NO_LAMP_CARDS = {k: None for k in ("LAMP_HGA", "LAMP_NE", "LAMP_AR", "LAMP_FE", "LAMP_CU")}


def _write(raw, name, role, minute, **cards):
    rawframes.write(raw / name, role, **{"DATE-OBS": f"2024-03-20T00:{minute:02d}:00.000", **cards})


def test_bad_frames_reduced_as_far_as_possible(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for i in range(2):
        _write(raw, f"000{i}_bias.fits", "bias", i)
        _write(raw, f"001{i}_flat.fits", "flat", 10 + i)
    _write(raw, "0020_science.fits", "science", 20)
    _write(raw, "0030_arc_nolamp.fits", "arc", 30, OBJECT="comparison", **NO_LAMP_CARDS)
    _write(raw, "0031_science_nomode.fits", "science", 31, WAVMODE="")
    _write(raw, "0032_science_noccdsum.fits", "science", 32, CCDSUM=None, ROI="user-defined")
    _write(raw, "0033_gain0.fits", "science", 33, GAIN=0)
    _write(raw, "0034_ccdsum00.fits", "science", 34, CCDSUM="0 0")
    report = reduce_night(raw, tmp_path / "out", FAST)
    assert not report.failed, report.table()

    good = report.by_name("0020_science.fits")
    assert good.status == "reduced" and good.products[0].endswith("fzst_0020_science.fits")

    arc = report.by_name("0030_arc_nolamp.fits")
    assert arc.status == "reduced"
    assert "lamps unknown: no LAMP_* cards and OBJECT 'comparison' names no lamp" in arc.reason
    assert "write e.g. OBJECT = 'HgArNe' or the LAMP_* cards" in arc.reason

    nomode = report.by_name("0031_science_nomode.fits")
    assert nomode.status == "reduced"  # trimmed, bias, flat: only the mode is missing
    header = fits.getheader(nomode.products[0])
    assert header["GSP_FLAT"].startswith("norm_master_flat_") and header["GSP_BIAS"] != "none"
    assert "WAVMODE missing or empty -> unknown" in nomode.reason

    noccdsum = report.by_name("0032_science_noccdsum.fits")
    assert noccdsum.status == "reduced"
    assert "binning 2x2 assumed from the width 2071" in noccdsum.reason
    assert "write CCDSUM" in noccdsum.reason

    gain = report.by_name("0033_gain0.fits")
    assert gain.status == "skipped"
    assert "GAIN=0 is not a gain: expected e-/ADU > 0" in gain.reason
    ccdsum = report.by_name("0034_ccdsum00.fits")
    assert ccdsum.status == "skipped"
    assert "CCDSUM='0 0' is not a binning" in ccdsum.reason

    # The product of a reduced frame keeps every interpretation in HISTORY.
    history = "\n".join(fits.getheader(noccdsum.products[0])["HISTORY"])
    assert "GSP: binning 2x2 assumed from the width 2071" in history
