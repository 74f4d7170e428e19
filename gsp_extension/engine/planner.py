"""What to do automatically: after new raw files, and after a job finished.

Which job follows which is read from the night's plan (:data:`pipeline.plan.NIGHT_PLAN`),
through :data:`JOB_STEPS`, the steps each job kind carries:

- a new raw frame: the job of its role's first step (a bias or flat: (re)build that
  night's masters of that kind; a science, standard or arc frame: reduce it with its
  proposal's current settings);
- a product made: the job of the frame's next step (a reduced science frame is
  extracted and calibrated in wavelength);
- a new calibration (masters, a reduced arc): the steps it calibrates, again, for the
  night's frames (reduce the night again; calibrate the night's spectra again);
- a wavelength-calibrated spectrum: flux-calibrate it (when its proposal's settings say
  so); a new sensitivity (a standard arrived): flux-calibrate that night's spectra again.

Jobs are queued at automatic priority (0; manual actions come first). A product already
being made by a *running* job is marked to be made again when that job ends, so a flat
arriving during a master build is not left out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gsp_extension.store.errors import DuplicateJob, InvalidState
from gsp_extension.store.jobs import enqueue
from gsp_extension.store.models import File, Job
from gsp_extension.store.proposals import get_proposal_by_soar_id
from gsp_extension.store.settings import get_settings
from gsp_extension.vocabulary import ACTIVE_JOB_STATES, FileStatus, JobKind, JobState
from pipeline.plan import NIGHT_PLAN, Step
from pipeline.vocabulary import DataType, FrameRole

from .calibrations import stored_header
from .handlers import MASTER_INPUT_STATUSES

AUTOMATIC_PRIORITY = 0

#: The steps of the plan each automatic job kind carries (an extract job also
#: calibrates in wavelength). Checked against the plan's order at import.
JOB_STEPS: dict[JobKind, tuple[Step, ...]] = {
    JobKind.MASTER_BIAS: (Step.MASTER_BIAS,),
    JobKind.MASTER_FLAT: (Step.MASTER_FLAT,),
    JobKind.REDUCE: (Step.REDUCE,),
    JobKind.EXTRACT: (Step.EXTRACT, Step.WAVELENGTH),
}
# Flux calibration is not an engine job yet: the plan's last step is left uncarried.
NIGHT_PLAN.schedule(JOB_STEPS, complete=False)
#: Manual job kinds that carry steps of the plan again (their follow-ups are planned too).
MANUAL_JOB_STEPS: dict[JobKind, tuple[Step, ...]] = {
    JobKind.CALIBRATE_WAVELENGTH: (Step.EXTRACT, Step.WAVELENGTH),
}
#: The job kind that carries each step first.
_JOB_OF_STEP = {step: kind for kind, steps in JOB_STEPS.items() for step in steps}
#: Job kinds made once per night (masters), the others once per file.
_NIGHT_KINDS = (JobKind.MASTER_BIAS, JobKind.MASTER_FLAT)


def role_of(file: File) -> FrameRole:
    """Give the classifier's role of a registered raw file, from its stored header.

    Parameters
    ----------
    file : File
        A registered raw file (its header is stored with it).

    Returns
    -------
    FrameRole
        ``bias``, ``flat``, ``arc``, ``science``, ``standard`` or ``other``.
    """
    from pipeline.classify import classify

    return FrameRole(classify(stored_header(file)).role)


def _queue(session: Session, kind: str, key: str, **kwargs: Any) -> Job | None:
    for _ in range(5):
        try:
            return enqueue(session, kind, key, priority=AUTOMATIC_PRIORITY, **kwargs)
        except DuplicateJob as dup:
            # Lock the holder so it cannot finish unseen between our look and our mark.
            active = session.get(Job, dup.job_id, with_for_update=True, populate_existing=True)
            if active is None or active.state not in ACTIVE_JOB_STATES:
                continue  # it just ended: queue ours
            if active.state == JobState.RUNNING:
                active.params = {**(active.params or {}), "again": True}
                session.flush()
            # A queued holder reads the database when it starts: it will see our input.
            return None
    return None


def _reduce(session: Session, file: File) -> Job | None:
    proposal = get_proposal_by_soar_id(session, file.proposal_id) if file.proposal_id else None
    settings_id = get_settings(session, proposal.id).id if proposal is not None else None
    return _queue(
        session,
        JobKind.REDUCE,
        f"reduce:{file.id}:settings={settings_id}",
        file_id=file.id,
        proposal_id=proposal.id if proposal is not None else None,
        settings_id=settings_id,
        params={"file_id": file.id, "settings_id": settings_id},
    )


def _extract(session: Session, reduced: File) -> Job | None:
    proposal = (
        get_proposal_by_soar_id(session, reduced.proposal_id) if reduced.proposal_id else None
    )
    settings_id = get_settings(session, proposal.id).id if proposal is not None else None
    return _queue(
        session,
        JobKind.EXTRACT,
        f"extract:{reduced.id}:settings={settings_id}:lamp=auto",
        file_id=reduced.id,
        proposal_id=proposal.id if proposal is not None else None,
        settings_id=settings_id,
        params={"file_id": reduced.id, "settings_id": settings_id, "lamp_id": None},
    )


def _flux_enabled(session: Session, file: File) -> tuple[bool, int | None, int | None]:
    """Whether a frame's proposal flux-calibrates (its settings), with the ids to queue."""
    from gsp_extension.store.settings import flux_settings_values

    proposal = get_proposal_by_soar_id(session, file.proposal_id) if file.proposal_id else None
    if proposal is None:
        return True, None, None  # unowned frames: SOAR's defaults (flux calibration on)
    row = get_settings(session, proposal.id)
    return bool(flux_settings_values(row)["flux_calibration"]), proposal.id, row.id


