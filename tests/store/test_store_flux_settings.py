"""Flux calibration settings (issue 17) are part of a proposal's versioned settings."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from gsp_extension.store import upgrade_database
from gsp_extension.store.errors import InvalidValue
from gsp_extension.store.models import Proposal
from gsp_extension.store.settings import (
    flux_settings_values,
    get_settings,
    put_settings,
    settings_record,
    settings_values,
)


def test_a_new_proposal_flux_calibrates_with_soar_defaults(db, people):
    with db.session() as s:
        row = get_settings(s, people["a"].id)
        assert flux_settings_values(row) == {
            "flux_calibration": True,
            "preferred_standard": "",
            "extinction_correction": True,
        }
        record = settings_record(row)
    assert record["flux_calibration"] is True and record["extinction_correction"] is True
    # the pipeline's reduction settings stay apart (they build ReductionSettings)
    assert "flux_calibration" not in settings_values(row)


def test_flux_settings_change_as_a_new_version(db, people):
    with db.transaction() as s:
        v2 = put_settings(
            s,
            s.get(Proposal, people["a"].id),
            {"flux_calibration": "off", "preferred_standard": "LTT 3218"},
        )
    with db.transaction() as s:
        v3 = put_settings(s, s.get(Proposal, people["a"].id), {"extinction_correction": False})
    with db.session() as s:
        assert (v2.version, v3.version) == (2, 3)
        latest = flux_settings_values(get_settings(s, people["a"].id))
        assert latest == {
            "flux_calibration": False,
            "preferred_standard": "LTT 3218",
            "extinction_correction": False,
        }
        assert flux_settings_values(get_settings(s, people["a"].id, 1))["flux_calibration"]


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"flux_calibration": "maybe"}, "flux_calibration"),
        ({"preferred_standard": "x" * 41}, "preferred_standard"),
        ({"extinction_correction": 2}, "extinction_correction"),
    ],
)
def test_bad_flux_settings_are_refused_by_name(db, people, bad, named):
    with db.transaction() as s, pytest.raises(InvalidValue) as info:
        put_settings(s, s.get(Proposal, people["a"].id), bad)
    assert named in str(info.value)


def test_migration_0004_fills_existing_versions_with_the_defaults(db_url):
    """Settings stored before 0004 get flux calibration on, no preferred star, extinction on."""
    from gsp_extension.store import Database

    upgrade_database(db_url, "0003")
    database = Database(db_url)
    try:
        with database.transaction() as s:
            s.execute(
                text(
                    "INSERT INTO proposals (soar_id, title, created_at) "
                    "VALUES ('SOAR2026B-999', 't', CURRENT_TIMESTAMP)"
                )
            )
            pid = s.execute(
                text("SELECT id FROM proposals WHERE soar_id = 'SOAR2026B-999'")
            ).scalar_one()
            s.execute(
                text(
                    "INSERT INTO reduction_settings (proposal_id, version, created_at, "
                    "saturation_threshold, cosmic_ray_rejection, technique, ignore_bias, "
                    "ignore_flats, min_bias_frames, min_flat_frames, flat_normalization, "
                    "flat_normalization_order, extraction_type, target_fit_model, max_targets, "
                    "background_spacing, background_width) VALUES (:p, 1, CURRENT_TIMESTAMP, "
                    "1, 'default', 'auto', false, false, 10, 10, 'simple', 15, 'fractional', "
                    "'moffat', 3, 3, 3)"
                ),
                {"p": pid},
            )
        upgrade_database(db_url)
        with database.session() as s:
            row = get_settings(s, pid)
            assert flux_settings_values(row) == {
                "flux_calibration": True,
                "preferred_standard": "",
                "extinction_correction": True,
            }
    finally:
        database.dispose()
