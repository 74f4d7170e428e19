"""Whether a solution follows the wavelength grid a resampled arc was put on.

An arc resampled onto a wavelength grid (IRAF ``dispcor``, or this project's
``resample``: ``DC-FLAG = 0`` linear, ``1`` log-linear) no longer has the detector's
pixels, so the optics model, which says where the detector puts each wavelength, does
not judge its solution: a right solution of such an arc departs from the optics' shape
by the optics' own curvature (8 px at 400 l/mm, 56 px at 2100 l/mm at the ends). The
grid judges it instead: over its lines a right solution is straight in wavelength (or
in log wavelength) to a fraction of a pixel, while lines misnamed after a start that
carried the optics' curvature bend it by as much as that curvature (a 1200 M2 CuHeAr
arc named from its lamp: 9 px over its lines, 10 px RMS wrong, 0.12 px RMS at its lines).
"""

from __future__ import annotations

import numpy as np

#: Largest departure (binned px) over its used lines of a resampled arc's solution from
#: the grid its header states. The grid is straight in the wavelengths of the solution
#: it was resampled with, not in NIST's: right solutions of linearised Goodman arcs
#: depart by 0.1-0.6 px, and by 2.3 px where that solution itself scattered 1 px RMS
#: about the NIST lines (1200 M3 CuHeAr of 04:14 UT); misnamed ones by 9-12 px.
GRID_TOLERANCE_PX = 4.0

_GRIDS = {0: "linear", 1: "log-linear"}


def resampled_grid(header) -> str:
    """The wavelength grid a header says its spectrum was resampled onto, or ``""``.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        The arc's header.

    Returns
    -------
    str
        ``"linear"`` (``DC-FLAG = 0``), ``"log-linear"`` (``DC-FLAG = 1``), else ``""``
        (not resampled: no ``DC-FLAG``, or IRAF's ``-1``).
    """
    try:
        flag = int(header.get("DC-FLAG"))
    except (TypeError, ValueError):
        return ""
    return _GRIDS.get(flag, "")


def grid_departure(solution, grid: str) -> float:
    """Largest departure (binned px) of a solution from its resampled grid's straight line.

    The line is straight in wavelength (``grid="linear"``) or in log wavelength, and
    the departure is taken over the span of the solution's used lines (the whole
    detector with fewer than 3: a library model moved onto the arc is judged whole).

    Parameters
    ----------
    solution : WavelengthSolution
        With its line table (``pixel``, ``used``).
    grid : str
        ``"linear"`` or ``"log-linear"``.

    Returns
    -------
    float
    """
    if grid not in ("linear", "log-linear"):
        raise ValueError(f"grid must be 'linear' or 'log-linear', got {grid!r}")
    pix = solution._used_pixels()
    if pix.size < 3:
        pix = np.array([0.0, solution.npix - 1.0])
    x = np.arange(np.floor(pix[0]), np.ceil(pix[-1]) + 1.0)
    w = solution.wavelength(x)
    y = w if grid == "linear" else np.log(w)
    slope, intercept = np.polyfit(x, y, 1)
    return float(np.max(np.abs(y - (slope * x + intercept))) / abs(slope))


def grid_verdict(header, solution) -> tuple[bool, str] | None:
    """The verdict on a resampled arc's solution by its grid.

    ``None`` when the header states no grid (the optics judge then).

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        The arc's header.
    solution : WavelengthSolution

    Returns
    -------
    tuple of (bool, str) or None
        ``(refused, message)``: refused when the solution bends away from the grid by
        more than :data:`GRID_TOLERANCE_PX` over its lines (lines misnamed).
    """
    grid = resampled_grid(header)
    if not grid:
        return None
    departure = grid_departure(solution, grid)
    if not departure > GRID_TOLERANCE_PX:
        return False, ""
    return True, (
        f"solution bends {departure:.1f} px away from the {grid} wavelength grid the arc "
        f"was resampled onto (DC-FLAG = {header.get('DC-FLAG')}; tolerance "
        f"{GRID_TOLERANCE_PX:g} px over its lines): its lines are misnamed"
    )


__all__ = ["GRID_TOLERANCE_PX", "grid_departure", "grid_verdict", "resampled_grid"]
