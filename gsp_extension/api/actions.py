"""Actions on files (reduce, extract, calibrate wavelength or flux, reclassify, calibrations).

Each action checks the caller and the file, then queues a job through the store's job
queue and answers with it (202). The job engine runs it; ``GET api/jobs/<id>/`` reports
its real state. Asking again while the same product is queued or running answers the
existing job (200) instead of queuing a second one.

Job contract for the engine (kind, product key, params):

==========================  =====================================================  ==================================
kind                        product_key                                            params
==========================  =====================================================  ==================================
``reduce``                  ``reduce:<file>:settings=<settings id>``               ``file_id, settings_id``
``extract``                 ``extract:<file>:settings=<sid>:lamp=<id|auto>``       ``file_id, settings_id, lamp_id``
``calibrate_wavelength``    ``calibrate_wavelength:<file>:lamp=<id|auto>``         ``file_id, lamp_id``
``calibrate_flux``          ``calibrate_flux:<reduced file>:standard=<id|auto>``   ``file_id, standard_id, refresh``
``classify``                ``classify:<file>``                                    ``file_id``
``master_bias``             ``master_bias:<YYYY-MM-DD>``                           ``date``
``master_flat``             ``master_flat:<YYYY-MM-DD>``                           ``date``
==========================  =====================================================  ==================================
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pipeline.vocabulary import ARC_OBSTYPES, DataType, is_arc

from ..security import AccessPolicy, Caller, get_visible_file, require_can_act_on_file
from ..store import DuplicateJob, File, InvalidState, PermissionDenied
from ..store import jobs as store_jobs
from ..store import proposals as store_proposals
from ..store.activity import log_event
from ..store.settings import get_settings
from ..vocabulary import JobKind
from .base import GSPHandler
from .schemas import (
    CalibrationsAction,
    EmptyQuery,
    ExtractAction,
    FileAction,
    FluxAction,
    WavelengthAction,
)

#: Manual actions run before automatic ones.
MANUAL_PRIORITY = 10

#: A chosen comparison lamp may be raw, reduced or extracted: the engine finds the
#: reduced arc it stands for (and says so when it is not reduced yet).
LAMP_DATA_TYPES = (DataType.RAW, DataType.REDUCED, DataType.EXTRACTED)


def _need(file: File, data_types: tuple[int, ...], action: str) -> None:
    # 409, not 400: the request is well formed and names a file that exists; what the
    # file is (its data_type, its OBSTYPE) does not allow the action.
    if file.data_type not in data_types:
        wanted = " or ".join(f"{DataType(t).description} (data_type {t})" for t in data_types)
        raise InvalidState(
            f"file {file.id} is {DataType(file.data_type).description} (data_type "
            f"{file.data_type}); {action} needs a file that is {wanted}"
        )


def _lamp(
    session, caller: Caller, lamp_id: int | None, data_types: tuple[int, ...], science: File
) -> File | None:
    """The chosen lamp, if the caller sees it or it is an arc ``science`` may use.

    The arcs Automatic takes (:meth:`AccessPolicy.calibrations_for`: the proposal's own
    and those of no proposal, taken by staff) may be chosen by hand too, although a
    member does not see a staff arc's record; another proposal's arc is refused even
    to staff (its file name, which carries that proposal's target, would go into this
    proposal's ``GSP_LAMP``).
    """
    if lamp_id is None:
        return None
    usable = session.scalar(
        select(File).where(
            File.id == lamp_id,
            File.deleted_at.is_(None),
            AccessPolicy.calibrations_for(science.proposal_id),
        )
    )
    if usable is None or not is_arc(usable.obstype):
        lamp = get_visible_file(session, caller, lamp_id)  # 404 if not seen
        if usable is None:
            raise InvalidState(
                f"lamp_id {lamp_id} belongs to another proposal: choose an arc of "
                f"{science.proposal_id or 'no proposal'} or of no proposal "
                f"(GET api/files/{science.id}/lamps/ lists them)"
            )
    else:
        lamp = usable
    if not is_arc(lamp.obstype):
        raise InvalidState(
            f"lamp_id {lamp_id} is not a comparison lamp (OBSTYPE {lamp.obstype!r}); "
            f"choose a file whose OBSTYPE is {'/'.join(ARC_OBSTYPES)}"
        )
    _need(lamp, data_types, "the lamp")
    return lamp


def _settings_id(session, file: File) -> int | None:
    if file.proposal_id is None:
        return None
    proposal = store_proposals.get_proposal_by_soar_id(session, file.proposal_id)
    return get_settings(session, proposal.id).id if proposal is not None else None


def queue(
    session,
    caller: Caller,
    *,
    kind: str,
    product_key: str,
    file: File | None,
    params: dict[str, Any],
    settings_id: int | None = None,
    proposal_id: int | None = None,
) -> tuple[dict[str, Any], bool]:
    """Queue one job (or find the active one for the same product)."""
    if proposal_id is None and file is not None and file.proposal_id is not None:
        proposal = store_proposals.get_proposal_by_soar_id(session, file.proposal_id)
        proposal_id = proposal.id if proposal is not None else None
    try:
        job = store_jobs.enqueue(
            session,
            kind,
            product_key,
            file_id=file.id if file is not None else None,
            proposal_id=proposal_id,
            settings_id=settings_id,
            requested_by_id=caller.user_id,
            params=params,
            priority=MANUAL_PRIORITY,
        )
    except DuplicateJob as dup:
        return store_jobs.job_record(store_jobs.get_job(session, dup.job_id)), False
    session.flush()
    what = f"{file.file_name}" if file is not None else product_key
    log_event(
        session,
        f"{kind} of {what} queued by {caller.name} (job {job.id})",
        event="job.queued",
        file=file,
        user=caller.user,
        job=job,
    )
    return store_jobs.job_record(job), True


class _ActionHandler(GSPHandler):
    model: type[FileAction] = FileAction

    def plan(self, session, caller: Caller, body) -> list[tuple[dict[str, Any], bool]]:
        raise NotImplementedError

    async def post(self) -> None:
        self.query(EmptyQuery)
        body = self.body(self.model)
        results = await self.db(lambda s, c: self.plan(s, c, body), write=True)
        created = any(new for _, new in results)
        detail = "queued" if created else "already queued or running: answering the existing job"
        self.reply({"detail": detail, "jobs": [job for job, _ in results]}, 202 if created else 200)


class ReduceHandler(_ActionHandler):
    def plan(self, session, caller, body):
        file = get_visible_file(session, caller, body.id)
        require_can_act_on_file(session, caller, file, "reduce")
        _need(file, (DataType.RAW,), "reduce")
        sid = _settings_id(session, file)
        return [
            queue(
                session,
                caller,
                kind=JobKind.REDUCE,
                product_key=f"reduce:{file.id}:settings={sid}",
                file=file,
                settings_id=sid,
                params={"file_id": file.id, "settings_id": sid},
            )
        ]


class ReclassifyHandler(_ActionHandler):
    def plan(self, session, caller, body):
        file = get_visible_file(session, caller, body.id)
        require_can_act_on_file(session, caller, file, "reclassify")
        _need(file, (DataType.RAW,), "reclassify")
        return [
            queue(
                session,
                caller,
                kind=JobKind.CLASSIFY,
                product_key=f"classify:{file.id}",
                file=file,
                params={"file_id": file.id},
            )
        ]


class ExtractHandler(_ActionHandler):
    model = ExtractAction

    def plan(self, session, caller, body):
        file = get_visible_file(session, caller, body.id)
        require_can_act_on_file(session, caller, file, "extract")
        _need(file, (DataType.REDUCED,), "extract")
        lamp = _lamp(session, caller, body.lamp_id, LAMP_DATA_TYPES, file)
        sid = _settings_id(session, file)
        lamp_key = lamp.id if lamp is not None else "auto"
        return [
            queue(
                session,
                caller,
                kind=JobKind.EXTRACT,
                product_key=f"extract:{file.id}:settings={sid}:lamp={lamp_key}",
                file=file,
                settings_id=sid,
                params={"file_id": file.id, "settings_id": sid, "lamp_id": body.lamp_id},
            )
        ]


class WavelengthHandler(_ActionHandler):
    model = WavelengthAction

    def plan(self, session, caller, body):
        file = get_visible_file(session, caller, body.id)
        require_can_act_on_file(session, caller, file, "calibrate in wavelength")
        _need(file, (DataType.EXTRACTED,), "wavelength calibration")
        lamp = _lamp(session, caller, body.lamp_id, LAMP_DATA_TYPES, file)
        lamp_key = lamp.id if lamp is not None else "auto"
        return [
            queue(
                session,
                caller,
                kind=JobKind.CALIBRATE_WAVELENGTH,
                product_key=f"calibrate_wavelength:{file.id}:lamp={lamp_key}",
                file=file,
                params={"file_id": file.id, "lamp_id": body.lamp_id},
            )
        ]


class FluxHandler(_ActionHandler):
    """Flux-calibrate a spectrum's frame, optionally with a chosen standard."""

    model = FluxAction

    def plan(self, session, caller, body):
        from ..engine.flux import reduced_frame_of, sensitivities_of_standard

        file = get_visible_file(session, caller, body.id)
        require_can_act_on_file(session, caller, file, "flux-calibrate")
        _need(file, FLUX_DATA_TYPES, "flux calibration")
        # a spectrum with no frame behind it, or a standard that is not one: 409
        reduced = reduced_frame_of(session, file)
        if body.standard_id is not None:
            standard = get_visible_file(session, caller, body.standard_id)
            sensitivities_of_standard(session, standard, reduced.proposal_id)
        _need_flux_enabled(session, reduced)
        key = body.standard_id if body.standard_id is not None else "auto"
        return [
            queue(
                session,
                caller,
                kind=JobKind.CALIBRATE_FLUX,
                product_key=f"calibrate_flux:{reduced.id}:standard={key}",
                file=reduced,
                settings_id=_settings_id(session, reduced),
                params={"file_id": reduced.id, "standard_id": body.standard_id, "refresh": False},
            )
        ]


#: What "Calibrate Flux" accepts: a wavelength-calibrated (4) or flux-calibrated (5)
#: spectrum, whose frame's spectra are (re)calibrated.
FLUX_DATA_TYPES = (DataType.WAVELENGTH_CALIBRATED, DataType.FLUX_CALIBRATED)


def _need_flux_enabled(session, file: File) -> None:
    from ..store.settings import flux_settings_values

    if file.proposal_id is None:
        return
    proposal = store_proposals.get_proposal_by_soar_id(session, file.proposal_id)
    if proposal is None:
        return
    if not flux_settings_values(get_settings(session, proposal.id))["flux_calibration"]:
        raise InvalidState(
            f"flux calibration is off in the reduction settings of {file.proposal_id} "
            "(flux_calibration=false); turn it on (PUT api/proposals/<id>/settings/) to "
            "flux-calibrate"
        )


class CalibrationsHandler(_ActionHandler):
    """Build the master bias and/or flats of a night."""

    model = CalibrationsAction

    def plan(self, session, caller, body):
        if not AccessPolicy(session, caller).may_build_calibrations(body.date):
            if caller.user is None:
                raise PermissionDenied("only staff and observers of that night build calibrations")
            raise PermissionDenied(
                f"none of your proposals has raw files on {body.date.isoformat()}; only "
                "staff and that night's observers build its calibrations"
            )
        night = body.date.isoformat()
        return [
            queue(
                session,
                caller,
                kind=f"master_{kind}",
                product_key=f"master_{kind}:{night}",
                file=None,
                params={"date": night},
            )
            for kind in dict.fromkeys(body.kinds)
        ]
