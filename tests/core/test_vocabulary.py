"""The vocabulary is defined once and means the same in every layer."""

from __future__ import annotations

import pytest

from gsp_extension.vocabulary import JobKind, JobState
from pipeline.vocabulary import (
    ARC_OBSTYPES,
    DataType,
    FrameRole,
    data_type_from_rlevel,
    frame_role,
    is_arc,
    rlevel,
)


def test_enums_equal_the_stored_and_sent_values():
    # The database stores ints and strings; the API sends data_type as a string.
    assert DataType.REDUCED == 2 and DataType(int("4")) is DataType.WAVELENGTH_CALIBRATED
    assert JobKind.CALIBRATE_WAVELENGTH == "calibrate_wavelength"
    assert f"{JobKind.MASTER_BIAS}:2020-11-26" == "master_bias:2020-11-26"
    assert JobState("failed").finished and not JobState.QUEUED.finished
    assert [t.description for t in DataType][1] == "a master calibration"


def test_rlevel_is_derived_from_the_data_type_and_back():
    assert [rlevel(t) for t in list(DataType)[1:]] == [61, 62, 63, 64, 65]
    for t in list(DataType)[1:]:
        assert data_type_from_rlevel(rlevel(t)) is t
        assert data_type_from_rlevel(str(rlevel(t))) is t  # as a header string may hold it
    for value in (0, 60, 66, None, "x", 1.5e9):
        assert data_type_from_rlevel(value) is None, value
    with pytest.raises(ValueError, match="raw files"):
        rlevel(DataType.RAW)
    with pytest.raises(ValueError):
        rlevel(9)


def test_one_arc_test_for_every_spelling():
    assert set(ARC_OBSTYPES) == {"ARC", "COMP", "LAMP"}
    assert all(is_arc(o) for o in ("COMP", " arc ", "Lamp"))
    assert not any(is_arc(o) for o in ("LAMPFLAT", "OBJECT", "", None))
    assert frame_role("ZERO") is FrameRole.BIAS and frame_role("FOCUS") is FrameRole.OTHER


def test_the_arc_test_is_shared_by_the_classifier_the_engine_and_the_widgets():
    from pipeline.classify import classify
    from voila_apps.widgets.lamps import is_arc as widget_is_arc

    header = {"OBSTYPE": "LAMP", "GAIN": 1.48, "RDNOISE": 3.89, "DATE-OBS": "2020-11-27"}
    header.update({"CCDSUM": "2 2", "GRATING": "SYZY_400", "SLIT": "1.0_LONG_SLIT"})
    assert classify(header).role == FrameRole.ARC
    assert widget_is_arc({"obstype": "LAMP"}) and not widget_is_arc({"obstype": "FLAT"})
