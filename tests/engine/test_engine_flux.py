"""Live flux calibration through the real engine (issue 17 item 4).

A simulated 400_M2 night: the science first, with no standard of its setup (its spectra
keep data_type 4 and say why); then the standard arrives, its sensitivity is made and the
science is flux-calibrated with it (data_type 5). A standard of another proposal is never
used.
"""

from __future__ import annotations

import shutil

import astropy.units as u
import pytest
from astropy.io import fits
from engine_helpers import drain
from sqlalchemy import select

from gsp_extension.engine.executors import ThreadExecutor
from gsp_extension.engine.runner import JobEngine
from gsp_extension.ingest.backfill import backfill
from gsp_extension.store.jobs import enqueue
from gsp_extension.store.models import File, Job, LogEntry
from pipeline.vocabulary import DataType

NIGHT_NAME = "20261121"


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """Raw files of a night: calibrations + science, and the standard kept apart."""
    from pipeline.simulate import NightConfig, simulate_night

    base = tmp_path_factory.mktemp("fluxlive")
    truth = simulate_night(
        base / "all",
        NightConfig(
            n_bias=2,
            n_flats=2,
            n_arcs=1,
            n_science=1,
            n_standards=1,
            n_targets=1,
            noise=False,
            seed=11,
        ),
    )
    (standard,) = [f["file"] for f in truth["frames"] if f["role"] == "standard"]
    return base / "all", standard


def _copy_night(night, dest, *, with_standard: bool) -> None:
    source, standard = night
    dest.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.fits"):
        if path.name != standard or with_standard:
            shutil.copy(path, dest / path.name)


def _current(s, data_type):
    return s.scalars(
        select(File).where(
            File.data_type == data_type,
            File.superseded_at.is_(None),
            File.deleted_at.is_(None),
        )
    ).all()


def _science_spectrum(s, standard_name):
    stem = standard_name.removesuffix(".fits")
    return next(
        f
        for f in _current(s, DataType.WAVELENGTH_CALIBRATED)
        if "_target_" in f.file_name and stem not in f.file_name
    )


def _sensitivity_of_another_binning(db, root, raw_science) -> str:
    """A staff sensitivity master of the night, of the science's setup but binned 1x1."""
    import dataclasses
    import datetime as dt
    import hashlib

    import numpy as np

    from gsp_extension.store.files import register_file
    from pipeline.fluxcal.sensitivity import Sensitivity, write_sensitivity
    from pipeline.fluxcal.setup import setup_of

    header = fits.getheader(raw_science)
    sens = Sensitivity(
        wavelength=np.linspace(4000.0, 7000.0, 50),
        sensitivity=np.full(50, 1e15),
        uncertainty=np.full(50, 1e13),
        setup=dataclasses.replace(setup_of(header), binning=(1, 1)),
        standard="LTT 3218",
        date_obs=dt.datetime.fromisoformat(str(header["DATE-OBS"])),
    )
    path = write_sensitivity(sens, root / "products" / NIGHT_NAME)
    with db.transaction() as s:
        register_file(
            s,
            path,
            checksum=hashlib.sha256(path.read_bytes()).hexdigest(),
            size=path.stat().st_size,
            fields={"date": "2026-11-21", "proposal_id": None, "obstype": "OBJECT"},
            header=fits.getheader(path),
            data_type=DataType.MASTER_CALIBRATION,
        )
    return path.name


def _ingest(db, engine, root):
    report = backfill(db, [root], workers=1)
    engine.files_registered(report.counts.registered_ids)


