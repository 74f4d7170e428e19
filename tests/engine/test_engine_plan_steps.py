"""The engine plans its jobs from the night's one plan (pipeline.plan)."""

from __future__ import annotations

from sqlalchemy import select

from pipeline.plan import NIGHT_PLAN


def test_gsp_reduce_and_the_engine_follow_the_one_plan():
    from gsp_extension.engine.planner import JOB_STEPS
    from pipeline.night import NIGHT_STEPS

    night_order = [s.run.__name__ for s in NIGHT_STEPS]
    assert night_order == [
        "_run_master_bias",
        "_run_master_flat",
        "_run_reduce",
        "_run_spectra",
        "_run_sensitivity",
        "_run_flux",
    ]
    # the engine's job kinds, ordered by the plan, follow gsp reduce's order
    assert NIGHT_PLAN.schedule(JOB_STEPS) == [
        "master_bias",
        "master_flat",
        "reduce",
        "extract",
        "calibrate_flux",
    ]
    # every step of the plan is carried, each by one job kind
    carried = [step for steps in JOB_STEPS.values() for step in steps]
    assert set(carried) == set(NIGHT_PLAN.steps)
    assert len(carried) == len(set(carried))


def _file(s, name, obstype, data_type=0, parent=None, obj="AT2026xyz", proposal="SOAR2026B-001"):
    import hashlib

    from gsp_extension.store.files import register_file

    header = [
        ["OBSTYPE", obstype, ""],
        ["GAIN", 1.48, ""],
        ["RDNOISE", 3.89, ""],
        ["DATE-OBS", "2026-11-21T23:00:00", ""],
        ["CCDSUM", "2 2", ""],
        ["GRATING", "400_SYZY", ""],
        ["SLIT", "1.0_LONG_SLIT", ""],
        ["OBSRA", "1:00:00", ""],
        ["OBSDEC", "-5:00:00", ""],
        ["OBJECT", obj, ""],
    ]
    return register_file(
        s,
        f"/data/{name}",
        checksum=hashlib.sha256(name.encode()).hexdigest(),
        size=1,
        header=header,
        status="processed" if data_type else "classified",
        data_type=data_type,
        parent=parent,
        fields={"date": "2026-11-21", "proposal_id": proposal, "obstype": obstype},
    ).file


def test_follow_ups_of_a_reduction_are_read_from_the_plan(db):
    from gsp_extension.engine.planner import plan_after_job
    from gsp_extension.store.models import Job

    with db.transaction() as s:
        sci_raw, arc_raw = _file(s, "sci.fits", "OBJECT"), _file(s, "arc.fits", "COMP")
        sci = _file(s, "cfzst_sci.fits", "OBJECT", data_type=2, parent=sci_raw)
        arc = _file(s, "cfzst_arc.fits", "COMP", data_type=2, parent=arc_raw)
        job = Job(kind="reduce", product_key="reduce:x", state="done", params={})
        s.add(job)
        s.flush()
        # a reduced science frame goes on to its extraction (the plan's next step)
        science_next = [j.product_key for j in plan_after_job(s, job, products=[sci])]
        assert [k.split(":")[:2] for k in science_next] == [["extract", str(sci.id)]]
        for queued in s.scalars(select(Job).where(Job.kind == "extract")):
            s.delete(queued)
        s.flush()
        # a reduced arc has no next step of its own, but calibrates the night's spectra
        # in wavelength: they are extracted (and calibrated) again
        arc_next = [j.product_key for j in plan_after_job(s, job, products=[arc])]
        assert [k.split(":")[:2] for k in arc_next] == [["extract", str(sci.id)]]


def _chain(s, stem, obstype="OBJECT", **kw):
    """A raw frame, its reduced frame, extracted and wavelength-calibrated spectra."""
    raw = _file(s, f"{stem}.fits", obstype, **kw)
    reduced = _file(s, f"cfzst_{stem}.fits", obstype, data_type=2, parent=raw, **kw)
    extracted = _file(s, f"ecfzst_{stem}_target_1.fits", obstype, 3, parent=reduced, **kw)
    return reduced, _file(s, f"wecfzst_{stem}_target_1.fits", obstype, 4, extracted, **kw)


