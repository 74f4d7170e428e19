"""Which arcs wavelength-calibrate a science frame when no lamp is chosen ("Automatic").

One function, :func:`automatic_arcs`, decides it for the job engine (``extract`` and
``calibrate_wavelength`` without ``lamp_id``) and for the lamp chooser's endpoint
(``GET api/files/<id>/lamps/``), so that the chooser lists exactly what Automatic
chooses from, in the same order:

1. the current reduced arcs (data_type 2) of the frame's night that may calibrate its
   proposal's data (:meth:`~gsp_extension.security.access.AccessPolicy.calibrations_for`:
   its own, or no proposal's; never another proposal's, whose file names carry its
   targets);
2. of the frame's spectroscopic setup, read from the stored headers with the pipeline's
   own rule (:func:`pipeline.wavelength.arc_match.setup_mismatch`, which the worker
   applies again to the files); the others are returned with the reason;
3. nearest in time to the frame first (``DATE-OBS``), then the newest row.

The worker combines every arc it is handed that it can solve
(:func:`pipeline.spectroscopy.chain.process_science`) and names those it used in the
product's ``GSP_LAMP``; :func:`arcs_used` reads that back for the chooser.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, undefer

from gsp_extension.security.access import AccessPolicy
from gsp_extension.store.errors import InvalidState
from gsp_extension.store.models import File, Job
from gsp_extension.vocabulary import JobKind, JobState
from pipeline.vocabulary import DataType, is_arc

from .calibrations import stored_header

#: Spectra whose reduced frame is calibrated again by ``calibrate_wavelength``.
_SPECTRA = (DataType.EXTRACTED, DataType.WAVELENGTH_CALIBRATED)


@dataclass
class ArcChoice:
    """What Automatic may take for one reduced science frame.

    Attributes
    ----------
    science : File
        The current reduced frame (data_type 2) that is calibrated.
    candidates : list of File
        The arcs Automatic hands the worker, in order (nearest in time first).
    refused : list of (File, str)
        Arcs of the night the proposal may use but of another setup, with the reason.
    """

    science: File
    candidates: list[File] = field(default_factory=list)
    refused: list[tuple[File, str]] = field(default_factory=list)


def _current(query):
    return query.where(File.superseded_at.is_(None), File.deleted_at.is_(None))


def science_frame(session: Session, file: File) -> File:
    """The current reduced science frame a wavelength calibration of ``file`` works on.

    A spectrum (data_type 3 or 4) stands for the reduced frame it was extracted from; a
    replaced reduction for the frame's current one.

    Parameters
    ----------
    session : Session
    file : File
        A reduced frame or a spectrum extracted by this service.

    Returns
    -------
    File

    Raises
    ------
    InvalidState
        When the file is not a science spectrum or frame this service extracted
        (an arc, a raw frame, a master...): the message says what to give instead.
    """
    reduced = file
    while reduced.data_type in _SPECTRA and reduced.parent_file is not None:
        reduced = reduced.parent_file
    if reduced.data_type != DataType.REDUCED:
        raise InvalidState(
            f"file {file.id} ({file.file_name}) does not come from a reduced frame "
            "(data_type 2); calibrate a spectrum extracted by this service"
        )
    if is_arc(reduced.obstype):
        raise InvalidState(f"file {file.id} ({file.file_name}) is an arc, not a science spectrum")
    if reduced.superseded_at is not None:
        current = session.scalar(
            _current(select(File))
            .where(
                File.parent_file_id == reduced.parent_file_id,
                File.data_type == DataType.REDUCED,
            )
            .order_by(File.id.desc())
        )
        # A spectrum of an older reduction: calibrate the frame's current reduction.
        reduced = current or reduced
    return reduced


def night_reduced_arcs(
    session: Session, night: dt.date | None, soar_id: str | None = None
) -> list[File]:
    """List the current reduced arcs of a night that may calibrate a proposal's data.

    Parameters
    ----------
    session : Session
    night : datetime.date or None
        The night (``files.date``); None gives no arc.
    soar_id : str or None
        The proposal whose data the arcs would calibrate
        (:meth:`AccessPolicy.calibrations_for`); None for data of no proposal.

    Returns
    -------
    list of File
        Reduced arcs (data_type 2), oldest row first, headers loaded.
    """
    if night is None:
        return []
    rows = session.scalars(
        _current(select(File))
        .options(undefer(File.header))
        .where(
            File.date == night,
            File.data_type == DataType.REDUCED,
            AccessPolicy.calibrations_for(soar_id),
        )
        .order_by(File.id)
    )
    return [f for f in rows if is_arc(f.obstype)]


def _observed(file: File) -> dt.datetime | None:
    """``DATE-OBS`` of a stored header (naive UTC), or None when it cannot be read."""
    text = str(stored_header(file).get("DATE-OBS") or "").strip()
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.replace(tzinfo=None)


def seconds_between(arc: File, science: File) -> float | None:
    """Give the seconds from the science exposure to the arc's, by stored ``DATE-OBS``.

    Parameters
    ----------
    arc, science : File
        Rows with stored headers.

    Returns
    -------
    float or None
        Negative when the arc came first; None when either header lacks ``DATE-OBS``.
    """
    a, s = _observed(arc), _observed(science)
    if a is None or s is None:
        return None
    return (a - s).total_seconds()


def automatic_arcs(session: Session, science: File) -> ArcChoice:
    """The arcs Automatic calibrates ``science`` with, in order, and those it leaves.

    Parameters
    ----------
    session : Session
    science : File
        The current reduced science frame (:func:`science_frame`).

    Returns
    -------
    ArcChoice
    """
    from pipeline.wavelength.arc_match import setup_mismatch, setup_of

    science_header = stored_header(science)
    science_setup = setup_of(science_header)
    choice = ArcChoice(science)
    for arc in night_reduced_arcs(session, science.date, science.proposal_id):
        arc_header = stored_header(arc)
        # A row registered without its header (an old version's) says nothing here:
        # the worker reads the file and applies the same rule.
        known = bool(science_header) and bool(arc_header)
        why = setup_mismatch(science_setup, setup_of(arc_header)) if known else ""
        if why:
            choice.refused.append((arc, why))
        else:
            choice.candidates.append(arc)

    def nearest(arc: File):
        seconds = seconds_between(arc, science)
        # unknown times after known ones; the newest row first among equals
        return (seconds is None, abs(seconds or 0.0), -arc.id)

    choice.candidates.sort(key=nearest)
    return choice


@dataclass
class ArcsUsed:
    """What the frame's current wavelength-calibrated spectra were made with.

    Attributes
    ----------
    names : set of str
        Arc file names in the spectra's ``GSP_LAMP`` (the arcs the worker combined).
    automatic : bool or None
        True when the job that made them let the engine choose, False when a lamp was
        chosen, None when no calibrated spectrum (or no job record of it) exists.
    """

    names: set[str] = field(default_factory=set)
    automatic: bool | None = None


def arcs_used(session: Session, science: File) -> ArcsUsed:
    """Name the arcs the current calibrated spectra of ``science`` were made with.

    The arcs are read from ``GSP_LAMP``, with whether the job that made them chose them
    automatically.

    Parameters
    ----------
    session : Session
    science : File
        A reduced science frame.

    Returns
    -------
    ArcsUsed
    """
    extracted = _current(select(File.id)).where(
        File.parent_file_id == science.id, File.data_type == DataType.EXTRACTED
    )
    spectra = list(
        session.scalars(
            _current(select(File))
            .options(undefer(File.header))
            .where(
                File.parent_file_id.in_(extracted),
                File.data_type == DataType.WAVELENGTH_CALIBRATED,
            )
        )
    )
    used = ArcsUsed()
    for spectrum in spectra:
        lamps = str(stored_header(spectrum).get("GSP_LAMP") or "")
        used.names.update(name.strip() for name in lamps.split(",") if name.strip())
    if not spectra:
        return used
    # The job that made the current version (ids are stable across versions: the last
    # finished job whose product is one of these spectra or their extracted parents).
    products = {s.id for s in spectra} | {s.parent_file_id for s in spectra}
    job = session.scalar(
        select(Job)
        .where(
            Job.kind.in_([JobKind.EXTRACT, JobKind.CALIBRATE_WAVELENGTH]),
            Job.state == JobState.DONE,
            Job.product_file_id.in_(products),
        )
        .order_by(Job.finished_at.desc(), Job.id.desc())
        .limit(1)
    )
    if job is not None:
        used.automatic = (job.params or {}).get("lamp_id") is None
    return used
