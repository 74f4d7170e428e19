"""One plan for a night: the order of the steps, declared once, and typed step results."""

from __future__ import annotations

import pytest
from rawframes import small_night

from pipeline.plan import NIGHT_PLAN, NightPlan, PlanError, Step, StepSpec
from pipeline.vocabulary import DataType, FrameRole, StepOutcome


def test_the_plan_orders_masters_reduce_extract_wavelength_sensitivity_flux():
    assert NIGHT_PLAN.steps == (
        Step.MASTER_BIAS,
        Step.MASTER_FLAT,
        Step.REDUCE,
        Step.EXTRACT,
        Step.WAVELENGTH,
        Step.SENSITIVITY,
        Step.FLUX,
    )
    assert NIGHT_PLAN.first_step(FrameRole.BIAS) is Step.MASTER_BIAS
    assert NIGHT_PLAN.first_step(FrameRole.ARC) is Step.REDUCE
    assert NIGHT_PLAN.first_step(FrameRole.OTHER) is None
    # a reduced science frame goes on to extraction; a reduced arc does not...
    assert NIGHT_PLAN.next_steps(Step.REDUCE, FrameRole.SCIENCE) == [Step.EXTRACT]
    assert NIGHT_PLAN.next_steps(Step.REDUCE, FrameRole.ARC) == []
    # ...it calibrates the night's spectra in wavelength, as new masters reduce again
    assert NIGHT_PLAN.recalibrates(Step.REDUCE, FrameRole.ARC) == [Step.WAVELENGTH]
    assert Step.REDUCE in NIGHT_PLAN.recalibrates(Step.MASTER_FLAT, FrameRole.FLAT)
    assert NIGHT_PLAN.spec(Step.FLUX).makes is DataType.FLUX_CALIBRATED
    # a standard's calibrated spectrum gives a sensitivity, and is flux-calibrated too;
    # a science spectrum is flux-calibrated; an arc's calibrated spectrum goes no further
    assert NIGHT_PLAN.next_steps(Step.WAVELENGTH, FrameRole.STANDARD) == [
        Step.SENSITIVITY,
        Step.FLUX,
    ]
    assert NIGHT_PLAN.next_steps(Step.WAVELENGTH, FrameRole.SCIENCE) == [Step.FLUX]
    assert NIGHT_PLAN.next_steps(Step.WAVELENGTH, FrameRole.ARC) == []
    # a new sensitivity flux-calibrates the night again, as a new arc calibrates it in
    # wavelength again
    assert NIGHT_PLAN.recalibrates(Step.SENSITIVITY, FrameRole.STANDARD) == [Step.FLUX]
    assert NIGHT_PLAN.spec(Step.SENSITIVITY).makes is DataType.MASTER_CALIBRATION


def test_a_plan_that_runs_a_step_before_what_it_needs_is_refused():
    bias = StepSpec(Step.MASTER_BIAS, frozenset({FrameRole.BIAS}), DataType.MASTER_CALIBRATION)
    reduce = StepSpec(
        Step.REDUCE,
        frozenset({FrameRole.SCIENCE}),
        DataType.REDUCED,
        calibrated_by=((Step.MASTER_BIAS, FrameRole.BIAS),),
    )
    with pytest.raises(PlanError, match="master_bias, which is not declared before it"):
        NightPlan([reduce, bias])
    with pytest.raises(PlanError, match="declared twice"):
        NightPlan([bias, bias])


def test_schedule_orders_carriers_and_refuses_gaps_and_overlaps():
    groups = {
        "flux": [Step.SENSITIVITY, Step.FLUX],
        "spectra": [Step.EXTRACT, Step.WAVELENGTH],
        "reduce": [Step.REDUCE],
        "masters": [Step.MASTER_BIAS, Step.MASTER_FLAT],
    }
    assert NIGHT_PLAN.schedule(groups) == ["masters", "reduce", "spectra", "flux"]
    with pytest.raises(PlanError, match="missing: sensitivity, flux"):
        NIGHT_PLAN.schedule({k: v for k, v in groups.items() if k != "flux"})
    with pytest.raises(PlanError, match="consecutive steps"):
        NIGHT_PLAN.schedule({**groups, "spectra": [Step.EXTRACT, Step.FLUX]})
    with pytest.raises(PlanError, match="carried twice"):
        NIGHT_PLAN.schedule({**groups, "again": [Step.REDUCE]})


def test_master_build_inputs_have_typed_outcomes(tmp_path):
    from pipeline.calibrations.build import build_master_bias
    from pipeline.classify import classify_path
    from pipeline.settings import ReductionSettings

    raw = small_night(tmp_path / "raw", n_bias=3, n_flats=0, n_science=0)
    frames = [classify_path(p) for p in sorted(raw.glob("*_bias_*.fits"))]
    gone = frames[1].path
    (tmp_path / "raw" / frames[1].file_name).unlink()  # classified, then vanished
    build = build_master_bias(frames, tmp_path / "out", ReductionSettings())
    assert build.outcomes[gone].outcome is StepOutcome.SKIPPED
    assert "No such file" in build.outcomes[gone].reason
    used = [p for p, o in build.outcomes.items() if o.used]
    assert sorted(used) == sorted(c.path for c in frames if c.path != gone)
    assert all(build.outcomes[p].reason.startswith("combined into master_bias_") for p in used)


def test_night_results_carry_step_outcomes(tmp_path):
    from pipeline.night import reduce_night

    raw = small_night(tmp_path / "raw")
    report = reduce_night(raw, tmp_path / "out", spectra=False)
    outcomes = {r.file_name: r.status for r in report.results}
    assert all(isinstance(o, StepOutcome) for o in outcomes.values())
    assert [outcomes[n] for n in sorted(outcomes)] == [
        *[StepOutcome.CALIBRATION] * 6,
        StepOutcome.REDUCED,
        StepOutcome.REDUCED,
    ]