def test_flux_follow_ups_are_read_from_the_plan(db):
    """A calibrated spectrum goes on to the flux job of its frame (an arc's does not);
    a new sensitivity flux-calibrates again the night's spectra of its proposal, not the
    standard it was made from nor another proposal's."""
    from gsp_extension.engine.planner import plan_after_job
    from gsp_extension.store.models import Job

    def keys(jobs):
        return sorted((j.kind, j.file_id, (j.params or {}).get("refresh")) for j in jobs)

    with db.transaction() as s:
        sci, sci_spectrum = _chain(s, "sci")
        std, std_spectrum = _chain(s, "std", obj="LTT3218")
        _chain(s, "other", proposal="SOAR2026B-777")  # never calibrated by sci's standard
        arc_raw = _file(s, "arc.fits", "COMP")
        arc = _file(s, "fzst_arc.fits", "COMP", data_type=2, parent=arc_raw)
        arc_spectrum = _file(s, "wefzst_arc.fits", "COMP", data_type=4, parent=arc)
        extract = Job(kind="extract", product_key="extract:x", state="done", params={})
        s.add(extract)
        s.flush()
        after_extract = plan_after_job(s, extract, [sci_spectrum, std_spectrum, arc_spectrum])
        assert keys(after_extract) == [
            ("calibrate_flux", sci.id, False),
            ("calibrate_flux", std.id, False),
        ]
        for job in after_extract:
            s.delete(job)
        s.flush()
        # an extraction that tried the flux step itself (sensitivities at hand) queues no
        # flux job, whether or not it made a data_type 5
        assert plan_after_job(s, extract, [sci_spectrum], carried=["flux"]) == []
        sens = _file(s, "master_sens_x.fits", "OBJECT", data_type=1, parent=std_spectrum)
        flux = Job(kind="calibrate_flux", product_key="calibrate_flux:x", state="done")
        s.add(flux)
        s.flush()
        assert keys(plan_after_job(s, flux, [sens])) == [("calibrate_flux", sci.id, True)]


def test_flux_calibration_off_in_the_proposals_settings_stops_the_flux_step(db):
    """The setting is obeyed by the engine: with flux_calibration off, a calibrated
    spectrum queues no flux job and an extraction carries no flux step, though a
    sensitivity is at hand; on again, both come back."""
    from gsp_extension.engine.flux import flux_inputs_for_extraction
    from gsp_extension.engine.planner import plan_after_job
    from gsp_extension.store.models import Job
    from gsp_extension.store.proposals import get_proposal_by_soar_id
    from gsp_extension.store.settings import get_settings, put_settings

    with db.transaction() as s:
        sci, spectrum = _chain(s, "sci")
        _, std_spectrum = _chain(s, "std", obj="LTT3218")
        _file(s, "master_sens_x.fits", "OBJECT", data_type=1, parent=std_spectrum)
        proposal = get_proposal_by_soar_id(s, "SOAR2026B-001")
        put_settings(s, proposal, {"flux_calibration": False})
        s.flush()
        settings_id = get_settings(s, proposal.id).id
        extract = Job(kind="extract", product_key="extract:x", state="done", params={})
        s.add(extract)
        s.flush()
        assert [j.kind for j in plan_after_job(s, extract, [spectrum])] == []
        assert flux_inputs_for_extraction(s, sci, settings_id) is None
        put_settings(s, proposal, {"flux_calibration": True})
        s.flush()
        settings_id = get_settings(s, proposal.id).id
        assert [j.kind for j in plan_after_job(s, extract, [spectrum])] == ["calibrate_flux"]
        inputs = flux_inputs_for_extraction(s, sci, settings_id)
        assert [p.rsplit("/", 1)[-1] for p in inputs["sensitivity_paths"]] == ["master_sens_x.fits"]
