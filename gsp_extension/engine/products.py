"""Record what a job made: products registered and the job completed in one transaction."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gsp_extension.ingest.fields import record_fields
from gsp_extension.ingest.scan import read_and_hash
from gsp_extension.store.activity import log_event
from gsp_extension.store.files import (
    DESCRIPTIVE_FIELDS,
    get_file,
    register_file,
    set_file_status,
    update_file_fields,
)
from gsp_extension.store.jobs import finish_job
from gsp_extension.store.models import File, Job
from gsp_extension.store.types import utcnow
from gsp_extension.vocabulary import FileStatus, JobKind
from pipeline.vocabulary import DataType

from .fencing import ATTEMPTS
from .work import ProductOut, WorkRequest, WorkResult

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    """Quality figures as plain JSON (numpy scalars and arrays become numbers and lists)."""
    return json.loads(json.dumps(value, default=_plain))


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _inherited(parent: File) -> dict[str, Any]:
    # A product keeps its raw file's description (proposal, night, object...): the
    # listing and the access rules treat it as part of the same observation.
    return {name: getattr(parent, name) for name in DESCRIPTIVE_FIELDS}


def product_status_reason(quality: dict[str, Any] | None, reason: str | None) -> str | None:
    """A product's status reason: its standing warnings, then what a step said of it.

    A wavelength solution whose lines leave much of the detector unmeasured warns so in
    its quality (``wavelength_warnings``); those warnings hold for as long as the product
    does, so a later step's reason (no flux calibration...) is added to them, never put
    in their place, and a step that clears its own reason leaves them.

    Parameters
    ----------
    quality : dict or None
        The product's quality figures.
    reason : str or None
        What the step that made or used the product said of it.

    Returns
    -------
    str or None
        The warnings and the reason joined by ``"; "``; ``None`` when there are neither.
    """
    warnings = list((quality or {}).get("wavelength_warnings") or ())
    parts = [*warnings, *([reason] if reason else [])]
    return "; ".join(dict.fromkeys(parts)) or None


def register_product(
    session: Session,
    product: ProductOut,
    *,
    settings_id: int | None,
    made: dict[str, File],
) -> File:
    """Register one product file (read once for checksum and header).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    product : ProductOut
        The product: path, data type, parent, quality.
    settings_id : int or None
        The settings version it was made with.
    made : dict of str to File
        The products registered so far by this job, by path: a parent made by the same
        job is found there. The new row is added to it.

    Returns
    -------
    File
        The current row for the path: new, a new version, or the existing one when the
        same path and checksum are already registered.
    """
    header, cards, checksum, size = read_and_hash(product.path)
    parent = None
    if product.parent_path is not None:
        parent = made.get(product.parent_path)
    if parent is None and product.parent_file_id is not None:
        parent = get_file(session, product.parent_file_id)
    if parent is not None:
        fields = _inherited(parent)
    else:
        from pipeline.classify import classify

        fields = record_fields(header, classify(header))
    fields["normalized"] = product.normalized
    registration = register_file(
        session,
        product.path,
        checksum=checksum,
        size=size,
        fields=fields,
        header=cards,
        data_type=product.data_type,
        parent=parent,
        settings_id=settings_id,
        status=FileStatus.PROCESSED,
        status_reason=product_status_reason(product.quality, product.status_reason),
        quality=_jsonable(product.quality) if product.quality else None,
    )
    made[product.path] = registration.file
    return registration.file


def _locked(session: Session, file_id: int) -> File | None:
    """The file's row, locked until the transaction ends and read past the identity map.

    ``FOR NO KEY UPDATE`` on PostgreSQL: it orders jobs that replace the same rows but
    not the foreign-key checks of other jobs' inserts (``FOR KEY SHARE``), which a
    plain ``FOR UPDATE`` turned into deadlocks. A no-op on SQLite, whose writers are
    serialized already.
    """
    return session.get(File, file_id, with_for_update={"key_share": True}, populate_existing=True)


def _supersede_older(session: Session, products: list[File]) -> None:
    """Older products of the same parent and level are replaced by this job's.

    A re-reduction with a better calibration writes a differently named file
    (``fzst_`` after ``zt_``); without this, both would be listed as current.
    """
    made = {p.id for p in products}
    pairs = {(p.parent_file_id, p.data_type) for p in products if p.parent_file_id != p.id}
    # Two jobs completing products of the same parent at once must not both miss each
    # other's uncommitted rows (PostgreSQL, READ COMMITTED): the parent's row lock orders
    # them, and the later one's query below then sees the earlier one's products.
    parents = sorted({parent for parent, _ in pairs if parent is not None} - made)
    if parents:
        session.execute(
            select(File.id)
            .where(File.id.in_(parents))
            .order_by(File.id)
            .with_for_update(key_share=True)
        )
    now = utcnow()
    stale: list[File] = []
    for parent_id, data_type in pairs:
        stale += session.scalars(
            select(File).where(
                File.parent_file_id == parent_id,
                File.data_type == data_type,
                File.superseded_at.is_(None),
                File.id.not_in(made),
            )
        )
    # What was made from a replaced product is replaced too (its spectra, their
    # calibrations); the new chain is made from the new product.
    while stale:
        file = stale.pop()
        if file.superseded_at is not None or file.id in made:
            continue
        file.superseded_at = now
        stale += session.scalars(
            select(File).where(File.parent_file_id == file.id, File.id != file.id)
        )
    session.flush()


def _retire_orphaned(session: Session, products: list[File]) -> None:
    """Products made from a parent replaced while the job ran are history at once.

    An extraction reads its arcs when it starts; if an arc is re-reduced meanwhile, the
    re-reduction's cascade ran before this job's products existed, so it could not
    retire the arc's calibrated spectrum made here. Read the parents afresh (their rows
    are locked by :func:`_supersede_older`).
    """
    made = {p.id for p in products}
    now = utcnow()
    for product in products:
        parent_id = product.parent_file_id
        if parent_id is None or parent_id == product.id or parent_id in made:
            continue
        parent = session.get(File, parent_id, populate_existing=True)
        if parent is not None and parent.superseded_at is not None:
            product.superseded_at = product.superseded_at or now
    session.flush()


def job_product(job: Job, subject: File | None, products: list[File]) -> File | None:
    """Choose what the job was asked for among what it made.

    That is a product of its kind's type (:attr:`JobKind.product_type`) from its own
    observation. An extraction also calibrates the night's arcs, and a wavelength
    calibration extracts again on the way: those are by-products, never the job's
    ``product_file_id``.

    Parameters
    ----------
    job : Job
        The job.
    subject : File or None
        The file it worked on (``None`` for night-wide jobs).
    products : list of File
        Everything it made.

    Returns
    -------
    File or None
        The product of the wanted type from the subject's observation, else one of the
        wanted type, else the first product; ``None`` when it made nothing.
    """
    try:
        wanted = JobKind(job.kind).product_type
    except ValueError:  # a kind of an older version, still in the table
        wanted = None
    typed = [p for p in products if p.data_type == wanted]
    origin = (subject.original_file_id or subject.id) if subject is not None else None
    own = [p for p in typed if p.original_file_id in (origin, None)]
    return next(iter(own or typed or products), None)


def complete_job(
    session: Session,
    job: Job,
    request: WorkRequest,
    result: WorkResult,
    *,
    worker: str | None = None,
) -> list[File]:
    """Register ``result``'s products, apply its record updates and mark ``job`` done.

    All in the caller's transaction: either the job is done and its products are
    registered, or neither.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    job : Job
        The running job.
    request : WorkRequest
        What the worker was asked (its ``settings_id`` is recorded on the products).
    result : WorkResult
        What the worker made: products at their published paths, record updates.
    worker : str or None
        The worker holding the job; a job requeued to another meanwhile is refused.
        ``None`` skips that check.

    Returns
    -------
    list of File
        The registered products, in the order of ``result.products``.
    """
    # Locked, and read afresh: a job replacing the source (a re-reduction superseding the
    # reduced frame this extraction read) either committed before, and is seen here, or
    # waits for this transaction and then supersedes what it made. Without the lock both
    # commit and the stale spectrum stays current beside the new one.
    source = _locked(session, job.file_id) if job.file_id is not None else None
    # Looked at before this job's own products replace anything: a re-calibration of an
    # extracted spectrum replaces that very spectrum (a new version of the same file
    # name), which does not make its own work stale.
    replaced_meanwhile = (
        source is not None
        and DataType(source.data_type).is_product
        and source.superseded_at is not None
    )
    made: dict[str, File] = {}
    settings_id = request.inputs.get("settings_id")
    products = [
        register_product(session, p, settings_id=settings_id, made=made) for p in result.products
    ]
    _supersede_older(session, products)
    _retire_orphaned(session, products)
    if replaced_meanwhile:
        # The input was replaced while this job ran: what it made is history at once
        # (the newer input's own job makes the current products).
        now = utcnow()
        for product in products:
            product.superseded_at = product.superseded_at or now
        session.flush()
    for file_id, update in result.file_updates.items():
        file = get_file(session, file_id)
        if "fields" in update:
            update_file_fields(session, file, update["fields"])
        if "status" in update:
            reason = update.get("status_reason")
            if DataType(file.data_type).is_product:
                reason = product_status_reason(file.quality, reason)
            set_file_status(session, file, update["status"], reason)
    subject = get_file(session, job.file_id) if job.file_id is not None else None
    finish_job(session, job, product=job_product(job, subject, products), worker=worker)
    if job.kind == JobKind.REDUCE and subject is not None and subject.data_type == DataType.RAW:
        if products:
            set_file_status(session, subject, FileStatus.PROCESSED)
        else:
            notes = "; ".join(result.notes) or None
            set_file_status(session, subject, FileStatus.CLASSIFIED, notes)
    names = ", ".join(Path(p.full_path).name for p in products) or "no product"
    notes = "; ".join(result.notes)
    log_event(
        session,
        f"{job.kind} done (job {job.id}): {names}" + (f" — {notes}" if notes else ""),
        event="job.done",
        file=subject,
        job=job,
    )
    for product in products:
        # the product's warnings reach its log entry, where the API and the page show them
        reason = product.status_reason
        log_event(
            session,
            f"{product.file_name} made by {job.kind} (job {job.id})"
            + (f" — {reason}" if reason else ""),
            level="WARNING" if reason else "INFO",
            event="file.product",
            file=product,
            job=job,
        )
    return products


def sweep_orphans(session: Session, data_root: str | os.PathLike[str]) -> list[str]:
    """Take out of ``products/`` the files no row names (call at start, no job running).

    A job killed after writing its files but before the transaction that registers them
    leaves them without a row; its re-run may write different names (a better master
    arrived meanwhile). Unfinished temporary files (hidden names) are deleted; other
    files are moved to ``<data_root>/orphans/`` with the same relative path, for staff
    to look at, so that ``products/`` only ever holds registered files.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    data_root : str or os.PathLike
        The data root (``GSP_DATA_ROOT``).

    Returns
    -------
    list of str
        The paths taken out.
    """
    root = Path(data_root)
    products = root / "products"
    if not products.is_dir():
        return []
    # Compared as real paths: the data root may be given through a symbolic link.
    known = {
        os.path.realpath(p)
        for p in session.scalars(select(File.full_path).where(File.data_type != DataType.RAW))
    }
    taken = []
    for folder, dirs, names in os.walk(products):
        if folder == str(products):
            # Attempts' private folders are not products (fencing.discard_all clears them).
            dirs[:] = [d for d in dirs if d != ATTEMPTS]
        for name in names:
            path = os.path.join(folder, name)
            if os.path.realpath(path) in known:
                continue
            try:
                if name.startswith("."):
                    os.unlink(path)
                else:
                    target = root / "orphans" / os.path.relpath(path, products)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target)
            except OSError as exc:
                log.warning("cannot take orphan product %s out of products/: %s", path, exc)
                continue
            taken.append(path)
    if taken:
        log_event(
            session,
            f"{len(taken)} product file(s) without a row (left by an interrupted job) "
            "taken out of products/: " + ", ".join(os.path.basename(p) for p in taken[:20]),
            level="WARNING",
            event="product.orphans",
        )
    return taken


def sweep_superseded(session: Session, data_root: str | os.PathLike[str]) -> list[str]:
    """Move the files of replaced products from ``products/`` to ``superseded/``.

    Call at start, with no job running; their rows are pointed there.

    ``products/`` then holds only what the listing shows; the history stays, for staff on
    disk and in ``api/files/<id>/versions/``. A path that a current row still names (a
    new version written under the same name) is not moved. The file is moved before its
    rows are changed: after a crash in between, the next start finds the file already in
    ``superseded/`` and records it.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    data_root : str or os.PathLike
        The data root (``GSP_DATA_ROOT``).

    Returns
    -------
    list of str
        The paths moved (their old places).
    """
    root = Path(data_root)
    products, archive = root / "products", root / "superseded"
    current = select(File.full_path).where(File.superseded_at.is_(None))
    rows = session.scalars(
        select(File).where(
            File.superseded_at.is_not(None),
            File.deleted_at.is_(None),
            File.data_type != DataType.RAW,
            File.full_path.not_in(current),
        )
    ).all()
    moved: list[str] = []
    for path, group in _by_path(rows).items():
        source = Path(path)
        if not source.is_relative_to(products):
            continue
        target = archive / source.relative_to(products)
        try:
            if source.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)
        except OSError as exc:
            log.warning("cannot move replaced product %s to superseded/: %s", path, exc)
            continue
        if not target.exists():
            continue  # gone from both places (deleted by hand): the row keeps its path
        for row in group:
            row.full_path, row.directory_name = str(target), str(target.parent)
        moved.append(path)
    if moved:
        session.flush()
        log_event(
            session,
            f"{len(moved)} replaced product file(s) moved from products/ to superseded/: "
            + ", ".join(os.path.basename(p) for p in moved[:20]),
            event="product.superseded",
        )
    return moved


def _by_path(rows: list[File]) -> dict[str, list[File]]:
    groups: dict[str, list[File]] = {}
    for row in rows:
        groups.setdefault(row.full_path, []).append(row)
    return groups
