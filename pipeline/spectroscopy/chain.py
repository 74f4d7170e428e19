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

Nothing raises for bad input: every outcome is a :class:`ProductResult` with a status
and a reason (no target, no arc, arc of another mode, mode not in the library...), and
files are written atomically, so nothing is half-written.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData
from astropy.table import vstack

from pipeline.lamps import cosmic_cleaned
from pipeline.products import (
    RLEVEL_EXTRACTED,
    RLEVEL_WAVELENGTH,
    header_name,
    raise_if_storage_error,
)
from pipeline.reduction.rebin import match_binning
from pipeline.spectroscopy.extract import extract_arrays
from pipeline.spectroscopy.targets import find_targets
from pipeline.spectroscopy.trace import Trace, trace_target
from pipeline.spectroscopy.wavelength_guess import (
    OpticsGuess,
    choose_first_guess,
    frame_x0,
    optics_verdict,
)
from pipeline.vocabulary import StepOutcome
from pipeline.wavelength.arc_match import setup_mismatch, setup_of
from pipeline.wavelength.calibrate import WavelengthCalibrationError, calibrate_arc
from pipeline.wavelength.fits_io import write_spectrum
from pipeline.wavelength.lamp_choice import (
    NoLampTemplateError,
    arc_elements,
)
from pipeline.wavelength.resample import resample_arrays
from pipeline.wavelength.sky import measure_sky_offset, shift_solution
from pipeline.wavelength.solution import WavelengthSolution, restate_lines

DATA_TYPE_EXTRACTED = 3
DATA_TYPE_WAVELENGTH = 4
#: Solutions of several arcs closer than this everywhere (binned px) are averaged.
COMBINE_TOLERANCE_PX = 0.1


@dataclass
class ProductResult:
    """One product of the chain (or the reason it was not made).

    Attributes
    ----------
    file : str or None
        Path of the product written, ``None`` when none was.
    data_type : int
        3 (extracted 1-D) or 4 (wavelength calibrated).
    raw_parent : str
        Raw file name (``GSP_ONAM``).
    parent : str
        File the product was made from (``GSP_PNAM``).
    status : StepOutcome
        ``WRITTEN``, ``SKIPPED`` (input not usable, with the reason) or ``FAILED``.
    reason : str
    quality : dict
        Trace RMS, S/N, FWHM, wavelength RMS (Å and px), lines used and rejected, arcs.
    target : int or None
        1-based target number (``None`` for a calibrated arc).
    seconds : float
    parent_path : str or None
        Path of the parent when it is not the science frame (a calibrated arc's
        reduced arc).
    """

    file: str | None
    data_type: int
    raw_parent: str
    parent: str
    status: StepOutcome
    reason: str = ""
    quality: dict = field(default_factory=dict)
    target: int | None = None
    seconds: float = 0.0
    parent_path: str | None = None

    def to_dict(self) -> dict:
        return {
            "file": Path(self.file).name if self.file else None,
            "path": self.file,
            "data_type": self.data_type,
            "raw_parent": self.raw_parent,
            "parent": self.parent,
            "status": self.status,
            "reason": self.reason,
            "target": self.target,
            "quality": self.quality,
        }


# ------------------------------------------------------------------ inputs


def load_reduced(item) -> tuple[CCDData, str]:
    """A reduced frame and its file name, from a path or a CCDData (header GSP_FNAM).

    Parameters
    ----------
    item : path or CCDData

    Returns
    -------
    ccd : CCDData
        With uncertainty and mask (cleaned cosmic-ray pixels unmasked), and the
        ``MASK`` bits in ``flags``.
    name : str
    """
    if isinstance(item, CCDData):
        name = header_name(item.header, "GSP_FNAM", item.meta.get("file_name", "frame.fits"))
        return item, name
    path = Path(item)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # datfix and other harmless FITS fixes
        ccd = CCDData.read(path, hdu_uncertainty="UNCERT", hdu_mask="MASK", unit="adu")
        with fits.open(path, memmap=False) as hdul:
            bits = hdul["MASK"].data if "MASK" in hdul else None
    if bits is not None:
        from pipeline.reduction.masks import COSMIC_RAY

        # Cosmic-ray pixels were cleaned by the CCD reduction: their values are usable
        # (and optimal extraction rejects what is left of a hit), so only saturated and
        # bad-flat pixels stay masked; masking cleaned pixels would blank whole columns
        # of a fractional extraction.
        ccd.mask = (np.asarray(bits, np.uint8) & ~np.uint8(COSMIC_RAY)) != 0
        # ... and their bits go along: extraction bridges them with the target's
        # profile, which a line's core fits better than the cleaning's neighbour mean
        ccd.flags = np.asarray(bits, np.uint8)
    return ccd, path.name


def _binning(header) -> int:
    try:
        return int(str(header.get("CCDSUM", "1 1")).split()[0])
    except (ValueError, IndexError):
        return 1


def _ccdsum(header) -> str:
    return str(header.get("CCDSUM", "?")).strip()


def _date(header) -> datetime | None:
    try:
        return datetime.fromisoformat(str(header.get("DATE-OBS", "")).strip())
    except ValueError:
        return None


def _raw_name(header, fallback: str) -> str:
    return header_name(header, "GSP_ONAM", fallback)


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