@pytest.mark.asyncio
async def test_a_standard_arriving_later_flux_calibrates_the_science(db, tmp_path, night):
    _, standard_name = night
    raw = tmp_path / "raw" / NIGHT_NAME
    _copy_night(night, raw, with_standard=False)
    science = next(p for p in raw.glob("*.fits") if fits.getheader(p)["OBSTYPE"] == "OBJECT")
    binned_1x1 = _sensitivity_of_another_binning(db, tmp_path, science)
    engine = JobEngine(db, tmp_path, ThreadExecutor(2), poll_seconds=0.05)
    _ingest(db, engine, tmp_path / "raw")
    await drain(db, engine)
    with db.session() as s:
        jobs = s.scalars(select(Job)).all()
        assert {j.state for j in jobs} == {"done"}, [(j.kind, j.error) for j in jobs]
        # the only sensitivity at hand is of another binning: the extraction tried the
        # flux step and said why; no flux job tries it again
        assert "calibrate_flux" not in {j.kind for j in jobs}
        assert _current(s, DataType.FLUX_CALIBRATED) == []
        spectrum = _science_spectrum(s, standard_name)
        assert "no flux calibration (data_type 5)" in spectrum.status_reason
        assert binned_1x1 in spectrum.status_reason and "1x1" in spectrum.status_reason
        logged = s.scalars(
            select(LogEntry.message).where(LogEntry.message.like("extract done%"))
        ).all()
        assert any("no flux calibration (data_type 5)" in m for m in logged), logged
        spectrum_id = spectrum.id

    # the standard arrives: its sensitivity, then the science again, with it
    shutil.copy(night[0] / standard_name, raw / standard_name)
    _ingest(db, engine, tmp_path / "raw")
    await drain(db, engine)
    with db.session() as s:
        jobs = s.scalars(select(Job)).all()
        assert {j.state for j in jobs} == {"done"}, [(j.kind, j.error) for j in jobs]
        (sens,) = [
            f
            for f in _current(s, DataType.MASTER_CALIBRATION)
            if f.file_name.startswith("master_sens_") and f.file_name != binned_1x1
        ]
        assert sens.file_name.startswith("master_sens_400_m2_GG455_RED_2x2_20261121_")
        fluxed = {f.parent_file_id: f for f in _current(s, DataType.FLUX_CALIBRATED)}
        science = fluxed[spectrum_id]
        assert science.file_name == "f" + s.get(File, spectrum_id).file_name
        header = fits.getheader(science.full_path)
        assert header["RLEVEL"] == 65
        assert header["GSP_SENS"] == sens.file_name
        assert u.Unit(header["BUNIT"]) == u.erg / u.s / u.cm**2 / u.AA
        # its status no longer says there is no data_type 5
        assert s.get(File, spectrum_id).status_reason is None
        # the science was redone by a job queued after the sensitivity (a refresh)
        refresh = [
            j for j in jobs if j.kind == "calibrate_flux" and (j.params or {}).get("refresh")
        ]
        assert refresh and all(j.state == "done" for j in refresh)
        reduced_id = s.get(File, spectrum_id).parent_file.parent_file_id
        n_flux_jobs = len([j for j in jobs if j.kind == "calibrate_flux"])

    # with the sensitivity at hand, an extraction (after a new arc, say) carries the flux
    # step itself: its job commits the data_type 5, and no flux job follows
    with db.transaction() as s:
        job = enqueue(s, "extract", "extract:again", file_id=reduced_id, params={})
        extract_id = job.id
    engine.wake()
    await drain(db, engine)
    with db.session() as s:
        jobs = s.scalars(select(Job)).all()
        assert {j.state for j in jobs} == {"done"}, [(j.kind, j.error) for j in jobs]
        assert len([j for j in jobs if j.kind == "calibrate_flux"]) == n_flux_jobs
        (spectrum,) = [
            f
            for f in _current(s, DataType.WAVELENGTH_CALIBRATED)
            if f.original_file_id == s.get(File, reduced_id).original_file_id
        ]
        (fluxed,) = [
            f for f in _current(s, DataType.FLUX_CALIBRATED) if f.parent_file_id == spectrum.id
        ]
        # (the same file name: its latest version is the extraction's)
        made_by = s.scalars(
            select(LogEntry.job_id)
            .where(LogEntry.file_id == fluxed.id, LogEntry.event == "file.product")
            .order_by(LogEntry.id)
        ).all()
        assert made_by[-1] == extract_id
        assert fits.getheader(fluxed.full_path)["GSP_SENS"] == sens.file_name


