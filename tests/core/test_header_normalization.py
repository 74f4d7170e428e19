"""Every real spelling the normaliser must understand (seen in real Goodman files)."""

from __future__ import annotations

import pytest
from astropy.io import fits

from pipeline.header_normalization import (
    lamps_from_object,
    normalize_grating,
    normalize_header,
    normalize_obstype,
    normalize_wavmode,
    slit_width,
)


@pytest.mark.parametrize(
    "raw, canonical, lines",
    [
        ("400_SYZY", "400_SYZY", 400.0),
        ("SYZY_400", "400_SYZY", 400.0),
        ("SYZY_600-OLD", "600_SYZY_OLD", 600.0),
        ("KOSI_600", "600_KOSI", 600.0),
        ("1200_RALC_BLUE", "1200_RALC_BLUE", 1200.0),
        ("930_SYZY", "930_SYZY", 930.0),
        ("<NO GRATING>", "NO_GRATING", None),
        ("", "NO_GRATING", None),
    ],
)
def test_grating_names_and_lines_per_mm(raw, canonical, lines):
    name, per_mm, decisions = normalize_grating(raw)
    assert (name, per_mm) == (canonical, lines)
    assert bool(decisions) == (raw not in (canonical, "", "<NO GRATING>"))


@pytest.mark.parametrize(
    "raw, mode",
    [
        ("400_M2", "400_M2"),
        ("400 m2", "400_M2"),
        ("600 Blue", "600_BLUE"),
        ("Custom", "Custom"),
        ("IMAGING", "Imaging"),
        ("400WD", "unknown"),
        ("", "unknown"),
    ],
)
def test_wavmode_spellings(raw, mode):
    value, decisions = normalize_wavmode(raw)
    assert value == mode
    if mode == "unknown":
        assert decisions and "unknown" in decisions[0]


def test_wavmode_of_a_usual_spelling_does_not_load_the_lamp_library(monkeypatch):
    # Loading the library reads its 80 files (1.6 s of a cold `gsp reduce`); the mode
    # pattern settles usual spellings, the library only the others.
    import pipeline.header_normalization as hn
    from pipeline.lamps import modes

    asked = []
    monkeypatch.setattr(hn, "modes", lambda: asked.append(1) or modes())
    assert normalize_wavmode("400 m2")[0] == "400_M2"
    assert normalize_wavmode("2100_3900A")[0] == "2100_3900A"
    assert not asked
    assert normalize_wavmode("400WD")[0] == "unknown"
    assert asked  # an odd spelling is still checked against the library


def test_every_library_mode_is_accepted():
    from pipeline.lamps import modes

    for mode in modes():
        assert normalize_wavmode(mode)[0] == mode


def test_wavmode_that_contradicts_the_grating_is_said():
    _, decisions = normalize_wavmode("930_M2", 400.0)
    assert any("930 l/mm grating but GRATING has 400 l/mm" in d for d in decisions)


@pytest.mark.parametrize(
    "raw, canonical, role, engineering",
    [
        ("BIAS", "BIAS", "bias", ""),
        ("ZERO", "BIAS", "bias", ""),
        ("FLAT", "FLAT", "flat", ""),
        ("LAMPFLAT", "FLAT", "flat", ""),
        ("DOMEFLAT", "FLAT", "flat", ""),
        ("COMP", "COMP", "arc", ""),
        ("ARC", "COMP", "arc", ""),
        ("OBJECT", "OBJECT", "science", ""),
        ("SPECTRUM", "OBJECT", "science", ""),
        ("EXPOSE", "OBJECT", "science", ""),
        ("FOCUS", "FOCUS", "other", "focus sequence"),
    ],
)
def test_obstype_spellings(raw, canonical, role, engineering):
    value, got_role, why, _ = normalize_obstype(raw, "HD109379")
    assert (value, got_role, why) == (canonical, role, engineering)


def test_acquisition_and_standard_frames():
    assert normalize_obstype("OBJECT", "PMNJ0948+0022_reacq")[1:3] == ("other", "acquisition")
    # A spectrum of a target whose name happens to say "acq" is still science.
    assert normalize_obstype("OBJECT", "target_acq", grating=True)[1] == "science"
    assert normalize_obstype("OBJECT", "x", "Slit Imaging/Alignment")[2] == "acquisition"
    assert normalize_obstype("OBJECT", "LTT 3218")[1] == "standard"
    assert normalize_obstype("OBJECT", "Acquarius")[1] == "science"


@pytest.mark.parametrize(
    "obj, lamps",
    [
        ("Fe", ("FeHeAr",)),
        ("HgAr", ("HgAr",)),
        ("CuHeAr", ("CuHeAr",)),
        ("HgArNe", ("HgAr", "Ne")),
        ("Ne", ("Ne",)),
        ("Ar", ("Ar",)),
        ("HgAr + Ne lamp", ("HgAr", "Ne")),
        ("Arcturus", ()),
        ("HD109379", ()),
        ("", ()),
    ],
)
def test_lamps_from_object(obj, lamps):
    assert lamps_from_object(obj) == lamps


@pytest.mark.parametrize(
    "raw, width",
    [
        ("1.0_LONG_SLIT", 1.0),
        ('0.45" long slit', 0.45),
        ('1.03" long slit', 1.03),
        ("<NO MASK>", None),
        ("SLICER B.4", None),
    ],
)
def test_slit_width(raw, width):
    assert slit_width(raw) == width


def test_lamp_cards_win_over_object_and_angles_prefer_measured():
    header = fits.Header(
        {
            "OBSTYPE": "COMP",
            "OBJECT": "Fe",
            "LAMP_HGA": "TRUE",
            "LAMP_NE": "FALSE",
            "GRT_ANG": 12.6006,
            "GRT_TARG": 12.6,
            "CAM_TARG": 25.2,
            "CCDSUM": "1 2",
            "INSTRUME": "ghts_blue",
        }
    )
    n = normalize_header(header)
    assert n.lamps == {"Hg", "Ar"} and n.lamp_source == "LAMP_*" and n.lamp_names == ("HgAr",)
    assert n.grating_angle == 12.6006 and n.camera_angle == 25.2
    assert n.binning == (1, 2) and n.camera == "Blue"
    assert "camera Blue from INSTRUME 'ghts_blue' (no INSTCONF)" in n.decisions


@pytest.mark.parametrize(
    "cards, message",
    [
        ({"GAIN": 0}, "GAIN=0 is not a gain"),
        ({"GAIN": -1.4}, "GAIN=-1.4 is not a gain"),
        ({"GAIN": "fast"}, "GAIN='fast' is not a number"),
        ({"RDNOISE": -2}, "RDNOISE=-2 is not a read noise"),
        ({"CCDSUM": "0 0"}, "CCDSUM='0 0' is not a binning"),
        ({"CCDSUM": "2"}, "CCDSUM='2' is not a binning"),
    ],
)
def test_absurd_values_are_problems(cards, message):
    header = fits.Header({"OBSTYPE": "BIAS", "GAIN": 1.48, "RDNOISE": 3.89, "CCDSUM": "2 2"})
    header.update(cards)
    problems = normalize_header(header).problems
    assert any(message in p for p in problems), problems
