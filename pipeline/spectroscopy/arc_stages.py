"""The chain's arc stages for one science frame and target.

:func:`gather_arcs` (stage 3) reads the night's arcs and keeps those that can calibrate
the frame, with the first guess of its mode; :func:`solve_arcs` (stage 5) solves each
along the target's trace and writes each arc's own ``wecfzst_`` product once
(:func:`write_arc_product`); :func:`final_solution` (stage 6) combines the solutions
and shifts the result by the frame's own sky lines.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from astropy.nddata import CCDData

from pipeline.products import RLEVEL_WAVELENGTH, raise_if_storage_error
from pipeline.spectroscopy.arc_solutions import (
    combine_solutions,
    compatible_arcs,
    extract_and_calibrate_arc,
)
from pipeline.spectroscopy.product_result import (
    DATA_TYPE_WAVELENGTH,
    ProductResult,
    joined_notes,
    product_lineage_cards,
)
from pipeline.spectroscopy.reduced_frame import (
    ccdsum_of,
    load_reduced,
    observation_date,
    raw_name_of,
)
from pipeline.spectroscopy.science_frame import ScienceFrame, TargetSpectrum
from pipeline.spectroscopy.wavelength_guess import choose_first_guess, optics_verdict
from pipeline.vocabulary import StepOutcome
from pipeline.wavelength.calibrate import WavelengthCalibrationError
from pipeline.wavelength.fits_io import write_spectrum
from pipeline.wavelength.lamp_choice import NoLampTemplateError
from pipeline.wavelength.resample import resample_arrays
from pipeline.wavelength.sky import measure_sky_offset, shift_solution
from pipeline.wavelength.solution import WavelengthSolution


def write_arc_product(
    arc: CCDData,
    arc_name: str,
    spectrum,
    solution: WavelengthSolution,
    settings,
    out_dir: Path,
    raw_dirs=(),
    arc_path: str | None = None,
) -> ProductResult:
    """Write the wavelength-calibrated 1-D arc ``wecfzst_<arc>`` (data_type 4).

    The arc as extracted for the science target it calibrated, resampled to a linear
    dispersion with its own solution, with the solution's ``GSP_*`` cards and its line
    table (``LINES``): anyone can audit the solution against the arc itself.

    Parameters
    ----------
    arc : CCDData
        The reduced arc.
    arc_name : str
    spectrum : SpectrumArrays
        The arc extracted along the science trace.
    solution : WavelengthSolution
    settings : ReductionSettings
    out_dir : Path
    raw_dirs : iterable of paths
    arc_path : str, optional
        The reduced arc's path (the product's parent).

    Returns
    -------
    ProductResult
        ``WRITTEN``, or ``FAILED`` with the reason.
    """
    from pipeline.products import product_name

    t0 = time.perf_counter()
    header = arc.header
    raw = raw_name_of(header, arc_name)
    name = product_name("w", product_name("e", arc_name))
    quality = solution.quality()
    try:
        calibrated = resample_arrays(spectrum, solution)
        extra = {k: (v, c) for k, v, c in solution.header_cards()}
        path = write_spectrum(
            calibrated,
            out_dir / name,
            header,
            product_lineage_cards(header, raw, arc_name, name, RLEVEL_WAVELENGTH, settings, extra),
            raw_dirs=raw_dirs,
            solution=solution,
        )
    except Exception as exc:  # noqa: BLE001 - this arc product only
        raise_if_storage_error(exc)
        return ProductResult(
            None,
            DATA_TYPE_WAVELENGTH,
            raw,
            arc_name,
            StepOutcome.FAILED,
            f"cannot write {name}: {exc}",
            quality,
            parent_path=arc_path,
        )
    return ProductResult(
        str(path),
        DATA_TYPE_WAVELENGTH,
        raw,
        arc_name,
        StepOutcome.WRITTEN,
        # a written product's reason is its warning, in the night's and the UI's notes
        "; ".join(solution.coverage_warnings()),
        quality=quality,
        seconds=time.perf_counter() - t0,
        parent_path=arc_path,
    )


@dataclass
class ArcSet:
    """The night's arcs as one science frame sees them, and how it is calibrated."""

    usable: list[tuple[CCDData, str]]
    refused: list[tuple[str, str]]
    paths: dict[str, str]
    written: set
    mode: str = ""
    first_guess: object = None
    guess_note: str = ""
    problem: str | None = None


@dataclass
class ArcSolutions:
    """Each arc's solution along one target's trace, and what went wrong with others."""

    solutions: list[WavelengthSolution] = field(default_factory=list)
    dates: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    products: list[ProductResult] = field(default_factory=list)