def _flux(session: Session, reduced: File, *, refresh: bool = False) -> Job | None:
    enabled, proposal_id, settings_id = _flux_enabled(session, reduced)
    if not enabled:
        return None
    return _queue(
        session,
        JobKind.CALIBRATE_FLUX,
        f"calibrate_flux:{reduced.id}:standard=auto",
        file_id=reduced.id,
        proposal_id=proposal_id,
        settings_id=settings_id,
        params={"file_id": reduced.id, "standard_id": None, "refresh": refresh},
    )


def _flux_followups(session: Session, job: Job, products: list[File]) -> list[Job | None]:
    """Flux calibration after a wavelength calibration; after a new sensitivity, the
    night's spectra it may calibrate are done again (those that need it, :mod:`.flux`)."""
    from .flux import reduced_frame_of, usable_frames_for_sensitivity

    if job.kind in (JobKind.EXTRACT, JobKind.CALIBRATE_WAVELENGTH):
        spectra = [
            p
            for p in products
            if p.data_type == DataType.WAVELENGTH_CALIBRATED
            and p.parent_file is not None
            and p.parent_file.data_type == DataType.EXTRACTED
        ]
        frames = {}
        for spectrum in spectra:
            try:
                frame = reduced_frame_of(session, spectrum)
            except InvalidState:
                continue  # no reduced frame behind it (registered by hand): nothing to do
            frames[frame.id] = frame
        return [_flux(session, f) for f in frames.values()]
    if job.kind == JobKind.CALIBRATE_FLUX:
        masters = [p for p in products if p.data_type == DataType.MASTER_CALIBRATION]
        return [
            _flux(session, frame, refresh=True)
            for master in masters
            for frame in usable_frames_for_sensitivity(session, master, job.file_id)
        ]
    return []



def _night_job(session: Session, kind: JobKind, night: dt.date) -> Job | None:
    return _queue(session, kind, f"{kind}:{night.isoformat()}", params={"date": night.isoformat()})


#: How a job of each per-file kind is queued on a file.
_FILE_JOBS: dict[JobKind, Callable[[Session, File], Job | None]] = {
    JobKind.REDUCE: _reduce,
    JobKind.EXTRACT: _extract,
}


def _job_on(session: Session, kind: JobKind, file: File) -> Job | None:
    """Queue ``kind`` for ``file`` (for its night, when ``kind`` is made per night)."""
    if kind in _NIGHT_KINDS:
        return _night_job(session, kind, file.date)
    return _FILE_JOBS[kind](session, file)


def _source_role(file: File) -> FrameRole | None:
    """The role of the raw frame a product comes from."""
    while file is not None and file.data_type != DataType.RAW:
        file = file.parent_file
    return role_of(file) if file is not None else None


def _night_inputs(session: Session, kind: JobKind, night: dt.date | None) -> list[File]:
    """The night's files a job of ``kind`` starts from: raw frames for a first step,
    the current products of the step before otherwise, of the roles the step serves."""
    if night is None:
        return []
    spec = NIGHT_PLAN.spec(JOB_STEPS[kind][0])
    if not spec.needs:
        raw = session.scalars(
            select(File).where(
                File.date == night,
                File.data_type == DataType.RAW,
                File.status.in_(MASTER_INPUT_STATUSES),
                File.superseded_at.is_(None),
            )
        )
        return [f for f in raw if role_of(f) in spec.roles]
    products = session.scalars(
        select(File).where(
            File.date == night,
            File.data_type == NIGHT_PLAN.spec(spec.needs[-1]).makes,
            File.superseded_at.is_(None),
            File.deleted_at.is_(None),
        )
    )
    return [f for f in products if _source_role(f) in spec.roles]


