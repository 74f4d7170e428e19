"""Live flux calibration through the real engine (issue 17 item 4).

A simulated 400_M2 night: the science first, with no standard of its setup (its spectra
keep data_type 4 and say why); then the standard arrives, its sensitivity is made and the
science is flux-calibrated with it (data_type 5). A standard of another proposal is never
used.
"""

from __future__ import annotations

import shutil
from pathlib import Path

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


def _all_jobs_done(s) -> list:
    """Every job of the database, asserted done (the errors of any other are shown)."""
    jobs = s.scalars(select(Job)).all()
    assert {j.state for j in jobs} == {"done"}, [(j.kind, j.error) for j in jobs]
    return jobs


def _new_sensitivity(s, *known: str) -> File:
    """The one current sensitivity master not named in ``known``."""
    (sens,) = [
        f
        for f in _current(s, DataType.MASTER_CALIBRATION)
        if f.file_name.startswith("master_sens_") and f.file_name not in known
    ]
    return sens


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
        jobs = _all_jobs_done(s)
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
        jobs = _all_jobs_done(s)
        sens = _new_sensitivity(s, binned_1x1)
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
        jobs = _all_jobs_done(s)
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
        _all_jobs_done(s)
        spectrum = _science_spectrum(s, standard_name)
        # the standard was usable: it made a sensitivity, for its own proposal only
        sens = _new_sensitivity(s)
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
        _all_jobs_done(s)
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


def _register_master(s, sens, folder, night) -> File:
    """A sensitivity master written by the pipeline and registered as the engine
    registers its products, for ``night`` and no proposal (a staff standard)."""
    from gsp_extension.engine.products import register_product
    from gsp_extension.engine.work import ProductOut
    from pipeline.fluxcal.sensitivity import write_sensitivity

    path = write_sensitivity(sens, folder)
    row = register_product(
        s, ProductOut(str(path), DataType.MASTER_CALIBRATION), settings_id=None, made={}
    )
    row.date, row.proposal_id = night, None
    return row


