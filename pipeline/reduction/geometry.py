"""Where the prescan, the overscan and the illuminated area of a raw frame are.

Real Goodman headers cannot be trusted for this: ``TRIMSEC`` often describes the
unbinned full chip (``[1:4142,1:400]`` on a 2x2 frame of 200 rows), or includes the
prescan (``[1:4142,1:500]``), and ROIs come in any height (``Spectroscopic ZZ Ceti``
is 200 rows, ``user-defined`` 400 or 500). So the layout is worked out from the
binning and the data's shape, and the header is used only where it agrees:

* A readout of the full chip width (``ceil(4142 / bx)`` columns at column binning
  ``bx``) has ``ceil(50 / bx)`` prescan columns (25 at 2, 17 at 3: the column that
  straddles the prescan edge is dropped with it) and keeps ``4060 // bx`` columns after
  them, the area the lamp library was measured on. Rows: all but the first, which is
  a readout artifact. ``TRIMSEC`` is not used (it is recorded when it differs).
* A narrower window (imaging, slit alignment) has no prescan: its ``TRIMSEC`` is used
  when it lies inside the data, else the whole width.
* A width that is the full width of another column binning than ``CCDSUM`` says:
  the data win, and the decision is recorded.

Which prescan columns are really dark is then measured on the pixels
(:func:`dark_prescan`): the first columns of a readout can be artifacts, and on the
Blue camera light falls on unbinned columns 17-49 (measured on the real 2017 Blue
flat and science frames), so only the columns at the bias level are used for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pipeline.instrument import DATA_WIDTH_1X1, PRESCAN_1X1
from pipeline.instrument import RAW_WIDTH_1X1 as FULL_WIDTH_1X1
from pipeline.reduction.sections import fits_within, format_section, parse_section

#: A column is at the bias level when within this many ADU of it (at least; more when
#: the prescan is noisier, see :func:`dark_prescan`).
DARK_TOLERANCE_ADU = 2.0


@dataclass(frozen=True)
class RawGeometry:
    """Layout of one raw frame.

    Attributes
    ----------
    shape : tuple of int
        Numpy shape (rows, columns) of the raw data.
    binning : tuple of int
        (columns, rows) binning the layout was computed for.
    trim_section : str
        FITS section kept by the trim (1-based, inclusive).
    prescan : int
        Binned prescan columns left of the trim section (0 for windows).
    first_unbinned_column : int
        Unbinned raw column (0-based) where trimmed column 0 starts; the lamp
        library's pixel 0 is unbinned raw column 50.
    source : str
        ``"binning"``, ``"TRIMSEC"`` or ``"whole window"``.
    decisions : tuple of str
        Where the header and the data disagreed and what was done.
    """

    shape: tuple[int, int]
    binning: tuple[int, int]
    trim_section: str
    prescan: int
    first_unbinned_column: int
    source: str
    decisions: tuple[str, ...] = field(default=())

    @property
    def trimmed_shape(self) -> tuple[int, int]:
        rows, cols = parse_section(self.trim_section)
        return rows.stop - rows.start, cols.stop - cols.start


def full_width(column_binning: int) -> int:
    """Columns of a full-width readout at a column binning (4142, 2071, 1381...).

    Parameters
    ----------
    column_binning : int

    Returns
    -------
    int
    """
    return math.ceil(FULL_WIDTH_1X1 / column_binning)


def prescan_columns(column_binning: int) -> int:
    """Binned columns holding any prescan pixel: ``ceil(50 / b)`` (50, 25, 17).

    Parameters
    ----------
    column_binning : int

    Returns
    -------
    int
    """
    return math.ceil(PRESCAN_1X1 / column_binning)


def raw_geometry(
    shape: tuple[int, int], binning: tuple[int, int], trimsec: str = ""
) -> RawGeometry:
    """The layout of a raw frame from its shape and binning (and ``TRIMSEC`` if it fits).

    Parameters
    ----------
    shape : tuple of int
        (rows, columns) of the raw data.
    binning : tuple of int
        (columns, rows) binning from the header.
    trimsec : str, optional
        The header's ``TRIMSEC``; used only for windows narrower than the chip.

    Returns
    -------
    RawGeometry
        The layout; its ``decisions`` say where the header and the data disagreed.

    Raises
    ------
    ValueError
        The frame has fewer than 2 rows or columns: nothing is left to trim.
    """
    ny, nx = (int(n) for n in shape)
    if ny < 2 or nx < 2:
        raise ValueError(f"raw frame of {nx} x {ny} pixels is too small to hold any data")
    bx = int(binning[0])
    decisions: list[str] = []
    if nx != full_width(bx):
        match = [b for b in range(1, 9) if full_width(b) == nx]
        if match:
            decisions.append(
                f"width {nx} is a full readout at column binning {match[0]}, not {bx} "
                f"(CCDSUM): layout of column binning {match[0]} used (the data win)"
            )
            bx = match[0]
    if nx == full_width(bx):
        p = prescan_columns(bx)
        width = min(DATA_WIDTH_1X1 // bx, nx - p)
        trim = format_section(slice(1, ny), slice(p, p + width))
        if trimsec and trimsec.replace(" ", "") != trim:
            decisions.append(
                f"TRIMSEC {trimsec} not used ({_why_not(trimsec, shape, p)}); trim {trim} "
                f"from the binning ({p} prescan columns at column binning {bx})"
            )
        return RawGeometry(
            (ny, nx), (bx, int(binning[1])), trim, p, bx * p, "binning", tuple(decisions)
        )
    if trimsec:
        try:
            inside = fits_within(trimsec, shape)
        except ValueError:
            inside = False
        if inside:
            rows, cols = parse_section(trimsec)
            return RawGeometry(
                (ny, nx),
                tuple(binning),
                trimsec.replace(" ", ""),
                cols.start,
                0,
                "TRIMSEC",
                (f"window of {nx} columns (not a full readout): TRIMSEC {trimsec} used",),
            )
    trim = format_section(slice(1, ny), slice(0, nx))
    decisions.append(
        f"window of {nx} columns (full readout is {full_width(bx)} at column binning {bx}): "
        f"no prescan; whole width kept ({trim})"
        + (f", TRIMSEC {trimsec} does not fit the {nx} x {ny} data" if trimsec else "")
    )
    return RawGeometry((ny, nx), tuple(binning), trim, 0, 0, "whole window", tuple(decisions))


def _why_not(trimsec: str, shape: tuple[int, int], prescan: int) -> str:
    try:
        rows, cols = parse_section(trimsec)
    except ValueError:
        return "not a FITS section"
    if rows.stop > shape[0] or cols.stop > shape[1]:
        return f"it does not fit the {shape[1]} x {shape[0]} data (unbinned chip?)"
    if cols.start < prescan:
        return "it includes prescan columns"
    return "it differs from the binning's layout"


@dataclass(frozen=True)
class Prescan:
    """The dark prescan columns of one frame, as measured, and their level."""

    columns: slice | None
    level: float | None
    note: str = ""
    #: Largest difference from the level (ADU) of a column median still called dark.
    tolerance: float = DARK_TOLERANCE_ADU

    @property
    def section(self) -> str | None:
        if self.columns is None:
            return None
        return f"[{self.columns.start + 1}:{self.columns.stop}]"


def _bias_reference(profile: np.ndarray, tolerance: float, need: int) -> float | None:
    """The lowest value of a column profile shared by ``need`` columns, or ``None``.

    Light only adds to the bias level, and a readout artifact is one or two columns of
    its own, so the lowest value a few columns share is the bias level.
    """
    for value in np.sort(profile):
        close = np.abs(profile - value) <= tolerance
        if close.sum() >= need:
            return float(np.median(profile[close]))
    return None


def _longest_run(flags: np.ndarray) -> tuple[int, int]:
    """``(start, stop)`` of the longest run of true values (``(0, 0)`` when none)."""
    best, start = (0, 0), None
    for i, flag in enumerate(np.append(flags, False)):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            if i - start > best[1] - best[0]:
                best = (start, i)
            start = None
    return best


def dark_prescan(data: np.ndarray, geometry: RawGeometry) -> Prescan:
    """The prescan columns that are really at the bias level, and that level.

    The column profile (median over rows, the first row left out) of the prescan is
    searched for its lowest value shared by at least three columns, which is the bias
    level even when the first columns are readout artifacts and light reaches most of
    the prescan (Blue camera); the longest run of columns within ``max(2 ADU, 5
    sigma)`` of it is the dark prescan. The level is a clipped mean over those pixels (a median of integers is
    quantised to half an ADU, a few percent of a dark sky).

    Parameters
    ----------
    data : ndarray
        The raw frame's pixels (rows x columns).
    geometry : RawGeometry
        Its layout (:func:`raw_geometry`).

    Returns
    -------
    Prescan
        The dark columns and their level, or ``None`` for both with a note saying why.
    """
    p = geometry.prescan
    if p < 2:
        return Prescan(None, None, "no prescan in this readout: bias level not measured")
    block = np.asarray(data[1:, :p], dtype=np.float64)
    profile = np.median(block, axis=0)
    # Uncertainty of a column median, from the quietest column (read noise only).
    column_sigma = 1.4826 * np.median(np.abs(block - profile), axis=0)
    tolerance = max(
        DARK_TOLERANCE_ADU, 5.0 * 1.25 * float(column_sigma.min()) / np.sqrt(block.shape[0])
    )
    reference = _bias_reference(profile, tolerance, need=min(3, p))
    if reference is None:
        return Prescan(None, None, "prescan has no run of dark columns: bias level not measured")
    lo, hi = _longest_run(np.abs(profile - reference) <= tolerance)
    if hi - lo < 2:
        return Prescan(None, None, "prescan has no run of dark columns: bias level not measured")
    values = block[:, lo:hi].ravel()
    median = np.median(values)
    sigma = 1.4826 * np.median(np.abs(values - median)) or 1.0
    level = float(np.mean(values[np.abs(values - median) <= 5 * sigma]))
    note = ""
    if hi < p - 1:
        note = (
            f"prescan columns {hi + 1}-{p} are above the bias level (light or artifact): "
            f"level from columns {lo + 1}-{hi}"
        )
    return Prescan(slice(lo, hi), level, note, tolerance)


def dark_overscan(data: np.ndarray, geometry: RawGeometry, prescan: Prescan) -> slice | None:
    """Columns right of the trim section at the bias level, up to the frame's edge.

    The Blue camera's unbinned columns 4114-4142 are dark (measured on the real 2017
    frames) while the Red camera is lit to its edge; this finds which, so the
    product can say where its overscan is (``GSP_OSEC``). ``None`` when there is no
    such run of at least two columns or no prescan level to compare with.

    Parameters
    ----------
    data : ndarray
        The raw frame's pixels.
    geometry : RawGeometry
    prescan : Prescan
        The frame's dark prescan (:func:`dark_prescan`), whose level is compared with.

    Returns
    -------
    slice or None
    """
    if prescan.level is None:
        return None
    _, cols = parse_section(geometry.trim_section)
    if data.shape[1] - cols.stop < 2:
        return None
    profile = np.median(np.asarray(data[1:, cols.stop :], dtype=np.float64), axis=0)
    lit = np.flatnonzero(np.abs(profile - prescan.level) > prescan.tolerance)
    start = cols.stop + (lit[-1] + 1 if lit.size else 0)
    return slice(start, data.shape[1]) if data.shape[1] - start >= 2 else None
