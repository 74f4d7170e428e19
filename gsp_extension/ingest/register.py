"""Write scanned files into the app database, with the log entries people see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from gsp_extension.store import Database
from gsp_extension.store.activity import log_event
from gsp_extension.store.errors import StoreError
from gsp_extension.store.files import register_file
from gsp_extension.store.proposals import ensure_proposal

from .scan import ScannedFile


@dataclass
class IngestCounts:
    """What a batch of registrations did."""

    new: int = 0
    unchanged: int = 0
    new_versions: int = 0
    unusable: int = 0
    errors: list[str] = field(default_factory=list)
    registered_ids: list[int] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)

    def add(self, other: IngestCounts) -> None:
        self.new += other.new
        self.unchanged += other.unchanged
        self.new_versions += other.new_versions
        self.unusable += other.unusable
        self.errors += other.errors
        self.registered_ids += other.registered_ids
        self.placeholders += other.placeholders


def register_scanned(session: Session, scanned: ScannedFile, counts: IngestCounts) -> None:
    """Register one scanned raw file in the open session (idempotent).

    An unknown PROPID creates a placeholder proposal (and a warning in its log); a file
    that cannot be used is registered anyway with status ``rejected`` and the reason.
    """
    soar_id = scanned.fields.get("proposal_id")
    if soar_id:
        proposal, created = ensure_proposal(session, soar_id)
        if created:
            counts.placeholders.append(soar_id)
            log_event(
                session,
                f"unknown proposal {soar_id!r} (PROPID of {scanned.path}): placeholder "
                "created for staff to complete",
                level="WARNING",
                event="proposal.placeholder",
                proposal=proposal,
            )
    registration = register_file(
        session,
        scanned.path,
        checksum=scanned.checksum,
        size=scanned.size,
        fields=scanned.fields,
        header=scanned.cards,
        data_type=0,
        status="classified" if scanned.usable else "rejected",
        status_reason=scanned.status_reason,
    )
    if not registration.created:
        counts.unchanged += 1
        return
    file = registration.file
    counts.registered_ids.append(file.id)
    if registration.superseded is not None:
        counts.new_versions += 1
        log_event(
            session,
            f"{file.file_name} was rewritten: registered as version {file.version}",
            level="WARNING",
            event="file.new_version",
            file=file,
        )
    else:
        counts.new += 1
    if scanned.usable:
        log_event(
            session,
            f"{file.file_name} registered: {scanned.technique} {scanned.role}",
            event="file.registered",
            file=file,
        )
    else:
        counts.unusable += 1
        log_event(
            session,
            f"{file.file_name} registered but cannot be processed: {scanned.status_reason}",
            level="WARNING",
            event="file.rejected",
            file=file,
        )


def register_batch(db: Database, batch: Iterable[ScannedFile]) -> IngestCounts:
    """Register scanned files in one transaction; one bad file does not stop the rest."""
    counts = IngestCounts()
    with db.transaction() as session:
        for scanned in batch:
            try:
                with session.begin_nested():
                    register_scanned(session, scanned, counts)
            except StoreError as exc:
                counts.errors.append(f"{scanned.path}: {exc}")
    return counts
