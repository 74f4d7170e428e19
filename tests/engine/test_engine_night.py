"""A simulated night goes through ingest, the planner and the engine to products."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import select

from gsp_extension.engine.executors import ThreadExecutor
from gsp_extension.engine.runner import JobEngine
from gsp_extension.ingest.backfill import backfill
from gsp_extension.store.files import update_file_fields
from gsp_extension.store.jobs import enqueue
from gsp_extension.store.models import File, Job


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    from pipeline.simulate import NightConfig, simulate_night

    folder = tmp_path_factory.mktemp("night") / "raw" / "20261121"
    simulate_night(
        folder, NightConfig(n_bias=3, n_flats=3, n_arcs=1, n_science=1, noise=False, seed=3)
    )
    return folder


async def _drain(db, engine, timeout=240.0):
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    def finished():
        with db.session() as s:
            states = list(s.scalars(select(Job.state)))
        return bool(states) and all(x in ("done", "failed") for x in states)

    try:
        while loop.time() < deadline:
            if await asyncio.to_thread(finished):
                return True
            await asyncio.sleep(0.2)
        return False
    finally:
        stop.set()
        await asyncio.wait_for(task, 120)


@pytest.mark.asyncio
async def test_a_night_is_calibrated_and_reduced_automatically(db, tmp_path, night):
    import shutil

    raw = tmp_path / "raw" / night.name
    shutil.copytree(night, raw)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in raw.glob("*.fits")}
    report = backfill(db, [tmp_path / "raw"], workers=1)
    engine = JobEngine(db, tmp_path, ThreadExecutor(2), poll_seconds=0.1)
    queued = engine.files_registered(report.counts.registered_ids)
    assert len(queued) == 4  # master bias, master flat, reduce arc, reduce science
    # (then: reductions again with the masters, extraction + wavelength of the science)
    assert await _drain(db, engine)
    with db.session() as s:
        jobs = s.scalars(select(Job)).all()
        assert {j.state for j in jobs} == {"done"}, [(j.kind, j.error) for j in jobs]
        current = s.scalars(
            select(File).where(File.data_type > 0, File.superseded_at.is_(None))
        ).all()
        names = sorted(f.file_name for f in current)
        masters = [f for f in current if f.data_type == 1]
        assert {f.file_name.split("_")[0] for f in masters} == {"master", "norm"}
        assert [f.normalized for f in masters if f.file_name.startswith("norm_")] == [True]
        reduced = [f for f in current if f.data_type == 2]
        # one current product per reduced raw frame, made with every calibration
        assert len(reduced) == 2, names
        science = next(f for f in reduced if "comp" not in f.file_name)
        assert science.file_name.startswith("cfzst_")
        assert science.parent_file.data_type == 0 and science.proposal_id == "SOAR2026B-001"
        assert science.settings is not None and science.settings.version == 1
        # spectra: extracted (3) from the reduced frame, calibrated (4) from each extraction
        spectra = [f for f in current if f.data_type in (3, 4) and "comp" not in f.file_name]
        assert {f.data_type for f in spectra} == {3, 4}, names
        # and each arc used, calibrated (4), from its reduced arc
        arcs = [f for f in current if f.data_type == 4 and "comp" in f.file_name]
        assert len(arcs) == 1 and arcs[0].file_name.startswith("we"), names
        assert arcs[0].parent_file.data_type == 2 and "comp" in arcs[0].parent_file.file_name
        assert arcs[0].original_file_id == arcs[0].parent_file.parent_file_id
        for f in spectra:
            parent = f.parent_file
            assert parent.data_type == {3: 2, 4: 3}[f.data_type]
            assert f.original_file_id == science.parent_file_id
            assert f.quality, f.file_name
        assert all(f.parent_file.id == science.id for f in spectra if f.data_type == 3)
        raws = s.scalars(select(File).where(File.data_type == 0)).all()
        assert {f.file_name: f.status for f in raws}[science.parent_file.file_name] == "processed"
        assert {f.status for f in raws} == {"processed"}  # calibrations too, once combined
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in raw.glob("*.fits")}
    assert after == before  # raw files are never modified


@pytest.mark.asyncio
async def test_reclassify_restores_the_record_from_the_header(db, tmp_path, night):
    import shutil

    raw = tmp_path / "raw" / night.name
    shutil.copytree(night, raw)
    report = backfill(db, [tmp_path / "raw"], workers=1)
    file_id = report.counts.registered_ids[0]
    with db.transaction() as s:
        f = s.get(File, file_id)
        original = f.object
        update_file_fields(s, f, {"object": "tampered"})
        enqueue(s, "classify", f"classify:{file_id}", file_id=file_id)
    engine = JobEngine(db, tmp_path, ThreadExecutor(1), poll_seconds=0.1, plan=False)
    assert await _drain(db, engine)
    with db.session() as s:
        assert s.get(File, file_id).object == original


@pytest.mark.asyncio
async def test_files_registered_but_never_planned_are_planned_at_start(db, tmp_path, night):
    """A crash between registering files and planning their work loses nothing."""
    import shutil

    raw = tmp_path / "raw" / night.name
    shutil.copytree(night, raw)
    backfill(db, [tmp_path / "raw"], workers=1)  # registered, then the process "died"
    too_old = JobEngine(db, tmp_path, ThreadExecutor(1), catch_up_hours=0)
    assert await asyncio.to_thread(too_old.requeue_at_start) == []  # outside the window
    engine = JobEngine(db, tmp_path, ThreadExecutor(2), poll_seconds=0.1)
    records = await asyncio.to_thread(engine.requeue_at_start)
    assert sorted(r["kind"] for r in records) == ["master_bias", "master_flat", "reduce", "reduce"]
    assert await asyncio.to_thread(engine.requeue_at_start) == []  # planned once only


@pytest.mark.asyncio
async def test_compressed_raw_files_are_read_and_reduced_and_kept_as_they_are(db, tmp_path, night):
    """The archive's formats: gzip (.fits.gz) and tile-compressed (.fits.fz) frames."""
    import gzip

    from astropy.io import fits

    raw = tmp_path / "raw" / night.name
    raw.mkdir(parents=True)
    names = sorted(p.name for p in night.glob("*.fits"))
    biases = [n for n in names if fits.getval(night / n, "OBSTYPE") == "BIAS"]
    science = [n for n in names if fits.getval(night / n, "OBSTYPE") == "OBJECT"][0]
    for n in biases[:2]:  # gzip, and tile-compressed, in the same master bias
        (raw / f"{n}.gz").write_bytes(gzip.compress((night / n).read_bytes()))
    with fits.open(night / biases[2]) as hdul:
        image = hdul[0]
        fits.HDUList(
            [fits.PrimaryHDU(), fits.CompImageHDU(image.data, header=image.header)]
        ).writeto(raw / biases[2].replace(".fits", ".fits.fz"))
    (raw / f"{science}.gz").write_bytes(gzip.compress((night / science).read_bytes()))
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in raw.iterdir()}
    report = backfill(db, [tmp_path / "raw"], workers=1)
    assert report.counts.new == 4 and report.counts.unusable == 0
    engine = JobEngine(db, tmp_path, ThreadExecutor(2), poll_seconds=0.1)
    assert len(engine.files_registered(report.counts.registered_ids)) == 2
    assert await _drain(db, engine)
    with db.session() as s:
        jobs = s.scalars(select(Job)).all()
        by_kind = {j.kind: j for j in jobs}
        assert by_kind["master_bias"].state == "done", by_kind["master_bias"].error
        reduce = [j for j in jobs if j.kind == "reduce"]
        assert reduce and {j.state for j in reduce} == {"done"}, [j.error for j in reduce]
        raws = s.scalars(select(File).where(File.data_type == 0)).all()
        assert {f.status for f in raws} == {"processed"}, [
            (f.file_name, f.status_reason) for f in raws
        ]
        reduced = s.scalars(
            select(File).where(File.data_type == 2, File.superseded_at.is_(None))
        ).all()
        # named after the plain frame (the pipeline's prefixes + "<name>.fits")
        assert reduced and all(f.file_name.endswith(f"_{science}") for f in reduced), [
            f.file_name for f in reduced
        ]
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in raw.iterdir()}
    assert after == before  # raw files untouched, nothing added beside them
    assert not list((tmp_path / "products").rglob(".plain"))
