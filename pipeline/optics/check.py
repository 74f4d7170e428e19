"""Whether a wavelength solution agrees with the optics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.instrument import binned_pixel_centres
from pipeline.optics.model import DispersionModel


@dataclass(frozen=True)
class SolutionCheck:
    """How far a solution is from the optics model, in unbinned pixels."""

    agrees: bool
    #: Median offset: where the solution puts wavelengths relative to the model.
    shift_px: float
    #: Largest deviation from the model once the shift is removed.
    shape_px: float
    shift_tolerance_px: float
    shape_tolerance_px: float
    message: str


def check_solution(
    model: DispersionModel,
    wavelengths,
    binning: int = 1,
    *,
    shift_tolerance_px: float | None = None,
    shape_tolerance_px: float | None = None,
) -> SolutionCheck:
    """Compare a wavelength solution with the optics model.

    Parameters
    ----------
    model : DispersionModel
        The expected relation (:func:`pipeline.optics.dispersion_model`).
    wavelengths : array
        Solution wavelength (Å) at every binned pixel ``0 .. n-1`` of the trimmed row.
    binning : int
        Binning along the dispersion axis.
    shift_tolerance_px, shape_tolerance_px : float, optional
        Unbinned px; default the model's (measured on the library, see
        ``benchmarks/bench_optics.py``).

    Returns
    -------
    SolutionCheck
        ``agrees`` is true when the constant offset and the shape deviation are both
        within their tolerances; ``message`` says which is not.
    """
    w = np.asarray(wavelengths, dtype=float)
    if w.ndim != 1 or w.size < 3 or not np.all(np.isfinite(w)):
        return SolutionCheck(
            False,
            float("nan"),
            float("nan"),
            0.0,
            0.0,
            "the solution must give a finite wavelength for every binned pixel (1-D, >= 3)",
        )
    u = binned_pixel_centres(binning, w.size)
    # offsets in pixels: where the model puts the solution's wavelengths
    offset = u - model.pixel(w)
    shift = float(np.median(offset))
    shape = float(np.max(np.abs(offset - shift)))
    st = model.shift_tolerance_px if shift_tolerance_px is None else shift_tolerance_px
    sh = model.shape_tolerance_px if shape_tolerance_px is None else shape_tolerance_px
    problems = []
    if not abs(shift) <= st:
        problems.append(f"shifted {shift:+.1f} px from the optics (tolerance {st:.1f})")
    if not shape <= sh:
        problems.append(f"deviates {shape:.1f} px from the optics' shape (tolerance {sh:.1f})")
    agrees = not problems
    mode = model.library_mode or "custom angles"
    message = (
        f"agrees with the optics ({mode}): shift {shift:+.1f} px, shape {shape:.1f} px"
        if agrees
        else f"disagrees with the optics ({mode}): " + "; ".join(problems)
    )
    return SolutionCheck(agrees, shift, shape, st, sh, message)
