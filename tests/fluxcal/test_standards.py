"""Standard stars are recognised by name (any spelling) or by pointing within 30"."""

from __future__ import annotations

import shutil

import pytest

from pipeline.classify import classify
from pipeline.fluxcal.standards import (
    catalogue,
    find_standard,
    library_dirs,
    standard_flux,
    use_library_dirs,
)
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


@pytest.mark.parametrize(("offset", "matches"), [(29.9, True), (31.0, False)])
def test_coordinates_match_up_to_30_arcsec_and_not_at_31(offset, matches):
    # LTT3218 is at 08:41:32.37 -32:56:32.9 (esofil_info.txt): an offset in declination
    # only is exactly that many arcseconds.
    dec = f"-32:56:{32.9 + offset:.1f}" if 32.9 + offset < 60 else f"-32:57:{offset - 27.1:04.1f}"
    star, how = find_standard("my target", "08:41:32.37", dec)
    assert (star is not None and star.name == "LTT3218" and "coordinates" in how) is matches
    role = classify(rawframes.header(OBJECT="SPSTD", OBSRA="08:41:32.37", OBSDEC=dec)).role
    assert role == ("standard" if matches else "science")


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


def test_a_table_edited_in_place_is_read_again(tmp_path):
    """The tables are cached by path, modification time and size: a deployer correcting
    a star's fluxes in place while the service runs is heard without a restart."""
    import os

    import numpy as np

    src = next(s for s in catalogue() if s.name == "LTT3218")
    table = tmp_path / "fmystar43.dat"
    shutil.copy(src.path, table)
    _, first, _ = standard_flux(str(table))
    before = table.stat()
    lines = table.read_text().splitlines()
    # the same bytes but one digit of the first flux, and the same size: only the
    # modification time tells (set one second later, whatever the clock's resolution)
    f = lines[0].split()[1]
    digit = "1" if f[0] != "1" else "2"
    lines[0] = lines[0].replace(f, digit + f[1:], 1)
    table.write_text("\n".join(lines) + "\n")
    assert table.stat().st_size == before.st_size
    os.utime(table, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    _, second, _ = standard_flux(str(table))
    assert second[0] == pytest.approx(float(digit + f[1:]) * 1e-16, rel=1e-12, abs=0)
    assert second[0] != first[0]
    np.testing.assert_array_equal(second[1:], first[1:])
    # a row appended, the modification time set as at the last read: its size tells
    with table.open("a") as out:
        out.write("20000.0 1.0 0.0 50.0\n")
    os.utime(table, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    wave, _, _ = standard_flux(str(table))
    assert wave.size == second.size + 1 and wave[-1] == 20000.0


@pytest.fixture
def configured_standards(tmp_path):
    """An empty folder configured as the deployment's folder of more standards."""
    before = library_dirs()
    folder = tmp_path / "standards"
    folder.mkdir()
    use_library_dirs([folder])
    yield folder
    use_library_dirs(before)


def _drop_star(folder, ra="10:00:00.0", dec="-40:00:00"):
    src = next(s for s in catalogue() if s.name == "LTT3218")
    shutil.copy(src.path, folder / "fmystar42.dat")
    (folder / "esofil_info.txt").write_text(f"fmystar42.dat  MyStar42  {ra} {dec}\n")


def test_a_star_dropped_into_the_configured_folder_is_recognised(configured_standards):
    """The deployment's folder (GSPExtensionApp.standards_dirs, GSP_STANDARDS_DIRS,
    gsp reduce --standards-dir): a table dropped in while running is recognised by the
    classifier at the next frame, by name and by pointing."""
    frame = rawframes.header(OBJECT="MyStar 42", OBSRA="10:00:00.0", OBSDEC="-40:00:00")
    pointed = rawframes.header(OBJECT="SPSTD", OBSRA="10:00:01.0", OBSDEC="-40:00:05")
    assert classify(frame).role == "science"  # not yet a standard: no table
    _drop_star(configured_standards)
    assert classify(frame).role == "standard"
    by_pointing = classify(pointed)
    assert by_pointing.role == "standard"
    assert any("MyStar42" in d for d in by_pointing.decisions)


def test_a_missing_standards_folder_is_refused_saying_what_is_expected(tmp_path):
    before = library_dirs()
    with pytest.raises(ValueError, match="is not a folder; expected a folder of f<star>.dat"):
        use_library_dirs([tmp_path / "nowhere"])
    assert library_dirs() == before


def test_the_service_reads_its_standards_folders_from_the_environment(tmp_path):
    from gsp_extension import environment
    from gsp_extension.app import GSPExtensionApp

    env = {"GSP_STANDARDS_DIRS": f"{tmp_path}:{tmp_path / 'b'}: "}
    assert environment.standards_dirs(env) == [str(tmp_path), str(tmp_path / "b")]
    assert environment.standards_dirs({}) == []
    with pytest.raises(Exception, match="standards_dirs: .* are not folders"):
        GSPExtensionApp(standards_dirs=[str(tmp_path / "nowhere")])
    assert GSPExtensionApp(standards_dirs=[str(tmp_path)]).standards_dirs == [str(tmp_path)]


def test_a_worker_told_the_folders_makes_the_added_stars_sensitivity(tmp_path):
    """A flux job hands the service's folders to its worker (another process, not
    configured): the standard of a dropped table gets its sensitivity there."""
    import numpy as np

    from pipeline.fluxcal.night_stage import sensitivity_from_product
    from pipeline.wavelength.fits_io import write_spectrum
    from tests.fluxcal import known_flux as kf

    folder = tmp_path / "standards"
    folder.mkdir()
    _drop_star(folder)
    wave = np.arange(3600.0, 8900.0, 2.0)
    spec = kf.observe(kf.star_flux("LTT3218", wave), wave, 1.2, 300, seed=3)
    header = kf.header("MyStar42", 1.2, 300, OBSRA="10:00:00.0", OBSDEC="-40:00:00")
    path = write_spectrum(spec, tmp_path / "wecfzst_0001_MyStar42_target_1.fits", header)
    sens, result = sensitivity_from_product(path, tmp_path / "out")
    assert sens is None and "not a star of the flux library" in result.reason
    sens, result = sensitivity_from_product(path, tmp_path / "out", standards_dirs=[folder])
    assert result.status == "written", result.reason
    assert sens.standard == "MyStar42" and sens.table == "fmystar42.dat"


def test_gsp_reduce_takes_a_standards_folder_and_refuses_a_missing_one(tmp_path, capsys):
    import argparse

    from pipeline.cli import reduce as cli

    before = library_dirs()
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    (tmp_path / "raw").mkdir()
    args = parser.parse_args(
        [str(tmp_path / "raw"), "--out", str(tmp_path / "o"), "--standards-dir", "nowhere"]
    )
    assert cli.run(args) == 2
    assert "--standards-dir" in capsys.readouterr().err
    assert library_dirs() == before
