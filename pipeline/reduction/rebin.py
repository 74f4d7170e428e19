"""Software binning along the dispersion axis, so an arc can serve a frame binned more.

A night can mix binnings: arcs at ``CCDSUM = '1 2'`` (full resolution along the
dispersion) with science at ``'2 2'``. The arc, once reduced, is summed over groups of
columns so that each of its new pixels covers exactly the unbinned columns of one
science pixel: binned pixel ``j`` covers unbinned ``b*j ... b*j + b - 1`` counted from
the chip's first column, and the trimmed frames of the two binnings start at different
unbinned columns (``GSP_X0``: 50 at binning 1 and 2, 51 at binning 3), so the groups
start where the science frame's first trimmed column starts.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData, VarianceUncertainty

from pipeline.reduction.geometry import prescan_columns
from pipeline.reduction.sections import parse_section


def binning_of(header) -> tuple[int, int]:
    """Read the (columns, rows) binning from ``CCDSUM``.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A raw or product header.

    Returns
    -------
    tuple of (int, int)
        Binning along columns and rows; (1, 1) when ``CCDSUM`` is absent or unreadable.
    """
    parts = str(header.get("CCDSUM", "1 1")).split()
    try:
        bx, by = int(parts[0]), int(parts[1])
    except (ValueError, IndexError):
        return 1, 1
    return (bx, by) if bx > 0 and by > 0 else (1, 1)


def first_unbinned_column(header) -> int:
    """Unbinned raw column where trimmed column 0 of a frame starts (``GSP_X0``).

    Products written before ``GSP_X0`` existed were trimmed after the binning's
    prescan, ``b * ceil(50 / b)``.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A trimmed frame's or product's header.

    Returns
    -------
    int
        The unbinned raw column (0-based).
    """
    if "GSP_X0" in header:
        return int(header["GSP_X0"])
    bx = binning_of(header)[0]
    return bx * prescan_columns(bx)


def rebin_columns(ccd: CCDData, factor: int, start: int = 0) -> CCDData:
    """Sum groups of ``factor`` columns, the first group starting at column ``start``.

    Output column ``j`` is the sum of input columns ``start + factor*j`` to
    ``start + factor*j + factor - 1``; a last group with fewer than ``factor`` columns
    (odd widths) is dropped rather than summed short.

    Parameters
    ----------
    ccd : CCDData
        Frame in ADU (bias subtracted: a bias level would be summed too).
    factor : int
        Columns per group, >= 1.
    start : int
        First input column of the first group.

    Returns
    -------
    CCDData
        Data summed, variance summed (any uncertainty is converted to variance), mask
        OR-ed over each group, ``CCDSUM`` multiplied along columns, ``GSP_X0`` moved to
        the first group's column, and ``GSP_REBN`` plus a ``HISTORY`` line saying so.

    Raises
    ------
    ValueError
        ``factor`` < 1, ``start`` < 0, or not one whole group left after ``start``.
    """
    if factor < 1 or start < 0:
        raise ValueError(f"rebin factor {factor} and start {start}: need factor >= 1, start >= 0")
    ny, nx = ccd.shape
    n = (nx - start) // factor
    if n < 1:
        raise ValueError(f"{nx} columns hold no group of {factor} from column {start}")
    stop = start + n * factor

    def summed(a, dtype):
        return a[:, start:stop].reshape(ny, n, factor).sum(axis=2, dtype=dtype)

    data = summed(np.asarray(ccd.data), np.float64).astype(np.float32)
    variance = None
    if ccd.uncertainty is not None:
        var = ccd.uncertainty.represent_as(VarianceUncertainty).array
        variance = VarianceUncertainty(summed(var, np.float64).astype(np.float32), unit=ccd.unit**2)
    mask = None
    if ccd.mask is not None:
        mask = np.asarray(ccd.mask, bool)[:, start:stop].reshape(ny, n, factor).any(axis=2)
    header = ccd.header.copy() if isinstance(ccd.meta, fits.Header) else fits.Header(ccd.meta)
    bx, by = binning_of(header)
    x0 = first_unbinned_column(header) + start * bx
    old = header.get("CCDSUM", f"{bx} {by}")
    header["CCDSUM"] = (f"{bx * factor} {by}", "Binning (columns rows), summed in software")
    header["GSP_X0"] = (x0, "Unbinned raw column (0-based) of trimmed column 0")
    header["GSP_REBN"] = (
        f"{factor} from {start}",
        f"Columns summed by {factor} from column {start}",
    )
    header.add_history(
        f"GSP: rebinned along columns from CCDSUM '{old}' to '{bx * factor} {by}': "
        f"sum of {factor} columns from trimmed column {start} (unbinned column {x0})"
    )
    return CCDData(data, unit=ccd.unit, mask=mask, uncertainty=variance, meta=header)


def match_binning(arc: CCDData, science: CCDData) -> tuple[CCDData | None, str]:
    """The arc rebinned (and cut) to the science frame's pixels, or why it cannot be.

    The arc must be binned the same along rows, and along columns by a divisor of the
    science binning; its trimmed area must cover the science's. A science frame cut
    to its slit (``GSP_SLIT``) gets the arc cut to the same rows when the arc was not
    slit-trimmed itself.

    Parameters
    ----------
    arc : CCDData
        The reduced arc (its header gives ``CCDSUM``, ``GSP_X0`` and ``GSP_SLIT``).
    science : CCDData
        The reduced science frame whose pixels the arc must match.

    Returns
    -------
    (CCDData or None, str)
        The matched arc and a note of what was done (empty when nothing was needed),
        or ``None`` and the reason it cannot serve this science frame.
    """
    (ax, ay), (sx, sy) = binning_of(arc.header), binning_of(science.header)
    notes = []
    if ay != sy:
        return None, f"arc binned {ay} along rows, science {sy}: rows cannot be matched"
    if sx % ax:
        return None, (
            f"arc binned {ax} along columns, science {sx}: {sx} is not a multiple of {ax}"
        )
    matched = arc
    if sx != ax:
        offset = first_unbinned_column(science.header) - first_unbinned_column(arc.header)
        if offset < 0 or offset % ax:
            return None, (
                f"science starts at unbinned column {first_unbinned_column(science.header)}, "
                f"arc at {first_unbinned_column(arc.header)}: no whole arc column lines up"
            )
        matched = rebin_columns(arc, sx // ax, offset // ax)
        notes.append(f"arc rebinned along columns {ax} -> {sx} (sum of {sx // ax} columns)")
    if matched.shape[1] < science.shape[1]:
        return None, (
            f"arc covers {matched.shape[1]} columns at binning {sx}, science {science.shape[1]}"
        )
    if matched.shape[1] > science.shape[1]:
        matched = _cut(matched, slice(None), slice(0, science.shape[1]))
    slit = str(science.header.get("GSP_SLIT", "none")).strip()
    arc_slit = str(matched.header.get("GSP_SLIT", "none")).strip()
    if (
        matched.shape[0] != science.shape[0]
        and slit not in {"", "none"}
        and arc_slit
        in {
            "",
            "none",
        }
    ):
        rows, _ = parse_section(slit)
        if rows.stop <= matched.shape[0]:
            matched = _cut(matched, rows, slice(None))
            matched.header["GSP_SLIT"] = (slit, "Slit rows of the science frame")
            notes.append(f"arc cut to the science frame's slit rows {slit}")
    if matched.shape != science.shape:
        return None, f"arc shape {matched.shape} differs from science {science.shape}"
    return matched, "; ".join(notes)


def _cut(ccd: CCDData, rows: slice, cols: slice) -> CCDData:
    return CCDData(
        np.asarray(ccd.data)[rows, cols],
        unit=ccd.unit,
        mask=None if ccd.mask is None else np.asarray(ccd.mask)[rows, cols],
        uncertainty=None if ccd.uncertainty is None else ccd.uncertainty[rows, cols],
        meta=ccd.header.copy(),
    )
