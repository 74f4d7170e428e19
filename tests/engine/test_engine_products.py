"""Completing a job: products registered with it; replaced products and their chain."""

from __future__ import annotations

import hashlib

import pytest
from engine_helpers import write_fits_atomic
from sqlalchemy import select

from gsp_extension.engine.products import complete_job, sweep_orphans, sweep_superseded
from gsp_extension.engine.work import ProductOut, WorkRequest, WorkResult
from gsp_extension.store.files import register_file
from gsp_extension.store.jobs import claim_next, enqueue
from gsp_extension.store.models import File, Job


def _file(s, path, **kw):
    return register_file(
        s,
        path,
        checksum=hashlib.sha256(path.read_bytes()).hexdigest(),
        size=path.stat().st_size,
        **kw,
    ).file


def _claimed(db, kind, file_id, key=None):
    with db.transaction() as s:
        enqueue(s, kind, key or f"{kind}:{file_id}", file_id=file_id)
    with db.transaction() as s:
        return claim_next(s, "w").id


def _finish(s, job_id, products):
    job = s.get(Job, job_id)
    request = WorkRequest(job.id, job.kind, {}, "/", {"settings_id": None})
    made = complete_job(s, job, request, WorkResult(products=products), worker="w")
    return [f.id for f in made]


def _complete(db, file_id, products, kind="reduce"):
    job_id = _claimed(db, kind, file_id, key=f"{kind}:{file_id}:{len(products)}")
    with db.transaction() as s:
        return _finish(s, job_id, products)


def test_a_better_product_replaces_the_older_one_and_its_descendants(db, tmp_path):
    raw = tmp_path / "raw.fits"
    write_fits_atomic(raw, 0)
    with db.transaction() as s:
        raw_id = _file(s, raw, fields={"proposal_id": "SOAR2026B-001"}).id
    old = tmp_path / "zt_raw.fits"
    write_fits_atomic(old, 1, RLEVEL=62)
    spectrum = tmp_path / "ezt_raw_target_1.fits"
    write_fits_atomic(spectrum, 2, RLEVEL=63)
    (old_id, spectrum_id) = _complete(
        db,
        raw_id,
        [
            ProductOut(str(old), 2, parent_file_id=raw_id),
            ProductOut(str(spectrum), 3, parent_path=str(old), quality={"snr": 12.5}),
        ],
    )
    with db.session() as s:
        made = s.get(File, spectrum_id)
        assert made.parent_file_id == old_id and made.original_file_id == raw_id
        assert made.quality == {"snr": 12.5} and made.proposal_id == "SOAR2026B-001"
        assert s.get(File, raw_id).status == "processed"
    better = tmp_path / "fzst_raw.fits"
    write_fits_atomic(better, 3, RLEVEL=62)
    (better_id,) = _complete(db, raw_id, [ProductOut(str(better), 2, parent_file_id=raw_id)])
    with db.session() as s:
        current = {f.id for f in s.scalars(select(File).where(File.superseded_at.is_(None)))}
    assert current == {raw_id, better_id}  # the old product and its spectrum are replaced


def test_replaced_files_leave_products_for_superseded_and_their_rows_follow(db, tmp_path):
    night = tmp_path / "products" / "20261121"
    night.mkdir(parents=True)
    raw = tmp_path / "raw" / "20261121" / "raw.fits"
    raw.parent.mkdir(parents=True)
    write_fits_atomic(raw, 0)
    with db.transaction() as s:
        raw_id = _file(s, raw, fields={"proposal_id": "SOAR2026B-001"}).id
    old, spectrum, better = (
        night / n for n in ("zt_raw.fits", "ezt_raw_target_1.fits", "fzst_raw.fits")
    )
    write_fits_atomic(old, 1, RLEVEL=62)
    write_fits_atomic(spectrum, 2, RLEVEL=63)
    old_id, spectrum_id = _complete(
        db,
        raw_id,
        [
            ProductOut(str(old), 2, parent_file_id=raw_id),
            ProductOut(str(spectrum), 3, parent_path=str(old)),
        ],
    )
    write_fits_atomic(better, 3, RLEVEL=62)
    (better_id,) = _complete(db, raw_id, [ProductOut(str(better), 2, parent_file_id=raw_id)])
    # a crash after the files moved, before their rows changed (the transaction is lost)
    with db.session() as s:
        assert sorted(sweep_superseded(s, tmp_path)) == sorted([str(old), str(spectrum)])
        s.rollback()
    archive = tmp_path / "superseded" / "20261121"
    assert sorted(p.name for p in archive.iterdir()) == ["ezt_raw_target_1.fits", "zt_raw.fits"]
    assert sorted(p.name for p in night.iterdir()) == ["fzst_raw.fits"]
    # the next start records where they are
    with db.transaction() as s:
        assert len(sweep_superseded(s, tmp_path)) == 2
        assert sweep_orphans(s, tmp_path) == []  # nothing in products/ without a row
    with db.session() as s:
        assert s.get(File, old_id).full_path == str(archive / "zt_raw.fits")
        assert s.get(File, spectrum_id).directory_name == str(archive)
        assert s.get(File, better_id).full_path == str(better)
        assert s.get(File, raw_id).full_path == str(raw)  # raw data never moves
    with db.transaction() as s:
        assert sweep_superseded(s, tmp_path) == []  # idempotent


