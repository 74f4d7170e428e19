"""Spectra an older version calibrated with another proposal's arc are repaired at start.

The products are made the old way: their headers are written here as that version wrote
them (``GSP_LAMP`` naming the other proposal's arc, whose name carries its target), with
the log entry and job error its extraction left.
"""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from gsp_extension.engine.arc_repair import WITHHELD
from gsp_extension.engine.executors import ThreadExecutor
from gsp_extension.engine.runner import JobEngine
from gsp_extension.store.activity import log_event
from gsp_extension.store.files import register_file
from gsp_extension.store.models import File, Job, LogEntry
from gsp_extension.store.proposals import get_proposal_by_soar_id

OURS, THEIRS = "SOAR2026B-001", "SOAR2026B-002"
SECRET = "HD_SECRET_TARGET"  # the other proposal's target, in its arc's file name


def _add(s, name, data_type, propid, obstype, date, parent=None, **cards):
    header = [
        ["OBSTYPE", obstype, ""],
        ["DATE-OBS", f"{date}T23:00:00", ""],
        ["CCDSUM", "2 2", ""],
        ["GRATING", "400_SYZY", ""],
        ["WAVMODE", "400_M2", ""],
        ["FILTER2", "GG455", ""],
        ["SLIT", "1.0_LONG_SLIT", ""],
        *([k, v, ""] for k, v in cards.items()),
    ]
    return register_file(
        s,
        f"/data/products/{date}/{name}" if data_type else f"/data/raw/{date}/{name}",
        checksum=hashlib.sha256(f"{date}/{name}".encode()).hexdigest(),
        size=1,
        header=header,
        data_type=data_type,
        parent=parent,
        status="processed",
        fields={"date": date, "proposal_id": propid, "obstype": obstype},
    ).file


def _old_night(s, date, *, own_arc: bool, arc_date: str | None = None) -> dict[str, int]:
    """A night of two proposals, our spectra calibrated (the old way) with their arc
    (taken on ``arc_date``: chosen by hand by staff, when not ``date``)."""
    arc_date = arc_date or date
    raw_arc = _add(s, f"0010_{SECRET}_comp.fits", 0, THEIRS, "COMP", arc_date)
    arc = _add(s, f"cfzst_0010_{SECRET}_comp.fits", 2, THEIRS, "COMP", arc_date, raw_arc)
    lamps = [arc.file_name]
    if own_arc:
        raw_own = _add(s, "0011_comp.fits", 0, OURS, "COMP", date)
        lamps.append(_add(s, "cfzst_0011_comp.fits", 2, OURS, "COMP", date, raw_own).file_name)
    raw = _add(s, "0020_ours.fits", 0, OURS, "OBJECT", date)
    reduced = _add(s, "cfzst_0020_ours.fits", 2, OURS, "OBJECT", date, raw)
    extracted = _add(s, "ecfzst_0020_ours_target_1.fits", 3, OURS, "OBJECT", date, reduced)
    gsp_lamp = ",".join(lamps)
    calibrated = _add(
        s, "wecfzst_0020_ours_target_1.fits", 4, OURS, "OBJECT", date, extracted, GSP_LAMP=gsp_lamp
    )
    fluxed = _add(
        s,
        "fwecfzst_0020_ours_target_1.fits",
        5,
        OURS,
        "OBJECT",
        date,
        calibrated,
        GSP_LAMP=gsp_lamp,
    )
    ours = get_proposal_by_soar_id(s, OURS)
    theirs = get_proposal_by_soar_id(s, THEIRS)
    # what the old extraction told our members, and what their own log says
    log_event(s, f"extract done (job 1): we{arc.file_name}, {calibrated.file_name}", proposal=ours)
    s.add(
        Job(
            kind="extract",
            product_key=f"x:{date}",
            proposal_id=ours.id,
            state="failed",
            error=f"target 2: {arc.file_name}: refused, shifted",
        )
    )
    log_event(s, f"{arc.file_name} made by reduce", proposal=theirs)
    if arc_date != date:
        s.add(
            Job(
                kind="calibrate_wavelength",
                product_key=f"calibrate_wavelength:{extracted.id}:lamp={raw_arc.id}",
                file_id=extracted.id,
                proposal_id=ours.id,
                params={"file_id": extracted.id, "lamp_id": raw_arc.id},
                state="done",
            )
        )
    s.flush()
    return {"reduced": reduced.id, "spectra": [calibrated.id, fluxed.id], "arc": arc.id}


def _start(db, tmp_path) -> list[dict]:
    return JobEngine(db, tmp_path, ThreadExecutor(1), plan=False).requeue_at_start()


@pytest.mark.parametrize("arc_date", [None, "2026-11-19"], ids=["automatic", "chosen"])
def test_spectra_named_with_another_proposals_arc_are_calibrated_again(db, tmp_path, arc_date):
    with db.transaction() as s:
        night = _old_night(s, "2026-11-21", own_arc=True, arc_date=arc_date)
    records = _start(db, tmp_path)
    with db.session() as s:
        (job,) = s.scalars(select(Job).where(Job.kind == "extract", Job.state == "queued")).all()
        assert job.state == "queued" and job.file_id == night["reduced"]
        assert job.params["lamp_id"] is None  # Automatic: our own arc only
        assert [r["id"] for r in records] == [job.id]
        for spectrum in (s.get(File, i) for i in night["spectra"]):
            lamp = dict((k, v) for k, v, _ in spectrum.header)["GSP_LAMP"]
            assert lamp == f"{WITHHELD},cfzst_0011_comp.fits", spectrum.file_name
            assert spectrum.deleted_at is None  # replaced by the job's new version
        ours = get_proposal_by_soar_id(s, OURS).id
        seen = [e.message for e in s.scalars(select(LogEntry).where(LogEntry.proposal_id == ours))]
        seen += [j.error or "" for j in s.scalars(select(Job).where(Job.proposal_id == ours))]
        assert not [m for m in seen if SECRET in m], seen
        assert any("queued again" in m for m in seen)
        theirs = get_proposal_by_soar_id(s, THEIRS).id
        (own,) = s.scalars(select(LogEntry.message).where(LogEntry.proposal_id == theirs))
        assert SECRET in own  # their own log keeps their names
        assert SECRET in s.get(File, night["arc"]).file_name
    assert _start(db, tmp_path) == []  # its job queued: the next start adds nothing
    with db.transaction() as s:
        s.get(Job, job.id).state = "failed"  # say the calibration failed
    (again,) = _start(db, tmp_path)  # its spectra still current: calibrated again
    assert again["kind"] == "extract" and again["file_id"] == night["reduced"]


def test_spectra_with_no_arc_of_their_own_are_withdrawn(db, tmp_path):
    with db.transaction() as s:
        night = _old_night(s, "2026-11-22", own_arc=False)
    assert _start(db, tmp_path) == []
    with db.session() as s:
        assert (
            s.scalars(select(Job).where(Job.kind == "extract", Job.state == "queued")).all() == []
        )
        for spectrum in (s.get(File, i) for i in night["spectra"]):
            assert spectrum.deleted_at is not None  # staff only now
            assert SECRET not in str(spectrum.header)
        ours = get_proposal_by_soar_id(s, OURS).id
        seen = list(s.scalars(select(LogEntry.message).where(LogEntry.proposal_id == ours)))
        assert any("withdrawn" in m and "chosen lamp" in m for m in seen), seen
        assert not [m for m in seen if SECRET in m], seen
