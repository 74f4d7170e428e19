"""ReductionSettings: defaults, validation, round trips."""

from __future__ import annotations

import json

import pytest
from astropy.io import fits

from pipeline.settings import HEADER_KEYS, ReductionSettings


def test_defaults_match_design():
    s = ReductionSettings()
    assert s.saturation_threshold == 1.0
    assert s.cosmic_ray_rejection == "default"
    assert (s.min_bias_frames, s.min_flat_frames) == (10, 10)
    assert s.flat_normalization_order == 15
    assert s.max_targets == 3
    assert (s.extraction_type, s.target_fit_model) == ("fractional", "moffat")


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("cosmic_ray_rejection", "lacosmics", "default, lacosmic, dcr, none"),
        ("flat_normalization", "median", "mean, simple, full"),
        ("extraction_type", "box", "fractional, optimal"),
        ("target_fit_model", "lorentz", "moffat, gaussian"),
        ("technique", "Photometry", "auto, Spectroscopy, Imaging"),
        ("ignore_bias", "maybe", "true, false"),
        ("saturation_threshold", 150, "0.0 to 100.0"),
        ("min_bias_frames", 0, ">= 1"),
        ("flat_normalization_order", 2.5, "int"),
    ],
)
def test_bad_values_name_field_and_allowed(field, value, allowed):
    with pytest.raises(ValueError) as err:
        ReductionSettings(**{field: value})
    assert field in str(err.value) and allowed in str(err.value)


def test_spelling_is_normalized_and_round_trips(tmp_path):
    s = ReductionSettings.from_dict({"cosmic-ray-rejection": "LACosmic", "ignore bias": "yes"})
    assert s.cosmic_ray_rejection == "lacosmic" and s.ignore_bias is True
    assert ReductionSettings.from_dict(s.to_dict()) == s
    path = tmp_path / "s.json"
    path.write_text(json.dumps(s.to_dict()))
    assert ReductionSettings.from_file(path) == s


def test_unknown_key_is_an_error():
    with pytest.raises(ValueError, match="unknown reduction setting 'gain'"):
        ReductionSettings.from_dict({"gain": 2})


def test_header_cards_record_every_setting():
    s = ReductionSettings(flat_normalization="full", max_targets=2)
    assert set(HEADER_KEYS) == set(s.to_dict())
    header = fits.Header()
    for key, value, comment in s.to_header_cards():
        header[key] = (value, comment)
    assert ReductionSettings.from_header(header) == s


def test_settings_header_keys_are_used_by_no_other_card():
    """A settings card shares a product's header with every other card the pipeline
    writes (a sensitivity master carries the science settings beside its own fit), so
    a key another module also writes would overwrite one of the two values."""
    import re
    from pathlib import Path

    import pipeline
    import pipeline.settings

    own = Path(pipeline.settings.__file__).resolve()
    elsewhere = {}
    for path in Path(pipeline.__file__).resolve().parent.rglob("*.py"):
        if path.resolve() == own:
            continue
        for key in re.findall(r"[\"'](GSP_[A-Z0-9]{1,4})[\"']", path.read_text()):
            elsewhere.setdefault(key, path.name)
    # the one shared on purpose: a master flat records the order it was normalised
    # with, which is this setting's value (pipeline/calibrations/build.py passes it)
    same_value = {"GSP_NORD"}
    clashes = {
        k: elsewhere[k] for k in HEADER_KEYS.values() if k in elsewhere and k not in same_value
    }
    assert len(set(HEADER_KEYS.values())) == len(HEADER_KEYS)
    assert not clashes, f"settings header keys also written elsewhere: {clashes}"
