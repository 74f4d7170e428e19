"""Reduce a night: classify every file, build masters, reduce each frame.

:func:`reduce_night` is the batch entry point (``gsp reduce`` calls it);
:func:`reduce_frame` reduces one frame against a :class:`CalibrationLibrary` and is
what a live service calls as files arrive. Nothing here raises for one bad file: every
input gets a :class:`FileResult` with a status and a reason.

Statuses: ``"reduced"`` (a product was written), ``"calibration"`` (combined into a
master), ``"skipped"`` (not usable or not reducible, with the reason: cannot classify,
cannot read, saturated flat, focus frame...), ``"failed"`` (an unexpected error while
reducing a frame that should have worked; the only status that makes ``gsp reduce``
exit non-zero).

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

from pipeline.calibrations.build import build_master_bias, build_master_flat
from pipeline.calibrations.masters import Master, MasterInfo, info_from_header, load_master
from pipeline.calibrations.selection import bias_groups, flat_groups, select_master
from pipeline.classify import Classification, classify_path
from pipeline.products import (
    RLEVEL_REDUCED,
    apply_cards,
    lineage_cards,
    product_name,
    write_ccd_atomic,
)
from pipeline.reduction.frame import FrameState, read_raw, trim_section_for
from pipeline.reduction.stages import ReductionContext, run_stages, stages_for
from pipeline.settings import ReductionSettings

RAW_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fz")


@dataclass
class FileResult:
    """What happened to one input file."""

    path: str
    file_name: str
    status: str
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
    #: 1-D products (pipeline.spectroscopy.chain.ProductResult): extracted and
    #: wavelength-calibrated spectra, or why they were not made.
    spectra: list = field(default_factory=list)

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

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
        count = 0
        folder = Path(folder)
        for path in sorted(folder.glob("*master_*.fits")):
            if not path.name.startswith(("master_bias_", "norm_master_flat_")):
                continue
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
        info = select_master(frame, self._infos, kind, trim_section)
        if info is None:
            return None
        if info.name not in self._loaded:
            self._loaded[info.name] = load_master(info)
        return self._loaded[info.name]


def find_raw_files(raw_dir: str | Path) -> list[Path]:
    """FITS-named files under ``raw_dir`` (any depth), hidden files excluded."""
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

    Never raises: the result's ``status`` says what happened.
    """
    settings = settings or ReductionSettings()
    c = classification
    result = FileResult(c.path, c.file_name, "skipped", role=c.role, technique=c.technique)
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
        result.status = "failed"
        result.reason = f"{exc.__class__.__name__}: {exc}"
        return result
    result.status = "reduced"
    result.products = [str(p) for p in state.products]
    result.reason = "; ".join([*c.decisions, *state.notes])
    for w in c.warnings:
        result.reason = f"{result.reason}; {w}" if result.reason else w
    result.seconds = time.perf_counter() - start
    return result


