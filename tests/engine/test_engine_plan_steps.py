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
        "_run_flux",
    ]
    # the engine's job kinds, ordered by the plan, follow gsp reduce's order
    assert NIGHT_PLAN.schedule(JOB_STEPS, complete=False) == [
        "master_bias",
        "master_flat",
        "reduce",
        "extract",
    ]
    # every step the engine runs is a step of the plan, carried by one job kind
    carried = [step for steps in JOB_STEPS.values() for step in steps]
    assert set(carried) <= set(NIGHT_PLAN.steps)
    assert len(carried) == len(set(carried))


def _file(s, name, obstype, data_type=0, parent=None):
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
        fields={"date": "2026-11-21", "proposal_id": "SOAR2026B-001", "obstype": obstype},
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
