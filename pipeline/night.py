"""Reduce a night: classify every file, build masters, reduce each frame.

:func:`reduce_night` is the batch entry point (``gsp reduce`` calls it);
:func:`reduce_frame` reduces one frame against a :class:`CalibrationLibrary` and is
what a live service calls as files arrive. Nothing here raises for one bad file: every
input gets a :class:`FileResult` with a status and a reason.

Statuses are :class:`~pipeline.vocabulary.StepOutcome` members: ``REDUCED`` (a product
was written), ``CALIBRATION`` (combined into a master), ``SKIPPED`` (not usable or not
reducible, with the reason: cannot classify, cannot read, saturated flat, focus
frame...), ``FAILED`` (an unexpected error while reducing a frame that should have
worked; the only status that makes ``gsp reduce`` exit non-zero). The order of the
steps is :data:`pipeline.plan.NIGHT_PLAN`'s.

Extension point: ``extra_stages`` maps ``(technique, role)`` to stages appended after
the CCD stages (see :mod:`pipeline.reduction.stages`); they run on the reduced
:class:`~pipeline.reduction.frame.FrameState` after its product is written, and may
write their own products (appending to ``state.products``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from astropy.io import fits

from pipeline.calibrations.build import BuildResult, build_master_bias, build_master_flat
from pipeline.calibrations.masters import Master, MasterInfo, info_from_header, load_master
from pipeline.calibrations.selection import bias_groups, flat_groups, select_master
from pipeline.classify import Classification, classify_path
from pipeline.plan import NIGHT_PLAN, Step
from pipeline.products import (
    RLEVEL_REDUCED,
    apply_cards,
    lineage_cards,
    product_name,
    raise_if_storage_error,
    write_ccd_atomic,
)
from pipeline.reduction.frame import FrameState, read_raw, trim_section_for
from pipeline.reduction.stages import ReductionContext, run_stages, stages_for
from pipeline.settings import ReductionSettings
from pipeline.vocabulary import FrameRole, StepOutcome

RAW_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fz")


@dataclass
class FileResult:
    """What happened to one input file."""

    path: str
    file_name: str
    status: StepOutcome
    reason: str = ""
    role: str = ""
    technique: str = ""
    products: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class NightReport:
    """Per-file results, the masters made, and per-step times (seconds)."""

    results: list[FileResult] = field(default_factory=list)
    masters: list[MasterInfo] = field(default_factory=list)
    products: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: 1-D products (pipeline.spectroscopy.product_result.ProductResult): extracted and
    #: wavelength-calibrated spectra, or why they were not made.
    spectra: list = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status is StepOutcome.FAILED]

    def by_name(self, file_name: str) -> FileResult:
        return next(r for r in self.results if r.file_name == file_name)

    def table(self) -> str:
        """A plain-text table: file, role, status, product or reason."""
        rows = [("file", "role", "status", "product / reason")]
        for r in sorted(self.results, key=lambda r: r.file_name):
            detail = ", ".join(Path(p).name for p in r.products)
            if r.reason:
                detail = f"{detail}; {r.reason}" if detail else r.reason
            rows.append((r.file_name, r.role or "-", r.status, detail))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            "  ".join(row[i].ljust(widths[i]) for i in range(3)) + "  " + row[3] for row in rows
        ]
        lines.insert(1, "-" * min(120, max(len(line) for line in lines)))
        return "\n".join(lines)


class CalibrationLibrary:
    """The masters a night can use: this night's (in memory) and earlier nights' (on
    disk, read when first chosen)."""

    def __init__(self) -> None:
        self._infos: list[MasterInfo] = []
        self._loaded: dict[str, Master] = {}

    def add(self, master: Master) -> None:
        """Add (or replace, when rebuilt under the same name) a master."""
        self._infos = [i for i in self._infos if i.name != master.info.name]
        self._infos.append(master.info)
        self._loaded[master.info.name] = master

    def add_directory(self, folder: str | Path) -> int:
        """Register the masters (``master_bias_*``, ``norm_master_flat_*``) in a folder;
        returns how many were usable."""
        paths = sorted(Path(folder).glob("*master_*.fits"))
        return self.add_files(
            p for p in paths if p.name.startswith(("master_bias_", "norm_master_flat_"))
        )

    def add_files(self, paths: Iterable[str | Path]) -> int:
        """Register masters by path (their headers are read now, their pixels when
        first chosen); returns how many were usable masters not known yet.

        Parameters
        ----------
        paths : iterable of path
            Master bias and normalized master flat files written by this pipeline.

        Returns
        -------
        int
        """
        count = 0
        for path in map(Path, paths):
            try:
                info = info_from_header(fits.getheader(path), path)
            except Exception:  # noqa: BLE001 - an unreadable master is simply not a candidate
                continue
            if info is not None and info.name not in {i.name for i in self._infos}:
                self._infos.append(info)
                count += 1
        return count

    @property
    def infos(self) -> list[MasterInfo]:
        return list(self._infos)

    def select(self, frame: Classification, kind: str, trim_section: str | None) -> Master | None:
        """The compatible master of ``kind`` nearest in time to ``frame``.

        Parameters
        ----------
        frame : Classification
        kind : {"bias", "flat"}
        trim_section : str or None
            The frame's trim section (masters must share it).

        Returns
        -------
        Master or None
            Read from disk the first time it is chosen.
        """
        info = select_master(frame, self._infos, kind, trim_section)
        if info is None:
            return None
        if info.name not in self._loaded:
            self._loaded[info.name] = load_master(info)
        return self._loaded[info.name]


def find_raw_files(raw_dir: str | Path) -> list[Path]:
    """FITS-named files under ``raw_dir`` (any depth), hidden files excluded.

    Parameters
    ----------
    raw_dir : str or Path

    Returns
    -------
    list of Path
        Sorted.
    """
    raw_dir = Path(raw_dir)
    files = [
        p
        for p in raw_dir.rglob("*")
        if p.is_file()
        and p.name.lower().endswith(RAW_SUFFIXES)
        and not any(part.startswith(".") for part in p.relative_to(raw_dir).parts)
    ]
    return sorted(files)


def _write_reduced(state: FrameState, out_dir: Path, settings, raw_dirs) -> Path:
    name = product_name(state.prefix, state.path.name)
    ccd = state.ccd
    extra = {
        "GSP_OVER": "none",
        "GSP_TRIM": "none",
        "GSP_SLIT": "none",
        "GSP_NORM": "none",
        "GSP_COSM": "none",
    }
    extra.update(state.cards)
    c = state.classification
    apply_cards(
        ccd.header,
        lineage_cards(
            original=state.path.name,
            parent=state.path.name,
            file_name=name,
            rlevel=RLEVEL_REDUCED,
            technique=c.technique,
            bias=extra.pop("GSP_BIAS", None),
            flat=extra.pop("GSP_FLAT", None),
            extra=extra,
            settings=settings,
        ),
    )
    ccd.header["BUNIT"] = ("adu", "Data unit")
    for decision in (*c.decisions, *(state.geometry.decisions if state.geometry else ())):
        # Every interpretation of the raw header stays visible in the product.
        ccd.header.add_history(f"GSP: {decision}")
    return write_ccd_atomic(ccd, out_dir / name, raw_dirs=raw_dirs, flags=state.flags)


def reduce_frame(
    classification: Classification,
    out_dir: str | Path,
    library: CalibrationLibrary,
    settings: ReductionSettings | None = None,
    extra_stages: Mapping[tuple[str, str], Sequence] | None = None,
    raw_dirs: Iterable = (),
    timings: dict | None = None,
) -> FileResult:
    """Reduce one science, standard or arc frame with the best masters of ``library``.

    Never raises for this frame's own problems: the result's ``status`` says what
    happened. A storage error (unwritable, full or failing disk) is raised
    (:func:`pipeline.products.raise_if_storage_error`): it is not this frame's failure.

    Parameters
    ----------
    classification : Classification
        The raw frame (:func:`pipeline.classify.classify_path`).
    out_dir : path
        Where the product is written.
    library : CalibrationLibrary
        The masters to choose from (nearest compatible in time).
    settings : ReductionSettings, optional
    extra_stages : mapping, optional
        Stages appended per ``(technique, role)``.
    raw_dirs : iterable of paths
        Raw folders, never written to.
    timings : dict, optional
        Per-stage seconds, added to.

    Returns
    -------
    FileResult
        ``status`` ``REDUCED``, ``SKIPPED`` (with the reason) or ``FAILED``.
    """
    settings = settings or ReductionSettings()
    c = classification
    result = FileResult(
        c.path, c.file_name, StepOutcome.SKIPPED, role=c.role, technique=c.technique
    )
    start = time.perf_counter()
    if not c.ok:
        result.reason = c.status
        return result
    stages = stages_for(c, extra_stages)
    if c.engineering:
        result.reason = (
            f"engineering frame ({c.engineering}, OBSTYPE={c.obstype_raw or '?'}): "
            "registered, not reduced"
        )
        return result
    if not stages:
        result.reason = f"not reduced: {c.technique} {c.role} (OBSTYPE={c.obstype_raw or '?'})"
        return result
    try:
        t0 = time.perf_counter()
        state = read_raw(c.path, c)
        if timings is not None:
            timings["read"] = timings.get("read", 0.0) + time.perf_counter() - t0
    except Exception as exc:  # noqa: BLE001 - unreadable pixels: this file only
        raise_if_storage_error(exc)
        result.reason = f"cannot read data: {exc}"
        return result
    try:
        trim = trim_section_for(c, state.ccd.shape)
        context = ReductionContext(
            settings=settings,
            master_bias=None if settings.ignore_bias else library.select(c, "bias", trim),
            master_flat=None if settings.ignore_flats else library.select(c, "flat", trim),
            raw_dirs=tuple(raw_dirs),
        )
        n_ccd = len(stages_for(c))
        state = run_stages(state, stages[:n_ccd], context, timings)
        t0 = time.perf_counter()
        path = _write_reduced(state, Path(out_dir), settings, raw_dirs)
        if timings is not None:
            timings["write"] = timings.get("write", 0.0) + time.perf_counter() - t0
        state.products.append(path)
        state = run_stages(state, stages[n_ccd:], context, timings)
    except Exception as exc:  # noqa: BLE001 - reported as this frame's failure
        raise_if_storage_error(exc)
        result.status = StepOutcome.FAILED
        result.reason = f"{exc.__class__.__name__}: {exc}"
        return result
    result.status = StepOutcome.REDUCED
    result.products = [str(p) for p in state.products]
    result.reason = "; ".join([*c.decisions, *state.notes])
    for w in c.warnings:
        result.reason = f"{result.reason}; {w}" if result.reason else w
    result.seconds = time.perf_counter() - start
    return result


def _guarded_build(builder, group, *args, **kwargs) -> BuildResult:
    """Run a master build; an unexpected error fails that group's files, not the night."""
    try:
        return builder(group, *args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - reported on every file of the group
        raise_if_storage_error(exc)
        return BuildResult.failed(group, exc)


@dataclass
class _NightRun:
    """What the steps of one :func:`reduce_night` call share."""

    frames: list[Classification]
    out_dir: Path
    settings: ReductionSettings
    raw_dirs: tuple
    calibration_dirs: tuple
    extra_stages: Mapping[tuple[str, str], Sequence] | None
    progress: Callable[[str, str], None] | None
    flux_settings: object
    report: NightReport = field(default_factory=NightReport)
    library: CalibrationLibrary = field(default_factory=CalibrationLibrary)
    by_path: dict[str, FileResult] = field(default_factory=dict)
    #: Sensitivities made from the night's standards (the flux step uses them).
    sensitivities: list = field(default_factory=list)

    def tell(self, phase: str, frames: Iterable[Classification]) -> None:
        if self.progress:
            for c in frames:
                self.progress(phase, c.file_name)

    def apply_build(self, build: BuildResult) -> None:
        """Record a master build: each input's outcome, the masters, the products."""
        for path, outcome in build.outcomes.items():
            result = self.by_path[path]
            result.status, result.reason = outcome.outcome, outcome.reason
            if outcome.used and build.products:
                result.products = [str(p) for p in build.products]
                if build.notes:
                    result.reason = f"{result.reason}; {'; '.join(build.notes)}"
        for master in build.masters:
            self.library.add(master)
            self.report.masters.append(master.info)
        self.report.products += build.products

    def ignore(self, group: list[Classification], switch: str) -> None:
        for c in group:
            self.by_path[c.path].reason = f"not combined: {switch} set"
        self.tell("skip", group)


def _raw_inputs(raw) -> tuple[list[Path], tuple[Path, ...]]:
    """The raw files to reduce, and the raw folders (never written to)."""
    if isinstance(raw, str | Path):
        if Path(raw).is_dir():
            return find_raw_files(raw), (Path(raw),)
        return [Path(raw)], ()
    return sorted(Path(p) for p in raw), ()


def _classify_all(paths: list[Path], settings: ReductionSettings, progress) -> list:
    frames = []
    for p in paths:
        c = classify_path(p)
        if c.ok and settings.technique != "auto" and c.technique != settings.technique:
            # The proposal fixes the technique (DESIGN §6): trust it over the header.
            c = replace(c, technique=settings.technique)
        if c.ok and c.rlevel:
            # A product among the raw files (e.g. a reduced folder given as input) is
            # never treated as raw data again.
            c = replace(c, status=f"not raw: a pipeline product (RLEVEL {c.rlevel})")
        frames.append(c)
        if progress:
            progress("classify", c.file_name)
    return frames


def _skipped(c: Classification) -> FileResult:
    return FileResult(
        c.path,
        c.file_name,
        StepOutcome.SKIPPED,
        reason="" if c.ok else c.status,
        role=c.role,
        technique=c.technique,
    )


def _group_trim(first: Classification) -> str | None:
    try:
        return trim_section_for(first, first.shape) if first.shape else None
    except ValueError:
        return None


def _run_master_bias(run: _NightRun) -> None:
    for group in bias_groups(run.frames).values():
        if run.settings.ignore_bias:
            run.ignore(group, "ignore_bias")
            continue
        run.apply_build(
            _guarded_build(build_master_bias, group, run.out_dir, run.settings, run.raw_dirs)
        )
        run.tell("master bias", group)


def _run_master_flat(run: _NightRun) -> None:
    for group in flat_groups(run.frames).values():
        if run.settings.ignore_flats:
            run.ignore(group, "ignore_flats")
            continue
        first = group[0]
        bias = None
        if not run.settings.ignore_bias:
            bias = run.library.select(first, "bias", _group_trim(first))
        build = _guarded_build(
            build_master_flat,
            group,
            run.out_dir,
            run.settings,
            master_bias=bias,
            raw_dirs=run.raw_dirs,
        )
        run.apply_build(build)
        run.tell("master flat", group)
    for c in run.frames:
        if c.ok and c.role in {FrameRole.BIAS, FrameRole.FLAT} and c.decisions:
            # How the raw header was read stays visible on calibration frames too.
            result = run.by_path[c.path]
            result.reason = "; ".join([result.reason, *c.decisions]).lstrip("; ")


def _run_reduce(run: _NightRun) -> None:
    targets = [c for c in run.frames if c.ok and c.role not in {FrameRole.BIAS, FrameRole.FLAT}]
    targets.sort(key=lambda c: (c.date_obs, c.file_name))
    for c in targets:
        result = reduce_frame(
            c,
            run.out_dir,
            run.library,
            run.settings,
            run.extra_stages,
            run.raw_dirs,
            run.report.timings,
        )
        run.by_path[c.path] = result
        run.report.products += [Path(p) for p in result.products]
        run.tell("reduce", [c])
    run.report.results = list(run.by_path.values())


def _run_spectra(run: _NightRun) -> None:
    from pipeline.spectroscopy.night_stage import calibrate_night

    run.report.spectra = calibrate_night(run.report, run.out_dir, run.settings, run.raw_dirs)


def _run_sensitivity(run: _NightRun) -> None:
    from pipeline.fluxcal.night_stage import night_sensitivities

    run.sensitivities, made = night_sensitivities(
        run.report,
        run.report.spectra,
        run.out_dir,
        run.settings,
        run.flux_settings,
        raw_dirs=run.raw_dirs,
    )
    run.report.spectra += made


def _run_flux(run: _NightRun) -> None:
    from pipeline.fluxcal.night_stage import flux_calibrate_spectra

    run.report.spectra += flux_calibrate_spectra(
        run.report,
        run.report.spectra,
        run.sensitivities,
        run.out_dir,
        run.settings,
        run.flux_settings,
        calibration_dirs=run.calibration_dirs,
        raw_dirs=run.raw_dirs,
        roles=NIGHT_PLAN.spec(Step.FLUX).roles,
    )


@dataclass(frozen=True)
class _NightStep:
    """A function of :func:`reduce_night` and the time label it reports under."""

    run: Callable[[_NightRun], None]
    label: str | None
    spectra: bool = False


#: Who carries each step of the plan in ``gsp reduce``, in the plan's order
#: (:meth:`pipeline.plan.NightPlan.schedule` refuses an order the plan does not allow).
NIGHT_STEPS: list[_NightStep] = NIGHT_PLAN.schedule(
    {
        _NightStep(_run_master_bias, "master bias"): (Step.MASTER_BIAS,),
        _NightStep(_run_master_flat, "master flat"): (Step.MASTER_FLAT,),
        # reduce_frame reports its own stage times (read, stages, write).
        _NightStep(_run_reduce, None): (Step.REDUCE,),
        _NightStep(_run_spectra, "extract + wavelength", spectra=True): (
            Step.EXTRACT,
            Step.WAVELENGTH,
        ),
        _NightStep(_run_sensitivity, "sensitivity", spectra=True): (Step.SENSITIVITY,),
        _NightStep(_run_flux, "flux", spectra=True): (Step.FLUX,),
    }
)


def reduce_night(
    raw: str | Path | Iterable[str | Path],
    out_dir: str | Path,
    settings: ReductionSettings | None = None,
    calibration_dirs: Iterable[str | Path] = (),
    extra_stages: Mapping[tuple[str, str], Sequence] | None = None,
    progress: Callable[[str, str], None] | None = None,
    spectra: bool = True,
    flux_settings=None,
) -> NightReport:
    """Reduce every file of a night, step by step in the order of :data:`NIGHT_PLAN`.

    Parameters
    ----------
    raw : path or iterable of paths
        A raw folder (searched at any depth) or the files themselves, in any order.
    out_dir : path
        Where products go (created; must not be a raw folder).
    settings : ReductionSettings, optional
    calibration_dirs : iterable of paths
        Product folders of earlier nights whose masters may be used when this night
        has no compatible one.
    extra_stages : mapping, optional
        Stages appended per ``(technique, role)`` (extraction, wavelength calibration).
    progress : callable, optional
        Called as ``progress(phase, file_name)`` after each file.
    spectra : bool
        Then extract and wavelength-calibrate every reduced spectroscopic science and
        standard frame (:func:`pipeline.spectroscopy.night_stage.calibrate_night`;
        results in ``report.spectra``). This runs after every frame is reduced, so an
        arc taken after a science frame still calibrates it. Then, unless
        ``flux_settings.flux_calibration`` is off, the night's standards give
        sensitivity masters (:func:`pipeline.fluxcal.night_stage.night_sensitivities`)
        and every star's spectrum with a compatible one is flux-calibrated
        (:func:`pipeline.fluxcal.night_stage.flux_calibrate_spectra`; earlier nights'
        masters in ``calibration_dirs`` are the fallback).
    flux_settings : pipeline.settings.FluxSettings, optional
        Flux calibration on/off, preferred standard, extinction (defaults: on, nearest
        in time, on).

    Returns
    -------
    NightReport
        Never raises for one bad file: each input has a :class:`FileResult`. A storage
        error (unwritable, full or failing disk) is raised: every file would fail alike.
    """
    settings = settings or ReductionSettings()
    paths, raw_dirs = _raw_inputs(raw)
    t0 = time.perf_counter()
    frames = _classify_all(paths, settings, progress)
    run = _NightRun(
        frames=frames,
        out_dir=Path(out_dir),
        settings=settings,
        raw_dirs=raw_dirs,
        calibration_dirs=tuple(calibration_dirs),  # read twice: masters, sensitivities
        extra_stages=extra_stages,
        progress=progress,
        flux_settings=flux_settings,
    )
    run.report.timings["classify"] = time.perf_counter() - t0
    run.by_path.update((c.path, _skipped(c)) for c in frames)
    run.tell("skip", [c for c in frames if not c.ok])
    run.report.results = list(run.by_path.values())
    for folder in run.calibration_dirs:
        run.library.add_directory(folder)
    for step in NIGHT_STEPS:
        if step.spectra and not spectra:
            continue
        t0 = time.perf_counter()
        step.run(run)
        if step.label:
            run.report.timings[step.label] = time.perf_counter() - t0
    return run.report
