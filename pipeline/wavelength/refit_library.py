"""Refit every bundled library lamp against NIST air wavelengths (run once, committed).

Usage::

    python -m pipeline.wavelength.refit_library            # refit, write, print table
    python -m pipeline.wavelength.refit_library --dry-run  # print the table only

The library's stored models (``GSP_Cnnn``) are goodman_pipeline fits with errors. For
each lamp file, the lines of the lamp's own flux are found and centred, identified
against the NIST air lines of the lamp's elements starting from the stored model, and
fitted as arcs are (:func:`pipeline.wavelength.calibrate.calibrate_arc`, the
correction's order capped at :data:`MAX_ORDER` and at one coefficient per
:data:`LINES_PER_COEFFICIENT` lines). The corrected model covers the detector's
:data:`DETECTOR_PX` pixels also where the lamp's spectrum is shorter, continued past the
lamp along the optics (:func:`_written_model`). It is written *beside* the original,
which is kept:

``GSP_RORD``, ``GSP_Rnnn``
    the corrected Chebyshev series (same convention as ``GSP_ORDR``/``GSP_Cnnn``);
``GSP_RRMS``, ``GSP_RRMA``, ``GSP_RNLN``
    its RMS against NIST (unbinned px, Å) and the number of lines used;
``GSP_RPLO``, ``GSP_RPHI``
    the unbinned pixels of the outermost NIST lines used: the model is measured
    between them only (:func:`pipeline.wavelength.lamp_continuation.measured_range`);
``GSP_RDEV``, ``GSP_RDMX``
    RMS and largest deviation (px) of the stored model from the corrected one;
``GSP_RNBO``, ``GSP_RNBS``
    for an HgArNe lamp solved on its HgAr bulb (:func:`pipeline.wavelength.bulbs.separate_bulbs`),
    where its Ne bulb's lines lie against the model: offset (px) and slope (px per half
    detector);
``GSP_RSHP``
    for a lamp identified from its mode's richest lamp's corrected model
    (:func:`~pipeline.wavelength.shape_donor.shape_donor`), that lamp's file: the
    shape between and beyond its lines (a sparse lamp's few, or a rich lamp's that
    its stored model held at low order: :func:`_sibling_shape_solution`);
``HISTORY``
    date, NIST files and method.

A lamp whose refit is not trustworthy (fewer than :data:`MIN_LINES` NIST lines, an RMS
above :data:`MAX_RMS_PX`, or no better than the stored model on the same lines) keeps
only its stored model, and the table says why.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from astropy.io import fits
from numpy.polynomial import chebyshev

from pipeline.lamps import LampTemplate, lamp_dir, read_template
from pipeline.wavelength.shape_donor import SPARSE_LIBRARY, information, shape_donor

#: Fewest NIST lines, and largest RMS (unbinned px), for a corrected model to be written.
MIN_LINES = 6
MAX_RMS_PX = 0.2
#: Largest disagreement (unbinned px) allowed with a catalogued line of the library that
#: its stored model places well (within 1 Å): a corrected model fitted to few NIST lines
#: can swing far beyond them. A catalogued line the refit itself contradicts, at a line of
#: the arc it names otherwise from NIST, is not checked (:func:`_catalogue_disagreement`).
MAX_CATALOGUE_PX = 10.0
#: A catalogued line this close (unbinned px) to a line the refit used is that arc line.
SAME_ARC_LINE_PX = 2.0
#: A NIST line this close (Å) to a catalogued line's wavelength, or to where a model
#: puts the catalogued line's pixel, is that line.
SAME_LINE_ANGSTROM = 0.3
#: Highest order of the correction to a lamp's stored model. The corrected model is
#: the first guess, and so the shape, of every later arc of its mode (shifted by
#: flexure, on the other camera): an order the lamp's ~35 lines barely support carries
#: that one lamp's noise into all of them. At order 8, 400M1_HgArNe's refit chose the
#: highest order on the leave-one-out error of its inner lines (its isolated end line
#: set aside, 0.9 px off left out) and took PypeIt's real Blue 400 arc from 0.020 to
#: 0.045 px RMS and sp_400m1 from 0.021 to 0.031 px; at 6 it also fits its own NIST
#: lines better (0.020 against 0.029 px). Arcs keep the default order.
MAX_ORDER = 6
#: Lines of the lamp per coefficient of its correction, at least, below
#: :data:`SPARSE_LIBRARY` lines. An arc's own fit may bend further on few lines
#: (:func:`pipeline.wavelength.robust_fit.order_cap`: order 4 on 8-14), as it serves
#: that arc only; the library's model is the shape of every arc of its mode. At order
#: 4 on their 11-12 NIST lines, 930M1_HgAr and 2100_650 fitted them better (0.089
#: against 0.138 px, 0.009 against 0.053), moved 0.1-0.2 px between them, and the
#: physical-truth arcs of their modes lost 4 of 120 (seeds 0-29).
LINES_PER_COEFFICIENT = 3
#: Unbinned pixels of the detector's data section: the corrected model is written over
#: them at least.
DETECTOR_PX = 4060
#: Cards this script owns (removed before each rewrite).
PREFIXES = ("GSP_R",)
HISTORY_TAG = "GSP NIST refit:"


@dataclass
class RefitResult:
    """Outcome of one lamp's refit."""

    file_name: str
    lamp: str
    n_used: int = 0
    rms_pixel: float = float("nan")
    rms_angstrom: float = float("nan")
    library_rms_pixel: float = float("nan")  # stored model against the NIST lines
    library_max_pixel: float = float("nan")
    deviation_rms: float = float("nan")  # stored model against corrected, whole detector
    deviation_max: float = float("nan")
    corrected_rms_pixel: float = float("nan")  # corrected model against the NIST lines
    measured_pixels: tuple[float, float] | None = None  # outermost NIST lines used
    coefficients: np.ndarray | None = None
    catalogues: tuple[str, ...] = ()
    #: what the lines were named from: the stored model, or the optics model's shape
    #: where the stored model missed the lamp's lines (:func:`_optics_gap_solution`)
    start: str = "GSP_Cnnn; robust fit, order by cross-validation"
    problem: str = ""
    #: the library file whose corrected model gave a sparse lamp its shape
    #: (:func:`shape_donor`), or ``""``
    shape_from: str = ""
    #: for a lamp solved on its HgAr bulb, its Ne bulb's lines against the model:
    #: offset and slope (unbinned px, px per half detector), or ``None``
    ne_bulb: tuple[float, float] | None = None