def _recalibrate(
    session: Session, step: Step, role: FrameRole | None, night: dt.date | None
) -> list[Job | None]:
    """Jobs that do again, for the night's frames, the steps a new calibration serves."""
    queued: list[Job | None] = []
    for again in NIGHT_PLAN.recalibrates(step, role) if role is not None else ():
        kind = _JOB_OF_STEP.get(again)
        if kind in _NIGHT_KINDS and night is not None:
            queued.append(_night_job(session, kind, night))
        elif kind is not None:
            queued += [_job_on(session, kind, f) for f in _night_inputs(session, kind, night)]
    return queued


def _continue(session: Session, step: Step, product: File) -> list[Job | None]:
    """The jobs a new product of ``step`` leads to: its frame's next step, and the
    steps it calibrates for the rest of the night."""
    role = _source_role(product)
    follow = [_JOB_OF_STEP.get(s) for s in NIGHT_PLAN.next_steps(step, role)]
    queued = [_job_on(session, kind, product) for kind in follow if kind is not None]
    return queued + _recalibrate(session, step, role, product.date)


def plan_for_new_files(session: Session, file_ids: Iterable[int]) -> list[Job]:
    """Queue the work that new raw files make possible now.

    A file whose work is queued (or already under way) goes from ``classified`` to
    ``processing``; files with nothing to do (focus frames...) stay ``classified``.
    """
    queued: list[Job | None] = []
    for file in session.scalars(select(File).where(File.id.in_(list(file_ids)))):
        if (
            file.data_type != DataType.RAW
            or file.status != FileStatus.CLASSIFIED
            or file.superseded_at
        ):
            continue
        kind = _JOB_OF_STEP.get(NIGHT_PLAN.first_step(role_of(file)))
        if kind is None or (kind in _NIGHT_KINDS and file.date is None):
            continue
        queued.append(_job_on(session, kind, file))
        file.status, file.status_reason = FileStatus.PROCESSING, None
    session.flush()
    return [j for j in queued if j is not None]


def plan_recent(session: Session, since: dt.datetime) -> list[Job]:
    """Catch up after a crash: plan raw files registered since ``since`` and never planned.

    Bounded in time on purpose: an archive registered with ``gsp ingest`` is not
    reduced wholesale at the next start.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    since : datetime.datetime
        Timezone-aware UTC: raw files registered before are left alone.

    Returns
    -------
    list of Job
        The jobs queued (:func:`plan_for_new_files`).
    """
    ids = session.scalars(
        select(File.id).where(
            File.data_type == DataType.RAW,
            File.status == FileStatus.CLASSIFIED,
            File.superseded_at.is_(None),
            File.created >= since,
        )
    )
    return plan_for_new_files(session, list(ids))


def plan_after_job(session: Session, job: Job, products: list[File]) -> list[Job]:
    """Queue follow-ups of a finished job: a repeat it was asked for, then what the
    plan says its products lead to (next steps, recalibrations)."""
    queued: list[Job | None] = []
    params = dict(job.params or {})
    if params.pop("again", False):
        queued.append(
            _queue(
                session,
                job.kind,
                job.product_key,
                file_id=job.file_id,
                proposal_id=job.proposal_id,
                settings_id=job.settings_id,
                params=params,
            )
        )
    steps = JOB_STEPS.get(job.kind) or MANUAL_JOB_STEPS.get(job.kind)
    if steps and products:
        last = steps[-1]
        if job.kind in _NIGHT_KINDS:
            # A night's masters calibrate the night (whatever files they are).
            (role,) = NIGHT_PLAN.spec(last).roles
            queued += _recalibrate(session, last, role, dt.date.fromisoformat(params["date"]))
        else:
            made = NIGHT_PLAN.spec(last).makes
            for product in (p for p in products if p.data_type == made):
                queued += _continue(session, last, product)
    # Flux calibration is not yet a step the planner reads from the plan (its job names a
    # reduced frame, not the spectrum the plan's step makes): its follow-ups are its own.
    queued += _flux_followups(session, job, products)
    return [j for j in queued if j is not None]