@pytest.mark.asyncio
async def test_a_standard_arriving_redoes_spectra_made_with_an_older_sensitivity(
    db, tmp_path, night
):
    """Item 4's other case: the science was flux-calibrated with an earlier night's
    sensitivity (the fallback, its age in the header); the night's standard arrives and
    the science is redone with it. A sensitivity of another mode, nearer in time than
    both, is never used. Then the master is rewritten under its name: the science is
    redone with its new values."""
    import dataclasses
    import datetime as dt

    import numpy as np

    from pipeline.fluxcal.sensitivity import Sensitivity
    from pipeline.fluxcal.setup import setup_of

    source, standard_name = night
    raw = tmp_path / "raw" / NIGHT_NAME
    _copy_night(night, raw, with_standard=False)
    engine = JobEngine(db, tmp_path, ThreadExecutor(2), poll_seconds=0.05)
    _ingest(db, engine, tmp_path / "raw")
    science_raw = next(p for p in raw.glob("*.fits") if fits.getval(p, "OBSTYPE") == "OBJECT")
    header = fits.getheader(science_raw)
    when = dt.datetime.fromisoformat(header["DATE-OBS"])
    setup = setup_of(header)
    assert setup.mode == "400_M2"
    wave = np.linspace(3000.0, 10000.0, 300)

    def sensitivity(star, days, mode):
        return Sensitivity(
            wavelength=wave,
            sensitivity=np.full(wave.size, 1e15),
            uncertainty=np.full(wave.size, 1e13),
            setup=dataclasses.replace(setup, mode=mode),
            standard=star,
            airmass=1.2,
            date_obs=when - dt.timedelta(days=days),
        )

    with db.transaction() as s:
        night_date = s.scalar(select(File.date).where(File.file_name == science_raw.name))
        older = _register_master(
            s,
            sensitivity("EG 274", 3, "400_M2"),
            tmp_path / "products" / "older",
            night_date - dt.timedelta(days=3),
        ).file_name
        other_mode = _register_master(
            s, sensitivity("LTT 7987", 0.01, "400_M1"), tmp_path / "products" / "m1", night_date
        ).file_name
    await drain(db, engine)
    with db.session() as s:
        _all_jobs_done(s)
        spectrum = _science_spectrum(s, standard_name)
        (fluxed,) = [
            f for f in _current(s, DataType.FLUX_CALIBRATED) if f.parent_file_id == spectrum.id
        ]
        first = fits.getheader(fluxed.full_path)
        assert first["GSP_SENS"] == older and first["GSP_SNIT"] == "another night (fallback)"
        assert first["GSP_SAGE"] == pytest.approx(3.0, abs=0.01)
        spectrum_id = spectrum.id

    shutil.copy(source / standard_name, raw / standard_name)
    _ingest(db, engine, tmp_path / "raw")
    await drain(db, engine)
    with db.session() as s:
        _all_jobs_done(s)
        sens = _new_sensitivity(s, older, other_mode)
        (fluxed,) = [
            f for f in _current(s, DataType.FLUX_CALIBRATED) if f.parent_file_id == spectrum_id
        ]
        header = fits.getheader(fluxed.full_path)
        assert header["GSP_SENS"] == sens.file_name and header["GSP_SNIT"] == "same night"
        assert header["GSP_SAGE"] < 0.5
        # never the other mode's, though nearest in time, in any product of the night
        for f in s.scalars(select(File).where(File.data_type == DataType.FLUX_CALIBRATED)):
            assert fits.getheader(f.full_path)["GSP_SENS"] != other_mode, f.file_name
        spectrum_path, sens_id = s.get(File, spectrum_id).full_path, sens.id
        reduced_id = fluxed.parent_file.parent_file.parent_file_id  # 5 <- 4 <- 3 <- 2
        # (the frame's last extraction: a new reduced arc may have queued one again)
        extraction = s.scalar(
            select(Job.id)
            .where(Job.kind == "extract", Job.file_id == reduced_id)
            .order_by(Job.id.desc())
            .limit(1)
        )

    # The night's master made again under its name with other values (as the standard's
    # flux job does after a re-extraction with a new arc), while the science's data_type 5
    # holds the earlier ones. An extraction that carried the flux step with them asks for
    # a flux job, and that job redoes the product: it keeps one only when made with the
    # master's current values, not merely its name.
    from gsp_extension.engine.flux import made_with_an_earlier_version
    from gsp_extension.engine.planner import plan_after_job
    from pipeline.fluxcal.io import read_spectrum
    from pipeline.fluxcal.night_stage import flux_product
    from pipeline.fluxcal.sensitivity import read_sensitivity

    with db.transaction() as s:
        master = s.get(File, sens_id)
        earlier = read_sensitivity(master.full_path)
        blue = 1 + 1e-5 * (earlier.wavelength < earlier.wavelength[0] + 150)
        remade = dataclasses.replace(earlier, sensitivity=earlier.sensitivity * blue)
        row = _register_master(s, remade, Path(master.full_path).parent, master.date)
        assert row.file_name == master.file_name and row.id != sens_id
        (fluxed,) = [
            f for f in _current(s, DataType.FLUX_CALIBRATED) if f.parent_file_id == spectrum_id
        ]
        assert made_with_an_earlier_version(s, fluxed)
        (queued,) = plan_after_job(s, s.get(Job, extraction), [fluxed])
        assert queued.kind == "calibrate_flux" and queued.params["refresh"]
    engine.wake()
    await drain(db, engine)
    with db.session() as s:
        _all_jobs_done(s)
        (fluxed,) = [
            f for f in _current(s, DataType.FLUX_CALIBRATED) if f.parent_file_id == spectrum_id
        ]
        assert not made_with_an_earlier_version(s, fluxed)
        fluxed_path, master_path = fluxed.full_path, row.full_path
    assert fits.getval(fluxed_path, "GSP_SSUM") == read_sensitivity(master_path).digest
    again = flux_product(spectrum_path, [read_sensitivity(master_path)], tmp_path / "again")
    np.testing.assert_array_equal(
        read_spectrum(fluxed_path)[0].flux, read_spectrum(again.file)[0].flux
    )


@pytest.mark.asyncio
async def test_flats_arriving_last_leave_no_spectrum_fluxed_with_the_masters_old_values(
    db, tmp_path, night
):
    """The dome flats taken after the night: every frame is reduced, extracted and
    flux-calibrated without them, then again with them. The standard's master is made
    again under its name; whichever of the two chains is redone first, the science ends
    calibrated with the master's current values (it kept those of the flat-less master,
    0.5 % off, when a product was judged current by the master's name alone)."""
    import numpy as np

    from pipeline.fluxcal.io import read_spectrum
    from pipeline.fluxcal.night_stage import flux_product
    from pipeline.fluxcal.sensitivity import read_sensitivity

    source, standard_name = night
    raw = tmp_path / "raw" / NIGHT_NAME
    raw.mkdir(parents=True)
    for path in source.glob("*.fits"):
        if "_flat_" not in path.name:
            shutil.copy(path, raw / path.name)
    engine = JobEngine(db, tmp_path, ThreadExecutor(2), poll_seconds=0.05)
    _ingest(db, engine, tmp_path / "raw")
    await drain(db, engine)
    with db.session() as s:
        (first,) = [
            f.checksum
            for f in _current(s, DataType.MASTER_CALIBRATION)
            if f.file_name.startswith("master_sens_")
        ]
    for path in source.glob("*_flat_*.fits"):
        shutil.copy(path, raw / path.name)
    _ingest(db, engine, tmp_path / "raw")
    await drain(db, engine)
    with db.session() as s:
        _all_jobs_done(s)
        sens = _new_sensitivity(s)
        assert sens.checksum != first  # made again, under the same name
        spectrum = _science_spectrum(s, standard_name)
        (fluxed,) = [
            f for f in _current(s, DataType.FLUX_CALIBRATED) if f.parent_file_id == spectrum.id
        ]
        sens_path, spectrum_path, fluxed_path = sens.full_path, spectrum.full_path, fluxed.full_path
    assert fits.getval(fluxed_path, "GSP_SSUM") == read_sensitivity(sens_path).digest
    again = flux_product(spectrum_path, [read_sensitivity(sens_path)], tmp_path / "again")
    np.testing.assert_array_equal(
        read_spectrum(fluxed_path)[0].flux, read_spectrum(again.file)[0].flux
    )


