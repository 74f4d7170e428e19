"""Which master calibrations a reduce job uses, looked up in the app database.

As BANZAI's calibration lookup does, the engine chooses the masters from the database
(every master is a registered row, with its header) and hands the worker their paths;
the worker reads those files only. The candidates are the current (neither replaced
nor deleted) master rows of the frame's night and the
:data:`MASTER_NIGHTS_BACK` nights before it that may calibrate the frame's proposal
(:meth:`~gsp_extension.security.access.AccessPolicy.calibrations_for`) and share its
ROI; among them :func:`pipeline.calibrations.selection.select_master` takes the one of
the same readout mode (binning, gain, read noise, and for flats the optics) and trim
section nearest in time, as ``gsp reduce`` does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, undefer

from gsp_extension.security.access import AccessPolicy
from gsp_extension.store.models import File
from pipeline.vocabulary import DataType

#: How many nights before a frame's night still provide masters.
MASTER_NIGHTS_BACK = 15

#: The masters frames are calibrated with (an un-normalized master flat is not).
_APPLIED_MASTER_PREFIXES = ("master_bias_", "norm_master_flat_")


def stored_header(file: File) -> dict[str, Any]:
    """A registered file's header as a mapping (first value of a repeated keyword).

    Parameters
    ----------
    file : File
        A row whose ``header`` holds the cards as registered (``[keyword, value,
        comment]`` lists).

    Returns
    -------
    dict
    """
    header: dict[str, Any] = {}
    for keyword, value, _comment in file.header or []:
        header.setdefault(keyword, value)
    return header


def master_rows(session: Session, frame: File) -> list[File]:
    """List the current master rows that may calibrate ``frame``.

    They are of its night and the :data:`MASTER_NIGHTS_BACK` before, allowed for its
    proposal (:meth:`AccessPolicy.calibrations_for`), and of its ROI.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    frame : File
        A raw frame to be reduced.

    Returns
    -------
    list of File
        Newest night first, headers loaded; empty when the frame has no date.
    """
    if frame.date is None:
        return []
    conditions = [
        File.data_type == DataType.MASTER_CALIBRATION,
        File.superseded_at.is_(None),
        File.deleted_at.is_(None),
        File.date.between(frame.date - dt.timedelta(days=MASTER_NIGHTS_BACK), frame.date),
        or_(*(File.file_name.startswith(prefix) for prefix in _APPLIED_MASTER_PREFIXES)),
        AccessPolicy.calibrations_for(frame.proposal_id),
    ]
    if frame.roi:
        conditions.append(File.roi == frame.roi)
    query = (
        select(File)
        .options(undefer(File.header))
        .where(*conditions)
        .order_by(File.date.desc(), File.id.desc())
    )
    return list(session.scalars(query))


def _infos(rows: Iterable[File]) -> list:
    from pipeline.calibrations.masters import info_from_header

    infos = (info_from_header(stored_header(row), row.full_path) for row in rows)
    return [info for info in infos if info is not None]


def _trim_section(classification) -> str | None:
    from pipeline.reduction.frame import trim_section_for

    if not classification.shape:
        return None
    try:
        return trim_section_for(classification, classification.shape)
    except ValueError:
        return None  # too small to hold data: the worker says so when it reads it


def masters_for(session: Session, frame: File) -> dict[str, str]:
    """The paths of the master bias and normalized master flat ``frame`` is reduced with.

    Parameters
    ----------
    session : Session
    frame : File
        A raw frame (its stored header is classified, no file is read).

    Returns
    -------
    dict
        ``{"bias": path, "flat": path}``, each key present only when a compatible
        master exists.
    """
    from pipeline.calibrations.selection import select_master
    from pipeline.classify import classify

    classification = classify(stored_header(frame), path=frame.full_path)
    if not classification.ok:
        return {}
    candidates = _infos(master_rows(session, frame))
    trim = _trim_section(classification)
    chosen = {
        kind: select_master(classification, candidates, kind, trim) for kind in ("bias", "flat")
    }
    return {kind: str(info.path) for kind, info in chosen.items() if info is not None}


def night_master_bias_paths(session: Session, night: dt.date) -> list[str]:
    """Paths of a night's current master bias rows (for its master flats).

    Parameters
    ----------
    session : Session
    night : datetime.date

    Returns
    -------
    list of str
    """
    return list(
        session.scalars(
            select(File.full_path).where(
                File.data_type == DataType.MASTER_CALIBRATION,
                File.date == night,
                File.file_name.startswith("master_bias_"),
                File.superseded_at.is_(None),
                File.deleted_at.is_(None),
            )
        )
    )
