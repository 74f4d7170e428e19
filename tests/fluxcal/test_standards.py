"""Standard stars are recognised by name (any spelling) or by pointing within 30"."""

from __future__ import annotations

import shutil

import pytest

from pipeline.classify import classify
from pipeline.fluxcal.standards import catalogue, find_standard, standard_flux
from tests.pipeline import rawframes


@pytest.mark.parametrize("name", ["LTT 3218", "LTT3218", "ltt3218", " ltt-3218 "])
def test_name_variants_match(name):
    star, how = find_standard(name)
    assert star is not None and star.name == "LTT3218" and how == "OBJECT"


def test_cd_names_with_d_match():
    assert find_standard("CD-32 9927")[0].name == "CD-32d9927"


def test_coordinates_within_30_arcsec_match_and_farther_do_not():
    # LTT3218 is at 08:41:32.37 -32:56:32.9; 1 s of RA there is 12.6"
    star, how = find_standard("my target", "08:41:33.37", "-32:56:40.0")
    assert star.name == "LTT3218" and "coordinates" in how
    assert find_standard("my target", "08:41:35.5", "-32:56:32.9") == (None, "")
    assert find_standard("my target", "", "") == (None, "")


def test_classify_recognises_a_standard_by_pointing():
    near = classify(rawframes.header(OBJECT="SPSTD", OBSRA="08:41:32.9", OBSDEC="-32:56:20"))
    assert near.role == "standard"
    assert any("LTT3218" in d and "coordinates" in d for d in near.decisions)
    far = classify(rawframes.header(OBJECT="SPSTD", OBSRA="08:45:00", OBSDEC="-32:56:20"))
    assert far.role == "science"


def test_every_bundled_flux_table_reads_in_cgs():
    stars = catalogue()
    assert len(stars) >= 30
    for star in stars:
        w, f, width = standard_flux(star.path)
        assert w[0] < 4000 and w[-1] > 9000, star.name
        assert 1e-17 < f[w.searchsorted(6000)] < 1e-8, star.name


def test_a_star_added_as_a_file_is_found(tmp_path):
    src = next(s for s in catalogue() if s.name == "LTT3218")
    shutil.copy(src.path, tmp_path / "fmystar42.dat")
    (tmp_path / "esofil_info.txt").write_text("fmystar42.dat  MyStar42  10:00:00.0 -40:00:00\n")
    star, _ = find_standard("mystar 42", extra_dirs=[tmp_path])
    assert star is not None and star.name == "MyStar42"
    by_pointing, _ = find_standard("x", "10:00:01.0", "-40:00:05", extra_dirs=[tmp_path])
    assert by_pointing.name == "MyStar42"
