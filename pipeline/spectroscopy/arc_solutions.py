"""An arc's wavelength solution along a science target's trace, and several combined.

:func:`compatible_arcs` keeps the arcs of the science frame's setup (rebinned or cut to
its pixels where needed); :func:`extract_and_calibrate_arc` extracts one along the
target's trace (lines are tilted) and solves it against the lamp library;
:func:`combine_solutions` averages the solutions that agree to
:data:`COMBINE_TOLERANCE_PX`, else keeps the arc nearest in time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from astropy.nddata import CCDData
from astropy.table import vstack

from pipeline.lamps import cosmic_cleaned
from pipeline.reduction.rebin import match_binning
from pipeline.settings import ReductionSettings
from pipeline.spectroscopy.extract import extract_arrays
from pipeline.spectroscopy.reduced_frame import column_binning
from pipeline.spectroscopy.trace import Trace
from pipeline.spectroscopy.wavelength_guess import OpticsGuess, frame_x0
from pipeline.wavelength.arc_match import setup_mismatch, setup_of
from pipeline.wavelength.calibrate import calibrate_arc
from pipeline.wavelength.lamp_choice import arc_elements
from pipeline.wavelength.solution import WavelengthSolution, restate_lines

#: Solutions of several arcs closer than this everywhere (binned px) are averaged.
COMBINE_TOLERANCE_PX = 0.1


def compatible_arcs(science: CCDData, arcs: Sequence[tuple[CCDData, str]]):
    """Arcs that can calibrate ``science``, and the others with the reason why not.

    An arc must share the science's setup: camera, grating, filter and angles, or
    without angles the same normalised WAVMODE
    (:func:`pipeline.wavelength.arc_match.setup_mismatch`). One binned less along the
    columns (``1 2`` arc, ``2 2`` science) is summed to the science's pixels, and one
    not cut to the slit is cut to the science's slit rows
    (:func:`pipeline.reduction.rebin.match_binning`, which records it in the arc's
    header); anything else that leaves the shapes different refuses the arc.

    Parameters
    ----------
    science : CCDData
        The reduced science frame.
    arcs : sequence of (CCDData, str)
        Reduced arcs and their names.

    Returns
    -------
    usable : list of (CCDData, str)
        Arcs matched to the science's pixels.
    refused : list of (str, str)
        Arc names and why they cannot be used.
    """
    science_setup = setup_of(science.header)
    usable, refused = [], []
    for ccd, name in arcs:
        why = setup_mismatch(science_setup, setup_of(ccd.header))
        if why:
            refused.append((name, why))
            continue
        matched, why = match_binning(ccd, science)
        if matched is None:
            refused.append((name, why))
        else:
            usable.append((matched, name))
    return usable, refused


def calibrate_along_trace(
    arc: CCDData, arc_name: str, trace: Trace, half_width: float, mode: str
) -> WavelengthSolution:
    """Extract an arc along a science trace (no sky) and solve its wavelengths.

    Parameters
    ----------
    arc : CCDData
    arc_name : str
    trace : Trace
        The science target's trace.
    half_width : float
        Aperture half width, rows.
    mode : str
        The WAVMODE.

    Returns
    -------
    WavelengthSolution
    """
    return extract_and_calibrate_arc(arc, arc_name, trace, half_width, mode)[0]


def extract_and_calibrate_arc(
    arc: CCDData, arc_name: str, trace: Trace, half_width, mode, first_guess=None, settings=None
):
    """The arc extracted along a science trace, and its wavelength solution.

    ``first_guess`` (any object with ``wavelength(unbinned_pixel)``, e.g. the optics
    model) replaces the library lamp as the start of the identification. ``settings``
    say whether the lamp's offsets are measured or applied (``pen_shift``,
    ``bulb_separation``; both measured without them).

    Parameters
    ----------
    arc : CCDData
    arc_name : str
    trace : Trace
    half_width : float
    mode : str
    first_guess : object, optional
    settings : ReductionSettings, optional

    Returns
    -------
    solution : WavelengthSolution
    spectrum : SpectrumArrays
        The arc extracted along the trace.
    """
    if settings is None:
        settings = ReductionSettings()  # its defaults: both offsets measured
    spectrum = extract_arrays(
        arc, trace, method="fractional", background=False, half_width=half_width
    )
    if isinstance(first_guess, OpticsGuess):
        # the arc's own trimmed pixels (a rebinned arc starts where its science does)
        first_guess = OpticsGuess(first_guess.optics, frame_x0(arc.header))
    solution = calibrate_arc(
        spectrum,
        mode,
        arc_elements(arc.header),
        column_binning(arc.header),
        arc_name=arc_name,
        first_guess=first_guess,
        cosmic_cleaned=cosmic_cleaned(arc.header),
        pen_shift=settings.pen_shift,
        separate_bulbs=settings.bulb_separation,
    )
    return solution, spectrum


def _combined_check(solutions: Sequence[WavelengthSolution]) -> dict:
    """The between-lines check of combined arcs: the worst arc's, so a flag is not averaged away.

    Each arc was checked at its own unfitted lamp lines; the average of solutions that
    agree to :data:`COMBINE_TOLERANCE_PX` inherits what any of them was found to be off.
    """
    checked = [s for s in solutions if s.check_lines]
    if not checked:
        return {}
    worst = max(checked, key=lambda s: (bool(s.check_warning), s.check_pixel))
    return {
        "check_lines": worst.check_lines,
        "check_pixel": worst.check_pixel,
        "check_worst_pixel": max(s.check_worst_pixel for s in checked),
        "check_warning": worst.check_warning,
    }


def _combined_shape(solutions: Sequence[WavelengthSolution]) -> dict:
    """The model shape of combined arcs (``GSP_WSHP``): the one every sparse arc kept,
    with the first one's comparison; where they kept different shapes, each named."""
    shapes = [s.shape_from for s in solutions if s.shape_from]
    if not shapes:
        return {}
    if len(set(shapes)) == 1:
        first = next(s for s in solutions if s.shape_from)
        return {"shape_from": shapes[0], "shape_note": first.shape_note}
    names = sorted({n.removeprefix("goodman_comp_").removesuffix(".fits") for n in shapes})
    return {"shape_from": "several", "shape_note": "arcs kept " + ", ".join(names)}