def _guarded_build(builder, group, *args, **kwargs):
    """Run a master build; an unexpected error fails that group's files, not the night."""
    from pipeline.calibrations.build import BuildResult

    try:
        return builder(group, *args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - reported on every file of the group
        result = BuildResult()
        for c in group:
            result.statuses[c.path] = f"error: {exc.__class__.__name__}: {exc}"
        return result


def _apply_build(report: NightReport, build, by_path: dict[str, FileResult], library) -> None:
    for path, status in build.statuses.items():
        r = by_path[path]
        if status.startswith("combined"):
            r.status, r.reason = "calibration", status
        elif status.startswith("failed"):
            r.status, r.reason = "skipped", status.removeprefix("failed: ")
        elif status.startswith("error: "):
            r.status, r.reason = "failed", status.removeprefix("error: ")
        else:
            r.status, r.reason = "skipped", status
    for master in build.masters:
        library.add(master)
        report.masters.append(master.info)
    report.products += build.products
    for r in by_path.values():
        if r.status == "calibration" and build.products and r.path in build.statuses:
            r.products = [str(p) for p in build.products]
            if build.notes:
                r.reason = f"{r.reason}; {'; '.join(build.notes)}"


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
    """Reduce every file of a night.

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
        sensitivity masters and every spectrum with a compatible one is
        flux-calibrated (:func:`pipeline.fluxcal.night_stage.flux_calibrate_night`;
        earlier nights' masters in ``calibration_dirs`` are the fallback).
    flux_settings : pipeline.settings.FluxSettings, optional
        Flux calibration on/off, preferred standard, extinction (defaults: on, nearest
        in time, on).

    Returns
    -------
    NightReport
    """
    settings = settings or ReductionSettings()
    calibration_dirs = tuple(calibration_dirs)  # read twice: masters, then sensitivities
    out_dir = Path(out_dir)
    if isinstance(raw, str | Path):
        raw_dirs = (Path(raw),) if Path(raw).is_dir() else ()
        paths = find_raw_files(raw) if Path(raw).is_dir() else [Path(raw)]
    else:
        paths = sorted(Path(p) for p in raw)
        raw_dirs = ()
    report = NightReport()
    timings = report.timings

    t0 = time.perf_counter()
    frames = []
    for p in paths:
        c = classify_path(p)
        if c.ok and settings.technique != "auto" and c.technique != settings.technique:
            # The proposal fixes the technique (DESIGN §6): trust it over the header.
            c = replace(c, technique=settings.technique)
        frames.append(c)
        if progress:
            progress("classify", c.file_name)
    timings["classify"] = time.perf_counter() - t0
    by_path = {
        c.path: FileResult(c.path, c.file_name, "skipped", role=c.role, technique=c.technique)
        for c in frames
    }
    for i, c in enumerate(frames):
        if c.ok and c.rlevel:
            # A product among the raw files (e.g. a reduced folder given as input) is
            # never treated as raw data again.
            c = frames[i] = replace(c, status=f"not raw: a pipeline product (RLEVEL {c.rlevel})")
        if not c.ok:
            by_path[c.path].reason = c.status
            if progress:
                progress("skip", c.file_name)
    report.results = list(by_path.values())

    library = CalibrationLibrary()
    for folder in calibration_dirs:
        library.add_directory(folder)

    t0 = time.perf_counter()
    for group in bias_groups(frames).values():
        if settings.ignore_bias:
            for c in group:
                by_path[c.path].reason = "not combined: ignore_bias set"
                if progress:
                    progress("skip", c.file_name)
            continue
        _apply_build(
            report,
            _guarded_build(build_master_bias, group, out_dir, settings, raw_dirs),
            by_path,
            library,
        )
        for c in group if progress else ():
            progress("master bias", c.file_name)
    timings["master bias"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    for group in flat_groups(frames).values():
        if settings.ignore_flats:
            for c in group:
                by_path[c.path].reason = "not combined: ignore_flats set"
                if progress:
                    progress("skip", c.file_name)
            continue
        first = group[0]
        try:
            trim = trim_section_for(first, first.shape) if first.shape else None
        except ValueError:
            trim = None
        bias = None if settings.ignore_bias else library.select(first, "bias", trim)
        _apply_build(
            report,
            _guarded_build(
                build_master_flat, group, out_dir, settings, master_bias=bias, raw_dirs=raw_dirs
            ),
            by_path,
            library,
        )
        for c in group if progress else ():
            progress("master flat", c.file_name)
    timings["master flat"] = time.perf_counter() - t0

    for c in frames:
        r = by_path[c.path]
        if c.ok and c.role in {"bias", "flat"} and c.decisions:
            r.reason = "; ".join([r.reason, *c.decisions]).lstrip("; ")

    targets = [c for c in frames if c.ok and c.role not in {"bias", "flat"}]
    targets.sort(key=lambda c: (c.date_obs, c.file_name))
    for c in targets:
        result = reduce_frame(c, out_dir, library, settings, extra_stages, raw_dirs, timings)
        by_path[c.path].__dict__.update(result.__dict__)
        report.products += [Path(p) for p in result.products]
        if progress:
            progress("reduce", c.file_name)

    if spectra:
        from pipeline.spectroscopy.night_stage import calibrate_night

        t0 = time.perf_counter()
        report.spectra = calibrate_night(report, out_dir, settings, raw_dirs)
        timings["extract + wavelength"] = time.perf_counter() - t0

        from pipeline.fluxcal.night_stage import flux_calibrate_night

        t0 = time.perf_counter()
        report.spectra += flux_calibrate_night(
            report,
            report.spectra,
            out_dir,
            settings,
            flux_settings,
            calibration_dirs=calibration_dirs,
            raw_dirs=raw_dirs,
        )
        timings["flux"] = time.perf_counter() - t0
    return report