@pytest.mark.asyncio
async def test_extinction_off_in_the_proposals_settings_reaches_the_worker(db, tmp_path, night):
    """The extinction setting alone, through the engine: with extinction_correction off
    in the proposal's settings, the standard's sensitivity and the science's data_type 5
    are made without it (their cards say so) and the values are the pipeline's with the
    setting off, not its defaults (the standard and the science are at different
    airmasses, so the two differ)."""
    import numpy as np

    from gsp_extension.store.proposals import get_proposal_by_soar_id
    from gsp_extension.store.settings import put_settings
    from pipeline.fluxcal.extinction import extinction_factor
    from pipeline.fluxcal.io import read_spectrum
    from pipeline.fluxcal.night_stage import flux_product, sensitivity_from_product
    from pipeline.fluxcal.sensitivity import read_sensitivity
    from pipeline.settings import FluxSettings

    _, standard_name = night
    _copy_night(night, tmp_path / "raw" / NIGHT_NAME, with_standard=True)
    engine = JobEngine(db, tmp_path, ThreadExecutor(2), poll_seconds=0.05)
    report = backfill(db, [tmp_path / "raw"], workers=1)
    # the proposal's setting changed before its frames are queued
    with db.transaction() as s:
        (soar_id,) = {
            f.proposal_id for f in s.scalars(select(File)).all() if f.proposal_id is not None
        }
        put_settings(s, get_proposal_by_soar_id(s, soar_id), {"extinction_correction": False})
    engine.files_registered(report.counts.registered_ids)
    await drain(db, engine)
    with db.session() as s:
        _all_jobs_done(s)
        sens = _new_sensitivity(s)
        spectrum = _science_spectrum(s, standard_name)
        (fluxed,) = [
            f for f in _current(s, DataType.FLUX_CALIBRATED) if f.parent_file_id == spectrum.id
        ]
        stem = standard_name.removesuffix(".fits")
        (std_spectrum,) = [
            f
            for f in _current(s, DataType.WAVELENGTH_CALIBRATED)
            if stem in f.file_name and "_target_" in f.file_name
        ]
        sens_path, fluxed_path = sens.full_path, fluxed.full_path
        spectrum_path, std_path = spectrum.full_path, std_spectrum.full_path
    assert fits.getheader(sens_path)["GSP_SEXT"] is False
    header = fits.getheader(fluxed_path)
    assert header["GSP_FEXT"] is False and header["GSP_EXTC"] is False
    assert header["GSP_SENS"] == sens_path.rsplit("/", 1)[-1]

    # the engine's values are the pipeline's with the setting off...
    made, _ = read_spectrum(fluxed_path)
    off = FluxSettings(extinction_correction=False)
    again = flux_product(spectrum_path, [read_sensitivity(sens_path)], tmp_path / "off", off)
    expected, _ = read_spectrum(again.file)
    # The same inputs give the same numbers: the product records which values of the
    # master it used (a master rewritten under its name, by the standard's re-extraction
    # after the arc's reduction with the flat, once left a product 1e-5 off in the blue).
    assert header["GSP_SSUM"] == read_sensitivity(sens_path).digest
    np.testing.assert_array_equal(made.flux, expected.flux)
    # ...and not its defaults': with the correction, each star is taken above the
    # atmosphere, so the two differ by the extinction between the airmasses (the
    # standard's and the science's, both from their headers), largest in the blue
    on = FluxSettings()
    sens_on, _ = sensitivity_from_product(std_path, tmp_path / "on", on)
    corrected = flux_product(spectrum_path, [sens_on], tmp_path / "on", on)
    default, _ = read_spectrum(corrected.file)
    x_sci = fits.getheader(corrected.file)["GSP_FAIR"]
    ok = ~made.mask & ~default.mask
    wave = made.axis[ok]
    predicted = extinction_factor(wave, x_sci) / extinction_factor(wave, sens_on.airmass)
    assert np.max(np.abs(predicted - 1)) > 0.01  # the test can tell the two apart
    np.testing.assert_allclose(made.flux[ok] / default.flux[ok], predicted, rtol=2e-3)
