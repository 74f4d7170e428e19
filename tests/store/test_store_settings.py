"""Reduction settings are versioned: a change is a new version, products keep theirs."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from store_helpers import digest

from gsp_extension.security import AccessPolicy, Caller
from gsp_extension.store.errors import InvalidValue, NotFound
from gsp_extension.store.files import register_file
from gsp_extension.store.models import File, Proposal, ReductionSettings
from gsp_extension.store.settings import (
    DEFAULT_SETTINGS,
    get_settings,
    put_settings,
    settings_values,
    to_pipeline_settings,
    validate_settings,
)


def test_a_new_proposal_starts_with_the_seed_defaults(db, people):
    with db.session() as s:
        row = get_settings(s, people["a"].id)
    assert row.version == 1
    assert settings_values(row) == DEFAULT_SETTINGS
    assert DEFAULT_SETTINGS["cosmic_ray_rejection"] == "default"
    assert DEFAULT_SETTINGS["extraction_type"] == "fractional"
    assert DEFAULT_SETTINGS["target_fit_model"] == "moffat"
    assert DEFAULT_SETTINGS["saturation_threshold"] == 1
    assert DEFAULT_SETTINGS["min_bias_frames"] == DEFAULT_SETTINGS["min_flat_frames"] == 10
    assert DEFAULT_SETTINGS["flat_normalization_order"] == 15
    assert DEFAULT_SETTINGS["max_targets"] == 3


def test_a_change_is_a_new_version_and_old_versions_stay(db, people):
    a = people["a"]
    with db.transaction() as s:
        v2 = put_settings(
            s, s.get(Proposal, a.id), {"extraction_type": "optimal"}, by=people["users"]["pia"]
        )
    with db.transaction() as s:
        v3 = put_settings(s, s.get(Proposal, a.id), {"max_targets": 1})
    assert (v2.version, v3.version) == (2, 3)
    with db.session() as s:
        assert get_settings(s, a.id).id == v3.id
        assert get_settings(s, a.id, 1).extraction_type == "fractional"
        assert get_settings(s, a.id, 2).max_targets == 3
        latest = get_settings(s, a.id)
        assert (latest.extraction_type, latest.max_targets) == ("optimal", 1)
        assert v2.created_by_id == people["users"]["pia"].id
        with pytest.raises(NotFound, match="no settings version 9"):
            get_settings(s, a.id, 9)
    # settings of another proposal are untouched
    with db.session() as s:
        assert get_settings(s, people["b"].id).version == 1


def test_a_change_that_changes_nothing_adds_no_version(db, people):
    with db.transaction() as s:
        row = put_settings(s, s.get(Proposal, people["a"].id), {"max_targets": 3})
    assert row.version == 1
    with db.session() as s:
        assert len(s.scalars(select(ReductionSettings)).all()) == 2  # one per proposal


def test_products_record_the_version_they_were_made_with(db, people):
    a = people["a"]
    with db.transaction() as s:
        v1 = get_settings(s, a.id)
        raw = register_file(
            s, "/raw/r.fits", checksum=digest("r"), size=1, fields={"proposal_id": a.soar_id}
        )
        made = register_file(
            s,
            "/p/cfzst_r.fits",
            checksum=digest("p"),
            size=1,
            data_type=2,
            parent=raw.file,
            settings_id=v1.id,
        )
        put_settings(s, s.get(Proposal, a.id), {"cosmic_ray_rejection": "none"})
    with db.session() as s:
        assert s.get(File, made.file.id).settings.version == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cosmic_ray_rejection": "lasers"}, "cosmic_ray_rejection='lasers' is not valid"),
        ({"saturation_threshold": 150}, "saturation_threshold=150 is out of range"),
        ({"min_bias_frames": 0}, "min_bias_frames=0 is out of range"),
        ({"ignore_bias": "maybe"}, "ignore_bias='maybe' is not valid; allowed values: true"),
        ({"flat_normalization": "median"}, "flat_normalization='median'"),
        ({"colour": 1}, "colour: unknown setting"),
        ({"bulb_separation": "auto"}, "bulb_separation='auto' is not valid; allowed values: me"),
        ({"pen_shift": True}, "pen_shift=True is not valid; allowed values: measure, apply"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(db, people, changes, message):
    with db.transaction() as s, pytest.raises(InvalidValue, match=message):
        put_settings(s, s.get(Proposal, people["a"].id), changes)


def test_only_pi_and_staff_edit_members_read(db, people):
    users = people["users"]

    def policy(s, name):
        return AccessPolicy(s, Caller(name=name, kind="user", user=s.merge(users[name])))

    with db.transaction() as s:
        a = s.get(Proposal, people["a"].id)
        for name in ("cola", "outsider", "pib", "gone"):
            assert not policy(s, name).may_manage(a), name
        assert policy(s, "staff").may_manage(a) and policy(s, "pia").may_manage(a)
        row = put_settings(s, a, {"max_targets": 2}, by=users["staff"])
        assert row.version == 2 and row.created_by_id == users["staff"].id
        # members and staff read the settings; the same condition lists them
        readers = {
            name
            for name in ("pia", "cola", "staff", "outsider", "gone")
            if s.scalar(
                select(ReductionSettings.id).where(
                    ReductionSettings.id == row.id, policy(s, name).settings()
                )
            )
        }
        assert readers == {"pia", "cola", "staff"}


def test_the_database_refuses_bad_values_too(db, people):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with db.transaction() as s:
            s.add(
                ReductionSettings(proposal_id=people["a"].id, version=5, extraction_type="boxcar")
            )


def test_every_problem_is_listed_at_once(db, people):
    with db.transaction() as s, pytest.raises(InvalidValue) as info:
        put_settings(s, s.get(Proposal, people["a"].id), {"max_targets": 0, "technique": "x"})
    assert "max_targets=0" in str(info.value) and "technique='x'" in str(info.value)


def test_columns_are_the_pipeline_settings_fields():
    from dataclasses import fields

    from pipeline.settings import FluxSettings
    from pipeline.settings import ReductionSettings as PipelineSettings

    columns = set(ReductionSettings.__table__.columns.keys())
    bookkeeping = {"id", "proposal_id", "version", "created_at", "created_by_id"}
    pipeline_fields = {f.name for f in fields(PipelineSettings)}
    flux_fields = {f.name for f in fields(FluxSettings)}
    assert not pipeline_fields & flux_fields
    assert columns - bookkeeping == pipeline_fields | flux_fields


@pytest.mark.parametrize(
    "bad",
    [
        {"max_targets": 21},
        {"flat_normalization_order": 51},
        {"background_width": 0.05},
        {"technique": "Polarimetry"},
        {"pen_shift": "anchor"},
        {"bulb_separation": "auto"},
    ],
)
def test_database_checks_agree_with_the_pipeline(db, people, bad):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(InvalidValue):
        validate_settings(bad)
    with pytest.raises(IntegrityError), db.transaction() as s:
        s.add(ReductionSettings(proposal_id=people["a"].id, version=7, **bad))


def test_stored_version_converts_to_the_pipeline_object(db, people):
    with db.transaction() as s:
        row = put_settings(s, s.get(Proposal, people["a"].id), {"ignore_flats": "yes"})
        converted = to_pipeline_settings(row)
    assert converted.ignore_flats is True and row.ignore_flats is True
    assert (converted.pen_shift, converted.bulb_separation) == ("measure", "measure")
    with db.transaction() as s:
        row = put_settings(s, s.get(Proposal, people["a"].id), {"bulb_separation": "Apply"})
        converted = to_pipeline_settings(row)
    assert row.bulb_separation == converted.bulb_separation == "apply"
