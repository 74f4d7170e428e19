"""The engine plans its jobs from the night's one plan (pipeline.plan)."""

from __future__ import annotations

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