def refit(template: LampTemplate) -> RefitResult:
    """Refit one library lamp against NIST lines, starting from its stored model.

    Parameters
    ----------
    template : LampTemplate
        A library lamp (its stored ``GSP_Cnnn`` model is the starting point).

    Returns
    -------
    RefitResult
        The corrected model and its figures, or ``problem`` saying why the stored model is
        kept (too few NIST lines, the calibration failed).
    """
    from pipeline.wavelength.calibrate import WavelengthCalibrationError

    result = RefitResult(template.file_name, template.lamp)
    stored = _stored(template)
    try:
        # every used line at its NIST wavelength, as any arc is judged: a pen lamp's
        # high-excitation Ar I offset is measured, not applied (calibrate_arc's pen_shift)
        sol, started_from = _refit_solution(template, stored)
    except (WavelengthCalibrationError, ValueError) as exc:
        result.problem = str(exc)
        return result
    if sol.reference != "NIST air":
        result.problem = f"too few NIST lines ({sol.reference})"
        return result
    used = np.asarray(sol.lines["used"], bool)
    pix = np.asarray(sol.lines["pixel"], float)[used]
    ref = np.asarray(sol.lines["reference_wavelength"], float)[used]
    err = np.asarray(sol.lines["pixel_error"], float)[used]
    if sol.ne_bulb_pixel is not None and sol.ne_bulb_applied:
        # the Ne bulb's lines where the HgAr bulb's light would put them (calibrate's
        # separate_bulbs): what the corrected model is measured and continued against
        ref = sol.wavelength(pix) - np.asarray(sol.lines["residual"], float)[used]
        result.ne_bulb = (float(sol.ne_bulb_pixel[0]), float(sol.ne_bulb_pixel[1]))
    coef = _written_model(template, stored, sol.coefficients, pix, ref, err)
    result.measured_pixels = (float(pix.min()), float(pix.max())) if pix.size else None
    disp_lines = np.abs(chebyshev.chebval(pix, chebyshev.chebder(coef)))
    lib_resid = (stored.wavelength(pix) - ref) / disp_lines
    cor_resid = (chebyshev.chebval(pix, coef) - ref) / disp_lines
    x = np.arange(_written_width(template), dtype=float)
    disp = np.abs(chebyshev.chebval(x, chebyshev.chebder(coef)))
    dev = (stored.wavelength(x) - chebyshev.chebval(x, coef)) / disp
    result.n_used = int(used.sum())
    result.rms_pixel = float(sol.rms_pixel)
    result.rms_angstrom = float(sol.rms_angstrom)
    result.library_rms_pixel = float(np.sqrt(np.mean(lib_resid**2)))
    result.library_max_pixel = float(np.max(np.abs(lib_resid)))
    result.corrected_rms_pixel = float(np.sqrt(np.mean(cor_resid**2)))
    result.deviation_rms = float(np.sqrt(np.mean(dev**2)))
    result.deviation_max = float(np.max(np.abs(dev)))
    result.catalogues = tuple(sol.catalogues)
    if isinstance(started_from, LampTemplate) and started_from is not stored:
        result.shape_from = started_from.file_name
        result.start = f"shape of {result.shape_from[13:-5]} (sparse); robust fit"
    elif started_from is not stored:
        result.start = "optics shape: GSP_Cnnn missed lines; robust fit"
    if result.n_used < MIN_LINES:
        result.problem = f"only {result.n_used} NIST lines (need {MIN_LINES})"
    elif result.rms_pixel > MAX_RMS_PX:
        result.problem = f"RMS {result.rms_pixel:.3f} px against NIST (limit {MAX_RMS_PX})"
    elif result.corrected_rms_pixel >= result.library_rms_pixel:
        result.problem = "the stored model fits the NIST lines as well"
    elif (off := _catalogue_disagreement(template, coef, sol.lines)) > MAX_CATALOGUE_PX:
        result.problem = f"{off:.0f} px off a catalogued line (limit {MAX_CATALOGUE_PX:.0f})"
    else:
        result.coefficients = np.asarray(coef, float)
    return result


