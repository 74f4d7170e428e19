"""The plan of a night: which steps exist, in which order, and what each one waits for.

Declared once, here, and used by both orchestrators: ``gsp reduce``
(:func:`pipeline.night.reduce_night`) runs the steps in this order, and the service's
job engine (:mod:`gsp_extension.engine.planner`) reads from it which job follows which.
Neither spells the order again; each maps the steps to the functions (or job kinds) that
carry them out through :meth:`NightPlan.schedule`, which refuses a mapping that leaves a
step out or runs one before what it needs.

Two kinds of dependency are declared, as in BANZAI's calibration stages:

- ``needs``: the step works on the product of these steps *for the same frame*
  (a science frame is extracted after it is reduced);
- ``calibrated_by``: products of these steps, made *from other frames of the night*
  (masters from bias and flats, arcs, standards), calibrate the step, so a newer one
  makes the step worth doing again for the night's frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from pipeline.vocabulary import DataType, FrameRole

__all__ = ["NIGHT_PLAN", "NightPlan", "PlanError", "Step", "StepSpec"]

T = TypeVar("T")


class Step(StrEnum):
    """One step of a night's reduction."""

    MASTER_BIAS = "master_bias"
    MASTER_FLAT = "master_flat"
    REDUCE = "reduce"
    EXTRACT = "extract"
    WAVELENGTH = "wavelength"
    SENSITIVITY = "sensitivity"
    FLUX = "flux"


class PlanError(ValueError):
    """A plan, or a mapping of its steps to the code that runs them, is inconsistent."""


@dataclass(frozen=True)
class StepSpec:
    """A step's declaration.

    Attributes
    ----------
    step : Step
    roles : frozenset of FrameRole
        Roles of the raw frames whose products the step makes.
    makes : DataType
        The data type of its products.
    needs : tuple of Step
        Steps that must have made this frame's previous product.
    calibrated_by : tuple of (Step, FrameRole)
        Products of other frames (the step that made them and their frame's role) the
        step uses as calibrations.
    redo_on_new_calibration : bool
        Whether a newer calibration makes the step worth doing again for frames it
        already processed (:meth:`NightPlan.recalibrates`).
    """

    step: Step
    roles: frozenset[FrameRole]
    makes: DataType
    needs: tuple[Step, ...] = ()
    calibrated_by: tuple[tuple[Step, FrameRole], ...] = ()
    redo_on_new_calibration: bool = True


_SPECTRA = frozenset({FrameRole.SCIENCE, FrameRole.STANDARD})