# ------------------------------------------------------------------ arcs


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
    arc: CCDData, arc_name: str, trace: Trace, half_width, mode, first_guess=None
):
    """The arc extracted along a science trace, and its wavelength solution.

    ``first_guess`` (any object with ``wavelength(unbinned_pixel)``, e.g. the optics
    model) replaces the library lamp as the start of the identification.

    Parameters
    ----------
    arc : CCDData
    arc_name : str
    trace : Trace
    half_width : float
    mode : str
    first_guess : object, optional

    Returns
    -------
    solution : WavelengthSolution
    spectrum : SpectrumArrays
        The arc extracted along the trace.
    """
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
        _binning(arc.header),
        arc_name=arc_name,
        first_guess=first_guess,
        cosmic_cleaned=cosmic_cleaned(arc.header),
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


# ------------------------------------------------------------------ products


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
    raw = _raw_name(header, arc_name)
    name = product_name("w", product_name("e", arc_name))
    quality = solution.quality()
    try:
        calibrated = resample_arrays(spectrum, solution)
        extra = {k: (v, c) for k, v, c in solution.header_cards()}
        path = write_spectrum(
            calibrated,
            out_dir / name,
            header,
            _lineage(header, raw, arc_name, name, RLEVEL_WAVELENGTH, settings, extra),
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


def _product_names(science_name: str, target_no: int) -> tuple[str, str]:
    from pipeline.products import product_name

    stem = science_name[:-5] if science_name.lower().endswith(".fits") else science_name
    base = f"{stem}_target_{target_no}.fits"
    ecf = product_name("e", base)
    return ecf, product_name("w", ecf)


def _lineage(header, original, parent, file_name, rlevel, settings, extra):
    from pipeline.products import lineage_cards_after

    return lineage_cards_after(
        header,
        original=original,
        parent=parent,
        file_name=file_name,
        rlevel=rlevel,
        extra=extra,
        settings=settings,
    )


# ------------------------------------------------------------------ the chain's stages


@dataclass
class ScienceFrame:
    """A reduced science (or standard) frame on its way through the chain."""

    ccd: CCDData
    name: str
    settings: object
    out_dir: Path
    raw_dirs: tuple

    @property
    def header(self):
        return self.ccd.header

    @property
    def raw(self) -> str:
        """The raw file name (``GSP_ONAM``)."""
        return _raw_name(self.header, self.name)

    def result(self, data_type: int, status: StepOutcome, reason: str = "", **fields):
        """A :class:`ProductResult` of this frame (``parent`` defaults to the frame)."""
        fields.setdefault("parent", self.name)
        return ProductResult(
            fields.pop("file", None), data_type, self.raw, status=status, reason=reason, **fields
        )

    def write(self, spectrum, name: str, parent: str, rlevel: int, extra: dict, solution=None):
        """Write a 1-D product of this frame with its lineage cards; returns the path."""
        cards = _lineage(self.header, self.raw, parent, name, rlevel, self.settings, extra)
        return write_spectrum(
            spectrum,
            self.out_dir / name,
            self.header,
            cards,
            raw_dirs=self.raw_dirs,
            solution=solution,
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
class TargetSpectrum:
    """One target extracted: trace, spectrum, its quality and cards, product names."""

    number: int
    trace: Trace
    spectrum: object
    quality: dict
    extra: dict
    ecf_name: str
    w_name: str


@dataclass
class ArcSolutions:
    """Each arc's solution along one target's trace, and what went wrong with others."""

    solutions: list[WavelengthSolution] = field(default_factory=list)
    dates: list = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    products: list[ProductResult] = field(default_factory=list)


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
                arc, arc_name, target.trace, half_width, arcs.mode, arcs.first_guess
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
        out.dates.append(_date(arc.header))
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


def _joined(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


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
    solution, note = combine_solutions(solved.solutions, solved.dates, _date(frame.header))
    rebinned = [n for a, n in arcs.usable if "GSP_REBN" in a.header]
    if rebinned:
        # A mixed-binning night: say which arcs were summed to this frame's pixels.
        note = _joined(
            note,
            f"arcs rebinned along columns to CCDSUM {_ccdsum(frame.header)}: "
            + ", ".join(rebinned),
        )
    if target.spectrum.meta.get("background") is not None:
        # Flexure between the arcs and this frame, from its own sky lines.
        sky = measure_sky_offset(target.spectrum.meta["sky"], solution)
        if sky.applied:
            solution = shift_solution(solution, sky.offset)
        if sky.note and sky.n_lines:
            note = _joined(note, sky.note)
    return solution, note


def _no_solution_reason(frame: ScienceFrame, arcs: ArcSet) -> str:
    why = "; ".join(f"{n}: {r}" for n, r in arcs.refused) or "none in the night"
    return (
        f"no arc of mode {arcs.mode or '?'} and CCDSUM {_ccdsum(frame.header)} to calibrate "
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
    reason = _joined(
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

    The stages, each a function of this module: :func:`read_science`,
    :func:`locate_targets`, :func:`gather_arcs`, then per target
    :func:`extract_target` and :func:`calibrate_target` (:func:`solve_arcs`,
    :func:`final_solution`, resampling and writing).

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
