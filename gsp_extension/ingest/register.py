"""Write scanned files into the app database, with the log entries people see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from gsp_extension.store import Database
from gsp_extension.store.activity import log_event
from gsp_extension.store.errors import InvalidValue
from gsp_extension.store.files import NewFile, Registration, register_files
from gsp_extension.store.models import Proposal
from gsp_extension.store.proposals import ensure_proposal
from gsp_extension.vocabulary import FileStatus
from pipeline.vocabulary import DataType

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


def _proposals(
    session: Session, batch: list[ScannedFile], counts: IngestCounts
) -> dict[str, Proposal]:
    """The batch's proposals by SOAR id; unknown ones become placeholders (with a warning)."""
    wanted = {s.fields["proposal_id"] for s in batch if s.fields.get("proposal_id")}
    if not wanted:
        return {}
    found = {
        p.soar_id: p for p in session.scalars(select(Proposal).where(Proposal.soar_id.in_(wanted)))
    }
    for soar_id in sorted(wanted - set(found)):
        proposal, created = ensure_proposal(session, soar_id)
        found[soar_id] = proposal
        if created:
            counts.placeholders.append(soar_id)
            first = next(s.path for s in batch if s.fields.get("proposal_id") == soar_id)
            log_event(
                session,
                f"unknown proposal {soar_id!r} (PROPID of {first}): placeholder created for "
                "staff to complete",
                level="WARNING",
                event="proposal.placeholder",
                proposal=proposal,
                flush=False,
            )
    return found


def _log(
    session: Session, scanned: ScannedFile, reg: Registration, proposal: Proposal | None
) -> None:
    file = reg.file
    if reg.superseded is not None:
        log_event(
            session,
            f"{file.file_name} was rewritten: registered as version {file.version}",
            level="WARNING",
            event="file.new_version",
            file=file,
            proposal=proposal,
            flush=False,
        )
    if scanned.usable:
        log_event(
            session,
            f"{file.file_name} registered: {scanned.technique} {scanned.role}",
            event="file.registered",
            file=file,
            proposal=proposal,
            flush=False,
        )
    else:
        log_event(
            session,
            f"{file.file_name} registered but cannot be processed: {scanned.status_reason}",
            level="WARNING",
            event="file.rejected",
            file=file,
            proposal=proposal,
            flush=False,
        )


def register_scanned_batch(
    session: Session, batch: list[ScannedFile], counts: IngestCounts
) -> None:
    """Register scanned raw files in the open session (idempotent), with log entries.

    An unknown PROPID creates a placeholder proposal (and a warning in its log); a file
    that cannot be used is registered anyway with status ``rejected`` and the reason.
    """
    proposals = _proposals(session, batch, counts)
    entries = [
        NewFile(
            full_path=s.path,
            checksum=s.checksum,
            size=s.size,
            fields=s.fields,
            header=s.cards,
            data_type=DataType.RAW,
            status=FileStatus.CLASSIFIED if s.usable else FileStatus.REJECTED,
            status_reason=s.status_reason,
        )
        for s in batch
    ]
    for scanned, result in zip(batch, register_files(session, entries), strict=True):
        if isinstance(result, InvalidValue):
            counts.errors.append(f"{scanned.path}: {result}")
            continue
        if not result.created:
            counts.unchanged += 1
            continue
        counts.registered_ids.append(result.file.id)
        if result.superseded is not None:
            counts.new_versions += 1
        else:
            counts.new += 1
        if not scanned.usable:
            counts.unusable += 1
        _log(session, scanned, result, proposals.get(scanned.fields.get("proposal_id") or ""))
    session.flush()


def register_batch(db: Database, batch: Iterable[ScannedFile]) -> IngestCounts:
    """Register scanned files in one transaction and commit."""
    counts = IngestCounts()
    with db.transaction() as session:
        register_scanned_batch(session, list(batch), counts)
    return counts
