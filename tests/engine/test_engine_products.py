"""Completing a job: products registered with it; replaced products and their chain."""

from __future__ import annotations

import hashlib

import pytest
from engine_helpers import write_fits_atomic
from sqlalchemy import select

from gsp_extension.engine.products import complete_job
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


def _complete(db, raw_id, products):
    with db.transaction() as s:
        job = enqueue(s, "reduce", f"reduce:{raw_id}:{len(products)}", file_id=raw_id)
    with db.transaction() as s:
        job_id = claim_next(s, "w").id
    with db.transaction() as s:
        job = s.get(Job, job_id)
        request = WorkRequest(job.id, "reduce", {}, "/", {"settings_id": None})
        made = complete_job(s, job, request, WorkResult(products=products), worker="w")
        return [f.id for f in made]


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