def _stored(template: LampTemplate) -> LampTemplate:
    """The lamp with its stored model only (the refit starts from it, not from itself)."""
    return dataclasses.replace(template, corrected_coefficients=None, corrected_pixels=None)


def refit_solution(template: LampTemplate, pen_shift: str = "measure"):
    """The lamp's own flux calibrated against NIST as the refit does, from its stored model.

    Where the lines named from the stored model leave a wide gap, the lamp is also
    identified from the optics model's shape (:func:`_optics_gap_solution`).

    Parameters
    ----------
    template : LampTemplate
        A library lamp.
    pen_shift : {"measure", "apply"}
        As :func:`~pipeline.wavelength.calibrate.calibrate_arc`'s: the refit (and the
        corrected model written) measures a pen lamp's high-excitation Ar I offset
        without applying it; ``"apply"`` solves such a lamp on its other lines
        (``benchmarks/pen_lamp_shift.py``).

    Returns
    -------
    WavelengthSolution
        The solution the corrected model is written from (the correction's order capped
        at :data:`MAX_ORDER`, and lower on a sparse lamp).

    Raises
    ------
    WavelengthCalibrationError
        The lamp could not be calibrated.
    """
    return _refit_solution(template, _stored(template), pen_shift)[0]


def _refit_solution(template: LampTemplate, stored: LampTemplate, pen_shift: str = "measure"):
    """:func:`refit_solution` and the guess its lines were named from."""
    sol = _fitted_from(template, stored, pen_shift)
    other = _optics_gap_solution(template, stored, sol, pen_shift)
    sol, start = (sol, stored) if other is None else other
    shaped = _sibling_shape_solution(template, sol, start, pen_shift)
    return (sol, start) if shaped is None else shaped