def _weighted(pairs) -> tuple[float, float] | None:
    """Inverse-variance mean of (value, standard error) pairs and its standard error."""
    pairs = [(v, e) for v, e in pairs if e is not None and np.isfinite(e) and e > 0]
    if not pairs:
        return None
    w = np.array([1.0 / e**2 for _, e in pairs])
    mean = float(np.sum(w * [v for v, _ in pairs]) / w.sum())
    return mean, float(1.0 / np.sqrt(w.sum()))


def _combined_lamp_light(solutions: Sequence[WavelengthSolution]) -> dict:
    """What combined arcs measured of their lamp's light: the bulbs' offset (``GSP_WBLB``)
    and a pen lamp's high-excitation Ar I offset (``GSP_WPEN``), each the inverse-variance
    mean of the arcs that measured it; the Ne bulb's terms (``GSP_WNBO``) where every arc
    measured them, their mean with its standard error (``GSP_WNBE``), applied where every
    arc was solved on its HgAr bulb (their coefficients are then averaged too; a mix, only
    ``separate_bulbs="auto"`` makes, is neither bulb's solution and is reported as not
    applied).

    Without them the science product of several arcs lost what each arc's own product
    reports.
    """
    out: dict = {}
    bulb = _weighted((s.bulb_offset_pixel, s.bulb_offset_error) for s in solutions)
    if bulb is not None:
        out["bulb_offset_pixel"], out["bulb_offset_error"] = bulb
    pen = _weighted(s.pen_shift_pixel for s in solutions if s.pen_shift_pixel is not None)
    if pen is not None:
        out["pen_shift_pixel"] = pen
        out["pen_shift_applied"] = any(s.pen_shift_applied for s in solutions)
    if all(s.ne_bulb_pixel is not None for s in solutions):
        terms = np.array([s.ne_bulb_pixel for s in solutions], float)
        out["ne_bulb_pixel"] = tuple(float(v) for v in terms.mean(axis=0))
        out["ne_bulb_applied"] = all(s.ne_bulb_applied for s in solutions)
        if all(s.ne_bulb_error is not None for s in solutions):
            # the error of that plain mean: the arcs' errors in quadrature, over n
            errors = np.array([s.ne_bulb_error for s in solutions], float)
            root = np.sqrt(np.sum(errors**2, axis=0)) / len(solutions)
            out["ne_bulb_error"] = tuple(float(v) for v in root)
    return out


