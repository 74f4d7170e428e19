"""Build master bias and master flats from raw files, and write them.

These functions take the files of one group (see :mod:`pipeline.calibrations`), read
and prepare them with the reduction stages, combine them and write the products. One
unreadable frame is left out with its reason; the master is made from the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from pipeline.calibrations.bias import make_master_bias
from pipeline.calibrations.flat import check_saturation, make_master_flat
from pipeline.calibrations.masters import Master, MasterInfo
from pipeline.calibrations.normalize import normalize_flat
from pipeline.calibrations.slit import detect_slit
from pipeline.classify import Classification
from pipeline.products import (
    RLEVEL_MASTER,
    apply_cards,
    fits_text,
    lineage_cards,
    master_bias_name,
    master_flat_name,
    normalized_flat_name,
    write_ccd_atomic,
)
from pipeline.reduction import masks
from pipeline.reduction.bias import BiasStage
from pipeline.reduction.frame import read_raw
from pipeline.reduction.slit_trim import slit_trim
from pipeline.reduction.stages import ReductionContext
from pipeline.reduction.trim import TrimStage
from pipeline.settings import ReductionSettings
from pipeline.vocabulary import StepOutcome


@dataclass(frozen=True)
class InputOutcome:
    """What became of one input frame of a build, and why.

    ``outcome`` is ``CALIBRATION`` (combined into the master, ``reason`` names it),
    ``SKIPPED`` (an unusable frame: unreadable, odd trim section, saturated) or
    ``FAILED`` (a software error while building its group).
    """

    outcome: StepOutcome
    reason: str

    @property
    def used(self) -> bool:
        """Whether the frame went into a master."""
        return self.outcome is StepOutcome.CALIBRATION


@dataclass
class BuildResult:
    """What a build made (``masters``, in write order) and each input file's outcome."""

    masters: list[Master] = field(default_factory=list)
    products: list[Path] = field(default_factory=list)
    outcomes: dict[str, InputOutcome] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def skip(self, path, reason: str) -> None:
        """Record an input frame left out of the master, with the reason."""
        self.outcomes[str(path)] = InputOutcome(StepOutcome.SKIPPED, reason)

    def combined(self, frames, name: str) -> None:
        """Record the input frames combined into master ``name``."""
        for c in frames:
            self.outcomes[c.path] = InputOutcome(
                StepOutcome.CALIBRATION, f"combined into {name} ({len(frames)} frames)"
            )

    @classmethod
    def failed(cls, frames, exc: BaseException) -> BuildResult:
        """The result of a group whose build raised: every frame of it failed."""
        result = cls()
        for c in frames:
            result.outcomes[c.path] = InputOutcome(
                StepOutcome.FAILED, f"{exc.__class__.__name__}: {exc}"
            )
        return result

    @property
    def master(self) -> Master | None:
        return self.masters[-1] if self.masters else None