@pytest.mark.asyncio
async def test_a_standard_of_another_proposal_is_never_used(db, tmp_path, night):
    _, standard_name = night
    raw = tmp_path / "raw" / NIGHT_NAME
    _copy_night(night, raw, with_standard=True)
    # the standard was taken for another proposal (input crafted before ingest)
    with fits.open(raw / standard_name, mode="update") as hdul:
        hdul[0].header["PROPID"] = "SOAR2026B-777"
    # the night's arc was taken by staff (no proposal): both proposals may use it
    for arc in raw.glob("*_comp.fits"):
        with fits.open(arc, mode="update") as hdul:
            del hdul[0].header["PROPID"]
    engine = JobEngine(db, tmp_path, ThreadExecutor(2), poll_seconds=0.05)
    _ingest(db, engine, tmp_path / "raw")
    await drain(db, engine)
    with db.session() as s:
        jobs = s.scalars(select(Job)).all()
        assert {j.state for j in jobs} == {"done"}, [(j.kind, j.error) for j in jobs]
        spectrum = _science_spectrum(s, standard_name)
        # the standard was usable: it made a sensitivity, for its own proposal only
        (sens,) = [
            f
            for f in _current(s, DataType.MASTER_CALIBRATION)
            if f.file_name.startswith("master_sens_")
        ]
        assert sens.proposal_id == "SOAR2026B-777"
        # the other proposal's standard calibrated itself, never this science
        fluxed = _current(s, DataType.FLUX_CALIBRATED)
        assert spectrum.id not in {f.parent_file_id for f in fluxed}
        assert all(f.proposal_id == "SOAR2026B-777" for f in fluxed)
        assert "no flux calibration" in spectrum.status_reason
        # nothing the science's proposal sees names the other proposal's star or file
        stem = standard_name.removesuffix(".fits")
        for f in _current(s, DataType.WAVELENGTH_CALIBRATED):
            if f.proposal_id == "SOAR2026B-777":
                continue
            assert stem not in (f.status_reason or "")
        mine = s.scalars(
            select(LogEntry.message).where(LogEntry.file_id == spectrum.parent_file.parent_file_id)
        ).all()
        assert not any("master_sens_" in m or stem in m for m in mine)


@pytest.fixture(scope="module")
def saturated_night(tmp_path_factory):
    from pipeline.simulate import NightConfig, simulate_night

    base = tmp_path_factory.mktemp("fluxsat")
    truth = simulate_night(
        base / "all",
        NightConfig(
            n_bias=2,
            n_flats=2,
            n_arcs=1,
            n_science=1,
            n_standards=1,
            n_targets=1,
            noise=False,
            standard_exptime=3000.0,
            seed=11,
        ),
    )
    (standard,) = [f["file"] for f in truth["frames"] if f["role"] == "standard"]
    return base / "all", standard


@pytest.mark.asyncio
async def test_a_saturated_standard_gets_a_status_saying_so(db, tmp_path, saturated_night):
    _, standard_name = saturated_night
    _copy_night(saturated_night, tmp_path / "raw" / NIGHT_NAME, with_standard=True)
    engine = JobEngine(db, tmp_path, ThreadExecutor(2), poll_seconds=0.05)
    _ingest(db, engine, tmp_path / "raw")
    await drain(db, engine)
    stem = standard_name.removesuffix(".fits")
    with db.session() as s:
        jobs = s.scalars(select(Job)).all()
        assert {j.state for j in jobs} == {"done"}, [(j.kind, j.error) for j in jobs]
        masters = [f.file_name for f in _current(s, DataType.MASTER_CALIBRATION)]
        assert not [m for m in masters if m.startswith("master_sens_")]
        (standard,) = [
            f
            for f in _current(s, DataType.WAVELENGTH_CALIBRATED)
            if stem in f.file_name and "_target_" in f.file_name
        ]
        assert standard.status_reason.startswith("standard not used: saturated")
        assert "shorter exposure" in standard.status_reason
        assert _current(s, DataType.FLUX_CALIBRATED) == []
