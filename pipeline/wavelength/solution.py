"""A wavelength solution and its goodman_pipeline header cards.

The solution is a Chebyshev series over the 0-based *binned* pixel index with the
default domain, exactly as goodman_pipeline writes ``GSP_FUNC``/``GSP_ORDR``/
``GSP_Cnnn``: ``wavelength(j) = chebval(j, [GSP_C000, GSP_C001, ...])``. Existing
tools that read goodman products read ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table
from numpy.polynomial import chebyshev

#: A solution whose used lines span less than this fraction of the detector carries a
#: warning: beyond its outermost lines it is extrapolated, whatever its RMS says (on
#: physical-truth arcs of every library mode only 930_M1 at 1x1, 9 lines, was below:
#: 0.44; the next lowest 0.73).
MIN_LINE_COVERAGE = 0.5
#: ... and one with a stretch of more than this fraction of the detector without a used
#: line (ends included): the relation there is interpolated across the gap (2100 l/mm
#: at 3900 A, 7-9 lines: 0.55; 930_M1 1x1: 0.40; every other mode 0.30 or less).
MAX_GAP_FRACTION = 0.35


@dataclass
class WavelengthSolution:
    """Pixel-to-wavelength model of one arc (or a combination of arcs).

    Attributes
    ----------
    coefficients : ndarray
        Chebyshev coefficients (default domain) over the binned pixel index, Å.
    npix : int
        Number of binned pixels along the dispersion axis.
    binning : int
        Binning along the dispersion axis.
    rms_angstrom, rms_pixel : float
        RMS of the final fit's residuals over the lines used, in Å and binned pixels.
    n_used, n_rejected : int
        Lines kept in, and rejected from, the final fit.
    lines : astropy.table.Table
        One row per arc line: ``pixel``, ``pixel_error`` (its centring error),
        ``reference_error`` (how far its NIST neighbours may pull it off its reference's
        place), ``fit_error`` (the error the fit weighed it with: those two and a
        systematic floor in quadrature), ``scatter_error`` (``fit_error`` scaled to the
        fit's residuals: reduced chi-square 1), ``fwhm`` (all binned px), ``amplitude``,
        ``reference_wavelength`` (NIST air Å, NaN when unidentified),
        ``lab_wavelength`` (the same), ``ion``, ``fitted_wavelength``, ``residual`` (Å),
        ``residual_pixel`` (binned px), ``used`` and ``status`` (``used``, ``blend``,
        ``saturated``, ``weak``, ``outlier`` or ``unidentified``).
    template : str
        File name of the library lamp (or name of the first guess) the fit started from.
    lamp : str
        Lamp of that template (e.g. ``HgArNe``).
    mode : str
        WAVMODE.
    reference : str
        What the fit's wavelengths are (``"NIST air"``).
    shift_unbinned : float
        Offset of the arc against the template at the detector centre, unbinned px.
    arcs : list of str
        File names of the arcs that made this solution.
    sky_shift_pixel : float
        Shift (binned px) applied after the arcs to match the science frame's own sky
        lines (flexure between arcs and science; see :mod:`pipeline.wavelength.sky`).
    mean_pixel : float
        Mean residual of the lines used against their NIST wavelengths, binned px.
    correction_order : int
        Order of the fitted correction to the first guess (-1 when not applicable).
    catalogues : list of str
        NIST line files the solution was fitted to.
    bulb_offset_pixel, bulb_offset_error : float or None
        For a two-bulb lamp (HgAr + Ne), how far its Ne lines sit from its HgAr lines
        (binned px towards longer wavelengths) and the standard error of that, measured
        on the lines, not fitted (:mod:`pipeline.wavelength.bulbs`): the lamp light
        has no single zero point, and the science light's is known to no better unless
        its sky lines set it. ``None`` for one bulb or too few lines of either.
    ne_bulb_pixel : tuple of float or None
        Where a two-bulb lamp's lines tell its bulbs apart
        (:class:`pipeline.wavelength.bulbs.BulbTerms`): the Ne bulb's lines sit ``offset +
        slope * x`` binned px from the HgAr bulb's solution (x = 2 pixel / (npix - 1) - 1,
        towards longer wavelengths; ``GSP_WNBO``, ``GSP_WNBS``). ``None`` when the lines
        show no such terms.
    ne_bulb_error : tuple of float or None
        The standard errors of that offset and slope, binned px (``GSP_WNBE``,
        ``GSP_WNSE``): from the fit that measured them, its lines' weights scaled by its
        reduced chi-square (:class:`pipeline.wavelength.bulbs.BulbTerms`). ``None``
        without terms, or where they were not stated.
    ne_bulb_applied : bool
        Whether the solution is the HgAr bulb's, the Ne lines' ``fitted_wavelength`` and
        residuals including the terms (``calibrate_arc(..., separate_bulbs="apply")``, the
        library refit); by default ``False``: measured, not applied, the solution fitted to
        every used line at its NIST wavelength (between the two bulbs' solutions).
    pen_shift_pixel : tuple of float or None
        A pen lamp's Ar I lines of high excitation (``pen_shift_line`` in the line
        table, :mod:`pipeline.wavelength.pen_lamp`): their offset from the other lines
        (fitted beside the solution's correction) and its standard error, binned px
        towards longer wavelengths, where it is significant (``GSP_WPEN``, ``GSP_WPNE``);
        ``None`` otherwise.
    pen_shift_applied : bool
        Whether the solution is the other lines' with the high-excitation lines carried
        at that offset (their ``fitted_wavelength`` and residuals include it:
        ``calibrate_arc(..., pen_shift="apply")``); by default ``False``: measured, not
        applied, the solution fitted to every used line at its NIST wavelength.
    check_lines : int
        Bright lamp lines the solution was not fitted to that checked it between its
        lines (:mod:`pipeline.wavelength.between_lines`; 0 when none could).
    check_pixel, check_worst_pixel : float
        Their robust scatter and largest residual against the solution, binned px.
    check_warning : str
        Why the solution is off between its lines (``""`` when the check passes).
    shape_from : str
        For a sparse arc also fitted from its mode's donor lamp's shape
        (:mod:`pipeline.wavelength.shape_donor`), the library file whose model shape
        the solution has (the donor's or its own start's); ``""`` when not compared.
    shape_note : str
        What was compared: the leave-one-out RMS of the arc's lines under each shape.
    """

    coefficients: np.ndarray
    npix: int
    binning: int
    rms_angstrom: float
    rms_pixel: float
    n_used: int
    n_rejected: int
    lines: Table
    template: str
    lamp: str
    mode: str
    reference: str = "template-spectrum"
    shift_unbinned: float = 0.0
    arcs: list[str] = field(default_factory=list)
    sky_shift_pixel: float = 0.0
    mean_pixel: float = 0.0
    correction_order: int = -1
    catalogues: list[str] = field(default_factory=list)
    bulb_offset_pixel: float | None = None
    bulb_offset_error: float | None = None
    ne_bulb_pixel: tuple[float, float] | None = None
    ne_bulb_error: tuple[float, float] | None = None
    ne_bulb_applied: bool = False
    pen_shift_pixel: tuple[float, float] | None = None
    pen_shift_applied: bool = False
    check_lines: int = 0
    check_pixel: float = float("nan")
    check_worst_pixel: float = float("nan")
    check_warning: str = ""
    shape_from: str = ""
    shape_note: str = ""

    @property
    def order(self) -> int:
        return int(len(self.coefficients) - 1)

    def wavelength(self, pixel=None) -> np.ndarray:
        """Wavelength (Å) at binned pixel indices (all pixels when ``pixel`` is None)."""
        if pixel is None:
            pixel = np.arange(self.npix)
        return chebyshev.chebval(np.asarray(pixel, dtype=float), self.coefficients)

    @property
    def dispersion(self) -> float:
        """Mean dispersion, Å per binned pixel."""
        w = self.wavelength([0, self.npix - 1])
        return float((w[1] - w[0]) / (self.npix - 1))

    def _used_pixels(self) -> np.ndarray:
        if self.lines is None or "pixel" not in self.lines.colnames or len(self.lines) == 0:
            return np.empty(0)
        pix = np.asarray(self.lines["pixel"], float)
        if "used" in self.lines.colnames:
            pix = pix[np.asarray(self.lines["used"], bool)]
        return np.sort(pix[np.isfinite(pix)])

    @property
    def line_coverage(self) -> float:
        """Fraction of the detector between the outermost lines used (0 without lines).

        Beyond them the solution is an extrapolation, whatever its RMS at the lines says:
        four lines in 90 of 2030 pixels fit to 0.1 px and leave the far end pixels off.
        """
        pix = self._used_pixels()
        if pix.size < 2 or self.npix < 2:
            return 0.0
        return float((pix[-1] - pix[0]) / (self.npix - 1))

    @property
    def widest_gap_pixel(self) -> float:
        """Widest stretch of the detector without a used line, ends included (binned px)."""
        pix = self._used_pixels()
        if pix.size == 0:
            return float(self.npix)
        return float(np.max(np.diff(np.r_[0.0, pix, self.npix - 1.0])))

    def header_cards(self) -> list[tuple[str, object, str]]:
        """FITS cards as goodman_pipeline writes them (``GSP_FUNC`` ... ``GSP_Cnnn``)."""
        cards: list[tuple[str, object, str]] = [
            ("GSP_FUNC", "Chebyshev1D", "Mathematical model of non-linearized data"),
            ("GSP_ORDR", self.order, "Mathematical model order"),
            ("GSP_NPIX", int(self.npix), "Number of Pixels"),
        ]
        for i, c in enumerate(self.coefficients):
            cards.append((f"GSP_C{i:03d}", float(c), f"Value of parameter c{i}"))
        cards += [
            ("GSP_WRMS", float(self.rms_angstrom), "Wavelength solution RMS [Angstrom]"),
            ("GSP_WRMP", float(self.rms_pixel), "Wavelength solution RMS [binned pixel]"),
            ("GSP_WPOI", int(self.n_used), "Number of lines used in the wavelength solution"),
            ("GSP_WREJ", int(self.n_rejected), "Number of points rejected"),
            ("GSP_WMEA", round(float(self.mean_pixel), 5), "Mean line residual [binned pixel]"),
            ("GSP_WTPL", self.template, "First guess of the solution"),
            ("GSP_WREF", self.reference, "Wavelengths the solution is fitted to"),
            ("GSP_WCOV", round(self.line_coverage, 3), "Detector fraction between used lines"),
            ("GSP_WGAP", round(self.widest_gap_pixel, 1), "Widest stretch without used line [px]"),
        ]
        if self.correction_order >= 0:
            cards.append(
                ("GSP_WCOR", int(self.correction_order), "Order of the correction to the guess")
            )
        if self.catalogues:
            names = [
                c.replace("nist_air_strong_lines_", "").replace(".txt", "") for c in self.catalogues
            ]
            cards.append(("GSP_WCAT", ",".join(names), "NIST air strong-line lists (elements)"))
        if self.bulb_offset_pixel is not None:
            cards += [
                (
                    "GSP_WBLB",
                    round(float(self.bulb_offset_pixel), 4),
                    "Ne minus HgAr lamp lines [binned px]",
                ),
                (
                    "GSP_WBLE",
                    round(float(self.bulb_offset_error), 4),
                    "Std error of GSP_WBLB [binned px]",
                ),
            ]
        if self.ne_bulb_pixel is not None:
            how = "applied" if self.ne_bulb_applied else "measured, not applied"
            offset, slope = (round(float(v), 4) for v in self.ne_bulb_pixel)
            cards += [
                ("GSP_WNBO", offset, f"Ne vs HgAr bulb, {how} [px]"),
                ("GSP_WNBS", slope, "its slope [px per half detector]"),
            ]
            if self.ne_bulb_error is not None:
                offset_error, slope_error = (round(float(v), 4) for v in self.ne_bulb_error)
                cards += [
                    ("GSP_WNBE", offset_error, "Std error of GSP_WNBO [px]"),
                    ("GSP_WNSE", slope_error, "Std error of GSP_WNBS [px per half det]"),
                ]
        if self.pen_shift_pixel is not None:
            how = "applied" if self.pen_shift_applied else "measured, not applied"
            offset, error = (round(float(v), 4) for v in self.pen_shift_pixel)
            cards += [
                ("GSP_WPEN", offset, f"Hi-exc Ar I offset, {how} [px]"),
                ("GSP_WPNE", error, "its standard error [px]"),
            ]
        if self.check_lines:
            cards += [
                ("GSP_WXN", int(self.check_lines), "Unfitted lamp lines checking the solution"),
                ("GSP_WXRM", round(float(self.check_pixel), 4), "Their robust scatter [binned px]"),
                ("GSP_WXOK", not self.check_warning, "Solution right between its lines"),
            ]
        if self.shape_from:
            # as the library refit's GSP_RSHP: the lamp whose shape a sparse arc has
            cards.append(("GSP_WSHP", self.shape_from, "Lamp whose model shape the fit has"))
            if self.shape_note:
                cards.append(("HISTORY", f"GSP shape: {self.shape_note}", ""))
        if self.sky_shift_pixel:
            cards.append(
                (
                    "GSP_WSKY",
                    round(float(self.sky_shift_pixel), 4),
                    "Shift to the science sky lines [binned pixel]",
                )
            )
        if self.arcs:
            cards.append(("GSP_LAMP", ",".join(self.arcs), "Arc(s) of the wavelength solution"))
        return cards

    def coverage_warnings(self) -> list[str]:
        """Warnings on how little of the detector the used lines determine.

        Returns
        -------
        list of str
            One sentence for a line coverage below :data:`MIN_LINE_COVERAGE`, one for a
            widest gap above :data:`MAX_GAP_FRACTION` of the detector, and the check's
            when unfitted lamp lines show the solution off between its lines; empty
            otherwise.
        """
        out = []
        cover = self.line_coverage
        if cover < MIN_LINE_COVERAGE:
            out.append(
                f"wavelength lines cover {cover:.0%} of the detector (GSP_WCOV): "
                "beyond them the solution is extrapolated"
            )
        gap = self.widest_gap_pixel
        if self.npix > 0 and gap > MAX_GAP_FRACTION * self.npix:
            out.append(
                f"no wavelength line in {gap:.0f} of {self.npix} px (GSP_WGAP): "
                "the solution there is not measured"
            )
        if self.check_warning:
            out.append(self.check_warning)
        return out

    def quality(self) -> dict:
        """Figures for a product's quality summary (with its coverage warnings)."""
        return {
            "wavelength_rms_angstrom": round(float(self.rms_angstrom), 4),
            "wavelength_rms_pixel": round(float(self.rms_pixel), 4),
            "lines_used": int(self.n_used),
            "lines_rejected": int(self.n_rejected),
            "lamp_template": self.template,
            "arcs": list(self.arcs),
            "sky_shift_pixel": round(float(self.sky_shift_pixel), 4),
            "wavelength_mean_pixel": round(float(self.mean_pixel), 4),
            "wavelength_reference": self.reference,
            "wavelength_line_coverage": round(self.line_coverage, 3),
            "wavelength_widest_gap_pixel": round(self.widest_gap_pixel, 1),
            "wavelength_check_lines": int(self.check_lines),
            "wavelength_check_pixel": (
                round(float(self.check_pixel), 4) if self.check_lines else None
            ),
            "wavelength_warnings": self.coverage_warnings(),
        }


def restate_lines(solution: WavelengthSolution) -> WavelengthSolution:
    """Recompute a solution's line table from its own coefficients.

    The fitted wavelengths, residuals and RMS are recomputed: after arcs are combined,
    the table's lines come from several arcs' solutions, and the product must describe
    the one it carries.

    Parameters
    ----------
    solution : WavelengthSolution
        The (combined) solution with a line table (``pixel``, ``reference_wavelength``,
        ``used``).

    Returns
    -------
    WavelengthSolution
        A copy with ``fitted_wavelength`` and ``residual`` (Å), ``residual_pixel`` when the
        table has it, and the RMS (Å and binned px) and mean residual of the used lines;
        the RMS figures are kept as they were when no line is used.
    """
    import dataclasses

    import astropy.units as u

    table = solution.lines.copy()
    pix = np.asarray(table["pixel"], float)
    ref = np.asarray(getattr(table["reference_wavelength"], "value", table["reference_wavelength"]))
    used = np.asarray(table["used"], bool)
    fitted = solution.wavelength(pix)
    disp = np.abs(chebyshev.chebval(pix, chebyshev.chebder(solution.coefficients)))
    resid = fitted - ref
    table["fitted_wavelength"] = fitted * u.AA
    table["residual"] = resid * u.AA
    if "residual_pixel" in table.colnames:
        table["residual_pixel"] = resid / disp
    if not used.any():
        return dataclasses.replace(solution, lines=table)
    return dataclasses.replace(
        solution,
        lines=table,
        rms_angstrom=float(np.sqrt(np.mean(resid[used] ** 2))),
        rms_pixel=float(np.sqrt(np.mean((resid / disp)[used] ** 2))),
        mean_pixel=float(np.mean((resid / disp)[used])),
    )


def solution_from_header(header) -> np.ndarray:
    """Chebyshev coefficients from ``GSP_FUNC``/``GSP_ORDR``/``GSP_Cnnn`` cards.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A wavelength-calibrated product's or library lamp's header.

    Returns
    -------
    numpy.ndarray
        ``GSP_ORDR + 1`` coefficients of ``chebval(pixel, coef)`` (pixel index,
        goodman's convention).

    Raises
    ------
    ValueError
        When the header holds no Chebyshev1D solution.
    """
    func = str(header.get("GSP_FUNC", "")).strip()
    if func != "Chebyshev1D":
        raise ValueError(f"GSP_FUNC is {func!r}; only 'Chebyshev1D' solutions are read")
    order = int(header["GSP_ORDR"])
    return np.array([float(header[f"GSP_C{i:03d}"]) for i in range(order + 1)])