def _median_time(frames: list[Classification]) -> datetime | None:
    times = sorted(c.date_obs for c in frames if c.date_obs)
    return times[len(times) // 2] if times else None


def _master_header(ccd, frames, *, name, settings, minimum, extra, bias=None):
    header = ccd.header
    first = frames[0]
    apply_cards(
        header,
        lineage_cards(
            original=first.file_name,
            parent=first.file_name,
            file_name=name,
            rlevel=RLEVEL_MASTER,
            technique=first.technique,
            bias=bias,
            extra=extra,
            settings=settings,
        ),
    )
    when = _median_time(frames)
    if when is not None:
        header["DATE-OBS"] = (when.isoformat(timespec="milliseconds"), "Median time of inputs")
    header["NCOMBINE"] = (len(frames), "Frames combined")
    header["GSP_MFIN"] = (len(frames) >= minimum, "Master is final (minimum frames reached)")
    header["GSP_MINN"] = (minimum, "Minimum frames for a final master")
    for c in frames:
        header.add_history(f"input: {fits_text(c.file_name)}")
    for decision in first.decisions:
        # How the raw header was read stays visible in the master too.
        header.add_history(f"GSP: {decision}")
    return header


def _history_geometry(header, state) -> None:
    for decision in state.geometry.decisions if state.geometry else ():
        header.add_history(f"GSP: {decision}")


def _read_trimmed(frames, context, result):
    states = []
    for c in frames:
        try:
            state = TrimStage()(read_raw(c.path, c), context)
        except Exception as exc:  # noqa: BLE001 - one bad file must not stop the group
            result.skip(c.path, str(exc))
            continue
        states.append(state)
    # Frames of one readout mode share a trim section; an odd one out cannot combine.
    if states:
        common = max({s.trim_section for s in states}, key=[s.trim_section for s in states].count)
        for s in [s for s in states if s.trim_section != common]:
            result.skip(s.path, f"trim section {s.trim_section} differs from the group's {common}")
        states = [s for s in states if s.trim_section == common]
    return states


def build_master_bias(
    frames: list[Classification],
    out_dir: str | Path,
    settings: ReductionSettings,
    raw_dirs=(),
) -> BuildResult:
    """Combine the bias frames of one readout mode into ``master_bias_*.fits``.

    Parameters
    ----------
    frames : list of Classification
        One readout mode's bias frames.
    out_dir : path
    settings : ReductionSettings
    raw_dirs : iterable of paths
        Raw folders, never written to.

    Returns
    -------
    BuildResult
        Each input's :class:`InputOutcome`; no master when no frame was readable.
    """
    result = BuildResult()
    context = ReductionContext(settings=settings)
    states = _read_trimmed(frames, context, result)
    if not states:
        result.notes.append("no readable bias frame")
        return result
    used = [s.classification for s in states]
    first = used[0]
    ccd = make_master_bias([s.ccd for s in states], first.gain, first.rdnoise)
    name = master_bias_name(first)
    _master_header(
        ccd,
        used,
        name=name,
        settings=settings,
        minimum=settings.min_bias_frames,
        extra={"GSP_TRIM": states[0].trim_section},
    )
    _history_geometry(ccd.header, states[0])
    levels = [s.prescan_level for s in states if s.prescan_level is not None]
    if len(levels) == len(states):
        ccd.header["GSP_PLVL"] = (
            round(float(np.mean(levels)), 4),
            "Mean prescan level of inputs (ADU)",
        )
    path = write_ccd_atomic(ccd, Path(out_dir) / name, raw_dirs=raw_dirs)
    info = MasterInfo(
        kind="bias",
        name=name,
        readout_key=first.readout_key,
        optics_key=None,
        trim_section=states[0].trim_section,
        date_obs=_median_time(used),
        n_frames=len(used),
        final=len(used) >= settings.min_bias_frames,
        path=path,
        technique=first.technique,
    )
    result.masters.append(Master(info=info, ccd=ccd))
    result.products.append(path)
    result.combined(used, name)
    return result


def _flat_kind(c: Classification) -> str:
    """goodman's ``sky``/``dome`` name part, from OBSTYPE or OBJECT (no sun ephemeris)."""
    sky = c.obstype_raw.upper().replace(" ", "") == "SKYFLAT" or "sky" in c.object.lower()
    return "sky" if sky else "dome"


def _usable_flats(states, context, result: BuildResult) -> list:
    """The trimmed flats below the saturation threshold, bias-subtracted; the others
    are recorded as skipped with the reason."""
    kept = []
    for state in states:
        # goodman_pipeline's test: raw pixels above the half full well, the end of the
        # range a flat is trusted in, not the pixel saturation the mask marks.
        over = np.asarray(state.ccd.data) >= state.classification.half_well
        reason = check_saturation(
            over | (state.flags & masks.SATURATED).astype(bool),
            context.settings.saturation_threshold,
        )
        if reason:
            result.skip(state.path, reason)
            continue
        try:
            kept.append(BiasStage()(state, context))
        except Exception as exc:  # noqa: BLE001 - this flat only
            result.skip(state.path, str(exc))
    return kept


def _slit_trimmed(ccd, name: str, result: BuildResult):
    """A spectroscopic master flat cut to its illuminated slit rows (edges in its
    header), and the slit section; the flat as it is when no edge is found."""
    edges = detect_slit(ccd)
    if edges is None:
        result.notes.append(f"{name}: no slit edges found; flat not slit-trimmed")
        return ccd, None
    trimmed = slit_trim(ccd, edges.section)
    trimmed.header["GSP_SLEL"] = (
        -1.0 if edges.lower is None else round(edges.lower, 2),
        "Lower slit edge, trimmed row (0-based)",
    )
    trimmed.header["GSP_SLEU"] = (
        -1.0 if edges.upper is None else round(edges.upper, 2),
        "Upper slit edge, trimmed row (0-based)",
    )
    return trimmed, edges.section


def build_master_flat(
    frames: list[Classification],
    out_dir: str | Path,
    settings: ReductionSettings,
    master_bias: Master | None = None,
    raw_dirs=(),
) -> BuildResult:
    """Combine the flats of one readout + optics group.

    Writes ``master_flat_*.fits`` (trimmed, bias-subtracted, RLEVEL 61) and
    ``norm_master_flat_*.fits`` (slit-trimmed for spectroscopy, normalized), the one
    frames are divided by; ``result.master`` is the normalized flat, whose
    ``slit_section`` frames are cut with.

    Parameters
    ----------
    frames : list of Classification
        One readout + optics group's flats.
    out_dir : path
    settings : ReductionSettings
    master_bias : Master, optional
        Subtracted from every flat first.
    raw_dirs : iterable of paths

    Returns
    -------
    BuildResult
    """
    result = BuildResult()
    context = ReductionContext(settings=settings, master_bias=master_bias)
    states = _read_trimmed(frames, context, result)
    kept = _usable_flats(states, context, result)
    if not kept:
        result.notes.append("no usable flat in the group")
        return result
    used = [s.classification for s in kept]
    first = used[0]
    bias_name = kept[0].cards.get("GSP_BIAS")
    bias_note = None if bias_name else kept[0].notes[-1] if kept[0].notes else None
    ccd = make_master_flat([s.ccd for s in kept])
    name = master_flat_name(first, _flat_kind(first))
    extra = {"GSP_TRIM": kept[0].trim_section}
    if "GSP_OVER" in kept[0].cards:
        extra["GSP_OVER"] = kept[0].cards["GSP_OVER"]
    _master_header(
        ccd,
        used,
        name=name,
        settings=settings,
        minimum=settings.min_flat_frames,
        extra=extra,
        bias=bias_name,
    )
    _history_geometry(ccd.header, kept[0])
    result.products.append(write_ccd_atomic(ccd, Path(out_dir) / name, raw_dirs=raw_dirs))

    to_normalize, slit_section = ccd, None
    if first.technique == "Spectroscopy":
        to_normalize, slit_section = _slit_trimmed(ccd, name, result)
    method = settings.flat_normalization if first.technique == "Spectroscopy" else "mean"
    norm = normalize_flat(to_normalize, method, settings.flat_normalization_order)
    norm_name = normalized_flat_name(name)
    apply_cards(
        norm.header,
        [
            ("GSP_FNAM", norm_name, "Current file name"),
            ("GSP_PNAM", name, "Parent file name"),
            ("GSP_SLIT", slit_section or "none", "Slit trim section, slit illuminated area only"),
        ],
    )
    norm_path = write_ccd_atomic(norm, Path(out_dir) / norm_name, raw_dirs=raw_dirs)
    result.products.append(norm_path)
    info = MasterInfo(
        kind="flat",
        name=norm_name,
        readout_key=first.readout_key,
        optics_key=first.optics_key,
        trim_section=kept[0].trim_section,
        date_obs=_median_time(used),
        n_frames=len(used),
        final=len(used) >= settings.min_flat_frames,
        slit_section=slit_section,
        path=norm_path,
        technique=first.technique,
    )
    result.masters.append(Master(info=info, ccd=norm))
    if bias_note:
        result.notes.append(f"{name}: {bias_note}")
    result.combined(used, name)
    return result
