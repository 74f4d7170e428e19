"""Test handlers for the engine (module-level so executors can run them)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from astropy.io import fits
from sqlalchemy import select

from gsp_extension.engine.handlers import Handler, HandlerRegistry, job_file
from gsp_extension.engine.work import ProductOut, TransientError, WorkRequest, WorkResult
from gsp_extension.store.models import Job


def write_fits_atomic(path: Path, value: int, **cards) -> None:
    header = fits.Header()
    for key, card in cards.items():
        header[key] = card
    tmp = path.with_name(f".{path.name}.tmp")
    fits.PrimaryHDU(np.full((4, 5), value, dtype=np.float32), header=header).writeto(tmp)
    tmp.replace(path)


def prepare_copy(session, job, data_root):
    file = job_file(session, job)
    return {"file_id": file.id, "name": file.file_name, "out": str(Path(data_root) / "products")}


def execute_copy(request: WorkRequest) -> WorkResult:
    """Makes a 'reduced' product; fails as told by params (transiently N times, or always)."""
    params = request.params
    marker = Path(request.data_root) / f"attempts-{request.job_id}"
    attempts = int(marker.read_text()) + 1 if marker.exists() else 1
    marker.write_text(str(attempts))
    if attempts <= params.get("transient_failures", 0):
        raise TransientError(f"disk busy (attempt {attempts})")
    if params.get("sleep"):
        import time

        time.sleep(params["sleep"])
    if params.get("fail"):
        raise ValueError("no usable overscan in this frame")
    out = Path(request.inputs["out"])
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"cfzst_{request.inputs['name']}"
    write_fits_atomic(path, attempts, RLEVEL=62)
    return WorkResult(
        products=[ProductOut(str(path), data_type=2, parent_file_id=request.inputs["file_id"])],
        notes=[f"made on attempt {attempts}"],
    )


def make_registry() -> HandlerRegistry:
    return HandlerRegistry([Handler("copy", prepare_copy, execute_copy)])


def prepare_read(session, job, data_root):
    file = job_file(session, job)
    return {"path": file.full_path}


def execute_read(request: WorkRequest) -> WorkResult:
    """Reads the file's data with astropy, as every real handler does."""
    data = fits.getdata(request.inputs["path"])
    return WorkResult(notes=[f"read {data.shape}"])


def make_read_registry() -> HandlerRegistry:
    return HandlerRegistry([Handler("read", prepare_read, execute_read)])


def write_corrupt_fits(path: Path) -> None:
    """A FITS file cut short in its header: astropy refuses it with an ``OSError``."""
    header = fits.PrimaryHDU(np.zeros((4, 5), dtype=np.float32)).header.tostring()
    path.write_bytes(header[:400].encode("ascii"))


def execute_store(request: WorkRequest) -> WorkResult:
    """Writes ``products/<name>.dat`` and wraps an ``OSError`` in a ``RuntimeError`` that
    names the frame, as the pipeline does."""
    path = Path(request.data_root) / "products" / f"{request.inputs['name']}.dat"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "wb") as out:
            out.write(b"\0" * 65536)
            out.flush()
    except OSError as exc:
        raise RuntimeError(f"{request.inputs['name']}: cannot write the product") from exc
    return WorkResult(notes=[f"wrote {path.name}"])


def make_store_registry() -> HandlerRegistry:
    return HandlerRegistry([Handler("store", prepare_copy, execute_store)])


def prepare_night_product(session, job, data_root):
    """Like the real handlers: products go to ``out_dir`` (products/<night>/)."""
    from gsp_extension.engine.handlers import products_dir

    file = job_file(session, job)
    return {
        "file_id": file.id,
        "name": file.file_name,
        "out_dir": str(products_dir(data_root, None)),
    }


def execute_night_product(request: WorkRequest) -> WorkResult:
    """Writes ``cfzst_<name>`` into ``out_dir``; its data is ``params['value']``; it
    first sleeps ``params['sleep']`` seconds with ``out_dir`` made (a job in flight)."""
    out = Path(request.inputs["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    if request.params.get("sleep"):
        import time

        time.sleep(request.params["sleep"])
    path = out / f"cfzst_{request.inputs['name']}"
    write_fits_atomic(path, request.params.get("value", 1), RLEVEL=62)
    return WorkResult(
        products=[ProductOut(str(path), data_type=2, parent_file_id=request.inputs["file_id"])]
    )


@contextmanager
def unwritable(folder: Path):
    """``folder`` refuses new entries for real while in the block: ``chattr +i`` as root
    (root ignores permission bits; skipped where the file system or the container does
    not allow it), ``chmod 0555`` otherwise."""
    import pytest

    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def make_night_registry() -> HandlerRegistry:
    return HandlerRegistry([Handler("night", prepare_night_product, execute_night_product)])


async def drain(db, engine, timeout: float = 300.0) -> None:
    """Run ``engine`` until every job is done or failed (at most ``timeout`` s), then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(engine.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    def finished():
        with db.session() as s:
            states = list(s.scalars(select(Job.state)))
        return bool(states) and all(x in ("done", "failed") for x in states)

    try:
        while loop.time() < deadline and not await asyncio.to_thread(finished):
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(task, 120)


async def reduce_night(db, data_root: Path, night: Path, timeout: float):
    """Copy the simulated ``night`` under ``data_root/raw``, register its frames and run
    the real job engine on them until every job is done or failed; the engine (stopped,
    to be drained again after more work is queued)."""
    import shutil

    from gsp_extension.engine.executors import ThreadExecutor
    from gsp_extension.engine.runner import JobEngine
    from gsp_extension.ingest.backfill import backfill

    shutil.copytree(night, data_root / "raw" / night.name)
    report = backfill(db, [data_root / "raw"], workers=1)
    engine = JobEngine(db, data_root, ThreadExecutor(2), poll_seconds=0.05)
    engine.files_registered(report.counts.registered_ids)
    await drain(db, engine, timeout=timeout)
    return engine