def _sibling_shape_solution(template: LampTemplate, sol, start, pen_shift: str):
    """The lamp identified from its mode's donor's shape (:func:`shape_donor`), when
    that shape lets ``sol``'s own lines predict each other better; else ``None``.

    A lamp of few lines is corrected at low order, so its solution keeps its stored
    model's (or the optics') errors of shape between and beyond its lines: 1200M5_Ne,
    12 lines at order 1, fitted them to 0.176 px and departed 0.076 px from the
    mode's other lamps. Started from the donor's corrected model the lines are named
    and fitted as an arc's are, at the order they choose (zero point, scale, rarely
    more), and the two starts are compared by the leave-one-out error of the lines
    the lamp's own start used, each at its own correction order (the donor's start
    may name fewer or other lines; the same points judge both shapes). 1200M5_Ne:
    0.164 against 0.095 px; the donor's start fits its lines to 0.090 px and agrees
    with the mode's other lamps to 0.049 px. Where the lamp's own shape predicts its
    lines better (1200M4_CuHeAr, 0.039 against 0.048) it stays.

    Each start is judged with its zero point and scale free (order 1 at least): the
    stored model is goodman's fit to these very lines, its scale among what it
    fitted, and shifted only (order 0) its leave-one-out error is that fit's own, in
    sample; the donor, another exposure, must take its scale from the lines. At order
    0, 1200M7_Ar's nine lines chose their stored model (0.087 against 0.123 px), which
    puts Ar I 8849.91 1.27 px from the line at 4004.7 px where the mode's CuHeAr and
    FeHeAr lamps fit it to 0.02 px; both free to scale, the donor's shape (0.123
    against 0.146) fits it to 0.17 px, and 1200M7_Ar and _HgAr agree with the mode's
    other lamps to 0.001 px instead of 0.13-0.14.

    A rich lamp (:data:`SPARSE_LIBRARY` lines or more) can be held by its stored
    shape too: 1200M4_HgArNe's 28 lines, named from its stored model (0.1-0.2 px from
    the mode's shape), kept lines of distorted profiles (Ne I 6217.28 -0.32 px,
    6678.28 +0.51, which the mode's Ne lamp, on the same pixels within 0.03 px, sets
    aside) that made every higher order predict the others worse, and fitted at order
    1 to 0.182 px, 0.12-0.14 px from the mode's CuHeAr and FeHeAr lamps. From the Ne
    lamp's shape (its own lines' leave-one-out error 0.116 against 0.156 px) 24 fit
    to 0.063 px at order 0, 0.05-0.06 px from them. Its own shape, fitted to many
    lines, stands unless the donor's is shown better: by more than the leave-one-out
    error of its lines is known to (a relative ``1 / sqrt(2 n)``), from a donor
    richer than its own refit (:func:`_more_informative`) and at no higher correction
    order than its own start needs (a shape its lines must bend further is not
    theirs: 930M5_FeHeAr, order 6 on the Ar lamp's shape against 4, would move 0.091
    px from the mode's other lamps, 0.045 before).
    """
    donor = shape_donor(template)
    rich = sol.n_used >= SPARSE_LIBRARY
    if donor is None or (rich and not _more_informative(donor, sol)):
        return None
    other = _alternative(template, donor, sol, pen_shift)
    if other is None or (rich and other.correction_order > sol.correction_order):
        return None
    used = np.asarray(sol.lines["used"], bool)
    lines = (
        np.asarray(sol.lines[name], float)[used]
        for name in ("pixel", "reference_wavelength", "pixel_error")
    )
    pix, ref, err = lines
    # zero point and scale free for both: the stored model's scale is in sample
    own = _loo_on(template, start, pix, ref, err, max(int(sol.correction_order), 1))
    theirs = _loo_on(template, donor, pix, ref, err, max(int(other.correction_order), 1))
    if rich:
        # a rich lamp's own shape stands unless the donor's is shown better: by more
        # than a leave-one-out RMS of its n lines is known to (a relative 1/sqrt(2n))
        own *= 1.0 - 1.0 / np.sqrt(2.0 * pix.size)
    return (other, donor) if theirs < own else None


def _more_informative(donor: LampTemplate, sol) -> bool:
    """Whether the donor's corrected model carries more information than ``sol``: lines
    over their variance, as :func:`shape_donor` ranks the mode's lamps.

    A rich lamp takes no shape from a poorer one, so no two lamps of a mode take each
    other's shapes (930M3's CuHeAr and FeHeAr, each the other's donor, swapped).
    """
    theirs = information(donor.corrected_lines, donor.corrected_rms_pixel)
    return theirs > information(sol.n_used, sol.rms_pixel)


def _loo_on(template: LampTemplate, guess, pix, ref, err, order: int) -> float:
    """Leave-one-out RMS (guess px) of a correction of ``order`` to ``guess`` through
    the lines (``pix``, ``ref``), isolated end lines weighed as the robust fit does."""
    from pipeline.wavelength.calibrate import SYSTEMATIC_PX
    from pipeline.wavelength.first_guess import inverse
    from pipeline.wavelength.robust_fit import loo_rms
    from pipeline.wavelength.template_guess import checked_template_guess

    start = checked_template_guess(guess) if isinstance(guess, LampTemplate) else guess
    d = inverse(start, ref, _written_width(template)) - pix
    x = 2.0 * pix / max(template.npix - 1, 1) - 1.0
    w = 1.0 / np.hypot(np.nan_to_num(err, nan=1.0), SYSTEMATIC_PX) ** 2
    return loo_rms(x, d, w, order)


