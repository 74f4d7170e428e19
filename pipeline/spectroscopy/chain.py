"""From a reduced 2-D science frame and its arcs to ``ecfzst_`` and ``wecfzst_`` products.

:func:`process_science` is the whole chain for one science (or standard) frame:

1. targets on the slit (:func:`~pipeline.spectroscopy.targets.find_targets`), at most
   ``settings.max_targets``, profile model ``settings.target_fit_model``;
2. per target: trace, extraction (``settings.extraction_type``, sky windows from
   ``settings.background_spacing``/``background_width``), written as
   ``ecfzst_<raw>_target_<n>.fits`` (RLEVEL 63, pixel axis);
3. the arcs of the same mode and binning, extracted along *this target's trace*
   (lines are tilted: an arc extracted elsewhere on the slit is off by the tilt), each
   calibrated against the lamp library; when several agree they are combined (mean
   of the solutions, weighted by their RMS), otherwise the one nearest in time is used;
   the arcs used are named in ``GSP_LAMP``;
4. the offset of the frame's own sky lines against that solution measured, and the
   solution shifted when it is significant (flexure between arcs and science);
5. the spectrum resampled to a linear dispersion and written as
   ``wecfzst_<raw>_target_<n>.fits`` (RLEVEL 64) with the solution's ``GSP_*`` cards
   and its line table (``LINES`` extension: pixel, NIST wavelength, fitted wavelength,
   used or why not) and the noise its bins share (``COVBAND``, from the pixels the
   resampling splits between bins, and for the optimal method ``COVAR``, the
   profile's shared error; both ``ecfzst_`` and ``wecfzst_`` carry what applies:
   :func:`pipeline.wavelength.shared_noise.summed_error` gives the error of a sum over
   a wavelength range from them);
6. each arc used, calibrated with its own solution, written once as
   ``wecfzst_<arc>.fits`` (data_type 4, with its ``LINES``), so the solution can be
   audited against the arc itself.

Nothing raises for bad input: every outcome is a
:class:`~pipeline.spectroscopy.product_result.ProductResult` with a status and a reason
(no target, no arc, arc of another mode, mode not in the library...), and files are
written atomically, so nothing is half-written.

This module holds the science frame's stages (read, targets, extraction, the target's
calibrated product); the arcs' stages (gathered, solved along the trace, combined and
shifted, each written once) are :mod:`pipeline.spectroscopy.arc_stages`, on :mod:`pipeline.spectroscopy.arc_solutions`
(one arc along a trace, several combined); the frame and target records that the
stages pass are :mod:`pipeline.spectroscopy.science_frame`, and a reduced frame is read
by :mod:`pipeline.spectroscopy.reduced_frame`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from pipeline.products import RLEVEL_EXTRACTED, RLEVEL_WAVELENGTH, raise_if_storage_error
from pipeline.spectroscopy.arc_stages import ArcSet, final_solution, gather_arcs, solve_arcs
from pipeline.spectroscopy.extract import extract_arrays
from pipeline.spectroscopy.product_result import (
    DATA_TYPE_EXTRACTED,
    DATA_TYPE_WAVELENGTH,
    ProductResult,
    joined_notes,
)
from pipeline.spectroscopy.reduced_frame import ccdsum_of, load_reduced
from pipeline.spectroscopy.science_frame import ScienceFrame, TargetSpectrum
from pipeline.spectroscopy.targets import find_targets
from pipeline.spectroscopy.trace import Trace, trace_target
from pipeline.vocabulary import StepOutcome
from pipeline.wavelength.resample import resample_arrays


def _product_names(science_name: str, target_no: int) -> tuple[str, str]:
    from pipeline.products import product_name

    stem = science_name[:-5] if science_name.lower().endswith(".fits") else science_name
    base = f"{stem}_target_{target_no}.fits"
    ecf = product_name("e", base)
    return ecf, product_name("w", ecf)


def read_science(
    reduced_science, settings, out_dir: Path, raw_dirs
) -> ScienceFrame | ProductResult:
    """Stage 1: read the reduced frame (a ``SKIPPED`` result when it cannot be read).

    Parameters
    ----------
    reduced_science : path or CCDData
    settings : ReductionSettings
    out_dir : Path
    raw_dirs : iterable of paths

    Returns
    -------
    ScienceFrame or ProductResult
    """
    try:
        ccd, name = load_reduced(reduced_science)
    except Exception as exc:  # noqa: BLE001 - unreadable input: this file only
        name = Path(str(reduced_science)).name
        return ProductResult(
            None,
            DATA_TYPE_EXTRACTED,
            name,
            name,
            StepOutcome.SKIPPED,
            f"cannot read reduced frame: {exc}",
        )
    return ScienceFrame(ccd, name, settings, out_dir, tuple(raw_dirs))


def locate_targets(frame: ScienceFrame) -> list | ProductResult:
    """Stage 2: the targets on the slit (a ``SKIPPED`` result when there is none).

    Parameters
    ----------
    frame : ScienceFrame

    Returns
    -------
    list of Target or ProductResult
    """
    if not np.isfinite(np.asarray(frame.ccd.data, float)).any():
        return frame.result(DATA_TYPE_EXTRACTED, StepOutcome.SKIPPED, "frame has no finite pixel")
    targets = find_targets(
        frame.ccd, max_targets=frame.settings.max_targets, model=frame.settings.target_fit_model
    )
    if not targets:
        return frame.result(
            DATA_TYPE_EXTRACTED,
            StepOutcome.SKIPPED,
            "no detectable target on the slit (nothing above 5 sigma in the spatial profile)",
        )
    return targets


def _rounded_or_none(value, digits: int):
    """``value`` rounded, or None when it is missing or not finite (JSON has no NaN)."""
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), digits)


def _extraction_cards(trace: Trace, spectrum, settings, snr: float) -> dict:
    hw = spectrum.meta["aperture"]
    row0 = float(trace(np.array([0.0]))[0])
    cards = trace.header_cards() + [
        ("GSP_EXTR", f"{row0 - hw:.2f}:{row0 + hw:.2f}", "Extraction window at first column"),
        ("GSP_EXTY", settings.extraction_type, "Extraction method"),
        ("GSP_SNR", round(snr, 2), "Median S/N per pixel of the extracted spectrum"),
        ("APNUM1", f"1 1 {row0 - hw:.2f} {row0 + hw:.2f}", "Aperture in first column"),
    ]
    enclosed = spectrum.meta.get("enclosed", float("nan"))
    if np.isfinite(enclosed):
        # The flux outside the aperture is lost to the spectrum (9 % at +-1 FWHM on the
        # real HD109379 frame): said in the product, so it can be corrected or compared.
        cards.append(("GSP_APFR", round(float(enclosed), 4), "Fraction of profile in aperture"))
    if "summed" in spectrum.meta:
        n_summed = int(np.count_nonzero(spectrum.meta["summed"]))
        cards.append(("GSP_EXSM", n_summed, "Columns summed: no smooth profile fits"))
    dips = spectrum.meta.get("mask_reasons") or {}
    if dips:
        cards.append(("GSP_EXDP", len(dips), "Columns masked: low-response pixels"))
    if "rejected_pixels" in spectrum.meta:
        # cosmic rays the 2-D cleaning spared (a bright line's core): bridged with the
        # profile, their columns in meta["rejected"]
        cards.append(
            ("GSP_EXCR", spectrum.meta["rejected_pixels"], "Pixels rejected against the profile")
        )
        cards.append(
            ("GSP_EXCB", spectrum.meta["cleaned_bridged"], "2-D cleaned pixels bridged by profile")
        )
    if spectrum.meta["background"] is not None:
        cards += spectrum.meta["background"].header_cards(row0)
    return {k: (v, c) for k, v, c in cards}


def extract_target(frame: ScienceFrame, target, number: int):
    """Stage 4: trace and extract one target and write ``ecfzst_``.

    Parameters
    ----------
    frame : ScienceFrame
    target : Target
    number : int
        1-based target number.

    Returns
    -------
    TargetSpectrum or None
        ``None`` when the target could not be extracted or written.
    ProductResult
        The extracted product's result (or why it was not made).
    """
    t0 = time.perf_counter()
    settings = frame.settings
    ecf_name, w_name = _product_names(frame.name, number)
    try:
        trace = trace_target(frame.ccd, target)
        spectrum = extract_arrays(
            frame.ccd,
            trace,
            method=settings.extraction_type,
            background_spacing=settings.background_spacing,
            background_width=settings.background_width,
        )
    except Exception as exc:  # noqa: BLE001 - this target only
        reason = f"extraction failed: {exc.__class__.__name__}: {exc}"
        return None, frame.result(DATA_TYPE_EXTRACTED, StepOutcome.FAILED, reason, target=number)
    snr = float(np.nanmedian(spectrum.flux / spectrum.std))
    quality = {
        "target_centre": round(float(target.centre), 3),
        "fwhm": round(float(trace.fwhm), 3),
        "snr_target": round(float(target.snr), 1),
        "snr_median_per_pixel": round(snr, 2),
        "trace_rms": round(float(trace.rms), 4),
        "extraction": settings.extraction_type,
        "aperture_fraction": _rounded_or_none(spectrum.meta.get("enclosed"), 4),
    }
    extra = _extraction_cards(trace, spectrum, settings, snr)
    try:
        path = frame.write(spectrum, ecf_name, frame.name, RLEVEL_EXTRACTED, extra)
    except Exception as exc:  # noqa: BLE001 - this target only
        raise_if_storage_error(exc)
        reason = f"cannot write {ecf_name}: {exc}"
        return None, frame.result(
            DATA_TYPE_EXTRACTED, StepOutcome.FAILED, reason, quality=quality, target=number
        )
    written = frame.result(
        DATA_TYPE_EXTRACTED,
        StepOutcome.WRITTEN,
        file=str(path),
        quality=dict(quality),
        target=number,
        seconds=time.perf_counter() - t0,
    )
    return TargetSpectrum(number, trace, spectrum, quality, extra, ecf_name, w_name), written


def _no_solution_reason(frame: ScienceFrame, arcs: ArcSet) -> str:
    why = "; ".join(f"{n}: {r}" for n, r in arcs.refused) or "none in the night"
    return (
        f"no arc of mode {arcs.mode or '?'} and CCDSUM {ccdsum_of(frame.header)} to calibrate "
        f"with ({why}); add an arc taken with this grating, angles and slit"
    )


def calibrate_target(frame: ScienceFrame, target: TargetSpectrum, arcs: ArcSet) -> list:
    """Run stages 5-7 for one target: solve the arcs, combine and shift, resample and write.

    Parameters
    ----------
    frame : ScienceFrame
        The reduced science (or standard) frame, its settings and output folder.
    target : TargetSpectrum
        One extracted target: its trace (the arcs are extracted along it) and spectrum.
    arcs : ArcSet
        The night's arcs as this frame sees them (usable ones, refused ones and why).

    Returns
    -------
    list of ProductResult
        The arcs' own products first, then the target's ``wecfzst_`` result: written, or
        skipped or failed with the reason.
    """
    t0 = time.perf_counter()

    def result(status, reason="", **fields):
        fields.setdefault("quality", target.quality)
        return frame.result(
            DATA_TYPE_WAVELENGTH,
            status,
            reason,
            parent=target.ecf_name,
            target=target.number,
            **fields,
        )

    if arcs.problem:
        return [result(StepOutcome.SKIPPED, arcs.problem)]
    if not arcs.usable:
        return [result(StepOutcome.SKIPPED, _no_solution_reason(frame, arcs))]
    solved = solve_arcs(frame, target, arcs)
    if not solved.solutions:
        reason = "no arc could be calibrated: " + "; ".join(solved.errors)
        return [*solved.products, result(StepOutcome.SKIPPED, reason)]
    solution, note = final_solution(frame, target, arcs, solved)
    quality = {**target.quality, **solution.quality()}
    extra = {**target.extra, **{k: (v, c) for k, v, c in solution.header_cards()}}
    try:
        path = frame.write(
            resample_arrays(target.spectrum, solution),
            target.w_name,
            target.ecf_name,
            RLEVEL_WAVELENGTH,
            extra,
            solution=solution,
        )
    except Exception as exc:  # noqa: BLE001 - this target only
        raise_if_storage_error(exc)
        reason = f"cannot write {target.w_name}: {exc}"
        return [*solved.products, result(StepOutcome.FAILED, reason, quality=quality)]
    reason = joined_notes(
        arcs.guess_note, note, *solved.flags, *solved.errors, *solution.coverage_warnings()
    )
    seconds = time.perf_counter() - t0
    written = result(StepOutcome.WRITTEN, reason, file=str(path), quality=quality, seconds=seconds)
    return [*solved.products, written]


def process_science(
    reduced_science,
    reduced_arcs: Iterable,
    settings=None,
    out_dir: str | Path = ".",
    raw_dirs: Iterable = (),
    arcs_written: set | None = None,
    first_guess=None,
) -> list[ProductResult]:
    """Extract and wavelength-calibrate every target of one reduced science frame.

    The stages, each a function: :func:`read_science`, :func:`locate_targets`,
    :func:`~pipeline.spectroscopy.arc_stages.gather_arcs`, then per target
    :func:`extract_target` and :func:`calibrate_target`
    (:func:`~pipeline.spectroscopy.arc_stages.solve_arcs`,
    :func:`~pipeline.spectroscopy.arc_stages.final_solution`, resampling and writing).

    Parameters
    ----------
    reduced_science : path or CCDData
        A reduced (``cfzst_``) science or standard frame.
    reduced_arcs : iterable of path or CCDData
        Reduced arcs of the night (incompatible ones are skipped with a reason).
    settings : ReductionSettings, optional
    out_dir : path
        Where products are written.
    raw_dirs : iterable of paths
        Raw folders (never written to).
    arcs_written : set of str, optional
        Names of arcs whose calibrated product (``wecfzst_<arc>``) is already written
        (shared across the science frames of a night: each arc's product is written
        once, for the first target it calibrates); updated in place.
    first_guess : object with ``wavelength(unbinned_pixel)``, optional
        Dispersion model that starts the identification instead of the library lamp
        (the optics model, for modes the library lacks).

    Returns
    -------
    list of ProductResult
        Per target an ``ecfzst_`` result and a ``wecfzst_`` result (or the reason it
        was not made), and a ``wecfzst_<arc>`` result per arc calibrated for the first
        time (``target`` None); a single ``skipped`` result when the frame has no target.
    """
    from pipeline.settings import ReductionSettings

    t_start = time.perf_counter()
    frame = read_science(reduced_science, settings or ReductionSettings(), Path(out_dir), raw_dirs)
    if isinstance(frame, ProductResult):
        return [frame]
    targets = locate_targets(frame)
    if isinstance(targets, ProductResult):
        targets.seconds = time.perf_counter() - t_start
        return [targets]
    written = set() if arcs_written is None else arcs_written
    arcs = gather_arcs(frame, reduced_arcs, written, first_guess)
    results: list[ProductResult] = []
    for number, target in enumerate(targets, start=1):
        extracted, result = extract_target(frame, target, number)
        results.append(result)
        if extracted is not None:
            results += calibrate_target(frame, extracted, arcs)
    return results
