"""Flux settings: defaults, validation, header record, settings files and the CLI."""

from __future__ import annotations

import argparse
import json

import pytest
from astropy.io import fits

from pipeline.cli import reduce as cli
from pipeline.settings import FluxSettings, ReductionSettings, settings_from_dict


def test_defaults_suit_soar():
    s = FluxSettings()
    assert s.flux_calibration is True and s.extinction_correction is True
    assert s.preferred_standard == ""


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("flux_calibration", "perhaps", "true, false"),
        ("extinction_correction", 3, "true, false"),
        ("preferred_standard", 42, "a star name"),
    ],
)
def test_bad_values_name_the_field_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ValueError) as err:
        FluxSettings(**{field: value})
    assert field in str(err.value) and allowed in str(err.value)


def test_products_record_them_and_they_read_back():
    s = FluxSettings(flux_calibration="yes", preferred_standard=" LTT 3218 ")
    header = fits.Header()
    for key, value, comment in s.to_header_cards():
        header[key] = (value, comment)
    assert FluxSettings.from_header(header) == s
    assert s.preferred_standard == "LTT 3218"


def test_one_settings_mapping_holds_both_kinds():
    red, flux = settings_from_dict({"max-targets": 2, "extinction correction": "off"})
    assert red == ReductionSettings(max_targets=2)
    assert flux == FluxSettings(extinction_correction=False)
    with pytest.raises(ValueError, match="unknown reduction setting 'airmass'.*flux_calibration"):
        settings_from_dict({"airmass": 1.2})


def test_gsp_reduce_reads_flux_settings_and_flags(tmp_path):
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"preferred_standard": "EG 274", "cosmic_ray_rejection": "none"}))
    args = parser.parse_args([str(tmp_path), "--out", str(tmp_path / "o"), "--settings", str(path)])
    red, flux = cli._settings(args)
    assert red.cosmic_ray_rejection == "none" and flux.preferred_standard == "EG 274"
    args = parser.parse_args([str(tmp_path), "--out", "o", "--no-flux", "--standard", "LTT 3218"])
    red, flux = cli._settings(args)
    assert flux == FluxSettings(flux_calibration=False, preferred_standard="LTT 3218")
