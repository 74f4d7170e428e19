"""Wavelength calibration with a chosen lamp ends in a real product made with that lamp."""

from __future__ import annotations

import shutil

import pytest
from astropy.io import fits
from engine_helpers import drain, reduce_night
from sqlalchemy import select

from gsp_extension.engine.executors import ThreadExecutor
from gsp_extension.engine.runner import JobEngine
from gsp_extension.ingest.backfill import backfill
from gsp_extension.store.jobs import enqueue
from gsp_extension.store.models import File, Job
from gsp_extension.store.versions import current_version, versions_of


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    from pipeline.simulate import NightConfig, simulate_night

    folder = tmp_path_factory.mktemp("night") / "raw" / "20261121"
    simulate_night(
        folder, NightConfig(n_bias=2, n_flats=2, n_arcs=2, n_science=1, noise=False, seed=5)
    )
    return folder


def _current(s, data_type, arcs=False):
    """Current products of a data_type: the science spectra, or (``arcs``) the
    calibrated arcs (``we*_comp``, no target)."""
    rows = s.scalars(
        select(File).where(File.data_type == data_type, File.superseded_at.is_(None))
    ).all()
    return [f for f in rows if ("_target_" in f.file_name) != arcs or data_type != 4]


@pytest.mark.asyncio
async def test_calibrate_wavelength_with_a_chosen_lamp(db, tmp_path, night):
    engine = await reduce_night(db, tmp_path, night, timeout=240.0)
    with db.session() as s:
        jobs = s.scalars(select(Job)).all()
        assert {j.state for j in jobs} == {"done"}, [(j.kind, j.error) for j in jobs]
        (extracted,) = _current(s, 3)
        (before,) = _current(s, 4)
        assert "," in fits.getheader(before.full_path)["GSP_LAMP"]  # both arcs combined
        raw_arcs = sorted(
            (f for f in s.scalars(select(File).where(File.data_type == 0)) if f.obstype == "COMP"),
            key=lambda f: f.file_name,
        )
        assert len(raw_arcs) == 2
        # each arc used is also a calibrated 1-D product, registered under its reduced arc
        reduced_arcs = {f.id for f in _current(s, 2) if f.obstype == "COMP"}
        calibrated_arcs = _current(s, 4, arcs=True)
        assert len(calibrated_arcs) == 2
        assert {f.parent_file_id for f in calibrated_arcs} == reduced_arcs
        chosen = raw_arcs[1]
        reduced_chosen = next(f for f in _current(s, 2) if f.parent_file_id == chosen.id)
        before_id, extracted_id = before.id, extracted.id
        # The API's contract (gsp_extension.api.actions): the spectrum and the lamp's id.
        job_id = enqueue(
            s,
            "calibrate_wavelength",
            f"calibrate_wavelength:{extracted.id}:lamp={chosen.id}",
            file_id=extracted.id,
            params={"file_id": extracted.id, "lamp_id": chosen.id},
            priority=10,
        ).id
        s.commit()
    await drain(db, engine, timeout=240.0)
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job.state == "done", job.error
        (after,) = _current(s, 4)
        assert after.id != before_id
        # made with the chosen arc alone, recorded in the product and its record
        header = fits.getheader(after.full_path)
        assert header["GSP_LAMP"] == reduced_chosen.file_name
        # the same extraction again (same bytes) is the same record: no duplicate row
        assert after.parent_file_id == extracted_id
        assert after.original_file_id == s.get(File, extracted_id).original_file_id
        # the older calibration is replaced (kept as a superseded version), not duplicated
        assert s.get(File, before_id).superseded_at is not None
        assert len(_current(s, 3)) == 1
        # the job's product is what it was asked for: the calibrated target spectrum,
        # not the spectrum it started from nor the arc it calibrated on the way
        assert job.product_file_id == after.id
        # the old id's lineage leads to the new calibration (api/files/<old>/ redirects)
        before = s.get(File, before_id)
        assert current_version(s, before).id == after.id
        assert [v.id for v in versions_of(s, before)][-1] == after.id
        assert before_id in [v.id for v in versions_of(s, after)]


@pytest.mark.asyncio
async def test_a_lamp_that_is_not_reduced_yet_fails_with_the_reason(db, tmp_path, night):
    shutil.copytree(night, tmp_path / "raw" / night.name)
    report = backfill(db, [tmp_path / "raw"], workers=1)
    with db.transaction() as s:
        files = s.scalars(select(File).where(File.id.in_(report.counts.registered_ids))).all()
        science = next(f for f in files if f.obstype == "OBJECT")
        arc = next(f for f in files if f.obstype == "COMP")
        # a reduced frame registered by hand stands for the science's reduction
        job_id = enqueue(
            s,
            "calibrate_wavelength",
            f"calibrate_wavelength:{science.id}:lamp={arc.id}",
            file_id=science.id,
            params={"file_id": science.id, "lamp_id": arc.id},
        ).id
    engine = JobEngine(db, tmp_path, ThreadExecutor(1), poll_seconds=0.05, plan=False)
    await drain(db, engine, timeout=30)
    with db.session() as s:
        job = s.get(Job, job_id)
        assert job.state == "failed"
        assert "does not come from a reduced frame" in job.error
