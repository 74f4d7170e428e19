"""The flux calibration job (issue 17): a standard's sensitivity, spectra in flux units.

A ``calibrate_flux`` job names a reduced frame (or any spectrum of it). ``prepare``
finds the frame's current wavelength-calibrated spectra (data_type 4) and the
sensitivity masters (``master_sens_*``, data_type 1) its proposal may use; ``execute``
(worker side, files only):

1. for a standard star's frame, makes a sensitivity master from its brightest
   spectrum, or says why the standard cannot be used (saturated, too little signal,
   outside its table's range...);
2. flux-calibrates each spectrum with the compatible sensitivity nearest in time
   (or the chosen standard's) into ``fwecfzst_`` (data_type 5). A spectrum with no
   compatible sensitivity keeps its data_type 4 product and its status says why.

The job carries the plan's sensitivity and flux steps (:data:`.planner.JOB_STEPS`).
When a sensitivity is at hand already, an extraction carries the flux step of the
spectra it makes itself (:func:`flux_inputs_for_extraction`, :func:`flux_products_inline`):
a science frame's data_type 5 is then committed with its data_type 4, by one job, and a
spectrum no sensitivity at hand fits gets the reason there; no flux job follows.

Sensitivities follow the arcs' sharing rule (:meth:`AccessPolicy.standards_for`): a
proposal's data is calibrated with its own standards or with standards no proposal
owns, so no product, header or log names another proposal's star or files.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from gsp_extension.security.access import AccessPolicy
from gsp_extension.store.errors import InvalidState, NotFound
from gsp_extension.store.files import get_file
from gsp_extension.store.models import File, Job, ReductionSettings
from gsp_extension.store.settings import DEFAULT_FLUX_SETTINGS, flux_settings_values
from gsp_extension.vocabulary import FileStatus
from pipeline.fluxcal.standards import library_dirs
from pipeline.vocabulary import DataType, FrameRole, is_arc

from .calibrations import MASTER_NIGHTS_BACK, stored_header
from .handlers import job_file, products_dir, settings_for_job
from .work import Outdated, ProductOut, WorkRequest, WorkResult

#: File names of sensitivity masters (:func:`pipeline.fluxcal.sensitivity.sensitivity_name`).
SENSITIVITY_PREFIX = "master_sens_"

#: How :func:`automatic_standards` begins the reason of a master it cannot read.
_UNREADABLE = "cannot be read as a sensitivity"

_SPECTRA = (DataType.EXTRACTED, DataType.WAVELENGTH_CALIBRATED, DataType.FLUX_CALIBRATED)


def _current(query):
    return query.where(File.superseded_at.is_(None), File.deleted_at.is_(None))


def reduced_frame_of(session: Session, file: File) -> File:
    """The current reduced frame (data_type 2) a file stands for.

    A spectrum (data_type 3, 4 or 5) stands for the frame it was extracted from, a raw
    frame for its current reduction.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    file : File
        A raw frame, a reduced frame or a spectrum.

    Returns
    -------
    File
        The current reduced frame (data_type 2).

    Raises
    ------
    InvalidState
        When the file has no reduced frame (a master, a raw frame not reduced yet).
    """
    reduced = file
    while reduced.data_type in _SPECTRA and reduced.parent_file is not None:
        reduced = reduced.parent_file
    if reduced.data_type == DataType.RAW:
        reduced = session.scalar(
            _current(select(File))
            .where(File.parent_file_id == file.id, File.data_type == DataType.REDUCED)
            .order_by(File.id.desc())
        )
        if reduced is None:
            raise InvalidState(
                f"file {file.id} ({file.file_name}) is not reduced yet; reduce it first"
            )
    if reduced.data_type != DataType.REDUCED:
        raise InvalidState(
            f"file {file.id} ({file.file_name}) is {DataType(file.data_type).description} "
            f"(data_type {file.data_type}); flux calibration needs a spectrum extracted by "
            "this service or its reduced frame"
        )
    return reduced


def calibrated_spectra(session: Session, reduced: File) -> list[File]:
    """List the current wavelength-calibrated target spectra of a reduced frame (brightest first).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    reduced : File
        A reduced frame (data_type 2).

    Returns
    -------
    list of File
        Its data_type 4 products (through its extractions), by decreasing ``snr_target``
        of their quality (0 when unknown).
    """
    extracted = _current(select(File.id)).where(
        File.parent_file_id == reduced.id, File.data_type == DataType.EXTRACTED
    )
    rows = session.scalars(
        _current(select(File))
        .where(
            File.parent_file_id.in_(extracted),
            File.data_type == DataType.WAVELENGTH_CALIBRATED,
        )
        .order_by(File.id)
    )
    return sorted(rows, key=lambda f: -float((f.quality or {}).get("snr_target") or 0.0))


def is_standard_frame(reduced: File) -> bool:
    """Tell whether a reduced frame is of a spectrophotometric standard star.

    Parameters
    ----------
    reduced : File
        A reduced frame; its raw parent's role decides.

    Returns
    -------
    bool
        True when the raw frame's role is ``standard``; False without a raw parent.
    """
    from .planner import role_of

    raw = reduced.parent_file
    return raw is not None and role_of(raw) is FrameRole.STANDARD


def usable_sensitivities(
    session: Session, night: dt.date | None, soar_id: str | None
) -> list[File]:
    """List the sensitivity masters that may calibrate data of a proposal on a night.

    They are of ``night`` and the ``MASTER_NIGHTS_BACK`` nights before, allowed for
    proposal ``soar_id`` (:meth:`AccessPolicy.standards_for`).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    night : datetime.date or None
        The data's night; ``None`` puts no limit on the date.
    soar_id : str or None
        The data's proposal; ``None`` for data of no proposal.

    Returns
    -------
    list of File
        Current ``master_sens_*`` rows, by id.
    """
    query = (
        _current(select(File)).options(undefer(File.header))  # read by automatic_standards
    ).where(
        File.data_type == DataType.MASTER_CALIBRATION,
        File.file_name.startswith(SENSITIVITY_PREFIX),
        AccessPolicy.standards_for(soar_id),
    )
    if night is not None:
        first = night - dt.timedelta(days=MASTER_NIGHTS_BACK)
        query = query.where(File.date.between(first, night))
    return list(session.scalars(query.order_by(File.id)))


@dataclass
class StandardChoice:
    """What Automatic may take to flux-calibrate one spectrum (:func:`automatic_standards`).

    Attributes
    ----------
    spectrum : File
        The spectrum whose header decides (data_type 4), or the reduced frame when it
        has none yet.
    reduced : File
        Its reduced frame (data_type 2).
    candidates : list of File
        The sensitivity masters of its setup, in the order Automatic takes them: the
        first is the one it uses.
    refused : list of (File, str)
        Masters of the nights searched that the proposal may use but of another setup
        (or whose stored header is not a sensitivity's), with the reason.
    """

    spectrum: File
    reduced: File
    candidates: list[File] = field(default_factory=list)
    refused: list[tuple[File, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _StoredSensitivity:
    """What :func:`pipeline.fluxcal.apply.rank_sensitivities` reads of a sensitivity,
    from a registered master's stored header instead of its file."""

    row: File
    setup: Any
    standard: str
    date_obs: dt.datetime | None
    name: str


def _stored_sensitivity(row: File) -> _StoredSensitivity:
    """Raises ``KeyError``/``ValueError`` where :func:`read_sensitivity` would refuse."""
    from pipeline.fluxcal.sensitivity import sensitivity_setup

    cards = stored_header(row)
    if "GSP_SSTD" not in cards:
        raise ValueError("not a sensitivity master (no GSP_SSTD card)")
    date = str(cards.get("GSP_SDAT", "") or "")
    return _StoredSensitivity(
        row=row,
        setup=sensitivity_setup(cards),
        standard=str(cards["GSP_SSTD"]),
        date_obs=dt.datetime.fromisoformat(date) if date else None,
        name=row.file_name,
    )


def automatic_standards(
    session: Session, file: File, preferred: str | None = None
) -> StandardChoice:
    """The sensitivities Automatic (no ``standard_id``) chooses from for a spectrum.

    One rule for the ``calibrate_flux`` job and the standard chooser
    (``GET api/files/<id>/standards/``): the masters of :func:`usable_sensitivities`
    (the frame's night and the ``MASTER_NIGHTS_BACK`` before, its proposal's or no
    proposal's), ranked by the pipeline's own rule
    (:func:`pipeline.fluxcal.apply.rank_sensitivities`: same setup, the preferred star
    first, then nearest in time) on the stored headers, which are the files' headers
    as registered, so the worker reading the files takes the same first one.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    file : File
        A spectrum (data_type 3, 4 or 5), its reduced frame or its raw frame; a frame
        stands for its brightest wavelength-calibrated spectrum.
    preferred : str or None
        The proposal's preferred standard star; ``None`` reads it from the proposal's
        flux settings.

    Returns
    -------
    StandardChoice

    Raises
    ------
    InvalidState
        The file has no reduced frame or is an arc.
    """
    from pipeline.fluxcal.apply import rank_sensitivities

    reduced = reduced_frame_of(session, file)
    if is_arc(reduced.obstype):
        raise InvalidState(f"file {file.id} ({file.file_name}) is an arc, not a star's spectrum")
    spectrum = file
    while spectrum.data_type == DataType.FLUX_CALIBRATED and spectrum.parent_file is not None:
        spectrum = spectrum.parent_file
    if spectrum.data_type != DataType.WAVELENGTH_CALIBRATED:
        spectra = calibrated_spectra(session, reduced)
        spectrum = spectra[0] if spectra else reduced
    if preferred is None:
        preferred = str(_proposal_flux_values(session, reduced).get("preferred_standard") or "")
    choice = StandardChoice(spectrum=spectrum, reduced=reduced)
    readable = []
    for row in usable_sensitivities(session, reduced.date, reduced.proposal_id):
        try:
            readable.append(_stored_sensitivity(row))
        except (KeyError, ValueError) as exc:
            reason = exc.args[0] if isinstance(exc, ValueError) else f"no {exc.args[0]} card"
            choice.refused.append((row, f"{_UNREADABLE}: {reason}"))
    ranked, refused, _setup = rank_sensitivities(stored_header(spectrum), readable, preferred)
    choice.candidates = [s.row for s in ranked]
    choice.refused = [(s.row, why) for s, why in refused] + choice.refused
    return choice


def sensitivity_used(session: Session, spectrum: File) -> str | None:
    """The file name of the sensitivity a spectrum's current flux product was made with.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    spectrum : File
        A wavelength-calibrated spectrum (data_type 4).

    Returns
    -------
    str or None
        Its current ``fwecfzst_``'s ``GSP_SENS`` card; None without one.
    """
    fluxed = session.scalar(
        _current(select(File))
        .options(undefer(File.header))
        .where(File.parent_file_id == spectrum.id, File.data_type == DataType.FLUX_CALIBRATED)
        .order_by(File.id.desc())
    )
    if fluxed is None:
        return None
    return str(stored_header(fluxed).get("GSP_SENS") or "") or None


def made_with_an_earlier_version(session: Session, fluxed: File) -> bool:
    """Whether a flux-calibrated spectrum was made with a master rewritten since.

    A job that read a sensitivity master while its standard's job was rewriting it
    (same name, new values) holds the earlier values; the flux job the new master
    queued may have run before this product was registered, so nothing else redoes it.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    fluxed : File
        A flux-calibrated spectrum (data_type 5) just registered.

    Returns
    -------
    bool
        True when the current master of its ``GSP_SENS`` name records other values
        (``GSP_SSUM``) than the product does; False when they agree, or when either does
        not record them (nothing to compare).
    """
    cards = stored_header(fluxed)
    name, used = cards.get("GSP_SENS"), cards.get("GSP_SSUM")
    if not name or not used:
        return False
    masters = session.scalars(
        _current(select(File)).where(
            File.data_type == DataType.MASTER_CALIBRATION, File.file_name == str(name)
        )
    ).all()
    digests = {stored_header(m).get("GSP_SSUM") for m in masters} - {None}
    return bool(digests) and used not in digests


def sensitivities_of_standard(session: Session, chosen: File, soar_id: str | None) -> list[File]:
    """The sensitivity master(s) a chosen standard file stands for.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    chosen : File
        The standard chosen by the user: a sensitivity master, or a frame or spectrum of a
        standard star.
    soar_id : str or None
        The proposal of the data to calibrate.

    Returns
    -------
    list of File
        The sensitivity masters made from it (at least one).

    Raises
    ------
    InvalidState
        The file is not a standard of this proposal (or of none), or has no sensitivity
        yet; the message says what to choose instead.
    """
    if chosen.data_type == DataType.MASTER_CALIBRATION:
        masters = [chosen] if chosen.file_name.startswith(SENSITIVITY_PREFIX) else []
    else:
        reduced = reduced_frame_of(session, chosen)
        if not is_standard_frame(reduced):
            raise InvalidState(
                f"standard {chosen.id} ({chosen.file_name}) is not a standard star frame; "
                "choose a frame whose object is a spectrophotometric standard"
            )
        spectra = [s.id for s in calibrated_spectra(session, reduced)]
        masters = list(
            session.scalars(
                _current(select(File)).where(
                    File.parent_file_id.in_(spectra),
                    File.data_type == DataType.MASTER_CALIBRATION,
                )
            )
        )
    if chosen.proposal_id not in (None, soar_id):
        masters = []  # another proposal's standard: refused below, without its name
    if not masters:
        raise InvalidState(
            f"standard {chosen.id} has no sensitivity function this proposal may use; "
            "choose a standard of the same proposal whose flux job has finished "
            "(or omit standard_id to use the nearest in time)"
        )
    return masters


def _flux_values(session: Session, settings_id: int | None) -> dict[str, Any]:
    row = session.get(ReductionSettings, settings_id) if settings_id is not None else None
    return flux_settings_values(row) if row is not None else dict(DEFAULT_FLUX_SETTINGS)


def _proposal_flux_values(session: Session, reduced: File) -> dict[str, Any]:
    """The flux settings of the frame's proposal (the defaults for data of none), as an
    automatic ``calibrate_flux`` job of the frame reads them (:func:`settings_for_job`)."""
    from gsp_extension.store.proposals import get_proposal_by_soar_id
    from gsp_extension.store.settings import get_settings

    proposal = (
        get_proposal_by_soar_id(session, reduced.proposal_id) if reduced.proposal_id else None
    )
    if proposal is None:
        return dict(DEFAULT_FLUX_SETTINGS)
    return flux_settings_values(get_settings(session, proposal.id))


def _existing_flux(session: Session, spectra: list[File]) -> dict[str, str]:
    """``{spectrum path: its current fwecfzst_ path}`` for spectra calibrated already."""
    rows = session.scalars(
        _current(select(File)).where(
            File.parent_file_id.in_([s.id for s in spectra]),
            File.data_type == DataType.FLUX_CALIBRATED,
        )
    )
    by_id = {s.id: s.full_path for s in spectra}
    return {by_id[f.parent_file_id]: f.full_path for f in rows}


def _being_redone(session: Session, reduced: File) -> bool:
    """Whether the frame's chain is being made again: the frame itself was replaced, or
    its wavelength-calibrated spectra were (and none is current)."""
    if reduced.superseded_at is not None:
        return True
    replaced = session.scalar(
        select(File.id)
        .where(
            File.original_file_id == reduced.original_file_id,
            File.data_type == DataType.WAVELENGTH_CALIBRATED,
            File.superseded_at.is_not(None),
        )
        .limit(1)
    )
    return replaced is not None


def flux_inputs_for_extraction(
    session: Session, reduced: File, settings_id: int | None
) -> dict[str, Any] | None:
    """What an extraction of ``reduced`` needs to carry the plan's flux step itself.

    When a sensitivity the frame's proposal may use is at hand, the extraction job
    flux-calibrates the spectra it has just calibrated in wavelength, in the same job:
    no second job to claim, prepare, run on a worker and complete (the live latency to
    data_type 5). ``None`` (the flux job follows, as the plan says)
    for a standard's frame (its sensitivity comes first), with flux calibration off,
    or with no sensitivity yet (the flux job then says why there is no data_type 5).

    Parameters
    ----------
    session : Session
    reduced : File
        The reduced frame the extraction works on.
    settings_id : int or None
        The proposal's reduction settings row, None for the defaults.

    Returns
    -------
    dict or None
        The sensitivities' paths and the flux settings, or None as above.
    """
    values = _flux_values(session, settings_id)
    if not values.get("flux_calibration") or is_arc(reduced.obstype):
        return None
    if is_standard_frame(reduced):
        return None
    masters = usable_sensitivities(session, reduced.date, reduced.proposal_id)
    if not masters:
        return None
    return {"sensitivity_paths": [m.full_path for m in masters], "flux_settings": values}


def prepare_calibrate_flux(session: Session, job: Job, data_root: str) -> dict[str, Any]:
    """Gather the inputs of a calibrate_flux job: the frame's spectra and sensitivities.

    The sensitivities are those the frame's proposal may use (:func:`usable_sensitivities`),
    or only the chosen standard's when the job's params give a ``standard_id``.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        The engine's session (read only here).
    job : Job
        The claimed job; it names a reduced frame or any spectrum of it.
    data_root : str
        The data root (``GSP_DATA_ROOT``): products go under its ``products/``.

    Returns
    -------
    dict of str to object
        ``file_id`` and ``reduced_path`` (the reduced frame); ``spectra`` (each current
        data_type 4 spectrum's path to its file id, brightest first); ``standard`` (make
        a sensitivity from the brightest spectrum first: a standard star's frame and no
        chosen standard); ``sensitivity_paths``; ``existing_flux`` (spectrum path to its
        current ``fwecfzst_`` path); ``standards_dirs`` (the process's folders of more
        standard stars, for a worker in another process); ``keep_current`` (an automatic job keeps a product
        made with the sensitivity it would use again); ``settings_id``, ``settings`` and
        ``flux_settings``; ``out_dir`` (the night's products folder) and ``raw_dir``.

    Raises
    ------
    Outdated
        An automatic job whose frame or spectra were replaced after it was queued: the
        new chain's wavelength calibration queues its own flux job.
    InvalidState
        The job names no file, the file is gone, is an arc, has no reduced frame or no
        wavelength-calibrated spectrum yet, or the chosen standard is gone or gives no
        sensitivity the proposal may use.
    """
    file = job_file(session, job)
    reduced = reduced_frame_of(session, file)
    if is_arc(reduced.obstype):
        raise InvalidState(f"file {file.id} ({file.file_name}) is an arc, not a star's spectrum")
    spectra = calibrated_spectra(session, reduced)
    if not spectra and job.requested_by_id is None and _being_redone(session, reduced):
        # The frame or its spectra were replaced after this job was queued (new masters,
        # a new arc): the new chain's wavelength calibration queues its own flux job.
        raise Outdated(
            f"{reduced.file_name}'s spectra were replaced before this {job.kind} started; "
            "the new ones are flux-calibrated instead"
        )
    if not spectra:
        raise InvalidState(
            f"{reduced.file_name} has no wavelength-calibrated spectrum (data_type 4) yet; "
            "calibrate it in wavelength first"
        )
    settings_id, values = settings_for_job(session, job, reduced)
    standard_id = (job.params or {}).get("standard_id")
    if standard_id is None:
        # Automatic: what the standard chooser lists (automatic_standards), per spectrum;
        # the other setups' masters go too, so the worker's refusal names them. Masters
        # whose stored header is no sensitivity's are left out (the worker would skip them).
        preferred = str(_flux_values(session, settings_id).get("preferred_standard") or "")
        masters = []
        for spectrum in spectra:
            choice = automatic_standards(session, spectrum, preferred)
            for row in [
                *choice.candidates,
                *(r for r, why in choice.refused if not why.startswith(_UNREADABLE)),
            ]:
                if row not in masters:
                    masters.append(row)
    else:
        try:
            chosen = get_file(session, int(standard_id))
        except NotFound:
            raise InvalidState(f"standard {standard_id} no longer exists") from None
        masters = sensitivities_of_standard(session, chosen, reduced.proposal_id)
    standard = standard_id is None and is_standard_frame(reduced)
    return {
        "file_id": reduced.id,
        "reduced_path": reduced.full_path,
        "spectra": {s.full_path: s.id for s in spectra},
        "standard": standard,
        "sensitivity_paths": [m.full_path for m in masters],
        "existing_flux": _existing_flux(session, spectra),
        # an automatic job keeps a product already made with the sensitivity it would use
        "keep_current": job.requested_by_id is None,
        "settings_id": settings_id,
        "settings": values,
        "flux_settings": _flux_values(session, settings_id),
        "out_dir": str(products_dir(data_root, reduced.date)),
        "raw_dir": str(Path(data_root) / "raw"),
        # the deployment's folders of more standards (a Dask worker has not been told)
        "standards_dirs": list(library_dirs()),
    }


# --- worker side -------------------------------------------------------------------------


def _read_sensitivities(paths: list[str], notes: list[str]) -> list:
    from pipeline.fluxcal.sensitivity import read_sensitivity

    out = []
    for path in paths:
        try:
            out.append(read_sensitivity(path))
        except (OSError, ValueError) as exc:
            notes.append(f"{Path(path).name} not used: {exc}")
    return out


def _standard_sensitivity(request: WorkRequest, result: WorkResult, flux_settings, settings):
    """The standard's sensitivity master from its brightest spectrum (or why not)."""
    from pipeline.fluxcal.night_stage import sensitivity_from_product

    inputs = request.inputs
    path, spectrum_id = next(iter(inputs["spectra"].items()))
    sens, made = sensitivity_from_product(
        path,
        inputs["out_dir"],
        flux_settings,
        settings,
        reduced_path=inputs["reduced_path"],
        raw_dirs=[inputs["raw_dir"]],
        standards_dirs=inputs.get("standards_dirs") or (),
    )
    if made.file:
        result.products.append(
            ProductOut(
                made.file,
                DataType.MASTER_CALIBRATION,
                parent_file_id=spectrum_id,
                quality=made.quality,
            )
        )
        result.notes.append(f"sensitivity {Path(made.file).name} made")
        return sens
    # The standard's spectrum carries why it gave no sensitivity (saturated, too faint...).
    result.notes.append(made.reason)
    result.file_updates[spectrum_id] = {
        "status": FileStatus.PROCESSED,
        "status_reason": made.reason,
    }
    if made.status == "failed":
        raise RuntimeError(made.reason)
    return None


def _already_current(path: str, existing: str | None, sensitivities, flux_settings) -> bool:
    """Whether ``existing`` (a fwecfzst_) was made as it would be now: with the values of
    the sensitivity chosen now and with these flux settings.

    The values, not only the name: a master is rewritten under its name when its
    standard is made again (re-extracted after a new arc, other settings), and a product
    kept on its name alone would hold the earlier version's numbers."""
    from astropy.io import fits

    from pipeline.fluxcal.apply import choose_sensitivity
    from pipeline.settings import FluxSettings

    if existing is None:
        return False
    try:
        used = fits.getheader(existing)
        choice = choose_sensitivity(
            fits.getheader(path), sensitivities, flux_settings.preferred_standard
        )
    except OSError:
        return False
    sens = choice.sensitivity
    return sens is not None and sens.made(used) and FluxSettings.from_header(used) == flux_settings


def _flux_one(path: str, sensitivities, out_dir: str, all_settings, raw_dir: str, **parent):
    """One spectrum flux-calibrated (:func:`pipeline.fluxcal.night_stage.flux_product`),
    and its ``fwecfzst_`` as a product of the job (``None`` when none was made: the
    result says why); ``parent`` names the spectrum (``parent_file_id`` or
    ``parent_path``). An unexpected failure fails the job."""
    from pipeline.fluxcal.night_stage import flux_product

    flux_settings, settings = all_settings
    made = flux_product(path, sensitivities, out_dir, flux_settings, settings, [raw_dir])
    if made.status == "failed":
        raise RuntimeError(f"{Path(path).name}: {made.reason}")
    if not made.file:
        return made, None
    return made, ProductOut(made.file, DataType.FLUX_CALIBRATED, quality=made.quality, **parent)


def execute_calibrate_flux(request: WorkRequest) -> WorkResult:
    """Make the standard's sensitivity (a standard's frame), then ``fwecfzst_`` spectra.

    Each spectrum is calibrated with the compatible sensitivity nearest in time (the
    standard's own first). A spectrum no sensitivity fits keeps its data_type 4 product
    and its status gives the reason.

    Parameters
    ----------
    request : WorkRequest
        The job's kind and the inputs :func:`prepare_calibrate_flux` gathered (run on a
        worker: no database).

    Returns
    -------
    WorkResult
        The sensitivity master made (data_type 1, parented by the standard's spectrum)
        and the flux-calibrated spectra (data_type 5, each parented by its spectrum);
        each spectrum's status (``processed``, with the reason when it got none); notes
        on sensitivities not read, products kept and spectra left uncalibrated.

    Raises
    ------
    RuntimeError
        The standard's sensitivity or a spectrum's calibration failed unexpectedly (not
        merely unusable); the message names the file and the reason.
    """
    from pipeline.settings import FluxSettings, ReductionSettings

    inputs = request.inputs
    Path(inputs["out_dir"]).mkdir(parents=True, exist_ok=True)
    flux_settings = FluxSettings(**inputs["flux_settings"])
    settings = ReductionSettings(**inputs["settings"])
    result = WorkResult()
    sensitivities = _read_sensitivities(inputs["sensitivity_paths"], result.notes)
    if inputs["standard"]:
        sens = _standard_sensitivity(request, result, flux_settings, settings)
        sensitivities = [sens, *sensitivities] if sens is not None else sensitivities
    existing = inputs.get("existing_flux") or {}
    for path, spectrum_id in inputs["spectra"].items():
        name = Path(path).name
        if inputs.get("keep_current") and _already_current(
            path, existing.get(path), sensitivities, flux_settings
        ):
            result.notes.append(
                f"{name}: kept {Path(existing[path]).name} (same sensitivity values and settings)"
            )
            continue
        made, product = _flux_one(
            path,
            sensitivities,
            inputs["out_dir"],
            (flux_settings, settings),
            inputs["raw_dir"],
            parent_file_id=spectrum_id,
        )
        if product is not None:
            result.products.append(product)
        if made.reason:
            result.notes.append(f"{name}: {made.reason}")
        if spectrum_id not in result.file_updates:
            # No data_type 5: the spectrum's status says why (and a later one clears it).
            reason = None if made.file else made.reason
            result.file_updates[spectrum_id] = {
                "status": FileStatus.PROCESSED,
                "status_reason": reason,
            }
    return result


def flux_products_inline(
    flux: dict[str, Any], spectra: list[ProductOut], out_dir: str, settings, raw_dir: str
) -> WorkResult:
    """Flux-calibrate the spectra an extraction made in this job (worker side).

    The worker side of :func:`flux_inputs_for_extraction`: ``fwecfzst_`` products of the
    wavelength-calibrated ``spectra``. A spectrum no sensitivity fits (the only ones at
    hand are of another setup) gets none, and the reason as its status, here: the step
    is decided once, by this job (``carried``: the planner queues no flux job for it).

    Parameters
    ----------
    flux : dict
        :func:`flux_inputs_for_extraction`'s answer.
    spectra : list of ProductOut
        The wavelength-calibrated spectra the extraction made.
    out_dir : str
        The folder the products are written to (the attempt's private area).
    settings : ReductionSettings
        The proposal's reduction settings.
    raw_dir : str
        The raw folder, for the provenance of the products.

    Returns
    -------
    WorkResult
        The flux-calibrated products, ``spectra`` left without one given the reason
        (``status_reason``), the notes, and the flux step as ``carried``.
    """
    from dataclasses import replace

    from pipeline.plan import Step
    from pipeline.settings import FluxSettings

    flux_settings = FluxSettings(**flux["flux_settings"])
    result = WorkResult(carried=[Step.FLUX.value])
    sensitivities = _read_sensitivities(flux["sensitivity_paths"], result.notes)
    for spectrum in spectra:
        made, product = _flux_one(
            spectrum.path,
            sensitivities,
            out_dir,
            (flux_settings, settings),
            raw_dir,
            parent_path=spectrum.path,
        )
        if made.reason:
            result.notes.append(f"{Path(made.file or spectrum.path).name}: {made.reason}")
        if product is not None:
            result.products.append(product)
        else:
            result.products.append(replace(spectrum, status_reason=made.reason))
    return result
