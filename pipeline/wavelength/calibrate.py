"""Wavelength calibration of a 1-D arc against NIST air wavelengths.

The library's stored models are fits with errors (0.3-1.1 px RMS against NIST, up to
3.5 px at the ends), so they only *start* the calibration; the solution is fitted to
the NIST air wavelengths of the lamp's elements:

1. lines are found in the arc and centred with a pixel-integrated Gaussian
   (:mod:`pipeline.wavelength.lines`);
2. the arc is aligned with the first guess (a library template, whose NIST-corrected
   model is used when the library file carries one, or any dispersion model such as
   the optics model): offset, and scale when the guess is not a template
   (:func:`pipeline.wavelength.first_guess.align`);
3. lines are paired with NIST lines iteratively, blends, saturated and weak lines set
   aside, and the correction to the guess fitted with robust rejection and an order
   chosen by cross-validation (:mod:`pipeline.wavelength.identify`); a sparse arc, or
   one whose lines leave an end unconstrained, is also identified from the shape of
   its mode's most informative library lamp and keeps the shape under which its lines
   predict each other better (:mod:`pipeline.wavelength.shape_donor`, ``GSP_WSHP``);
4. the solution is written as goodman's Chebyshev series over the binned pixel index
   (``GSP_Cnnn``, default domain), of the lowest degree that reproduces the model to
   0.002 binned px; its RMS is measured against the NIST wavelengths.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.table import Table
from numpy.polynomial import Chebyshev, chebyshev

from pipeline.lamps import LampTemplate, elements
from pipeline.wavelength.alignment_bend import bend_alignment
from pipeline.wavelength.between_lines import MIN_CHECKED, with_check
from pipeline.wavelength.bulbs import (
    BulbOffset,
    BulbTerms,
    best_offset,
    bulb_sides,
    separate_bulbs,
)
from pipeline.wavelength.first_guess import Alignment, align, guess_wavelength, inverse
from pipeline.wavelength.identify import MAX_ORDER, SYSTEMATIC_PX, Identification, identify
from pipeline.wavelength.lamp_choice import NoLampTemplateError, parse_elements, select_template
from pipeline.wavelength.lamp_continuation import LampModel, library_lamp, measured_range
from pipeline.wavelength.lamp_widths import LampShows, lamp_shows
from pipeline.wavelength.lines import MIN_SEPARATION_PX, LineList, find_lines
from pipeline.wavelength.multiplets import with_multiplets
from pipeline.wavelength.nist import LineCatalogue, catalogue_files, lamp_lines, with_fill_gas
from pipeline.wavelength.optics_continuation import (
    continue_along_optics,
    fit_departure,
    optics_of_guess,
)
from pipeline.wavelength.pen_lamp import (
    HOLLOW_CATHODE,
    PenShift,
    fit_pen_shift,
    high_excitation_argon,
    pen_lamp_argon,
)
from pipeline.wavelength.shape_donor import (
    SPARSE_LIBRARY,
    donor_alignment,
    loo_on_lines,
    shape_donor,
)
from pipeline.wavelength.solution import WavelengthSolution
from pipeline.wavelength.template_guess import (
    LampOnOptics,
    checked_template_guess,
    optics_gap_guess,
    optics_shape_guess,
)


class WavelengthCalibrationError(ValueError):
    """An arc could not be calibrated (too few lines, wrong lamp or mode)."""


#: Largest offset against a library template searched, unbinned pixels (Goodman
#: flexure is a few pixels; grating-angle repeatability adds some tens).
MAX_SHIFT_UNBINNED = 120
#: Largest offset against any other first guess (the optics model), unbinned pixels.
MAX_SHIFT_FIRST_GUESS = 300
#: Largest relative dispersion error of a first guess that is not a template.
MAX_SCALE_ERROR = 0.04
#: ... and of a library template (real arcs of one mode differ by up to ~0.7 %: another
#: copy of the grating, camera focus).
MAX_SCALE_ERROR_TEMPLATE = 0.01
#: Weight of a pen lamp's ionic lines: in hollow-cathode lamps (cathode elements
#: :data:`~pipeline.wavelength.pen_lamp.HOLLOW_CATHODE`) their ionic lines, and their
#: fill gas's, are strong; other lamps are pen lamps, whose ionic lines are weak.
PEN_LAMP_IONIC_WEIGHT = 0.1
#: What :func:`calibrate_arc` does with a pen lamp's high-excitation Ar I lines.
PEN_SHIFT_CHOICES = ("measure", "apply")
#: What :func:`calibrate_arc` does with a two-bulb lamp's bulbs: ``"measure"`` (the
#: default), ``"apply"``, or ``"auto"`` (apply where one solution misses
#: :data:`JOINT_RMS_PX`; main's default until the figures of ``benchmarks/bulb_default.py``).
SEPARATE_BULBS_CHOICES = ("measure", "apply", "auto")
#: Smallest correlation between an arc and its library template (another mode or lamp
#: correlates at ~0.1, a matching arc at 0.9).
MIN_TEMPLATE_CORRELATION = 0.3
#: Fraction of the 20 brightest arc lines that must have a NIST identification.
MIN_NAMED_FRACTION = 0.3
#: An arc whose NIST lines are too few still gets its library lamp's model, moved onto
#: it, when it correlates with the lamp at least this well.
FALLBACK_CORRELATION = 0.6
FALLBACK_REFERENCE = "library model (too few NIST lines)"
#: An arc with fewer NIST lines in its fit is sparse: started from an uncorrected
#: library lamp, it is also identified from the optics model's shape, and the start
#: whose lines predict each other better (leave-one-out) is kept.
SPARSE_LINES = 12
#: A solution with fewer NIST lines, or a larger RMS (binned px), is refused.
MIN_LINES = 3
MAX_RMS_PX = 0.3
#: An arc whose outermost used line leaves more of the detector than this fraction
#: beyond it (:data:`WIDE_GAP`: as wide a stretch as its start's model is an
#: extrapolation across) is also fitted from its mode's donor lamp's shape, as a sparse
#: one is (:func:`_donor_alternative`).
END_GAP = 0.15
#: ``separate_bulbs="auto"`` solves a two-bulb lamp on its HgAr bulb, the Ne bulb's lines
#: carried with an offset and slope (:func:`pipeline.wavelength.bulbs.separate_bulbs`),
#: only where one solution fits its lines worse than this (RMS against NIST, binned px,
#: the issue's accuracy) and the arc did not start from a library lamp of both bulbs
#: solved together (:func:`_from_joint_lamp`). It is no longer the default: graded as an
#: outsider grades an arc (every used line against its NIST wavelength, and against
#: another team's solution of it; ``benchmarks/bulb_default.py``), the joint solution was
#: the better one wherever the rule separated: the library's 1200M7, CaNIR, 600Red and
#: 400M2 HgArNe lamps as users' arcs (their own files left out) 0.145/0.067/0.127/0.057
#: px RMS joint against 0.345/0.129/0.154/0.070 apart, means +0.04/+0.00/-0.02/+0.01
#: against +0.30/+0.10/+0.07/-0.04; the 1200M5 RED history arc from its linearised lamp
#: 0.048 px from goodman's solution joint, 0.086 apart; PypeIt's Blue 400 (apart only
#: with ``"apply"``) 0.022 from PypeIt's joint, 0.051 apart. No arc with another team's
#: solution came nearer to it apart.
JOINT_RMS_PX = 0.05
#: A stretch without a used line wider than this fraction of the detector is a wide
#: gap: the arc is also identified from the optics model's shape (the library model is
#: an extrapolation there, the optics physics), and the start whose lines predict each
#: other better (leave-one-out) is kept. 600 l/mm at the M2 angles: ~1000 of 4060 px.
WIDE_GAP = 0.15


def _spectrum_arrays(arc) -> tuple[np.ndarray, np.ndarray | None]:
    """Flux (NaN where masked) and mask of a Spectrum, SpectrumArrays or array."""
    if hasattr(arc, "flux"):
        flux = np.asarray(arc.flux.value if hasattr(arc.flux, "value") else arc.flux, float)
        mask = getattr(arc, "mask", None)
        mask = None if mask is None else np.asarray(mask, bool)
        if mask is not None and mask.shape == flux.shape:
            flux = np.where(mask, np.nan, flux)
        return flux, mask
    return np.asarray(arc, dtype=float), None


def _elements_of(lamp_elements, template) -> frozenset[str]:
    if isinstance(lamp_elements, str):
        found = parse_elements(lamp_elements)
    else:
        found = frozenset(lamp_elements or ())
    if not found and template is not None:
        found = elements(template.lamp)
    return with_fill_gas(found)


def _guess_name(guess) -> str:
    if isinstance(guess, (LampTemplate, LampOnOptics)):
        return guess.file_name
    return str(getattr(guess, "name", "") or type(guess).__name__)


def calibrate_arc(
    arc_spectrum_1d,
    mode: str | None = None,
    lamp_elements=None,
    binning: int = 1,
    template: LampTemplate | None = None,
    max_shift_unbinned: float | None = None,
    arc_name: str | None = None,
    first_guess=None,
    max_scale_error: float | None = None,
    max_order: int | None = None,
    separate_bulbs: str | bool | None = None,
    cosmic_cleaned: bool = False,
    pen_shift: str = "measure",
) -> WavelengthSolution:
    """Wavelength solution of one extracted arc, fitted to NIST air wavelengths.

    Parameters
    ----------
    arc_spectrum_1d : specutils.Spectrum, SpectrumArrays or ndarray
        Arc flux against binned pixel index (masked pixels are ignored).
    mode : str, optional
        WAVMODE, any usual spelling (``400_M2``, ``400 M2``); picks the library
        template when neither ``template`` nor ``first_guess`` is given.
    lamp_elements : set of str or str, optional
        Lamps that were on (``{"Hg", "Ar", "Ne"}`` or ``"HgArNe"``); the template's
        lamp when absent.
    binning : int
        Binning along the dispersion axis (pixel ``j`` is centred on unbinned pixel
        ``b*j + (b-1)/2``).
    template : LampTemplate, optional
        Force a library template as the first guess.
    max_shift_unbinned : float, optional
        Largest offset against the first guess searched, unbinned pixels.
    arc_name : str, optional
        File name recorded in the solution (``GSP_LAMP``).
    first_guess : object with ``wavelength(unbinned_pixel) -> Å``, optional
        Any dispersion model over the trimmed, unbinned, 0-based pixel index (e.g.
        the optics model); used instead of a library template. Its offset may be
        tens of pixels and its dispersion a few per cent off.
    max_scale_error : float, optional
        Largest relative dispersion error of the first guess searched (default 1 %
        for a library template, 4 % for any other guess).
    max_order : int, optional
        Highest order of the Chebyshev correction to the first guess (default
        :data:`~pipeline.wavelength.identify.MAX_ORDER`); the lines choose the order
        below it by cross-validation.
    separate_bulbs : {"measure", "apply", "auto"}, bool or None
        A two-bulb lamp (HgAr + Ne) whose lines tell its bulbs apart: its HgAr bulb's
        solution, with the Ne bulb's lines at an offset and slope of their own, is fitted
        (:class:`pipeline.wavelength.bulbs.BulbTerms`). ``"measure"`` (default, also
        ``None`` and ``False``): the terms are reported with their standard errors
        (:attr:`WavelengthSolution.ne_bulb_pixel`, ``GSP_WNBO``/``GSP_WNBS``, "measured,
        not applied"; ``ne_bulb_error``, ``GSP_WNBE``/``GSP_WNSE``), the solution fitted to every used line at its NIST wavelength, as
        PypeIt's and goodman's are and as any outside grader judges it (solved apart, the
        library's HgArNe lamps that separate graded worse against NIST as users' arcs in
        all four, and the arcs with another team's solution came farther from it:
        :data:`JOINT_RMS_PX`). ``"apply"`` (also ``True``; the library refit, whose model
        is the HgAr bulb's): the solution is the HgAr bulb's, Ne lines far from the
        bulbs' fit set aside. ``"auto"``: applied where one solution misses
        :data:`JOINT_RMS_PX` and the arc did not start from a library lamp of both bulbs
        solved together.
    cosmic_cleaned : bool
        The arc's reduction cleaned it of cosmic rays (its header's ``GSP_COSM``,
        :func:`pipeline.lamps.cosmic_cleaned`; a library lamp's
        :attr:`~pipeline.lamps.LampTemplate.cosmic_cleaned`): bright lines whose
        pixels were replaced are set aside
        (:func:`pipeline.wavelength.altered_lines.altered_lines`). Default ``False``: a raw
        arc, or one this pipeline reduced (it does not clean arcs).
    pen_shift : {"measure", "apply"}
        A pen lamp's (Ar without Cu or Fe) Ar I lines of high excitation sit ~0.03 A
        red of its other lines, the lamp's pressure against NIST's hollow-cathode
        wavelengths (:mod:`pipeline.wavelength.pen_lamp`). ``"measure"`` (default):
        their offset from the other lines is measured where significant and reported
        (:attr:`WavelengthSolution.pen_shift_pixel`, ``GSP_WPEN``), the solution fitted
        to every used line at its NIST wavelength, as any outside grader judges it
        (anchored on the other lines, the used lines' RMS against NIST grew in every
        library pen lamp with an offset, 1200M5 Ar 0.043 -> 0.069 px, and their mean
        moved by up to +0.09 px). ``"apply"``: the solution is the other lines'
        (4s-4p Ar I, Hg, Ne), the high-excitation lines carried with the offset, and
        lines far from that fit set aside as outliers.

    Returns
    -------
    WavelengthSolution
        With the line table (every arc line, its NIST identification and status).

    Raises
    ------
    NoLampTemplateError
        No first guess given and no library lamp for the mode.
    WavelengthCalibrationError
        The arc does not match the guess (another mode or lamp, too few lines).
    """
    if pen_shift not in PEN_SHIFT_CHOICES:
        raise ValueError(f"pen_shift must be one of {PEN_SHIFT_CHOICES}, not {pen_shift!r}")
    bulbs = _bulb_choice(separate_bulbs)
    if max_order is None:
        max_order = MAX_ORDER
    if isinstance(max_order, bool) or not isinstance(max_order, (int, np.integer)) or max_order < 0:
        raise ValueError(f"max_order must be an integer >= 0, not {max_order!r}")
    flux, mask = _spectrum_arrays(arc_spectrum_1d)
    setup = _prepare_arc(flux, mode, lamp_elements, int(binning), template, first_guess)
    setup = replace(setup, cosmic_cleaned=bool(cosmic_cleaned))
    if max_shift_unbinned is None:
        max_shift_unbinned = MAX_SHIFT_UNBINNED if setup.is_template else MAX_SHIFT_FIRST_GUESS
    if max_scale_error is None:
        max_scale_error = MAX_SCALE_ERROR_TEMPLATE if setup.is_template else MAX_SCALE_ERROR
    found = _identify_arc(
        setup,
        flux,
        mask,
        mode,
        float(max_shift_unbinned),
        float(max_scale_error),
        int(max_order),
    )
    measured = _measure(setup, found)
    if measured.rms_pixel > MAX_RMS_PX and found.reference != FALLBACK_REFERENCE:
        raise WavelengthCalibrationError(
            f"{int(measured.used.sum())} NIST lines fit with {measured.rms_pixel:.2f} binned "
            f"px RMS (expected <= {MAX_RMS_PX}); is the arc of mode {mode!r} with lamps "
            f"{''.join(sorted(setup.lamp))}?"
        )
    applied = pen_shift == "apply"
    pen = _pen_shift(setup, found, measured, applied)
    carried = pen if applied else None
    if carried is not None:
        measured = _measure(setup, found, pen=carried)
    bulb = _bulb_offset(setup, found, measured)
    apart = bulbs == "apply" or (
        bulbs == "auto" and measured.rms_pixel > JOINT_RMS_PX and not _from_joint_lamp(setup, found)
    )
    terms = _separate_bulbs(setup, found, measured, set_aside=apart)
    if terms is not None and apart:
        measured = _measure(setup, found, terms, carried)
    solution = _solution(setup, found, measured, mode, arc_name, bulb, terms, pen, applied, apart)
    if found.reference == FALLBACK_REFERENCE:
        return solution
    solution, check = with_check(solution, setup.lamp)
    if check.n >= MIN_CHECKED and check.robust_pixel > MAX_RMS_PX:
        raise WavelengthCalibrationError(
            f"{solution.n_used} NIST lines fit with {solution.rms_pixel:.2f} binned px RMS, "
            f"but {check.n} bright lamp lines between them are {check.robust_pixel:.2f} px "
            f"off it (expected <= {MAX_RMS_PX}): the solution is wrong between its lines; "
            "an arc with more lines (longer exposure, another lamp) would fix it"
        )
    return solution


@dataclass(frozen=True)
class ArcSetup:
    """An arc ready for identification: its lines, first guess and NIST lines.

    Attributes
    ----------
    n, binning : int
        Binned pixels of the arc and binning along the dispersion.
    guess : object with ``wavelength(unbinned_pixel)``
        The first guess (a checked library template or any dispersion model).
    is_template : bool
        Whether the guess is a library lamp (its flux aligns the arc).
    lamp : frozenset of str
        Elements whose lines the lamp shows (fill gas included).
    catalogue : LineCatalogue
        NIST lines of those elements that can fall on the detector, the arc's lines
        are named after and fitted to: an unresolved fine-structure multiplet is one
        line at its blend's centre (:mod:`pipeline.wavelength.multiplets`).
    lines : LineList
        Lines found in the arc.
    chosen : bool
        Whether the guess is the library lamp chosen for the mode (not one the caller
        gave: a forced template, such as the library refit's, is used as it is).
    cosmic_cleaned : bool
        Whether the arc was cleaned of cosmic rays (its altered lines set aside).
    rendered : LineCatalogue
        The same NIST lines as listed, each multiplet's components apart: what the
        coarse alignment draws (default ``catalogue``). Drawn as one line, the He I
        multiplets moved the alignment of an arc whose lines are few (a
        goodman_pipeline history arc, 1200 M3 CuHeAr linearised by IRAF, named 13 lines
        at 0.30 px instead of 12 at 0.10).
    own_lamp : pathlib.Path or None
        The library file whose lamp this arc is (its flux, unbinned: the library
        refit calibrating a lamp from its own stored model), or ``None``.
    """

    n: int
    binning: int
    guess: object
    is_template: bool
    lamp: frozenset
    catalogue: LineCatalogue
    lines: LineList
    chosen: bool = False
    cosmic_cleaned: bool = False
    rendered: LineCatalogue | None = None
    own_lamp: Path | None = None

    def __post_init__(self):
        if self.rendered is None:
            object.__setattr__(self, "rendered", self.catalogue)


@dataclass(frozen=True)
class ShapeChoice:
    """A sparse arc fitted from its start and from its mode's donor lamp's shape
    (:func:`_donor_alternative`): the leave-one-out RMS of the start's lines (guess px)
    under each, and which shape was kept."""

    start: str
    donor: str
    start_loo: float
    donor_loo: float

    @property
    def kept(self) -> str:
        """The file whose shape the solution has (the donor's only when it predicts the
        lines strictly better)."""
        return self.donor if self.donor_loo < self.start_loo else self.start

    def note(self) -> str:
        """One HISTORY line (< 72 characters) saying what was compared and kept."""
        name = self.donor.removeprefix("goodman_comp_").removesuffix(".fits")
        if self.kept == self.donor:
            return f"donor {name} loo {self.donor_loo:.3f} < own {self.start_loo:.3f} px"
        return f"own; donor {name} loo {self.donor_loo:.3f} >= {self.start_loo:.3f} px"


@dataclass
class IdentifiedArc:
    """The identification, the alignment it started from, and what it is fitted to.

    ``start`` is the first guess the solution is named after (the arc's library lamp)
    when its lines were named from another lamp's shape (``shape``); ``None``: ``guess``.
    """

    ident: Identification
    alignment: Alignment
    guess: object
    reference: str
    start: object = None
    shape: ShapeChoice | None = None


@dataclass(frozen=True)
class MeasuredSolution:
    """The written Chebyshev series and its residuals at every arc line."""

    coefficients: np.ndarray
    fitted: np.ndarray
    resid: np.ndarray  # Å
    resid_px: np.ndarray  # binned px
    used: np.ndarray
    rms_pixel: float
    rms_angstrom: float


def _first_guess(mode, lamp_elements, template, first_guess):
    """The guess to start from: given, forced template, or the mode's library lamp."""
    guess = first_guess if first_guess is not None else template
    if guess is None:
        if not mode:
            raise NoLampTemplateError(
                "no WAVMODE and no first guess: give the mode (library lamp) or a "
                "first_guess dispersion model"
            )
        guess = select_template(mode, lamp_elements)
    if isinstance(guess, LampTemplate):
        # a library model whose shape departs from the optics would misname lines
        guess = checked_template_guess(guess)
    return guess


def _prepare_arc(flux, mode, lamp_elements, b, template, first_guess) -> ArcSetup:
    """Guess, lamp, NIST lines and arc lines, each checked with a clear error."""
    n = flux.size
    guess = _first_guess(mode, lamp_elements, template, first_guess)
    is_template = isinstance(guess, (LampTemplate, LampOnOptics))
    lamp = _elements_of(lamp_elements, guess if is_template else template)
    if not lamp:
        raise WavelengthCalibrationError(
            "the arc's lamp elements are unknown (no LAMP_* keyword, OBJECT or template); "
            "give lamp_elements, e.g. 'HgArNe'"
        )
    if np.isfinite(flux).sum() < 0.5 * n:
        raise WavelengthCalibrationError(
            f"arc has {np.isfinite(flux).sum()} usable pixels of {n}; "
            "at least half must be finite to calibrate"
        )
    edges = guess_wavelength(guess, [-MAX_SHIFT_FIRST_GUESS, n * b + MAX_SHIFT_FIRST_GUESS])
    catalogue = lamp_lines(lamp).within(float(np.min(edges)), float(np.max(edges)))
    if len(catalogue) < MIN_LINES:
        raise WavelengthCalibrationError(
            f"only {len(catalogue)} NIST lines of {''.join(sorted(lamp))} between "
            f"{np.min(edges):.0f} and {np.max(edges):.0f} Å; is the lamp or the mode right?"
        )
    lines = find_lines(flux, max_lines=250)
    if len(lines) < MIN_LINES:
        raise WavelengthCalibrationError(
            f"only {len(lines)} lines found in the arc (need {MIN_LINES} or more); "
            "is the lamp on and the arc extracted along the slit?"
        )
    merged = _multiplets_merged(catalogue, lines, guess, n, b)
    chosen = first_guess is None and template is None
    own = _own_lamp(flux, b, template)
    return ArcSetup(
        n, b, guess, is_template, lamp, merged, lines, chosen, rendered=catalogue, own_lamp=own
    )


def _multiplets_merged(catalogue, lines: LineList, guess, n: int, b: int) -> LineCatalogue:
    """The catalogue with each unresolved fine-structure multiplet one line at the centre
    its blend takes at this arc's width and the guess's dispersion
    (:func:`~pipeline.wavelength.multiplets.with_multiplets`)."""
    u = np.linspace(0.0, n * b, 257)
    wave = guess_wavelength(guess, u)
    per_px = np.abs(np.gradient(wave, u)) * b
    rising = np.argsort(wave)
    sigma = float(np.median(lines.sigma))
    return with_multiplets(
        catalogue, sigma, lambda w: float(np.interp(w, wave[rising], per_px[rising]))
    )


def _own_lamp(flux, b: int, template) -> Path | None:
    """The library file of ``template`` when the arc is that lamp's own flux (the library
    refit), else ``None``."""
    if template is None or b != 1 or np.shape(template.flux) != flux.shape:
        return None
    return template.path if np.array_equal(template.flux, flux, equal_nan=True) else None


def _identify_arc(
    setup: ArcSetup, flux, mask, mode, max_shift, max_scale, max_order
) -> IdentifiedArc:
    """Align the arc with its guess and identify its lines against NIST.

    An arc that correlates closely with its library lamp but shows too few NIST lines
    falls back on the lamp's own model (see :func:`_library_fallback`).
    """
    guess, b, lines = setup.guess, setup.binning, setup.lines
    sigma = float(np.median(lines.sigma))
    alignment = _aligned(setup, flux, guess, sigma, max_shift, max_scale)
    lamp_flux = True
    if setup.is_template and alignment.peak < MIN_TEMPLATE_CORRELATION:
        if not _other_lamps(setup, guess):
            raise WavelengthCalibrationError(
                f"arc lines do not match the {_guess_name(guess)} template (correlation "
                f"{alignment.peak:.2f}, expected >= {MIN_TEMPLATE_CORRELATION}); is the arc "
                f"of mode {mode!r} with lamp {getattr(guess, 'lamp', '?')}?"
            )
        # A lamp of other elements (the mode has none of the arc's lamps): its lines
        # are another source's, but its model is the mode's dispersion; the arc is
        # aligned with the NIST lines of its own lamps rendered through that model, as
        # with any first guess. Leaving each library lamp out in turn
        # (benchmarks/grade_library_lamps.py), 600Blue and 600UV CuHeAr from their mode's
        # HgAr lamp, 1200M6 Ne from HgArNe and the two 600Mid lamps from each other
        # correlated at 0.08-0.30 with the other lamp's flux and failed; from its model
        # they agree with their own refits to 0.003-0.07 px.
        lamp_flux = False
        alignment = _aligned(setup, flux, guess, sigma, max_shift, max_scale, lamp_flux)
    ident = _identify_from(setup, flux, mask, guess, alignment, max_order, guess)
    ident, alignment = _shift_only(
        setup, flux, mask, ident, alignment, guess, sigma, max_shift, max_order, lamp_flux
    )
    ident, alignment, guess = _optics_alternative(
        setup,
        flux,
        mask,
        ident,
        alignment,
        guess,
        sigma,
        max_shift,
        max_scale,
        max_order,
        lamp_flux,
    )
    used = ident.used
    brightest = np.argsort(lines.amplitude)[::-1][:20]
    named = float(np.mean(ident.status[brightest] != "unidentified"))
    if used.sum() >= MIN_LINES and named >= MIN_NAMED_FRACTION:
        donor, other, choice = _donor_alternative(setup, flux, mask, ident, guess, max_order)
        if choice is not None and choice.kept == choice.donor:
            return IdentifiedArc(other, other.alignment, donor, "NIST air", guess, choice)
        return IdentifiedArc(ident, alignment, guess, "NIST air", shape=choice)
    problem = (
        f"arc lines do not match NIST lines of {''.join(sorted(setup.lamp))} starting from "
        f"{_guess_name(guess)}: {int(used.sum())} identified and usable (need "
        f"{MIN_LINES}), {named:.0%} of the brightest named (need "
        f"{MIN_NAMED_FRACTION:.0%}); is the arc of mode {mode!r} with these lamps?"
    )
    if not (setup.is_template and lamp_flux and alignment.peak >= FALLBACK_CORRELATION):
        raise WavelengthCalibrationError(problem)
    # The arc is its library lamp (it correlates closely) but shows too few lines
    # of the NIST lists (a few blue HgAr modes): the lamp's own model, moved onto
    # the arc, is the best there is; the product says so (GSP_WREF), and the NIST
    # lines that are there measure it.
    # flexure moves a lamp without changing its dispersion: offset only; the lamp's
    # own model (measured on its lines) is what the fallback moves, even where the
    # optics were the guess for the identification
    if isinstance(guess, LampOnOptics):
        guess = guess.template
    alignment = align(flux, b, guess, setup.rendered, sigma, max_shift, 0.0)
    return IdentifiedArc(_library_fallback(ident, alignment), alignment, guess, FALLBACK_REFERENCE)


def _shift_only(setup, flux, mask, ident, alignment, guess, sigma, max_shift, max_order, lamp_flux):
    """The identification at the guess's own scale where its lines measure a shift only.

    A library lamp's flux aligns an arc in offset and scale (within
    :data:`MAX_SCALE_ERROR_TEMPLATE`: a grating angle off its mode's); the scale is the
    correlation's, set by a few bright, often saturated lines. An arc of so few NIST
    lines that its correction is a shift (order 0, :func:`~pipeline.wavelength.robust_fit.order_cap`)
    cannot take that scale back out: 930M2 HgAr binned 2x2, three lines, aligned at
    scale 0.9996, kept +0.32, +0.30, -0.30 binned px residuals (0.30 px RMS, refused)
    where the lamp's own NIST-corrected model places them to 0.07 px. Flexure moves a
    lamp without stretching it, so such an arc is aligned again at scale 1 and named
    from there; the identification that uses more lines, then fits them better, is kept.
    """
    if not setup.is_template or ident.correction.order != 0 or alignment.scale == 1.0:
        return ident, alignment
    fixed = _aligned(setup, flux, guess, sigma, max_shift, 0.0, lamp_flux)
    other = _identify_from(setup, flux, mask, guess, fixed, max_order, guess)
    n, n_other = int(ident.used.sum()), int(other.used.sum())
    if n_other > n or (
        n_other == n
        and _used_rms(setup, other, fixed, guess) < _used_rms(setup, ident, alignment, guess)
    ):
        return other, fixed
    return ident, alignment


def _used_rms(setup: ArcSetup, ident, alignment, guess) -> float:
    """RMS (binned px) of an identification's used lines about its solution."""
    measured = _measure(setup, IdentifiedArc(ident, alignment, guess, "NIST air"))
    resid = measured.resid_px[measured.used]
    return float(np.sqrt(np.mean(resid**2))) if resid.size else np.inf


def _aligned(setup: ArcSetup, flux, guess, sigma, max_shift, max_scale, lamp_flux=True):
    """The coarse alignment with the guess, bent where the arc's curvature is not the
    guess's (:func:`pipeline.wavelength.alignment_bend.bend_alignment`)."""
    b = setup.binning
    alignment = align(
        flux,
        b,
        guess,
        setup.rendered,
        sigma,
        max_shift,
        max_scale,
        lamp_flux,
        _ionic_weight(setup),
    )
    return bend_alignment(flux, b, guess, setup.rendered, sigma, alignment, lamp_flux=lamp_flux)


def _ionic_weight(setup: ArcSetup) -> float:
    """Weight of the arc's ionic NIST lines against its neutral ones: a hollow cathode's
    are strong, a pen lamp's weak."""
    return 1.0 if setup.lamp & HOLLOW_CATHODE else PEN_LAMP_IONIC_WEIGHT


def _other_lamps(setup: ArcSetup, guess) -> bool:
    """Whether the guess is a library lamp of other elements than the arc's."""
    lamp = library_lamp(guess)
    return lamp is not None and with_fill_gas(elements(lamp.lamp)) != setup.lamp


def _own_lamp_shows(setup: ArcSetup, guess) -> LampShows | None:
    """NIST lines the arc's own library lamp shows clean in its unbinned flux (``None``
    without such a lamp): they judge the arc's lines too coarsely sampled for their
    widths to tell (binned 3x3, see :mod:`pipeline.wavelength.lamp_widths`), and which
    NIST neighbours the lamp lights (:func:`~pipeline.wavelength.identify.nist_pull`).

    Only the lamp of the arc's elements speaks for the arc (another lamp's flux
    ratios are another source's).
    """
    lamp = getattr(guess, "template", guess)
    if not isinstance(lamp, LampTemplate):
        return None
    if with_fill_gas(elements(lamp.lamp)) != setup.lamp:
        return None
    wave = setup.catalogue.wavelength
    fwhm = 2.3548 * float(np.median(setup.lines.sigma)) * setup.binning
    return lamp_shows(lamp, wave, fwhm, MIN_SEPARATION_PX * setup.binning)


def _optics_alternative(
    setup, flux, mask, ident, alignment, guess, sigma, max_shift, max_scale, max_order, lamp_flux
):
    """For a sparse arc started from the uncorrected library lamp of its mode, or one
    whose used lines leave a wide gap (:data:`WIDE_GAP`), the identification from the
    optics model's shape when its lines predict each other better.

    A few lines allow only a low-order correction, which cannot take out a guess's
    higher-order errors; across a wide gap the library model is an extrapolation (its
    own lamp shows no lines there either) that a correction high enough to follow its
    shape elsewhere swings in. Of the two shapes at hand the leave-one-out error of
    the lines (guess px, the same lamp coordinate for both) tells which needs less.
    """
    if not (setup.chosen and isinstance(guess, LampTemplate)):
        return ident, alignment, guess
    if ident.used.sum() < SPARSE_LINES:
        other = optics_shape_guess(guess)
    elif _widest_gap(setup, ident) > WIDE_GAP * setup.n:
        other = optics_gap_guess(guess)
    else:
        return ident, alignment, guess
    if other is None:
        return ident, alignment, guess
    try:
        other_alignment = _aligned(setup, flux, other, sigma, max_shift, max_scale, lamp_flux)
        other_ident = _identify_from(setup, flux, mask, other, other_alignment, max_order, other)
    except ValueError:  # the optics model not invertible over the detector
        return ident, alignment, guess
    better = other_ident.used.sum() + _disagreements(other_ident, ident) >= ident.used.sum() and (
        other_ident.correction.loo_rms < ident.correction.loo_rms
    )
    # the leave-one-out RMS of n lines is known to a relative 1/sqrt(2n) (a sample
    # deviation's standard error): within that, more lines named alike tell more
    within = other_ident.correction.loo_rms <= ident.correction.loo_rms * (
        1.0 + 1.0 / np.sqrt(2.0 * max(int(ident.used.sum()), 1))
    )
    if better or (within and _names_more(other_ident, ident)):
        return other_ident, other_alignment, other
    return ident, alignment, guess


def _identify_from(setup: ArcSetup, flux, mask, model, alignment, max_order, shows_of):
    """The arc's lines named from ``model`` at ``alignment``, with the lamp verdicts of
    ``shows_of`` (:func:`_own_lamp_shows`): every start (the guess, the optics' shape,
    a donor's shape) is identified alike."""
    return identify(
        setup.lines,
        flux,
        setup.binning,
        model,
        alignment,
        setup.catalogue,
        mask=mask,
        max_order=max_order,
        ionic_weight=_ionic_weight(setup),
        optics=optics_of_guess(model),
        lamp_shows=_own_lamp_shows(setup, shows_of),
        cosmic_cleaned=setup.cosmic_cleaned,
    )


def _donor_alternative(setup: ArcSetup, flux, mask, ident, guess, max_order):
    """A sparse arc identified from the shape of its mode's most informative library lamp.

    An arc of fewer than :data:`~pipeline.wavelength.shape_donor.SPARSE_LIBRARY` NIST
    lines corrects its start (its mode's library lamp) at low order and keeps that
    lamp's errors of shape between and beyond its lines; one whose lines leave more
    than :data:`END_GAP` of the detector beyond the outermost follows its start's model
    there. The donor (:func:`~pipeline.wavelength.shape_donor.shape_donor`, the rule
    of the library refit, never the start's own file) is moved onto the lines' zero
    point and scale (:func:`~pipeline.wavelength.shape_donor.donor_alignment`: its
    unbinned library pixels, whatever the arc's binning or ROI), the lines are named
    from it as from any start, and the two shapes are judged by the leave-one-out RMS
    of the start's lines, each at its own alignment and correction order
    (:func:`~pipeline.wavelength.shape_donor.loo_on_lines`). The real library lamps
    as users' arcs without their own files (``benchmarks/grade_library_lamps.py``):
    1200M7 Ar, 7-9 lines started from the mode's HgAr lamp, 0.069 -> 0.044 px against
    NIST from 1200M7 Ne's shape (leave-one-out 0.077 -> 0.047 guess px); 1200M1 Ar,
    its last line 20 % from the red end, no longer names an unlisted feature beyond it
    from the CuHeAr lamp's shape (0.162 -> 0.021 px).

    Returns
    -------
    donor : LampTemplate or None
    other : Identification or None
        The identification from the donor's shape.
    choice : ShapeChoice or None
        What was compared (``None`` when the arc is not sparse or has no donor).
    """
    none = (None, None, None)
    used = ident.used
    if not setup.chosen or used.sum() < MIN_LINES:
        return none
    pix = ident.lines.centre[used]
    end_gap = max(float(pix.min()), setup.n - 1.0 - float(pix.max())) / setup.n
    if used.sum() >= SPARSE_LIBRARY and end_gap <= END_GAP:
        return none
    lamp = library_lamp(guess)
    donor = None if lamp is None else shape_donor(lamp)
    if donor is None:
        return none
    n, b = setup.n, setup.binning
    j, ref = ident.lines.centre[used], ident.reference[used]
    err = np.ones(j.size) if ident.fit_error is None else ident.fit_error[used]
    w = 1.0 / np.hypot(np.nan_to_num(err, nan=1.0), SYSTEMATIC_PX) ** 2
    start = donor_alignment(donor, j, ref, w, n, b, ident.alignment.peak)
    if start is None:
        return none
    try:
        # the arc's own library lamp's verdicts on which lines it shows clean (a 3x3
        # arc's widths cannot tell), whatever shape names them: from the donor's, a
        # lamp of other elements, 3x3 physical-truth arcs set aside expected lines as
        # blends (600_UV CuHeAr, 930_M5 FeHeAr, 1200_M1 Ar)
        other = _identify_from(setup, flux, mask, donor, start, max_order, guess)
        own = loo_on_lines(guess, ident.alignment, j, ref, w, n, b, ident.correction.order)
        theirs = loo_on_lines(donor, start, j, ref, w, n, b, other.correction.order)
    except ValueError:  # a model not invertible over the detector
        return none
    if other.used.sum() < MIN_LINES:
        return none
    choice = ShapeChoice(_guess_name(guess), donor.file_name, own, theirs)
    return donor, other, choice


def _disagreements(other, ident) -> int:
    """Lines ``ident`` uses that ``other`` named otherwise or rejected from its fit.

    A line ``other`` left unnamed is one it did not reach, not a disagreement. Those
    counted are a disagreement between the two identifications, which the leave-one-out
    error judges (see :func:`_names_more`): ``other`` is not short of lines for leaving
    them out. 1200_M1 Ar (its library model a poor shape: leave-one-out 0.31 guess px
    against the optics' 0.02): the library start used Ar I 4266.29 + Ar II 4266.53, an
    unresolved pair 0.15 FWHM wide, under the Ar II name; the optics start named it Ar
    I and rejected it. One line short, the optics lost, and the solution was 0.07-0.15
    px RMS off the truth.
    """
    named_else = np.isfinite(other.reference) & (other.reference != ident.reference)
    return int(np.sum(ident.used & ((other.status == "outlier") | named_else)))


def _names_more(ident, other) -> bool:
    """Whether ``ident`` uses every line ``other`` uses, named alike, and more lines
    that ``other`` left unnamed.

    Then the two shapes agree wherever ``other`` found lines, and ``ident``'s extra
    lines, which passed every test of its identification, are lines the other shape
    could not reach (in a wide gap, past it at an end). Their leave-one-out errors
    cannot compare: ``ident``'s counts lines farther out, which predict each other
    less well however right their names (600 l/mm MID, 1x1: the optics' shape named
    the line in the gap and the blue-edge line beyond it, 1430 px from the others,
    and lost on a leave-one-out error of 0.0170 guess px against 0.0164, well within
    what 44 lines measure it to). A line ``other`` named but set aside (an outlier of
    its fit) is a disagreement, which the leave-one-out error judges; so is a shape
    that lets the lines predict each other clearly worse (1200_M5 1x1 synthetic arc:
    the optics' shape named one line more at 0.138 against 0.094, order 0 against 1,
    and the solution went from 0.04 to 0.12 px RMS).
    """
    mine, theirs = ident.used, other.used
    extra = mine & ~theirs
    if not extra.any() or np.any(theirs & ~mine):
        return False
    unnamed = np.all(np.isnan(other.reference[extra]))
    return bool(unnamed and np.all(ident.reference[theirs] == other.reference[theirs]))


def _widest_gap(setup: ArcSetup, ident) -> float:
    """Widest stretch of the arc (binned px), detector ends included, without a used line."""
    j = np.sort(ident.lines.centre[ident.used])
    return float(np.max(np.diff(np.r_[0.0, j, setup.n - 1.0])))


def _measure(
    setup: ArcSetup,
    found: IdentifiedArc,
    bulbs: BulbTerms | None = None,
    pen: PenShift | None = None,
) -> MeasuredSolution:
    """The solution as goodman's Chebyshev series, and its residuals at the lines.

    With ``bulbs`` (a two-bulb lamp solved apart, :func:`_separate_bulbs`) the series is
    the HgAr bulb's solution, and a Ne line's residual is taken against it plus the Ne
    bulb's offset and slope: each line against its own bulb's light. With ``pen`` (a pen
    lamp's high-excitation Ar I lines carried apart, :func:`_pen_shift`) the series is
    the other lines' solution, and those lines' residuals are taken against it plus
    their offset (the bulbs' terms, when both, were fitted after it).
    """
    n, b, ident = setup.n, setup.binning, found.ident
    j = np.arange(n, dtype=float)
    xj = 2.0 * j / max(n - 1, 1) - 1.0
    # beyond the outermost lines the correction continues along its tangent: smooth,
    # so that the series below reproduces it at the end lines (see PolyFit.tangent);
    # where the lines measure the optics model's departure, the optics take over there
    u_all = found.alignment(b * j + (b - 1) / 2.0) + ident.correction.tangent(xj)
    wave = guess_wavelength(found.guess, u_all)
    if found.reference != FALLBACK_REFERENCE:
        wave = _beyond_lines_along_optics(setup, found, j, wave)
    shapes = [t.shape for t in (bulbs, pen) if t is not None]
    if shapes:
        # the two series may be of different orders (the pen fit's is capped by its lines)
        shape = shapes[0] if len(shapes) == 1 else chebyshev.chebadd(*shapes)
        wave = wave - _shape_beyond_lines(xj, shape, found) * np.abs(np.gradient(wave))
    coefficients = chebyshev_for(j, wave)
    pix = found.ident.lines.centre
    fitted = chebyshev.chebval(pix, coefficients)
    disp_at = np.abs(chebyshev.chebval(pix, chebyshev.chebder(coefficients)))
    if bulbs is not None:
        ne = bulb_sides(setup.lamp, ident.ion) > 0
        x = 2.0 * pix / max(n - 1, 1) - 1.0
        # a Ne line's NIST wavelength is where its own bulb's light puts it
        fitted = fitted - np.where(ne, bulbs.ne_pixel(x), 0.0) * disp_at
    if pen is not None:
        # a high-excitation Ar I line's NIST wavelength is where the pen lamp's
        # pressure moved it from
        fitted = fitted - np.where(_pen_lines(setup, found), pen.offset, 0.0) * disp_at
    resid = fitted - ident.reference
    resid_px = resid / disp_at
    used = ident.used
    if found.reference == FALLBACK_REFERENCE:
        # the NIST lines found (not fitted) within a pixel measure the library model
        used = used & np.isfinite(resid_px) & (np.abs(resid_px) < 1.0)
        ident.status[(ident.status == "used") & ~used] = "outlier"
    rms_px = float(np.sqrt(np.mean(resid_px[used] ** 2))) if used.any() else 0.0
    rms_a = float(np.sqrt(np.mean(resid[used] ** 2))) if used.any() else 0.0
    return MeasuredSolution(coefficients, fitted, resid, resid_px, used, rms_px, rms_a)


def _shape_beyond_lines(xj: np.ndarray, shape: np.ndarray, found: IdentifiedArc) -> np.ndarray:
    """A bulbs' or pen lamp's shape at ``xj``, continued straight past the outermost
    used lines.

    The shape (:class:`~pipeline.wavelength.bulbs.BulbTerms`) is a series fitted to the
    lines' residuals, of the correction's order or more. What separates two light
    paths is an offset and a slope (the Ne bulb's terms); its bends are measured only
    between the lines, and continued as a polynomial past them they undo the
    continuation along the optics there. So beyond the outermost line the shape keeps
    its value there and the slope of its straight-line fit over the lines' span. The
    real 1200 CaNIR HgArNe lamp (Ne bulb apart, order-5 shape, lines from 883 px): the
    unresolved Ar I 7723.76/7724.21 pair at 165.8 px was 2.1 px from the refit's
    solution, the shape's extrapolation adding 1.6 px of it.
    """
    inner = chebyshev.chebval(xj, shape)
    used = found.ident.used
    if used.sum() < 2:
        return inner
    x = 2.0 * found.ident.lines.centre[used] / max(xj.size - 1, 1) - 1.0
    lo, hi = float(x.min()), float(x.max())
    span = (xj >= lo) & (xj <= hi)
    if span.sum() < 2:
        return inner
    slope = np.polyfit(xj[span], inner[span], 1)[0]
    out = inner.copy()
    for end, side in ((lo, xj < lo), (hi, xj > hi)):
        out[side] = chebyshev.chebval(end, shape) + slope * (xj[side] - end)
    return out


def _bulb_offset(setup: ArcSetup, found: IdentifiedArc, m: MeasuredSolution):
    """Offset of a two-bulb lamp's Ne lines against its HgAr lines (``None`` for one
    bulb, or too few lines of either; :mod:`pipeline.wavelength.bulbs`).

    Measured on the lines used and those rejected as outliers: where one bulb's lines
    sit off the other's, the fit keeps the bulb with more lines and rejects the
    other's (``sp_400m1``: Hg 5461-5791 and Ar 6965, 0.3 px off the Ne lines around
    them).
    """
    ident = found.ident
    side = bulb_sides(setup.lamp, ident.ion)
    if side is None or found.reference != "NIST air" or ident.fit_error is None:
        return None
    pick = np.isin(ident.status, ("used", "outlier")) & np.isfinite(m.resid_px)
    x = 2.0 * ident.lines.centre / max(setup.n - 1, 1) - 1.0
    return best_offset(
        x[pick], m.resid_px[pick], ident.fit_error[pick], side[pick], ident.correction.order
    )


def _bulb_choice(separate_bulbs) -> str:
    """``separate_bulbs`` as one of :data:`SEPARATE_BULBS_CHOICES` (``None`` and ``False``
    measure, ``True`` applies)."""
    if separate_bulbs is None or separate_bulbs is False:
        return "measure"
    if separate_bulbs is True:
        return "apply"
    if separate_bulbs not in SEPARATE_BULBS_CHOICES:
        raise ValueError(
            f"separate_bulbs must be one of {SEPARATE_BULBS_CHOICES} (or True, False, None), "
            f"not {separate_bulbs!r}"
        )
    return separate_bulbs


def _from_joint_lamp(setup: ArcSetup, found: IdentifiedArc) -> bool:
    """Whether the arc started from a library lamp of its own two bulbs whose refit
    solved them together (no ``GSP_RNBO``: its lines did not tell the bulbs apart).

    That lamp's model, which the arc's solution continues beyond its lines, is one
    solution of both bulbs, and the mode's lamp says they share one to within what
    its lines measure: the arc keeps it. The real 1200 M5 HgArNe lamp (joint, 0.082 px
    against NIST), moved 2.38 px as a synthetic arc, told its bulbs apart (0.091 ->
    0.021 px, Ne bulb +0.13 px) and its HgAr bulb's solution sat 0.088 px from the
    lamp's model it was drawn from.
    """
    start = library_lamp(found.start if found.start is not None else found.guess)
    if start is None or start.ne_bulb is not None:
        return False
    return bulb_sides(start.elements, []) is not None


def _pen_lines(setup: ArcSetup, found: IdentifiedArc) -> np.ndarray:
    """Which of the arc's lines are a pen lamp's high-excitation Ar I lines, identified
    with NIST (:mod:`pipeline.wavelength.pen_lamp`; none in any other lamp)."""
    ident = found.ident
    if not pen_lamp_argon(setup.lamp) or found.reference != "NIST air":
        return np.zeros(ident.lines.centre.size, bool)
    return high_excitation_argon(ident.reference, ident.ion)


def _pen_shift(setup: ArcSetup, found: IdentifiedArc, m: MeasuredSolution, applied: bool):
    """A pen lamp's high-excitation Ar I lines' offset from its other lines, where it is
    significant (:mod:`pipeline.wavelength.pen_lamp`; ``None`` otherwise).

    Fitted to the lines used beside the solution's correction, as the bulbs are. Only
    where it is ``applied`` (the solution anchored on the other lines) are the lines
    far from that fit outliers of the lamp's solution; measured, the solution keeps
    every used line at its NIST wavelength.
    """
    if found.ident.fit_error is None:
        return None
    high = _pen_lines(setup, found)
    if not high.any():
        return None
    return _fitted_apart(setup, found, m, fit_pen_shift, high, set_aside=applied)


def _fitted_apart(
    setup: ArcSetup, found: IdentifiedArc, m: MeasuredSolution, fit, kind, set_aside=True
):
    """``fit`` (:func:`~pipeline.wavelength.bulbs.separate_bulbs` or
    :func:`~pipeline.wavelength.pen_lamp.fit_pen_shift`) of the used lines' residuals,
    ``kind`` telling their groups apart; with ``set_aside``, the lines it leaves out are
    outliers of the lamp's solution."""
    ident = found.ident
    pick = m.used & np.isfinite(m.resid_px)
    x = 2.0 * ident.lines.centre / max(setup.n - 1, 1) - 1.0
    terms = fit(
        x[pick], m.resid_px[pick], ident.fit_error[pick], kind[pick], ident.correction.order
    )
    if terms is not None and set_aside:
        ident.status[np.nonzero(pick)[0][~terms.kept]] = "outlier"
    return terms


def _separate_bulbs(
    setup: ArcSetup, found: IdentifiedArc, m: MeasuredSolution, set_aside: bool = True
):
    """The two bulbs of a two-bulb lamp solved apart, where its lines tell them apart
    (:func:`pipeline.wavelength.bulbs.separate_bulbs`; ``None`` otherwise).

    Fitted to the lines used: the joint fit's outliers include lines of a bulb it
    could not follow, but also misnamed lines. Only where the terms are applied
    (``set_aside``) are the lines far from that fit outliers of the lamp's solution;
    measured, the solution keeps every used line.
    """
    ident = found.ident
    side = bulb_sides(setup.lamp, ident.ion)
    if side is None or found.reference != "NIST air" or ident.fit_error is None:
        return None
    return _fitted_apart(setup, found, m, separate_bulbs, side, set_aside=set_aside)


def _beyond_lines_along_optics(setup: ArcSetup, found: IdentifiedArc, j, wave) -> np.ndarray:
    """The solution past the outermost used lines continued along the library lamp's
    model as far as that lamp's own lines measured it, and beyond along the guess's
    optics model (see :mod:`pipeline.wavelength.optics_continuation`); unchanged
    where the lines do not measure the departure from either."""
    used = found.ident.used
    if used.sum() < MIN_LINES:
        return wave
    n, b = setup.n, setup.binning
    pix = found.ident.lines.centre[used]
    lines = (
        2.0 * pix / max(n - 1, 1) - 1.0,
        b * pix + (b - 1) / 2.0,
        found.ident.reference[used],
        b * np.hypot(np.nan_to_num(found.ident.lines.centre_error[used], nan=1.0), SYSTEMATIC_PX),
        b,
    )
    lo, hi = _measured_span(setup, found.guess, j, wave, pix.min(), pix.max())
    if lo < pix.min() or hi > pix.max():
        lamp = LampModel(library_lamp(found.guess))
        along_lamp = fit_departure(lamp, *lines)
        if along_lamp is not None:
            wave = continue_along_optics(j, wave, n, b, lamp, along_lamp, pix.min(), pix.max())
    optics = optics_of_guess(found.guess)
    departure = None if optics is None else fit_departure(optics, *lines)
    if departure is None:
        return wave
    return continue_along_optics(j, wave, n, b, optics, departure, lo, hi)


def _measured_span(
    setup: ArcSetup, guess, j, wave, j_lo: float, j_hi: float
) -> tuple[float, float]:
    """Binned pixels between which lines measured the solution's shape: the arc's own
    outermost used lines, widened to the library lamp's outermost catalogued lines
    when the solution follows that lamp's model.

    Where the library's own lamp showed lines, its model was fitted to them there: it
    is measured, and the arc's departure from it continued at low order (flexure and
    a smooth change) is better evidence than the optics model, which departs from a real
    spectrograph by a pixel or so (400 l/mm, M1: Hg 3650-4358 blended or saturated in
    the arc, but catalogued in the lamp; along the optics 0.7 px off at them). Only
    beyond the lamp's own lines is its model an extrapolation the optics replace.

    An arc that is the lamp's own exposure (the library refit, ``setup.own_lamp``) is
    not widened: the lamp's lines are its lines, and those it used are all that
    measure its model against NIST. The lamp's further catalogued lines are goodman's,
    named from that stored model, and a departure from it continued to them is the
    stored fit's polynomial extrapolated, not physics: past its used lines the refit
    is continued as a user's arc is past the refit's (its NIST lines), along the
    optics. 1200M4 FeHeAr (lines from 879 px, goodman's to 221): Ar I 5681.9 at 221
    px 0.28 px off along the stored model, 0.14 along the optics; the mode's Ne lamp
    there 0.35 px from it, 0.17.
    """
    lamp = library_lamp(guess)
    if lamp is None or (setup.own_lamp is not None and lamp.path == setup.own_lamp):
        return j_lo, j_hi
    span = measured_range(lamp)
    if span is None:
        return j_lo, j_hi
    lamp_wave = np.array(span)
    rising = wave[-1] > wave[0]
    ww, jj = (wave, j) if rising else (wave[::-1], j[::-1])
    # a lamp line beyond the arc's ends measured the lamp's model up to that end
    at = np.interp(lamp_wave, ww, jj)
    return min(j_lo, float(at.min())), max(j_hi, float(at.max()))


def _solution(
    setup,
    found: IdentifiedArc,
    m: MeasuredSolution,
    mode,
    arc_name,
    bulb: BulbOffset | None,
    terms: BulbTerms | None = None,
    pen: PenShift | None = None,
    pen_applied: bool = False,
    bulbs_applied: bool = False,
):
    """The :class:`WavelengthSolution` with its line table."""
    lines, ident = found.ident.lines, found.ident
    pix = lines.centre
    unstated = np.full(pix.size, np.nan)
    table = Table(
        {
            "pixel": pix,
            "pixel_error": lines.centre_error,
            "reference_error": _or_unstated(ident.reference_error, unstated),
            "fit_error": _or_unstated(ident.fit_error, unstated),
            "scatter_error": _or_unstated(
                _scaled_to_scatter(ident.fit_error, m.resid_px, m.used, ident.correction.order),
                unstated,
            ),
            "fwhm": 2.3548 * lines.sigma,
            "amplitude": lines.amplitude,
            "reference_wavelength": ident.reference * u.AA,
            "lab_wavelength": ident.reference * u.AA,
            "ion": ident.ion,
            "fitted_wavelength": m.fitted * u.AA,
            "residual": m.resid * u.AA,
            "residual_pixel": m.resid_px,
            "used": m.used,
            "status": ident.status,
            "pen_shift_line": _pen_lines(setup, found),
            "arc": np.full(pix.size, arc_name or ""),
        }
    )
    n, b = setup.n, setup.binning
    centre = (n * b - 1) / 2.0
    u_centre = _lamp_coordinate(found.guess, found.alignment(centre) + ident.correction(0.0))
    guess = found.guess
    if found.start is not None:
        # named after the arc's own start; its flexure against that lamp, not the donor
        wave = guess_wavelength(guess, np.array([u_centre]))
        u_start = _lamp_coordinate(found.start, inverse(found.start, wave)[0])
        u_centre, guess = (u_start if np.isfinite(u_start) else u_centre), found.start
    shape = found.shape
    return WavelengthSolution(
        coefficients=m.coefficients,
        npix=n,
        binning=b,
        rms_angstrom=m.rms_angstrom,
        rms_pixel=m.rms_pixel,
        n_used=int(m.used.sum()),
        n_rejected=int((~m.used).sum()),
        lines=table,
        template=_guess_name(guess),
        lamp=str(getattr(guess, "lamp", "") or "".join(sorted(setup.lamp))),
        mode=str(getattr(guess, "mode", "") or (mode or "")),
        reference=found.reference,
        shift_unbinned=float(centre - u_centre),
        arcs=[arc_name] if arc_name else [],
        mean_pixel=float(np.mean(m.resid_px[m.used])) if m.used.any() else 0.0,
        correction_order=int(ident.correction.order),
        catalogues=catalogue_files(setup.lamp),
        bulb_offset_pixel=None if bulb is None else bulb.offset,
        bulb_offset_error=None if bulb is None else bulb.error,
        ne_bulb_pixel=None if terms is None else (terms.offset, terms.slope),
        ne_bulb_error=None if terms is None else (terms.offset_error, terms.slope_error),
        ne_bulb_applied=terms is not None and bulbs_applied,
        pen_shift_pixel=None if pen is None else (pen.offset, pen.error),
        pen_shift_applied=pen is not None and pen_applied,
        shape_from="" if shape is None else shape.kept,
        shape_note="" if shape is None else shape.note(),
    )


def _scaled_to_scatter(fit_error, resid_px, used, order: int) -> np.ndarray | None:
    """The fit's line errors scaled by its reduced chi (``None`` where it has none).

    Real arcs' centring errors carry the instrument profile's misfit of a Gaussian,
    which every line shares and the fit absorbs: the residuals against NIST are 2-6
    times smaller than ``fit_error`` (sp_400m1: 0.018 px RMS against 0.077 stated).
    The weights keep their ratios (any other weighing tried made a real arc's
    fit worse); their scale is the one the residuals show.
    """
    if fit_error is None:
        return None
    fit_error = np.asarray(fit_error, float)
    used = np.asarray(used, bool) & np.isfinite(fit_error) & np.isfinite(resid_px)
    dof = int(used.sum()) - int(order) - 1
    if dof < 1:
        return None
    chi2 = float(np.sum((np.asarray(resid_px, float)[used] / fit_error[used]) ** 2))
    return fit_error * np.sqrt(chi2 / dof)


def _or_unstated(values, unstated: np.ndarray) -> np.ndarray:
    return unstated if values is None else np.asarray(values, float)


def _lamp_coordinate(guess, u: float) -> float:
    """The library lamp's own pixel at a guess coordinate: the optics moved onto a lamp
    share its coordinate only up to their shapes' difference (a pixel or so), and the
    flexure reported is against the lamp."""
    if not isinstance(guess, LampOnOptics):
        return float(u)
    wave = guess_wavelength(guess, np.array([u]))
    lamp_u = inverse(guess.template, wave, guess.template.npix)[0]
    return float(lamp_u) if np.isfinite(lamp_u) else float(u)


def _library_fallback(ident, alignment):
    """The identification with no correction to the guess, on a new alignment."""
    import dataclasses

    from pipeline.wavelength.robust_fit import PolyFit

    zero = PolyFit(coef=np.zeros(1), used=np.zeros(0, bool), order=0, loo_rms=np.inf)
    return dataclasses.replace(ident, correction=zero, alignment=alignment)


def chebyshev_for(j: np.ndarray, wave: np.ndarray, tol_px: float = 0.002) -> np.ndarray:
    """Find the lowest-degree default-domain Chebyshev series matching ``wave`` to ``tol_px``.

    The series is over the pixel index itself (goodman's ``GSP_Cnnn`` convention), so
    it is fitted on a scaled domain (well conditioned) and converted.

    Parameters
    ----------
    j : numpy.ndarray
        Pixel indices (binned, 0-based), increasing.
    wave : numpy.ndarray
        Wavelength (Å) at each index: the solution to restate.
    tol_px : float
        Largest departure allowed, in pixels (times the local dispersion in Å).

    Returns
    -------
    numpy.ndarray
        Coefficients of ``chebval(j, coef)`` (domain and window [-1, 1]), degree 2 to 9;
        the degree-9 series when none matches to ``tol_px``.
    """
    disp = np.abs(np.gradient(wave))
    tol = tol_px * disp
    coef = None
    # fitted on every 4th pixel and both ends (smooth model), checked on all
    sub = np.unique(np.r_[np.arange(0, j.size, 4), j.size - 1])
    for degree in range(2, 10):
        series = Chebyshev.fit(j[sub], wave[sub], degree, domain=[j[0], j[-1]])
        coef = series.convert(domain=[-1, 1], window=[-1, 1]).coef
        if np.all(np.abs(chebyshev.chebval(j, coef) - wave) <= tol):
            return coef
    return coef


__all__ = [
    "MAX_SHIFT_UNBINNED",
    "NoLampTemplateError",
    "WavelengthCalibrationError",
    "calibrate_arc",
    "chebyshev_for",
]
