"""Versions of a product: what a re-reduction replaced, and what replaced it.

A re-reduction registers new rows (a better calibration gives a new name: ``fzst_``
after ``zt_``; the same name gives a new ``version`` of the path) and marks the old ones
superseded. The old ids stay meaningful: they belong to a *lineage*, and the lineage's
current row is where a saved id, a bookmark or a script is sent
(``GET api/files/<old id>/`` redirects there; ``api/files/<id>/versions/`` lists the
history).

A lineage is:

* for a master calibration, its path (a master is rebuilt under the same name);
* for any other product, its raw original, its data type and its target (the
  ``_target_<n>`` of a spectrum's name): ``cfzst_x.fits`` replaces ``czt_x.fits``,
  ``wecfzst_x_target_2.fits`` replaces ``wezt_x_target_2.fits``.

Raw files are their own lineage of versions of one path.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from pipeline.vocabulary import DataType

from .models import File

_TARGET = re.compile(r"_target_(\d+)(?=\.)")


def target_of(file_name: str) -> str | None:
    """Read the target number in a spectrum's file name.

    Parameters
    ----------
    file_name : str
        A product's name (``wecfzst_x_target_2.fits``).

    Returns
    -------
    str or None
        The number as written (``"2"``); ``None`` for a frame (no ``_target_<n>``).
    """
    found = _TARGET.search(file_name)
    return found.group(1) if found else None


def _same_lineage(file: File) -> ColumnElement[bool]:
    if (
        file.data_type in (DataType.RAW, DataType.MASTER_CALIBRATION)
        or file.original_file_id is None
    ):
        return File.full_path == file.full_path
    condition = (File.original_file_id == file.original_file_id) & (
        File.data_type == file.data_type
    )
    target = target_of(file.file_name)
    if target is not None:
        condition &= File.file_name.like(f"%\\_target\\_{target}.%", escape="\\")
    return condition


def versions_of(session: Session, file: File) -> list[File]:
    """Every version of ``file``'s lineage that was not deleted, oldest first.

    Parameters
    ----------
    session : Session
    file : File
        Any version (current or superseded).

    Returns
    -------
    list of File
        By registration order; the current version, if any, has ``superseded_at`` None.
    """
    rows = session.scalars(
        select(File).where(_same_lineage(file), File.deleted_at.is_(None)).order_by(File.id)
    )
    # The LIKE on the target keeps ``_target_1`` apart from ``_target_10``; the exact
    # number is checked here.
    target = target_of(file.file_name)
    return [row for row in rows if target_of(row.file_name) == target]


def current_version(session: Session, file: File) -> File | None:
    """Find the version that replaced ``file`` in its lineage.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    file : File
        Any version of a product (or a raw file).

    Returns
    -------
    File or None
        ``file`` itself when it is current, else the newest current row of its lineage;
        ``None`` when the lineage has no current version (it was superseded and not made
        again).
    """
    if file.superseded_at is None:
        return file
    current = [row for row in versions_of(session, file) if row.superseded_at is None]
    return current[-1] if current else None