def test_a_path_a_current_version_still_names_is_not_moved(db, tmp_path):
    night = tmp_path / "products" / "20261121"
    night.mkdir(parents=True)
    master = night / "master_bias_SP_2x2.fits"
    write_fits_atomic(master, 1, RLEVEL=61)
    with db.transaction() as s:
        first = _file(s, master, data_type=1)
    write_fits_atomic(master, 2, RLEVEL=61)  # rebuilt under the same name
    with db.transaction() as s:
        second = _file(s, master, data_type=1)
        assert second.id != first.id and s.get(File, first.id).superseded_at is not None
    with db.transaction() as s:
        assert sweep_superseded(s, tmp_path) == []
    assert master.exists()


def test_a_product_that_cannot_be_read_leaves_the_job_running(db, tmp_path):
    raw = tmp_path / "raw.fits"
    write_fits_atomic(raw, 0)
    with db.transaction() as s:
        raw_id = _file(s, raw).id
    (tmp_path / "broken.fits").write_bytes(b"not fits at all")
    with pytest.raises(ValueError, match="not a FITS file"):
        _complete(db, raw_id, [ProductOut(str(tmp_path / "broken.fits"), 2, parent_file_id=raw_id)])
    with db.session() as s:
        assert {j.state for j in s.scalars(select(Job))} == {"running"}  # nothing half-done
        assert s.scalar(select(File).where(File.data_type == 2)) is None


# A job on an extracted spectrum that replaces that very spectrum (calibrate wavelength
# with another lamp re-extracts it): its new products stay current.
def test_recalibrating_a_spectrum_replaces_it_and_keeps_the_new_products(db, tmp_path):
    raw = tmp_path / "raw.fits"
    write_fits_atomic(raw, 0)
    with db.transaction() as s:
        raw_id = _file(s, raw, fields={"proposal_id": "SOAR2026B-001"}).id
    reduced = tmp_path / "cfzst_raw.fits"
    spectrum = tmp_path / "ecfzst_raw_target_1.fits"
    calibrated = tmp_path / "wecfzst_raw_target_1.fits"
    write_fits_atomic(reduced, 1, RLEVEL=62)
    write_fits_atomic(spectrum, 2, RLEVEL=63)
    write_fits_atomic(calibrated, 3, RLEVEL=64)
    reduced_id, spectrum_id, calibrated_id = _complete(
        db,
        raw_id,
        [
            ProductOut(str(reduced), 2, parent_file_id=raw_id),
            ProductOut(str(spectrum), 3, parent_path=str(reduced)),
            ProductOut(str(calibrated), 4, parent_path=str(spectrum)),
        ],
    )
    # Re-extracted with another lamp: the same names, other bytes, new rows.
    write_fits_atomic(spectrum, 5, RLEVEL=63)
    write_fits_atomic(calibrated, 6, RLEVEL=64)
    new_spectrum, new_calibrated = _complete(
        db,
        spectrum_id,
        [
            ProductOut(str(spectrum), 3, parent_file_id=reduced_id),
            ProductOut(str(calibrated), 4, parent_path=str(spectrum)),
        ],
        kind="calibrate_wavelength",
    )
    with db.session() as s:
        current = {f.id for f in s.scalars(select(File).where(File.superseded_at.is_(None)))}
    assert {new_spectrum, new_calibrated} <= current
    assert spectrum_id not in current and calibrated_id not in current


# An extraction finishing while a re-reduction replaces the frame it read: whichever
# transaction commits first, the extraction's spectrum must not stay current beside the
# new chain (on PostgreSQL both used to commit unseen by each other).
def test_an_extraction_racing_a_re_reduction_does_not_stay_current(db, tmp_path):
    import threading

    raw = tmp_path / "raw.fits"
    write_fits_atomic(raw, 0)
    with db.transaction() as s:
        raw_id = _file(s, raw).id
    old = tmp_path / "zt_raw.fits"
    write_fits_atomic(old, 1, RLEVEL=62)
    (old_id,) = _complete(db, raw_id, [ProductOut(str(old), 2, parent_file_id=raw_id)])
    extract_id = _claimed(db, "extract", old_id)
    reduce_id = _claimed(db, "reduce", raw_id)
    better, spectrum = tmp_path / "fzst_raw.fits", tmp_path / "ezt_raw_target_1.fits"
    write_fits_atomic(better, 2, RLEVEL=62)
    write_fits_atomic(spectrum, 3, RLEVEL=63)
    replaced, release, made = threading.Event(), threading.Event(), {}

    def re_reduce():
        with db.transaction() as s:
            made["better"] = _finish(
                s, reduce_id, [ProductOut(str(better), 2, parent_file_id=raw_id)]
            )
            replaced.set()
            release.wait(30)  # holds its transaction open while the extraction completes

    def extract():
        with db.transaction() as s:
            made["spectrum"] = _finish(
                s, extract_id, [ProductOut(str(spectrum), 3, parent_file_id=old_id)]
            )

    first = threading.Thread(target=re_reduce)
    first.start()
    assert replaced.wait(30)
    second = threading.Thread(target=extract)
    second.start()
    second.join(1.0)  # it waits for the re-reduction (a row lock, or SQLite's writer lock)
    release.set()
    first.join(30)
    second.join(30)
    with db.session() as s:
        current = {f.id for f in s.scalars(select(File).where(File.superseded_at.is_(None)))}
        assert {j.state for j in s.scalars(select(Job))} == {"done"}
    assert current == {raw_id, *made["better"]}, (current, made)
