"""Spectra calibrated with another proposal's arc, before the automatic choice kept to a
proposal's own arcs (issue 14): found at engine start and made again.

Such a spectrum's ``GSP_LAMP`` names the other proposal's arc, whose file name carries
that proposal's target. :func:`repair_foreign_arcs` (called by
:meth:`~.runner.JobEngine.requeue_at_start`) finds the wavelength- and flux-calibrated
spectra (data_type 4 and 5) whose ``GSP_LAMP`` names a reduced arc that may not
calibrate their proposal (:meth:`AccessPolicy.calibrations_for`, the rule
:func:`.arcs.automatic_arcs` follows), and:

- withholds the name in their stored headers, every version (``api/files/header/``
  serves old versions too), and in the proposal's log entries and job errors (an
  extraction's notes and product list named the arcs it used);
- queues the frame's extraction and wavelength calibration again with the automatic
  choice (:func:`.planner.extract_again`): the new spectra replace the old ones as their
  next version (old ids redirect to them);
- when Automatic has no arc for the frame, withdraws those spectra (marked deleted: only
  staff see them), saying why in the proposal's log.

Automatic took the night's arcs only; a lamp chosen by hand (staff could choose any
proposal's) may be of another night. So the spectra read are those of nights on which
another proposal owns a reduced arc, and those of frames a proposal's lamp was chosen
for: a start with neither costs two queries and loads no header.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased, undefer

from gsp_extension.security.access import AccessPolicy
from gsp_extension.store.activity import log_event
from gsp_extension.store.errors import InvalidState
from gsp_extension.store.models import File, Job, LogEntry
from gsp_extension.store.proposals import get_proposal_by_soar_id
from gsp_extension.store.types import utcnow
from gsp_extension.vocabulary import JobKind
from pipeline.vocabulary import ARC_OBSTYPES, DataType

from .arcs import automatic_arcs, science_frame
from .calibrations import stored_header
from .planner import extract_again

#: What a withheld arc name is replaced with.
WITHHELD = "(an arc of another proposal)"

_CALIBRATED = (DataType.WAVELENGTH_CALIBRATED, DataType.FLUX_CALIBRATED)


@dataclass
class ArcRepair:
    """What one pass did.

    Attributes
    ----------
    redacted : list of int
        Spectra (any version) whose stored ``GSP_LAMP`` had a name withheld.
    requeued : list of int
        Reduced frames whose wavelength calibration was queued again.
    withdrawn : list of int
        Current spectra marked deleted (no arc Automatic could use instead).
    jobs : list of Job
        The jobs queued.
    """

    redacted: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)


def _lamp_names(file: File) -> list[str]:
    lamps = str(stored_header(file).get("GSP_LAMP") or "")
    return [name.strip() for name in lamps.split(",") if name.strip()]


def _suspects(session: Session) -> list[File]:
    """Calibrated spectra of nights on which another proposal owns a reduced arc, and of
    frames a proposal's lamp was chosen for by hand."""
    arc = aliased(File)
    foreign_arc_that_night = exists().where(
        arc.data_type == DataType.REDUCED,
        func.upper(func.trim(arc.obstype)).in_(ARC_OBSTYPES),
        arc.proposal_id.is_not(None),
        arc.date == File.date,
        or_(File.proposal_id.is_(None), arc.proposal_id != File.proposal_id),
    )
    lamp, frame = aliased(File), aliased(File)
    chosen = Job.params["lamp_id"].as_integer()
    frames_with_a_chosen_lamp = (
        select(frame.original_file_id)
        .join(Job, Job.file_id == frame.id)
        .join(lamp, lamp.id == chosen)
        .where(
            Job.kind.in_([JobKind.EXTRACT, JobKind.CALIBRATE_WAVELENGTH]),
            lamp.proposal_id.is_not(None),
        )
    )
    return list(
        session.scalars(
            select(File)
            .options(undefer(File.header))
            .where(
                File.data_type.in_(_CALIBRATED),
                File.deleted_at.is_(None),
                or_(
                    foreign_arc_that_night,
                    File.original_file_id.in_(frames_with_a_chosen_lamp),
                ),
            )
            .order_by(File.id)
        )
    )


def _foreign_names(session: Session, soar_id: str | None, names: set[str]) -> set[str]:
    """Names of reduced arcs among ``names`` that may not calibrate ``soar_id``'s data."""
    arcs = and_(File.file_name.in_(names), File.data_type == DataType.REDUCED)
    known = set(session.scalars(select(File.file_name).where(arcs)))
    allowed = set(
        session.scalars(select(File.file_name).where(arcs, AccessPolicy.calibrations_for(soar_id)))
    )
    return known - allowed


