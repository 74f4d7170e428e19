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
  so; a standard's first makes its sensitivity); a new sensitivity (a standard arrived):
  flux-calibrate that night's spectra again.

A new calibration made from one proposal's frame (an arc, a standard) calibrates only
that proposal's frames again (the access policy lets no other use it), and never the
observation it was made from.

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
#: calibrates in wavelength; a flux job makes a standard's sensitivity, then flux-
#: calibrates). Every step is carried: checked against the plan's order at import.
JOB_STEPS: dict[JobKind, tuple[Step, ...]] = {
    JobKind.MASTER_BIAS: (Step.MASTER_BIAS,),
    JobKind.MASTER_FLAT: (Step.MASTER_FLAT,),
    JobKind.REDUCE: (Step.REDUCE,),
    JobKind.EXTRACT: (Step.EXTRACT, Step.WAVELENGTH),
    JobKind.CALIBRATE_FLUX: (Step.SENSITIVITY, Step.FLUX),
}
NIGHT_PLAN.schedule(JOB_STEPS)
#: Manual job kinds that carry steps of the plan again (their follow-ups are planned too).
MANUAL_JOB_STEPS: dict[JobKind, tuple[Step, ...]] = {
    JobKind.CALIBRATE_WAVELENGTH: (Step.EXTRACT, Step.WAVELENGTH),
}
#: Steps a job kind carries ahead of the job kind that owns them, when their calibration
#: is at hand (a science spectrum is flux-calibrated by the extraction that made it when
#: a sensitivity exists: one job less between a frame and its data_type 5, see
#: :func:`.flux.flux_inputs_for_extraction`). A product made ahead is not made again:
#: the planner queues a next step only for products it was not already made from, and
#: none for a step the job says it carried (``WorkResult.carried``: it tried the step,
#: and a spectrum no sensitivity fits has the reason as its status).
AHEAD_STEPS: dict[JobKind, tuple[Step, ...]] = {
    JobKind.EXTRACT: (Step.FLUX,),
    JobKind.CALIBRATE_WAVELENGTH: (Step.FLUX,),
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


def extract_again(session: Session, reduced: File) -> Job | None:
    """Queue a reduced science frame's automatic extraction and wavelength calibration.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    reduced : File
        The current reduced frame (data_type 2).

    Returns
    -------
    Job or None
        The job queued; ``None`` when one is queued for it already (a running one is
        marked to run again).
    """
    return _extract(session, reduced)


def _flux_enabled(session: Session, file: File) -> tuple[bool, int | None, int | None]:
    """Whether a frame's proposal flux-calibrates (its settings), with the ids to queue."""
    from gsp_extension.store.settings import flux_settings_values

    proposal = get_proposal_by_soar_id(session, file.proposal_id) if file.proposal_id else None
    if proposal is None:
        return True, None, None  # unowned frames: SOAR's defaults (flux calibration on)
    row = get_settings(session, proposal.id)
    return bool(flux_settings_values(row)["flux_calibration"]), proposal.id, row.id


def _flux(session: Session, spectrum: File, *, refresh: bool = False) -> Job | None:
    """Flux-calibrate the frame of ``spectrum`` (a flux job names the reduced frame: it
    calibrates all its spectra, and a standard's first makes its sensitivity)."""
    from .flux import reduced_frame_of

    try:
        reduced = reduced_frame_of(session, spectrum)
    except InvalidState:
        return None  # no reduced frame behind it (registered by hand): nothing to do
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


def _night_job(session: Session, kind: JobKind, night: dt.date) -> Job | None:
    return _queue(session, kind, f"{kind}:{night.isoformat()}", params={"date": night.isoformat()})


#: How a job of each per-file kind is queued on a file (the product of the step before),
#: first made (``False``) or again after a new calibration (``True``).
_FILE_JOBS: dict[JobKind, Callable[[Session, File, bool], Job | None]] = {
    JobKind.REDUCE: lambda session, raw, _again: _reduce(session, raw),
    JobKind.EXTRACT: lambda session, reduced, _again: _extract(session, reduced),
    JobKind.CALIBRATE_FLUX: lambda session, spectrum, again: _flux(
        session, spectrum, refresh=again
    ),
}


def _job_on(session: Session, kind: JobKind, file: File, *, again: bool = False) -> Job | None:
    """Queue ``kind`` for ``file`` (for its night, when ``kind`` is made per night)."""
    if kind in _NIGHT_KINDS:
        return _night_job(session, kind, file.date)
    return _FILE_JOBS[kind](session, file, again)


def _source_role(file: File) -> FrameRole | None:
    """The role of the raw frame a product comes from."""
    while file is not None and file.data_type != DataType.RAW:
        file = file.parent_file
    return role_of(file) if file is not None else None


def _night_inputs(session: Session, kind: JobKind, step: Step, night: dt.date | None) -> list[File]:
    """The night's files a job of ``kind`` starts from to do ``step`` again: raw frames
    when its first step starts from them, the current products of the step before it
    otherwise; of the roles ``step`` serves."""
    if night is None:
        return []
    spec = NIGHT_PLAN.spec(JOB_STEPS[kind][0])
    roles = NIGHT_PLAN.spec(step).roles
    if not spec.needs:
        raw = session.scalars(
            select(File).where(
                File.date == night,
                File.data_type == DataType.RAW,
                File.status.in_(MASTER_INPUT_STATUSES),
                File.superseded_at.is_(None),
            )
        )
        return [f for f in raw if role_of(f) in roles]
    products = session.scalars(
        select(File).where(
            File.date == night,
            File.data_type == NIGHT_PLAN.spec(spec.needs[-1]).makes,
            File.superseded_at.is_(None),
            File.deleted_at.is_(None),
        )
    )
    return [f for f in products if _source_role(f) in roles]


def _calibrated_by(calibration: File | None, file: File) -> bool:
    """Whether a new ``calibration`` product may calibrate ``file`` again: not the
    observation it was made from, and only its own proposal's frames when a proposal
    owns it (:meth:`AccessPolicy.calibrations_for`, :meth:`AccessPolicy.standards_for`)."""
    if calibration is None:
        return True  # the night's masters: every frame of the night
    if file.original_file_id == calibration.original_file_id:
        return False
    return calibration.proposal_id is None or file.proposal_id == calibration.proposal_id


def _recalibrate(
    session: Session,
    step: Step,
    role: FrameRole | None,
    night: dt.date | None,
    calibration: File | None = None,
) -> list[Job | None]:
    """Jobs that do again, for the night's frames, the steps a new calibration serves
    (``calibration``: the product that serves them, ``None`` for the night's masters)."""
    queued: list[Job | None] = []
    for again in NIGHT_PLAN.recalibrates(step, role) if role is not None else ():
        kind = _JOB_OF_STEP.get(again)
        if kind in _NIGHT_KINDS and night is not None:
            queued.append(_night_job(session, kind, night))
        elif kind is not None:
            queued += [
                _job_on(session, kind, f, again=True)
                for f in _night_inputs(session, kind, again, night)
                if _calibrated_by(calibration, f)
            ]
    return queued


def _continue(
    session: Session,
    step: Step,
    product: File,
    carried: tuple[Step, ...] = (),
    made_from: frozenset[tuple[int, DataType]] = frozenset(),
) -> list[Job | None]:
    """The jobs a new product of ``step`` leads to: its frame's next steps (but those
    the job that made it carried, and those whose product it made from this one
    already: ``made_from`` holds ``(parent id, data type)`` of the job's products), and
    the steps it calibrates for the rest of the night."""
    role = _source_role(product)
    follow = [
        _JOB_OF_STEP[s]
        for s in NIGHT_PLAN.next_steps(step, role)
        if s not in carried and (product.id, NIGHT_PLAN.spec(s).makes) not in made_from
    ]
    # One job of a kind for the product (a flux job carries two of a standard's steps).
    queued = [_job_on(session, kind, product) for kind in dict.fromkeys(follow)]
    return queued + _recalibrate(session, step, role, product.date, product)


def plan_for_new_files(session: Session, file_ids: Iterable[int]) -> list[Job]:
    """Queue the work that new raw files make possible now.

    A file whose work is queued (or already under way) goes from ``classified`` to
    ``processing``; files with nothing to do (focus frames...) stay ``classified``.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits (the status changes are flushed).
    file_ids : iterable of int
        Ids of newly registered files; ids of files that are not current raw files in
        ``classified`` status are skipped, as are unknown ids.

    Returns
    -------
    list of Job
        The jobs queued by this call: the first step of each file's plan (per file, or
        per night for the masters' kinds). Where a job of the kind is already queued or
        running for the same product none is added: it is not listed.
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


def _redo_stale_flux(session: Session, job: Job, products: list[File]) -> list[Job | None]:
    """A flux job again for the data_type 5 a job carried ahead (an extraction) from a
    sensitivity master rewritten while it ran (:func:`.flux.made_with_an_earlier_version`).
    A flux job's own products need not be checked: the new master's flux job for the
    same frame found it running and marked it to run again."""
    from .flux import made_with_an_earlier_version

    if job.kind == JobKind.CALIBRATE_FLUX:
        return []
    return [
        _flux(session, p, refresh=True)
        for p in products
        if p.data_type == DataType.FLUX_CALIBRATED and made_with_an_earlier_version(session, p)
    ]


def plan_after_job(
    session: Session, job: Job, products: list[File], carried: Iterable[str] = ()
) -> list[Job]:
    """Queue the follow-ups of a finished job: a repeat asked for, then the plan's next steps.

    A job marked ``again`` (new input arrived while it ran) is queued once more with the
    same parameters. Then each product goes on from the step that made it
    (:data:`JOB_STEPS`), and a new calibration queues the steps it serves again for its
    night (new masters recalibrate the night's frames).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    job : Job
        The job that just ended ``done``; a night job's params carry its ``date``.
    products : list of File
        The rows registered for its products (empty when it made none: then only the
        repeat, if asked, is queued).
    carried : iterable of str
        Steps the job carried ahead for every product whatever came of them
        (:attr:`WorkResult.carried`): no job is queued for them.

    Returns
    -------
    list of Job
        The jobs queued by this call. Where a job of the kind is already queued for the
        same product none is added (a running one is marked ``again``): it is not listed.
    """
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
        if job.kind in _NIGHT_KINDS:
            # A night's masters calibrate the night (whatever files they are).
            (role,) = NIGHT_PLAN.spec(steps[-1]).roles
            queued += _recalibrate(session, steps[-1], role, dt.date.fromisoformat(params["date"]))
        else:
            # Each product goes on from the step that made it (a flux job's sensitivity
            # flux-calibrates the night again; its data_type 5 products end the chain).
            made_from = frozenset((p.parent_file_id, p.data_type) for p in products)
            done = (*steps, *(Step(s) for s in carried))
            for step in (*steps, *AHEAD_STEPS.get(job.kind, ())):
                made = NIGHT_PLAN.spec(step).makes
                for product in (p for p in products if p.data_type == made):
                    queued += _continue(session, step, product, done, made_from)
            queued += _redo_stale_flux(session, job, products)
    return [j for j in queued if j is not None]
