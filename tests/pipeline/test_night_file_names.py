"""Raw files may have any name: a night whose files are named outside ASCII is reduced,
and every product records the names (escaped, reversibly, as FITS cards hold ASCII only)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

from astropy.io import fits

from pipeline.night import reduce_night
from pipeline.products import fits_text
from pipeline.simulate import NightConfig, simulate_night


def test_fits_text_escapes_only_what_a_card_cannot_hold():
    assert fits_text("0001_bias.fits") == "0001_bias.fits"
    assert fits_text("ñandú 0001 (arc).fits") == "%C3%B1and%C3%BA 0001 (arc).fits"
    assert fits_text("50%_flat.fits") == "50%25_flat.fits"
    for name in ("ñandú_0001.fits", "50%_flat.fits", "Ωmega_ü.fits"):
        assert unquote(fits_text(name)) == name


def test_a_night_with_non_ascii_names_is_reduced_and_names_its_sources(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "out"
    simulate_night(
        raw,
        NightConfig(
            mode="400_M2",
            camera="Red",
            binning=2,
            n_bias=3,
            n_flats=3,
            n_arcs=1,
            n_science=1,
            seed=3,
        ),
    )
    renamed = {}
    for path in sorted(raw.glob("*.fits")):
        new = path.with_name(f"ñandú_{path.name}")
        path.rename(new)
        renamed[new.name] = new
    report = reduce_night(raw, out)

    written = [Path(p) for p in out.rglob("*.fits")]
    wavelength = [p for p in written if p.name.startswith("wecfzst_ñandú_")]
    assert wavelength, sorted(p.name for p in written)
    for path in written:
        header = fits.getheader(path)
        if "GSP_ONAM" in header and not path.name.startswith("master"):
            assert unquote(header["GSP_ONAM"]) in renamed, (path.name, header["GSP_ONAM"])
    science = [p for p in wavelength if "_target_" in p.name]
    assert science and all(
        unquote(fits.getheader(p)["GSP_ONAM"]).startswith("ñandú_") for p in science
    )
    assert report is not None