class NightPlan:
    """An ordered, checked sequence of :class:`StepSpec`.

    Parameters
    ----------
    specs : sequence of StepSpec
        In the order they run; every step named in ``needs`` or ``calibrated_by``
        must come earlier.

    Raises
    ------
    PlanError
        When a step is declared twice or depends on a later (or unknown) step.
    """

    def __init__(self, specs: Sequence[StepSpec]) -> None:
        seen: set[Step] = set()
        for spec in specs:
            if spec.step in seen:
                raise PlanError(f"step {spec.step} is declared twice; declare each step once")
            later = [s for s in (*spec.needs, *(c for c, _ in spec.calibrated_by)) if s not in seen]
            if later:
                raise PlanError(
                    f"step {spec.step} depends on {', '.join(later)}, which is not declared "
                    "before it; put the steps it depends on first"
                )
            seen.add(spec.step)
        self._specs = tuple(specs)

    @property
    def steps(self) -> tuple[Step, ...]:
        """The steps in the order they run."""
        return tuple(s.step for s in self._specs)

    def spec(self, step: Step) -> StepSpec:
        """The declaration of ``step``."""
        return next(s for s in self._specs if s.step == step)

    def first_step(self, role: FrameRole | str) -> Step | None:
        """The step a new raw frame of ``role`` starts with (``None``: nothing to do).

        Parameters
        ----------
        role : FrameRole or str

        Returns
        -------
        Step or None
        """
        return next((s.step for s in self._specs if role in s.roles and not s.needs), None)

    def next_steps(self, step: Step, role: FrameRole | str) -> list[Step]:
        """Steps that continue a frame of ``role`` once ``step`` made its product.

        Parameters
        ----------
        step : Step
        role : FrameRole or str
            The role of the raw frame behind the product.

        Returns
        -------
        list of Step
        """
        return [s.step for s in self._specs if step in s.needs and role in s.roles]

    def recalibrates(self, step: Step, role: FrameRole | str) -> list[Step]:
        """Steps worth doing again for the night's other frames when ``step`` made a
        product from a frame of ``role`` (a new master, a new reduced arc...).

        Parameters
        ----------
        step : Step
        role : FrameRole or str

        Returns
        -------
        list of Step
        """
        return [
            s.step
            for s in self._specs
            if s.redo_on_new_calibration and (step, role) in s.calibrated_by
        ]

    def schedule(self, groups: Mapping[T, Iterable[Step]], *, complete: bool = True) -> list[T]:
        """Order the carriers of the steps (functions, job kinds) as the plan says.

        Parameters
        ----------
        groups : mapping
            Each carrier and the consecutive steps it carries out (a job that extracts
            and calibrates in wavelength carries two).
        complete : bool
            Whether every step must be carried (``False``: an orchestrator that does
            not run the last steps yet).

        Returns
        -------
        list
            The carriers in the order they must run.

        Raises
        ------
        PlanError
            When a step is carried twice or not at all, or a carrier's steps are not
            consecutive in the plan.
        """
        order = {step: i for i, step in enumerate(self.steps)}
        spans = {}
        for carrier, steps in groups.items():
            positions = sorted(order[s] for s in steps)
            if not positions or positions != list(range(positions[0], positions[-1] + 1)):
                raise PlanError(
                    f"{carrier!r} carries {', '.join(map(str, steps)) or 'no step'}: a "
                    "carrier runs one step or consecutive steps of the plan"
                )
            spans[carrier] = positions
        carried = sorted(p for positions in spans.values() for p in positions)
        missing = [s for s in self.steps if order[s] not in carried]
        if len(set(carried)) != len(carried) or (complete and missing):
            raise PlanError(
                f"the steps must each be carried exactly once; missing: "
                f"{', '.join(missing) or 'none'}, carried twice: "
                f"{sorted({self.steps[p] for p in carried if carried.count(p) > 1})}"
            )
        return sorted(spans, key=lambda carrier: spans[carrier][0])


#: The night, from raw frames to flux-calibrated spectra: masters -> reduce -> extract ->
#: wavelength -> (a standard's) sensitivity -> flux.
NIGHT_PLAN = NightPlan(
    [
        StepSpec(Step.MASTER_BIAS, frozenset({FrameRole.BIAS}), DataType.MASTER_CALIBRATION),
        StepSpec(
            Step.MASTER_FLAT,
            frozenset({FrameRole.FLAT}),
            DataType.MASTER_CALIBRATION,
            # A flat is bias-subtracted before it is combined; a master flat is rebuilt
            # when its own frames change, not for every newer bias (the night's frames
            # are reduced again after each master anyway).
            calibrated_by=((Step.MASTER_BIAS, FrameRole.BIAS),),
            redo_on_new_calibration=False,
        ),
        StepSpec(
            Step.REDUCE,
            frozenset({FrameRole.SCIENCE, FrameRole.STANDARD, FrameRole.ARC}),
            DataType.REDUCED,
            calibrated_by=((Step.MASTER_BIAS, FrameRole.BIAS), (Step.MASTER_FLAT, FrameRole.FLAT)),
        ),
        StepSpec(Step.EXTRACT, _SPECTRA, DataType.EXTRACTED, needs=(Step.REDUCE,)),
        StepSpec(
            Step.WAVELENGTH,
            _SPECTRA,
            DataType.WAVELENGTH_CALIBRATED,
            needs=(Step.EXTRACT,),
            calibrated_by=((Step.REDUCE, FrameRole.ARC),),
        ),
        # A standard star's calibrated spectrum gives a sensitivity master (a
        # calibration of the night, like a master flat, kept as data_type 1).
        StepSpec(
            Step.SENSITIVITY,
            frozenset({FrameRole.STANDARD}),
            DataType.MASTER_CALIBRATION,
            needs=(Step.WAVELENGTH,),
        ),
        # Every star's calibrated spectrum (the standards' own too: a check of the
        # sensitivity) is flux-calibrated; arcs are not, a lamp has no flux to measure.
        # A new sensitivity makes the night's spectra of its setup worth doing again.
        StepSpec(
            Step.FLUX,
            _SPECTRA,
            DataType.FLUX_CALIBRATED,
            needs=(Step.WAVELENGTH,),
            calibrated_by=((Step.SENSITIVITY, FrameRole.STANDARD),),
        ),
    ]
)