def _withhold(file: File, foreign: set[str]) -> None:
    cards = []
    for keyword, value, comment in file.header or []:
        if keyword == "GSP_LAMP":
            names = [n.strip() for n in str(value).split(",")]
            value = ",".join(WITHHELD if n in foreign else n for n in names)
        cards.append([keyword, value, comment])
    file.header = cards  # a new list: the JSON column sees the change


def _withhold_in_texts(session: Session, soar_id: str | None, names: set[str]) -> None:
    """Replace ``names`` in the log entries and job errors the proposal's members see."""
    proposal = get_proposal_by_soar_id(session, soar_id) if soar_id else None
    if proposal is None:
        return  # unowned data: its entries are staff's
    for name in sorted(names):
        session.execute(
            update(LogEntry)
            .where(
                LogEntry.proposal_id == proposal.id,
                LogEntry.message.contains(name, autoescape=True),
            )
            .values(message=func.replace(LogEntry.message, name, WITHHELD))
            .execution_options(synchronize_session=False)
        )
        session.execute(
            update(Job)
            .where(Job.proposal_id == proposal.id, Job.error.contains(name, autoescape=True))
            .values(error=func.replace(Job.error, name, WITHHELD))
            .execution_options(synchronize_session=False)
        )


def _remake(session: Session, frame: File, spectra: list[File], out: ArcRepair) -> None:
    """Queue ``frame``'s calibration again, or withdraw ``spectra`` when no arc can."""
    if automatic_arcs(session, frame).candidates:
        job = extract_again(session, frame)
        if job is None:
            return  # queued or running already (a running one is marked to run again)
        out.requeued.append(frame.id)
        out.jobs.append(job)
        log_event(
            session,
            f"extraction and wavelength calibration of {frame.file_name} queued again: its "
            "spectra were calibrated with an arc of another proposal, which this proposal "
            "may not use",
            level="WARNING",
            event="file.recalibrate",
            file=frame,
            flush=False,
        )
        return
    now = utcnow()
    for spectrum in spectra:
        spectrum.deleted_at = now
        out.withdrawn.append(spectrum.id)
    log_event(
        session,
        f"{', '.join(s.file_name for s in spectra)} withdrawn: calibrated with an arc of "
        f"another proposal, and no arc of this proposal or of none matches the setup of "
        f"{frame.file_name} on {frame.date}; calibrate it with a chosen lamp "
        "(lamp_id) to make them again",
        level="WARNING",
        event="file.withdrawn",
        file=frame,
        flush=False,
    )


def repair_foreign_arcs(session: Session) -> ArcRepair:
    """Withhold other proposals' arc names from the spectra using them; calibrate again.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits. Run with no job running (engine start).

    Returns
    -------
    ArcRepair
        The spectra whose headers were changed, the frames queued again with their
        jobs, and the spectra withdrawn. A current spectrum whose name was withheld by
        an earlier pass (its job failed) is queued again; with its job queued, a second
        pass does nothing.
    """
    out = ArcRepair()
    suspects = _suspects(session)
    by_proposal: dict[str | None, list[File]] = defaultdict(list)
    for spectrum in suspects:
        by_proposal[spectrum.proposal_id].append(spectrum)
    to_remake: dict[int, tuple[File, list[File]]] = {}
    for soar_id, spectra in by_proposal.items():
        names = {name for s in spectra for name in _lamp_names(s)}
        foreign = _foreign_names(session, soar_id, names) if names else set()
        for spectrum in spectra:
            lamps = _lamp_names(spectrum)
            named = foreign.intersection(lamps)
            if named:
                _withhold(spectrum, named)
                out.redacted.append(spectrum.id)
            elif WITHHELD not in lamps:
                continue
            # (withheld at an earlier start and still current: its job failed; again)
            if spectrum.superseded_at is None:
                try:
                    frame = science_frame(session, spectrum.parent_file or spectrum)
                except InvalidState:
                    continue  # not a science spectrum this service extracted
                to_remake.setdefault(frame.id, (frame, []))[1].append(spectrum)
        if foreign:
            _withhold_in_texts(session, soar_id, foreign)
    for frame, spectra in to_remake.values():
        _remake(session, frame, spectra, out)
    session.flush()
    return out
