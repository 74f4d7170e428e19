"""Is a solution right between its lines? A check at bright lamp lines it was not fitted to.

A solution's RMS at its own lines says nothing of the stretches between them: with few
catalogued lines (1200 l/mm CuHeAr at 5000-6000 Å: 9-13 in NIST's strong-line list) a
fit can reject good lines as outliers and bend between the rest. The real 1200 M3
CuHeAr arc of 2017-06-10T0338 (goodman_pipeline history) fits 9 lines to 0.077 px,
while ten bright Ar I lines that the lamp shows and the strong list lacks sit 0.28 px
RMS off its solution (``benchmarks/history_limits.py``).

Those lines are in :func:`~pipeline.wavelength.nist.extra_lamp_lines` (NIST wavelengths
of lines seen in real lamps). After the fit, a bright arc peak that nothing identified,
isolated in the arc, lying where an isolated extra line is expected, is measured at that
line's wavelength; the residuals there test the solution between its lines,
independently of the fit.

The verdict (:func:`check_limit`) compares their robust scatter with what the fit's own
lines lead one to expect. Measured on every real arc at hand (the 80 library lamps as
the library refit fits them, ``benchmarks/grade_real_arcs.py`` both tables), in
statistical errors of the median estimate above that expectation: the 12 library lamps
and 7 other real-arc solutions ("help" starts included) with 3 or more checked lines
lie between -2.1 and +2.2 (930 M3 FeHeAr, whose Fe lines blend at 930 l/mm, the
highest); the 1200 M3 CuHeAr arc of 03:38 is at
+3.2 (0.215 px against 0.207 allowed), the only one beyond :data:`TOLERANCE_SIGMA`.
Its other exposure of 04:14 (0.08 px) and its solution from the lamp made linear
(0.17 px at 12 lines, +1.3) pass. Lamps with few extra lines (HgArNe, Ne: the lists add
one Ne I and two Hg I lines) are rarely checked at all.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import chebyshev

from pipeline.wavelength.nist import extra_lamp_lines, lamp_lines

#: Only arc peaks at least this fraction of the arc's brightest are checked: a faint
#: peak at an extra line's place may be another, unlisted line.
BRIGHT_FRACTION = 0.05
#: A peak is taken for an extra line within this many binned px of where the solution
#: puts it (a solution off by more than this is not found by the check; the fit's own
#: refusal limit is 0.3 px RMS).
MATCH_PX = 1.0
#: Neither the extra line nor the arc peak may have a neighbour (catalogued line, or
#: found arc line) within this many FWHM: a blend's centre is not its line's.
ISOLATION_FWHM = 1.5
#: Fewer checked lines than this give no verdict.
MIN_CHECKED = 3
#: Floor of a check line's expected error, binned px: the narrow-slit library lamp of
#: 1200 M3 CuHeAr puts its 15 check lines 0.034 px RMS off its 0.036-px solution, so the
#: extra lines' wavelengths and centres are good to about this; it keeps an over-fitted
#: solution of tiny RMS from tripping on honest centring errors.
FLOOR_PX = 0.03
#: Standard deviation of the median-absolute-deviation estimate of a normal scatter,
#: per unit scatter, times sqrt(n): the statistical error of :attr:`robust_pixel`.
MAD_SPREAD = 1.167
#: How many of those statistical errors above its expectation the check's scatter may be.
TOLERANCE_SIGMA = 3.0


@dataclass(frozen=True)
class BetweenLinesCheck:
    """Residuals of the solution at bright, isolated, unidentified peaks at extra lines.

    Attributes
    ----------
    wavelength : ndarray
        Air wavelength (Å) of each extra line checked.
    pixel : ndarray
        Centre of its arc peak (binned px).
    residual_pixel : ndarray
        Solution minus wavelength at that peak, binned px.
    ion : ndarray of str
        Spectrum of each line.
    """

    wavelength: np.ndarray
    pixel: np.ndarray
    residual_pixel: np.ndarray
    ion: np.ndarray

    @property
    def n(self) -> int:
        return int(self.wavelength.size)

    @property
    def rms_pixel(self) -> float:
        """RMS of the residuals, binned px (NaN without lines)."""
        if not self.n:
            return float("nan")
        return float(np.sqrt(np.mean(self.residual_pixel**2)))

    @property
    def robust_pixel(self) -> float:
        """Normal-equivalent scatter from the median absolute residual, binned px.

        One line blended with an unlisted neighbour at this arc's width (Ar I 5739.52 in
        the wide-slit 1200 M3 arcs, 5928.81 in the 930 M3 lamps) moves its peak by half
        a pixel; the median ignores it, a solution off between its lines moves most.
        """
        if not self.n:
            return float("nan")
        return float(1.4826 * np.median(np.abs(self.residual_pixel)))

    @property
    def worst_pixel(self) -> float:
        """Largest absolute residual, binned px (NaN without lines)."""
        return float(np.max(np.abs(self.residual_pixel))) if self.n else float("nan")


def check_between_lines(solution, elements) -> BetweenLinesCheck:
    """Measure a solution at the extra lines of its lamp (see the module docstring).

    Parameters
    ----------
    solution : WavelengthSolution
        With its full line table (unidentified peaks included).
    elements : iterable of str
        Elements whose lines the lamp shows (fill gas included).

    Returns
    -------
    BetweenLinesCheck
        Possibly empty.
    """
    elements = frozenset(elements)
    table = solution.lines
    empty = BetweenLinesCheck(np.empty(0), np.empty(0), np.empty(0), np.empty(0, str))
    if table is None or len(table) == 0 or "status" not in table.colnames:
        return empty
    pix = np.asarray(table["pixel"], float)
    amp = np.asarray(table["amplitude"], float)
    fwhm = np.asarray(table["fwhm"], float)
    status = np.asarray(table["status"]).astype(str)
    ok = np.isfinite(pix) & np.isfinite(amp)
    if not ok.any():
        return empty
    width = float(np.nanmedian(fwhm[ok])) if np.isfinite(fwhm[ok]).any() else 3.0
    used = ok & (status == "used")
    if not used.any():
        return empty
    # beyond the outermost used lines the solution is extrapolated (GSP_WCOV warns);
    # the check is of the stretches the lines determine
    lo, hi = float(pix[used].min()), float(pix[used].max())
    candidate = (
        ok
        & (status == "unidentified")
        & (pix > lo)
        & (pix < hi)
        & (amp >= BRIGHT_FRACTION * np.max(amp[ok]))
    )
    j = np.arange(solution.npix, dtype=float)
    wave = solution.wavelength(j)
    rising = wave[-1] > wave[0]
    ww, jj = (wave, j) if rising else (wave[::-1], j[::-1])
    extra = extra_lamp_lines(elements).within(float(ww[0]), float(ww[-1]))
    if not len(extra):
        return empty
    every = np.sort(np.r_[lamp_lines(elements).wavelength, extra.wavelength])
    found = np.sort(pix[ok])
    coef_d = chebyshev.chebder(solution.coefficients)
    rows = []
    for w, ion in zip(extra.wavelength, extra.ion, strict=True):
        p = float(np.interp(w, ww, jj))
        disp = abs(float(chebyshev.chebval(p, coef_d)))
        reach = ISOLATION_FWHM * width * disp
        if np.count_nonzero(np.abs(every - w) < reach) > 1:
            continue
        near = candidate & (np.abs(pix - p) < MATCH_PX)
        if np.count_nonzero(near) != 1:
            continue
        c = float(pix[near][0])
        if np.count_nonzero(np.abs(found - c) < ISOLATION_FWHM * width) > 1:
            continue
        d = abs(float(chebyshev.chebval(c, coef_d)))
        rows.append((w, c, (float(solution.wavelength([c])[0]) - w) / d, ion))
    if not rows:
        return empty
    w, c, r, ion = (np.array(col) for col in zip(*rows, strict=True))
    return BetweenLinesCheck(w.astype(float), c.astype(float), r.astype(float), ion.astype(str))


def expected_scatter(solution) -> float:
    """How far a right solution's check lines scatter, binned px.

    They are centred like the fitted lines and blend like them at this arc's width, so a
    solution right between its lines puts them as far off as it puts its own lines,
    with the fit's degrees of freedom restored (its residuals understate the lines'
    errors by ``sqrt(dof / n)``), and never closer than :data:`FLOOR_PX`.

    Parameters
    ----------
    solution : WavelengthSolution
        The fitted solution (``rms_pixel``, ``n_used``, ``correction_order``).

    Returns
    -------
    float
        Expected scatter of the check residuals, binned px.
    """
    n = int(solution.n_used)
    dof = n - max(int(solution.correction_order), 0) - 1
    inflate = np.sqrt(n / dof) if dof > 0 else 2.0
    return float(np.hypot(solution.rms_pixel * inflate, FLOOR_PX))


def check_limit(solution, n_checked: int) -> float:
    """Largest robust scatter of ``n_checked`` check lines a right solution shows, binned px.

    Parameters
    ----------
    solution : WavelengthSolution
        The fitted solution.
    n_checked : int
        Lines checked.

    Returns
    -------
    float
        :func:`expected_scatter` raised by :data:`TOLERANCE_SIGMA` statistical errors of
        the median estimate; infinite below :data:`MIN_CHECKED` lines.
    """
    if n_checked < MIN_CHECKED:
        return float("inf")
    spread = MAD_SPREAD / np.sqrt(n_checked)
    return expected_scatter(solution) * (1.0 + TOLERANCE_SIGMA * spread)


def check_warning(solution, check: BetweenLinesCheck) -> str:
    """The warning of a solution off between its lines, or ``""`` when it passes.

    Parameters
    ----------
    solution : WavelengthSolution
        The fitted solution.
    check : BetweenLinesCheck
        Its check (:func:`check_between_lines`).

    Returns
    -------
    str
        One sentence naming the scatter, the limit and what would fix it.
    """
    limit = check_limit(solution, check.n)
    if not check.robust_pixel > limit:
        return ""
    return (
        f"wavelength solution off between its lines: {check.n} bright lamp lines it was "
        f"not fitted to (GSP_WXN) scatter {check.robust_pixel:.2f} px (GSP_WXRM; worst "
        f"{check.worst_pixel:.2f}) where its {solution.n_used} lines allow {limit:.2f}; "
        "it is likely bent between too few lines: an arc with more lines (a longer "
        "exposure, another lamp, or a narrower slit) would fix it"
    )


def with_check(solution, elements):
    """The solution carrying its check's figures and warning (:func:`check_between_lines`).

    Parameters
    ----------
    solution : WavelengthSolution
        A fitted solution with its full line table.
    elements : iterable of str
        Elements whose lines the lamp shows (fill gas included).

    Returns
    -------
    tuple of (WavelengthSolution, BetweenLinesCheck)
        A copy with ``check_lines``, ``check_pixel``, ``check_worst_pixel`` and
        ``check_warning`` set, and the check.
    """
    check = check_between_lines(solution, elements)
    if not check.n:
        return solution, check
    return (
        dataclasses.replace(
            solution,
            check_lines=check.n,
            check_pixel=check.robust_pixel,
            check_worst_pixel=check.worst_pixel,
            check_warning=check_warning(solution, check),
        ),
        check,
    )
