"""Live: a raw file landing in the watched tree ends reduced, with no manual step."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from gsp_extension.engine.executors import ThreadExecutor
from gsp_extension.engine.live import LiveServices
from gsp_extension.store.models import File, Job


@pytest.mark.asyncio
async def test_files_dropped_in_raw_are_processed(db, tmp_path, tmp_path_factory):
    from pipeline.simulate import NightConfig, simulate_night

    staging = tmp_path_factory.mktemp("staging") / "night"
    simulate_night(staging, NightConfig(n_bias=1, n_flats=0, n_arcs=0, n_science=1, noise=False))
    live = LiveServices(
        db, tmp_path, executor=ThreadExecutor(2), watch_mode="poll", settle_seconds=0.2
    )
    live.watcher.poll_seconds = 0.2
    live.watcher.tick_seconds = 0.1
    live.engine.poll_seconds = 0.1
    topics = []
    live.bus.subscribe(lambda e: topics.append(e.topic))
    await live.start()
    try:
        target = tmp_path / "raw" / "20261121"
        target.mkdir(parents=True)
        for path in sorted(staging.glob("*.fits")):
            (target / path.name).write_bytes(path.read_bytes())

        def done():
            with db.session() as s:
                reduced = s.scalar(
                    select(File).where(File.data_type == 2, File.superseded_at.is_(None))
                )
                states = set(s.scalars(select(Job.state)))
            return reduced is not None and states <= {"done"}

        for _ in range(600):
            if await asyncio.to_thread(done):
                break
            await asyncio.sleep(0.1)
        assert await asyncio.to_thread(done)
    finally:
        await live.stop()
    assert "file.registered" in topics and "job.done" in topics