def _fitted_from(template: LampTemplate, guess, pen_shift: str):
    """The lamp calibrated from ``guess`` at the order its lines support."""
    sol = _calibrate(template, guess, MAX_ORDER, pen_shift)
    cap = min(MAX_ORDER, sol.n_used // LINES_PER_COEFFICIENT - 1)
    if sol.n_used < SPARSE_LIBRARY and sol.correction_order > cap >= 0:
        sol = _calibrate(template, guess, cap, pen_shift)
    if sol.n_used < SPARSE_LIBRARY:
        sol = _supported(template, guess, sol, pen_shift)
    return sol


def _alternative(template: LampTemplate, guess, sol, pen_shift: str):
    """The lamp fitted from another start (:func:`_fitted_from`), or ``None`` when that
    fails or reaches a reference other than ``sol``'s: a rival the caller then judges."""
    from pipeline.wavelength.calibrate import WavelengthCalibrationError

    try:
        other = _fitted_from(template, guess, pen_shift)
    except (WavelengthCalibrationError, ValueError):
        return None
    return other if other.reference == sol.reference else None


def _optics_gap_solution(template: LampTemplate, stored: LampTemplate, sol, pen_shift: str):
    """The lamp identified from the optics model's shape (and that guess), when that finds
    the NIST lines the stored model missed inside the widest gap of ``sol``'s lines (and
    fits more lines, no worse); else ``None``.

    The stored model is goodman's fit to the lines it catalogued: across a stretch
    without them it is an interpolation, the optics model physics (the grating
    equation and the camera). 930M4_HgAr's model was fitted to two Hg lines at 695-745
    px and two Ar lines at 3603-3856 px; between them it was up to 4.3 px off, the
    identification from it named none of the 13 Ar I lines the lamp shows there
    (5558-6871 A), and the refit, an order-0 shift over a 2800 px gap, kept that error
    for every 930_M4 HgAr arc. From the optics shape those lines are named and the
    mode's other lamps agree with its solution to 0.04 px (1.2 px before;
    ``benchmarks/grade_library_lamps.py``). Elsewhere the optics shape names no line
    the stored model missed and the stored model's identification stands: on the
    lines both name, which start needs less correction is no question for the refit
    (the product's choice, :func:`pipeline.wavelength.calibrate._optics_alternative`,
    changed 31 lamps' refits, on leave-one-out errors within their uncertainty).
    """
    from pipeline.wavelength.calibrate import WIDE_GAP
    from pipeline.wavelength.template_guess import optics_gap_guess

    pix = np.sort(np.asarray(sol.lines["pixel"], float)[np.asarray(sol.lines["used"], bool)])
    edges = np.r_[0.0, pix, template.npix - 1.0]
    k = int(np.argmax(np.diff(edges)))
    lo, hi = edges[k], edges[k + 1]
    if hi - lo <= WIDE_GAP * template.npix:
        return None
    guess = optics_gap_guess(stored)
    if guess is None:
        return None
    other = _alternative(template, guess, sol, pen_shift)
    if other is None:
        return None
    opix = np.asarray(other.lines["pixel"], float)[np.asarray(other.lines["used"], bool)]
    # lines the stored model's identification did not use, inside its widest gap
    new = (opix > lo) & (opix < hi) & (np.abs(opix[:, None] - pix[None, :]).min(axis=1) > 0.5)
    if new.any() and other.n_used > sol.n_used and other.rms_pixel <= sol.rms_pixel:
        return other, guess
    return None


def _calibrate(template: LampTemplate, guess, max_order: int, pen_shift: str = "measure"):
    """The lamp's own flux calibrated as an arc, from its stored model (or ``guess``)."""
    from pipeline.wavelength.calibrate import calibrate_arc

    is_lamp = isinstance(guess, LampTemplate)
    return calibrate_arc(
        template.flux,
        lamp_elements=template.elements,
        binning=1,
        template=guess if is_lamp else None,
        first_guess=None if is_lamp else guess,
        max_shift_unbinned=8,
        max_scale_error=0.0,
        max_order=max_order,
        # the library model is the shape of every later arc of its mode: the HgAr
        # bulb's, which the mode's hollow-cathode, Ar and HgAr lamps share where the Ne
        # bulb's departs (600 Red, 1200 M6, 1200 M7: benchmarks/bulb_paths.py)
        separate_bulbs="apply",
        # the lamp's own reduction replaced pixels of its bright lines (GSP_COSM)
        cosmic_cleaned=template.cosmic_cleaned,
        pen_shift=pen_shift,
    )


def _supported(template: LampTemplate, guess, sol, pen_shift: str):
    """The refit ``sol`` of a sparse lamp again at the lowest correction order its NIST
    lines support as well as its own
    (:func:`pipeline.wavelength.robust_fit.supported_order`), or ``sol``.

    The corrected model is the shape of every arc of its mode: a bend its few lines
    choose by less than they measure the leave-one-out error to is this lamp's noise,
    carried into all of them. 930M1_HgAr's faint red end line Ar I 4510.7 took its
    twelve lines to order 3 for a leave-one-out gain of 15 % (0.105 to 0.089 px;
    twelve lines know it to 20 %), a bend that sparse 930_M1 arcs, correcting it at
    order 1-2, kept: 0.03-0.05 px mean at their expected lines (physical truth, 2x2
    seed 6 and 1x1 seed 25). The lower order is kept only when it loses none of the
    lines, the set they were compared on (1200M5_Ne at order 1 dropped one of its 12
    and fitted the rest at 0.22 px against 0.18).
    """
    from pipeline.wavelength.calibrate import SYSTEMATIC_PX, WavelengthCalibrationError
    from pipeline.wavelength.first_guess import inverse
    from pipeline.wavelength.robust_fit import supported_order
    from pipeline.wavelength.template_guess import checked_template_guess

    used = np.asarray(sol.lines["used"], bool)
    pix = np.asarray(sol.lines["pixel"], float)[used]
    ref = np.asarray(sol.lines["reference_wavelength"], float)[used]
    err = np.asarray(sol.lines["pixel_error"], float)[used]
    # as the correction sees the lines: the places of their NIST wavelengths on the
    # guess less their pixels (the alignment's shift aside, which order 0 takes),
    # weighted by their centring errors
    start = checked_template_guess(guess) if isinstance(guess, LampTemplate) else guess
    d = inverse(start, ref, _written_width(guess)) - pix
    x = 2.0 * pix / max(guess.npix - 1, 1) - 1.0
    w = 1.0 / np.hypot(np.nan_to_num(err, nan=1.0), SYSTEMATIC_PX) ** 2
    lower = supported_order(x, d, w, int(sol.correction_order))
    if lower >= sol.correction_order:
        return sol
    try:
        low = _calibrate(template, guess, lower, pen_shift)
    except (WavelengthCalibrationError, ValueError):
        return sol
    return low if low.reference == sol.reference and low.n_used >= sol.n_used else sol


def _written_width(template: LampTemplate) -> int:
    """Unbinned pixels the corrected model is written over: the lamp's, and at least
    the detector's data section (a shorter lamp's model serves full-width arcs)."""
    return max(template.npix, DETECTOR_PX)


def _written_model(template, stored, coef, pix, ref, err) -> np.ndarray:
    """The corrected series to write over :func:`_written_width` pixels.

    Over the lamp's pixels it is the refit's solution: between its NIST lines, fitted
    to them; beyond them, continued as a user's arc is past the lines of the model it
    starts from: along the optics (from its own stored model, whose further
    catalogued lines measured nothing against NIST:
    :func:`pipeline.wavelength.calibrate._measured_span`), or along a donor's
    corrected model as far as that lamp's NIST lines measured it. Past the lamp's
    last pixel the refit has no solution, and a series of degree up to 9 fitted to the
    lamp's pixels alone runs off there (600Red's 3096-px lamps: up to 22 px at the
    detector's last pixel, where full-width arcs of the mode have lines). There it is
    the optics model at the NIST lines' departure from it, or, where the lines do not
    measure that departure (600Red HgArNe: 0.13 px about it), the optics' shape met at
    the lamp's last pixel: the stored model is there an extrapolation of goodman's
    fit to the same lines. Only without an optics model, the stored model's shape.
    """
    from pipeline.wavelength.calibrate import SYSTEMATIC_PX, chebyshev_for
    from pipeline.wavelength.optics_continuation import (
        fit_departure,
        optics_of_guess,
        wavelength_beyond,
    )

    n = _written_width(template)
    u = np.arange(n, dtype=float)
    wave = chebyshev.chebval(u, coef)
    if n == template.npix or pix.size < 2:
        return np.asarray(coef, float)
    lo, hi = 0.0, template.npix - 1.0
    optics = optics_of_guess(stored)
    departure = None
    if optics is not None:
        x = 2.0 * pix / (n - 1) - 1.0
        sigma = np.hypot(np.nan_to_num(err, nan=1.0), SYSTEMATIC_PX)
        departure = fit_departure(optics, x, pix, ref, sigma)
    for end, side in ((lo, u < lo), (hi, u > hi)):
        if not side.any():
            continue
        w_end = float(chebyshev.chebval(end, coef))
        if departure is not None:
            wave[side] = wavelength_beyond(u[side], end, w_end, n, 1, optics, departure)
        elif optics is not None:
            wave[side] = optics.wavelength(u[side] - end + optics.pixel(w_end))
        else:
            wave[side] = stored.wavelength(u[side]) + (w_end - float(stored.wavelength(end)))
    return chebyshev_for(u, wave)


def _catalogue_disagreement(template: LampTemplate, coef: np.ndarray, lines) -> float:
    """Largest distance (unbinned px) between a corrected model and the library's
    catalogued lines that its stored model places within 1 Å.

    A catalogued line is set aside where the refit names it otherwise from NIST: the
    arc line at its pixel is used as another NIST line, its NIST line is used at
    another arc line, or the corrected model puts another NIST line (strong or extra
    list of the lamp) at that arc line. goodman_pipeline named its catalogues' lines
    from its stored model, so where that model is wrong they agree with it and not with
    the lamp: 930M2_Ar catalogues its arc line at 3265 px as Ar I 5187.75 Å, which the
    refit (10 NIST lines, 0.02 px) names Ar I 5151.39, with the lines at 3291, 3353 and
    3434 px at Ar I 5162.29, 5187.75 and 5221.27 (each within 0.1 Å); the 930M2 HgAr
    lamps catalogue Hg I 4077.83 as 4072.01.

    Parameters
    ----------
    template : LampTemplate
        The library lamp, with its catalogue (``line_pixels``, ``line_wavelengths``).
    coef : numpy.ndarray
        The corrected model's Chebyshev coefficients over unbinned pixels.
    lines : astropy.table.Table
        The refit's line table (every arc line found: ``pixel``, ``used``,
        ``reference_wavelength``).
    """
    pix, wav = template.line_pixels, template.line_wavelengths
    trusted = np.abs(template.library_wavelength(pix) - wav) < 1.0
    found = np.asarray(lines["pixel"], float)
    used = np.asarray(lines["used"], bool)
    used_pix = found[used]
    used_ref = np.asarray(lines["reference_wavelength"], float)[used]
    known = _known_lines(template)
    for k in np.flatnonzero(trusted):
        at_pixel = np.abs(used_pix - pix[k]) < SAME_ARC_LINE_PX
        same_name = np.abs(used_ref - wav[k]) < SAME_LINE_ANGSTROM
        near = np.abs(found - pix[k]) < SAME_ARC_LINE_PX
        if near.any():  # the arc line there, where the corrected model puts it
            arc_line = found[near][np.argmin(np.abs(found[near] - pix[k]))]
            model_at = chebyshev.chebval(arc_line, coef)
            other_line = np.abs(known - model_at) < SAME_LINE_ANGSTROM
            other_line &= np.abs(known - wav[k]) > SAME_LINE_ANGSTROM
        else:
            other_line = np.zeros(1, bool)
        if np.any(at_pixel & ~same_name) or np.any(same_name & ~at_pixel) or other_line.any():
            trusted[k] = False
    if not trusted.any():
        return 0.0
    disp = np.abs(chebyshev.chebval(pix[trusted], chebyshev.chebder(coef)))
    return float(np.max(np.abs(chebyshev.chebval(pix[trusted], coef) - wav[trusted]) / disp))


def _known_lines(template: LampTemplate) -> np.ndarray:
    """Wavelengths (Å) of every NIST line, strong or extra, of the lamp's elements."""
    from pipeline.wavelength.nist import extra_lamp_lines, lamp_lines, with_fill_gas

    elements = with_fill_gas(template.elements)
    return np.concatenate([lamp_lines(elements).wavelength, extra_lamp_lines(elements).wavelength])


def _strip(header: fits.Header) -> None:
    for key in [k for k in header if k.startswith(PREFIXES)]:
        del header[key]
    keep = [v for v in header.get("HISTORY", []) if not str(v).startswith(HISTORY_TAG)]
    if "HISTORY" in header:
        del header["HISTORY"]
    for v in keep:
        header.add_history(v)
    # trailing blank cards move behind appended ones on every rewrite: drop them
    while len(header) and header.cards[-1].keyword == "" and not str(header.cards[-1].value):
        del header[-1]


def write_corrected(path: Path, result: RefitResult, when: str | None = None) -> None:
    """Write (or remove) the corrected-model cards of one library file, atomically.

    Parameters
    ----------
    path : pathlib.Path
        The library file, rewritten in place (through a temporary file).
    result : RefitResult
        The refit: with coefficients, its ``GSP_R*`` cards are written; without, the old
        ones are removed and a HISTORY note says why.
    when : str or None
        The date written in the HISTORY cards (ISO); ``None`` for today.
    """
    when = when or date.today().isoformat()
    with fits.open(path, memmap=False) as hdul:
        hdul = fits.HDUList([h.copy() for h in hdul])
    header = hdul[0].header
    _strip(header)
    if result.coefficients is not None:
        header["GSP_RORD"] = (len(result.coefficients) - 1, "NIST-corrected model order")
        for i, c in enumerate(result.coefficients):
            header[f"GSP_R{i:03d}"] = (float(c), f"NIST-corrected model parameter c{i}")
        header["GSP_RRMS"] = (round(result.rms_pixel, 5), "Corrected model RMS vs NIST [px]")
        header["GSP_RRMA"] = (round(result.rms_angstrom, 5), "Corrected model RMS vs NIST [A]")
        header["GSP_RNLN"] = (result.n_used, "NIST lines used by the corrected model")
        if result.measured_pixels is not None:
            lo, hi = result.measured_pixels
            header["GSP_RPLO"] = (round(lo, 2), "First NIST line used [unbinned px]")
            header["GSP_RPHI"] = (round(hi, 2), "Last NIST line used [unbinned px]")
        header["GSP_RDEV"] = (round(result.deviation_rms, 4), "GSP_Cnnn - corrected, RMS [px]")
        header["GSP_RDMX"] = (round(result.deviation_max, 4), "GSP_Cnnn - corrected, max [px]")
        if result.shape_from:
            header["GSP_RSHP"] = (result.shape_from, "its shape's lamp")
        bulbs = []
        if result.ne_bulb is not None:
            # without these the file would not say its model is the HgAr bulb's alone
            offset, slope = result.ne_bulb
            header["GSP_RNBO"] = (round(offset, 4), "Ne bulb's lines vs model [px]")
            header["GSP_RNBS"] = (round(slope, 4), "their slope [px per half detector]")
            bulbs = [
                "model of the HgAr bulb; Ne bulb's lines apart,",
                f"at {offset:+.3f} px {slope:+.3f} px/half (GSP_RNBO/RNBS)",
            ]
        # HISTORY values under 72 characters: a wrapped card would leave an untagged
        # continuation that a rerun could not recognise
        elements = ",".join(
            c.replace("nist_air_strong_lines_", "").replace(".txt", "") for c in result.catalogues
        )
        for text in (
            f"{when} GSP_Rnnn fitted to NIST air lines",
            f"lists nist_air_strong_lines_<El>.txt El={elements}",
            "lines re-centred in own flux (integrated Gaussian)",
            f"from {result.start}",
            *bulbs,
            "by python -m pipeline.wavelength.refit_library",
        ):
            header.add_history(f"{HISTORY_TAG} {text}")
    else:
        header.add_history(f"{HISTORY_TAG} {when} no corrected model:")
        header.add_history(f"{HISTORY_TAG} {result.problem[:55]}")
    tmp = path.with_name(path.name + ".tmp")
    hdul.writeto(tmp, overwrite=True, output_verify="silentfix")
    os.replace(tmp, path)


def format_table(results: list[RefitResult]) -> str:
    """Format the refit table: lines used, RMS against NIST, stored model before/after.

    Parameters
    ----------
    results : list of RefitResult
        One result per library lamp (:func:`refit`).

    Returns
    -------
    str
        A fixed-width table, one row per lamp, and a closing line explaining the columns.
    """
    head = (
        f"{'lamp file':44s} {'lines':>5s} {'rms px':>7s} {'rms A':>7s} "
        f"{'lib rms':>7s} {'lib max':>7s} {'dev rms':>7s} {'dev max':>7s}  note"
    )
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(
            f"{r.file_name:44s} {r.n_used:5d} {r.rms_pixel:7.3f} {r.rms_angstrom:7.3f} "
            f"{r.library_rms_pixel:7.3f} {r.library_max_pixel:7.3f} "
            f"{r.deviation_rms:7.3f} {r.deviation_max:7.3f}  "
            f"{'kept stored model: ' + r.problem if r.problem else 'corrected'}"
        )
    ok = [r for r in results if r.coefficients is not None]
    rows.append(
        f"{len(ok)} of {len(results)} lamps corrected; columns: NIST lines used, corrected "
        "model RMS against NIST (unbinned px, A), stored GSP_Cnnn model against the same "
        "NIST lines (RMS, max px), stored minus corrected over the detector (RMS, max px)"
    )
    return "\n".join(rows)


def main(argv=None) -> int:
    """Refit the library lamps and write their corrected models (``python -m`` entry point).

    Parameters
    ----------
    argv : list of str or None
        Command-line arguments (``--dry-run`` and library files); ``None`` reads
        ``sys.argv``.

    Returns
    -------
    int
        The exit code: 0.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="print the table, write nothing")
    parser.add_argument("files", nargs="*", help="library files (default: all bundled lamps)")
    args = parser.parse_args(argv)
    paths = [Path(f) for f in args.files] or sorted(lamp_dir().glob("goodman_comp_*.fits"))
    results = []
    for path in paths:
        result = refit(read_template(path))
        results.append(result)
        if not args.dry_run:
            write_corrected(path, result)
    print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
