"""Health you can see: what each engine says about itself, and the queue as it is.

Each engine process (the one holding the engine lock, and any standby) writes a
heartbeat row every few seconds (:func:`write_heartbeat`). :func:`health_report` reads
them with the queue and the disk, for ``GET api/health/`` in whatever process serves the
API, for the data browser's banner and for the line ``gsp live`` logs periodically.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gsp_extension.store.models import EngineHeartbeat, File, Job
from gsp_extension.store.types import utcnow
from gsp_extension.vocabulary import JobState
from pipeline.vocabulary import DataType

#: A heartbeat older than this many seconds means its engine is gone.
STALE_SECONDS = 30.0

#: Queued work older than this many seconds while the engine runs means processing lags.
LAG_SECONDS = 600.0

#: Less free space than this under the data root is a problem worth a banner.
LOW_DISK_BYTES = 2 * 1024**3


def disk_free(path: str | os.PathLike[str]) -> int | None:
    """Measure the free bytes on the file system of ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        Any path on the file system (the data root).

    Returns
    -------
    int or None
        Free bytes; ``None`` when it cannot be told (missing path, no permission).
    """
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def write_heartbeat(session: Session, name: str, values: dict[str, Any]) -> None:
    """Insert or update engine ``name``'s heartbeat row with ``values`` (now).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    name : str
        The engine's name (the row's key).
    values : dict of str to object
        Columns of ``EngineHeartbeat`` to set (``state``, ``workers``, ``fault``...);
        ``started_at`` is only used when the row is created.
    """
    row = session.get(EngineHeartbeat, name)
    if row is None:
        row = EngineHeartbeat(name=name, started_at=values.get("started_at") or utcnow())
        session.add(row)
    for key, value in values.items():
        if key != "started_at":
            setattr(row, key, value)
    row.updated_at = utcnow()
    session.flush()


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def health_report(
    session: Session,
    data_root: str | os.PathLike[str],
    *,
    now: dt.datetime | None = None,
    stale_seconds: float = STALE_SECONDS,
    lag_seconds: float = LAG_SECONDS,
) -> dict[str, Any]:
    """The service's health: engines, queue, last product, disk, and the problems.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    data_root : str or os.PathLike
        The data root, whose disk is measured.
    now : datetime.datetime or None
        The current time, timezone-aware UTC; ``None`` means :func:`utcnow`.
    stale_seconds : float
        A heartbeat older than this (s) is an engine that is gone.
    lag_seconds : float
        A queued job waiting longer than this (s) makes the service ``degraded``.

    Returns
    -------
    dict
        ``status`` (``"ok"``, ``"degraded"``: processing lags or something failed and is
        retried, ``"stopped"``: no engine runs), ``problems`` (sentences for a person),
        ``engine`` (the active engine's heartbeat or ``None``), ``standbys``, ``queue``
        (``queued``, ``running``, ``oldest_queued_seconds``), ``last_product_at`` and
        ``disk_free_bytes``.
    """
    now = now or utcnow()
    engines = []
    for row in session.scalars(select(EngineHeartbeat).order_by(EngineHeartbeat.name)):
        age = (now - _aware(row.updated_at)).total_seconds()
        engines.append(
            {
                "name": row.name,
                "state": row.state,
                "alive": age <= stale_seconds,
                "heartbeat_age_seconds": round(age, 1),
                "scheduler_connected": row.scheduler_connected,
                "workers": row.workers,
                "fault": row.fault,
                "fault_since": _iso(_aware(row.fault_since)),
                "fault_error": row.fault_error,
                "started_at": _iso(_aware(row.started_at)),
            }
        )
    live = [e for e in engines if e["alive"]]
    active = next((e for e in live if e["state"] == "running"), None)
    counts = dict(
        session.execute(
            select(Job.state, func.count())
            .where(Job.state.in_([JobState.QUEUED, JobState.RUNNING]))
            .group_by(Job.state)
        ).all()
    )
    oldest = session.scalar(
        select(func.min(func.coalesce(Job.run_after, Job.created_at))).where(
            Job.state == JobState.QUEUED
        )
    )
    oldest_age = (now - _aware(oldest)).total_seconds() if oldest is not None else None
    if oldest_age is not None:
        oldest_age = max(0.0, round(oldest_age, 1))
    last_product = session.scalar(
        select(func.max(File.created)).where(File.data_type != DataType.RAW)
    )
    free = disk_free(data_root)

    problems = []
    if active is None:
        problems.append(
            "no job engine is running: new files are not processed"
            + (" (a standby is starting)" if live else "")
        )
    else:
        if not active["scheduler_connected"]:
            problems.append("the job engine has no dask scheduler: processing waits for it")
        elif active["workers"] == 0:
            problems.append("the dask scheduler has no worker: processing waits for one")
        if active["fault"]:
            problems.append(
                f"{active['fault']} unavailable since {active['fault_since']}: jobs are "
                f"retried until it is back ({active['fault_error']})"
            )
        if oldest_age is not None and oldest_age > lag_seconds:
            problems.append(f"processing lags: the oldest queued job waits for {oldest_age:.0f} s")
    if free is not None and free < LOW_DISK_BYTES:
        problems.append(f"the data disk is almost full: {free / 1024**3:.1f} GiB free")
    status = "stopped" if active is None else ("degraded" if problems else "ok")
    return {
        "status": status,
        "problems": problems,
        "engine": active,
        "standbys": [e for e in live if e is not active],
        "queue": {
            "queued": counts.get(JobState.QUEUED, 0),
            "running": counts.get(JobState.RUNNING, 0),
            "oldest_queued_seconds": oldest_age,
        },
        "last_product_at": _iso(_aware(last_product)),
        "disk_free_bytes": free,
        "time": now.isoformat(),
    }


def log_line(report: dict[str, Any]) -> str:
    """Write one line for ``gsp live``'s periodic log.

    Parameters
    ----------
    report : dict of str to object
        A :func:`health_report`.

    Returns
    -------
    str
        Status, scheduler, workers, queue, last product and free disk, ``"; "``-joined,
        then the problems after ``" | "``.
    """
    engine = report["engine"] or {}
    queue = report["queue"]
    free = report["disk_free_bytes"]
    parts = [
        f"health {report['status']}",
        f"scheduler {'connected' if engine.get('scheduler_connected') else 'DOWN'}",
        f"workers {engine.get('workers')}",
        f"queued {queue['queued']} running {queue['running']}",
        f"oldest queued {queue['oldest_queued_seconds']} s",
        f"last product {report['last_product_at']}",
        f"disk free {free / 1024**3:.1f} GiB" if free is not None else "disk free ?",
    ]
    line = "; ".join(parts)
    if report["problems"]:
        line += " | " + " | ".join(report["problems"])
    return line