def combine_solutions(
    solutions: Sequence[WavelengthSolution], dates: Sequence, when=None
) -> tuple[WavelengthSolution, str]:
    """One solution from several arcs, and a note of how it was made.

    Solutions that agree to :data:`COMBINE_TOLERANCE_PX` everywhere are averaged
    (weights 1/RMS², which is the same as averaging their Chebyshev coefficients with
    those weights); otherwise the flexure changed between arcs, and the arc nearest in
    time to ``when`` (lowest RMS on ties) is used alone.

    Parameters
    ----------
    solutions : sequence of WavelengthSolution
    dates : sequence of datetime or None
        Each arc's time.
    when : datetime, optional
        The science frame's time.

    Returns
    -------
    solution : WavelengthSolution
    note : str
        ``""`` for a single solution.
    """
    if len(solutions) == 1:
        return solutions[0], ""
    j = np.arange(solutions[0].npix)
    waves = np.array([s.wavelength(j) for s in solutions])
    disp = np.abs(np.gradient(np.median(waves, axis=0)))
    spread = float(np.max((waves.max(axis=0) - waves.min(axis=0)) / disp))
    if spread <= COMBINE_TOLERANCE_PX:
        w = np.array([1.0 / max(s.rms_pixel, 0.01) ** 2 for s in solutions])
        width = max(len(s.coefficients) for s in solutions)
        coef = (
            sum(
                wi * np.pad(s.coefficients, (0, width - len(s.coefficients)))
                for wi, s in zip(w, solutions, strict=True)
            )
            / w.sum()
        )
        first = solutions[0]
        combined = WavelengthSolution(
            coefficients=coef,
            npix=first.npix,
            binning=first.binning,
            rms_angstrom=float(
                np.sqrt(np.sum(w * [s.rms_angstrom**2 for s in solutions]) / w.sum())
            ),
            rms_pixel=float(np.sqrt(np.sum(w * [s.rms_pixel**2 for s in solutions]) / w.sum())),
            n_used=sum(s.n_used for s in solutions),
            n_rejected=sum(s.n_rejected for s in solutions),
            lines=vstack([s.lines for s in solutions]),
            template=first.template,
            lamp=first.lamp,
            mode=first.mode,
            reference=first.reference,
            shift_unbinned=float(np.average([s.shift_unbinned for s in solutions], weights=w)),
            arcs=[a for s in solutions for a in s.arcs],
            correction_order=first.correction_order,
            catalogues=sorted({c for s in solutions for c in s.catalogues}),
            **_combined_check(solutions),
            **_combined_shape(solutions),
            **_combined_lamp_light(solutions),
        )
        # the line table and RMS of the combined solution itself
        combined = restate_lines(combined)
        return combined, f"{len(solutions)} arcs combined (agree to {spread:.3f} px)"

    def key(i):
        d = dates[i]
        dt = abs((d - when).total_seconds()) if d is not None and when is not None else 0.0
        return (dt, solutions[i].rms_pixel)

    best = min(range(len(solutions)), key=key)
    return solutions[best], (
        f"arcs disagree by {spread:.2f} px (flexure changed); used the nearest in time, "
        f"{solutions[best].arcs[0] if solutions[best].arcs else '?'}"
    )