def gather_arcs(frame: ScienceFrame, reduced_arcs: Iterable, written: set, first_guess) -> ArcSet:
    """Stage 3: the arcs that can calibrate the frame, and the first guess of its mode.

    Parameters
    ----------
    frame : ScienceFrame
    reduced_arcs : iterable of path or CCDData
    written : set of str
        Arcs whose calibrated product is written already (shared, updated in place).
    first_guess : object or None
        A dispersion model to start from; ``None``: chosen from the header.

    Returns
    -------
    ArcSet
    """
    loaded, problems, paths = [], [], {}
    for item in reduced_arcs:
        try:
            ccd, name = load_reduced(item)
        except Exception as exc:  # noqa: BLE001 - this arc only
            problems.append((Path(str(item)).name, f"cannot read: {exc}"))
            continue
        loaded.append((ccd, name))
        if not isinstance(item, CCDData):
            paths[name] = str(item)
    usable, refused = compatible_arcs(frame.ccd, loaded)
    arcs = ArcSet(usable, problems + refused, paths, written)
    arcs.mode, arcs.first_guess = str(frame.header.get("WAVMODE", "")).strip(), first_guess
    if first_guess is None:
        # the library lamp of the WAVMODE or of the angles, else the optics model
        choice = choose_first_guess(frame.header)
        arcs.mode, arcs.first_guess, arcs.guess_note = choice.mode, choice.first_guess, choice.note
        arcs.problem = choice.problem or None
    return arcs


def solve_arcs(frame: ScienceFrame, target: TargetSpectrum, arcs: ArcSet) -> ArcSolutions:
    """Stage 5: extract each usable arc along the target's trace and solve it.

    Each arc's own calibrated product is written the first time it is solved (its name
    is then added to ``arcs.written``).

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
    ArcSolutions
        The accepted solutions and their arcs' dates, the errors of arcs that failed or
        that the optics check refused, the optics check's flags, and the arc products
        written.
    """
    out = ArcSolutions()
    half_width = target.spectrum.meta["aperture"]
    for arc, arc_name in arcs.usable:
        try:
            solution, arc_spectrum = extract_and_calibrate_arc(
                arc,
                arc_name,
                target.trace,
                half_width,
                arcs.mode,
                arcs.first_guess,
                frame.settings,
            )
        except (WavelengthCalibrationError, NoLampTemplateError, ValueError) as exc:
            out.errors.append(f"{arc_name}: {exc}")
            continue
        # the sanity check of every solution: the optics of the arc's own setup
        refused_by_optics, verdict = optics_verdict(arc.header, solution)
        if refused_by_optics:
            out.errors.append(f"{arc_name}: refused, {verdict}")
            continue
        if verdict:
            out.flags.append(f"{arc_name}: {verdict}")
        out.solutions.append(solution)
        out.dates.append(observation_date(arc.header))
        if arc_name not in arcs.written:
            arcs.written.add(arc_name)
            out.products.append(
                write_arc_product(
                    arc,
                    arc_name,
                    arc_spectrum,
                    solution,
                    frame.settings,
                    frame.out_dir,
                    frame.raw_dirs,
                    arcs.paths.get(arc_name),
                )
            )
    return out


def final_solution(frame: ScienceFrame, target: TargetSpectrum, arcs: ArcSet, solved):
    """Stage 6: make one solution from the arcs, shifted by the frame's own sky lines.

    The arcs' solutions are combined (by time distance to the frame); the frame's sky
    lines shift the result when they show flexure. The note says how it was made.

    Parameters
    ----------
    frame : ScienceFrame
        The reduced science (or standard) frame, its settings and output folder.
    target : TargetSpectrum
        One extracted target: its trace (the arcs are extracted along it) and spectrum.
    arcs : ArcSet
        The night's arcs as this frame sees them (usable ones, refused ones and why).
    solved : ArcSolutions
        Stage 5's result, with at least one solution.

    Returns
    -------
    solution : WavelengthSolution
        The solution applied to the target.
    note : str
        How it was made: arcs combined, rebinned, sky shift applied or not and why.
    """
    solution, note = combine_solutions(
        solved.solutions, solved.dates, observation_date(frame.header)
    )
    rebinned = [n for a, n in arcs.usable if "GSP_REBN" in a.header]
    if rebinned:
        # A mixed-binning night: say which arcs were summed to this frame's pixels.
        note = joined_notes(
            note,
            f"arcs rebinned along columns to CCDSUM {ccdsum_of(frame.header)}: "
            + ", ".join(rebinned),
        )
    if target.spectrum.meta.get("background") is not None:
        # Flexure between the arcs and this frame, from its own sky lines.
        sky = measure_sky_offset(target.spectrum.meta["sky"], solution)
        if sky.applied:
            solution = shift_solution(solution, sky.offset)
        if sky.note and sky.n_lines:
            note = joined_notes(note, sky.note)
    return solution, note
