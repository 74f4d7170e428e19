"""Stage lists per technique and role, and the context the stages read.

A stage is any callable ``stage(state, context) -> state`` with a ``name`` (for timing
and logs); it may add its goodman letter to ``state.prefix``, set ``GSP_*`` values in
``state.cards``, and append notes. Later steps (extraction, wavelength calibration)
plug in by appending stages to a list, e.g.::

    stages = stages_for(classification, extra={("Spectroscopy", "science"): [Extract()]})

Stage order matches goodman_pipeline's ``cfzst`` prefix: trim, slit trim, bias, flat,
cosmic rays.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pipeline.reduction.bias import BiasStage
from pipeline.reduction.cosmic_rays import CosmicRayStage
from pipeline.reduction.flat import FlatStage
from pipeline.reduction.slit_trim import SlitTrimStage
from pipeline.reduction.trim import TrimStage
from pipeline.settings import ReductionSettings


class Stage(Protocol):
    name: str

    def __call__(self, state, context: ReductionContext): ...


@dataclass
class ReductionContext:
    """Settings and the masters chosen for one frame (``None`` when there is none)."""

    settings: ReductionSettings = field(default_factory=ReductionSettings)
    master_bias: object | None = None  # pipeline.calibrations.masters.Master
    master_flat: object | None = None  # normalized flat Master, with its slit section
    raw_dirs: tuple = ()


_SPECTRUM = (TrimStage(), SlitTrimStage(), BiasStage(), FlatStage(), CosmicRayStage())
_ARC = (TrimStage(), SlitTrimStage(), BiasStage(), FlatStage())
_IMAGE = (TrimStage(), BiasStage(), FlatStage(), CosmicRayStage())

#: The CCD stages of each (technique, role); roles not listed are not reduced.
STAGES: Mapping[tuple[str, str], tuple] = {
    ("Spectroscopy", "science"): _SPECTRUM,
    ("Spectroscopy", "standard"): _SPECTRUM,
    ("Spectroscopy", "arc"): _ARC,
    ("Imaging", "science"): _IMAGE,
    ("Imaging", "standard"): _IMAGE,
}


def stages_for(classification, extra: Mapping[tuple[str, str], Sequence] | None = None) -> list:
    """List the stages of a frame: ``STAGES`` for its technique and role, plus ``extra``.

    Parameters
    ----------
    classification : Classification
        The frame's classification (its technique and role choose the stages).
    extra : mapping of (str, str) to sequence or None
        More stages per ``(technique, role)``, run after the standard ones; ``None`` for
        none.

    Returns
    -------
    list
        The stages in order (empty for a frame that is not reduced).
    """
    key = (classification.technique, classification.role)
    return list(STAGES.get(key, ())) + list((extra or {}).get(key, ()))


def run_stages(state, stages, context: ReductionContext, timings: dict | None = None):
    """Run ``stages`` in order on one frame.

    Parameters
    ----------
    state : FrameState
        The frame as read (:func:`pipeline.reduction.frame.read_raw`).
    stages : iterable of callable
        Stages called as ``stage(state, context)``, each returning the new state and
        having a ``name``.
    context : ReductionContext
        The night's settings and chosen masters.
    timings : dict of str to float or None
        When given, each stage's seconds are added to ``timings[stage.name]``.

    Returns
    -------
    FrameState
        The state the last stage returned.
    """
    for stage in stages:
        start = time.perf_counter()
        state = stage(state, context)
        if timings is not None:
            timings[stage.name] = timings.get(stage.name, 0.0) + time.perf_counter() - start
    return state
