"""A reduce job's masters are chosen from the app database, not from product folders."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from sqlalchemy import select

from gsp_extension.engine.calibrations import MASTER_NIGHTS_BACK, masters_for
from gsp_extension.engine.handlers import prepare_reduce
from gsp_extension.engine.products import register_product
from gsp_extension.engine.work import ProductOut
from gsp_extension.ingest.scan import scan_file
from gsp_extension.store.files import register_file
from gsp_extension.store.models import File, Job
from pipeline.vocabulary import DataType


@pytest.fixture(scope="module")
def reduced(tmp_path_factory):
    """A small simulated night and its masters, made by ``gsp reduce``'s code."""
    from pipeline.night import reduce_night
    from pipeline.simulate import NightConfig, simulate_night

    root = tmp_path_factory.mktemp("lookup")
    raw, out = root / "raw", root / "out"
    simulate_night(raw, NightConfig(n_bias=3, n_flats=3, n_arcs=1, n_science=1, noise=False))
    report = reduce_night(raw, out, spectra=False)
    science = next(r.path for r in report.results if r.role == "science")
    return {"science": science, "masters": sorted(str(p) for p in out.glob("*master_*.fits"))}


def _register(s, reduced, tmp_path):
    """The raw science frame and every master, registered as ingest and the engine do;
    the master files are then moved away, so only the database knows them."""
    scanned = scan_file(reduced["science"])
    frame = register_file(
        s,
        scanned.path,
        checksum=scanned.checksum,
        size=scanned.size,
        fields=scanned.fields,
        header=scanned.cards,
        status="classified",
    ).file
    masters = {}
    for path in reduced["masters"]:
        copy = tmp_path / "products" / path.rsplit("/", 1)[1]
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(path, copy)
        product = ProductOut(str(copy), DataType.MASTER_CALIBRATION)
        masters[copy.name] = register_product(s, product, settings_id=None, made={})
    return frame, masters


def test_masters_come_from_the_database_rows(db, reduced, tmp_path):
    with db.transaction() as s:
        frame, masters = _register(s, reduced, tmp_path)
        shutil.rmtree(tmp_path / "products")  # no file is read to choose
        chosen = masters_for(s, frame)
    bias = next(n for n in masters if n.startswith("master_bias_"))
    flat = next(n for n in masters if n.startswith("norm_master_flat_"))
    assert chosen == {"bias": masters[bias].full_path, "flat": masters[flat].full_path}


def test_deleted_replaced_and_too_old_masters_are_not_chosen(db, reduced, tmp_path):
    with db.transaction() as s:
        frame, masters = _register(s, reduced, tmp_path)
        bias = next(m for n, m in masters.items() if n.startswith("master_bias_"))
        flat = next(m for n, m in masters.items() if n.startswith("norm_master_flat_"))
        bias.deleted_at = dt.datetime.now(dt.UTC)
        flat.date = frame.date - dt.timedelta(days=MASTER_NIGHTS_BACK + 1)
        s.flush()
        assert masters_for(s, frame) == {}
        # an earlier night within reach still calibrates, when this night has none
        flat.date = frame.date - dt.timedelta(days=MASTER_NIGHTS_BACK)
        bias.deleted_at = None
        bias.superseded_at = dt.datetime.now(dt.UTC)
        s.flush()
        assert masters_for(s, frame) == {"flat": flat.full_path}


def test_a_reduce_job_is_handed_the_chosen_master_paths(db, reduced, tmp_path):
    with db.transaction() as s:
        frame, masters = _register(s, reduced, tmp_path)
        job = Job(kind="reduce", product_key=f"reduce:{frame.id}", file_id=frame.id)
        s.add(job)
        s.flush()
        inputs = prepare_reduce(s, job, str(tmp_path))
        current = s.scalars(select(File.full_path).where(File.data_type == 1)).all()
    assert "calibration_dirs" not in inputs
    assert set(inputs["masters"].values()) <= set(current)
    assert sorted(inputs["masters"]) == ["bias", "flat"]
