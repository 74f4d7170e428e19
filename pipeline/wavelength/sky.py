"""Flexure between the arcs and the science frame, measured on the night-sky lines.

The arcs are taken minutes or hours away from the science frame, and Goodman flexes
by a few pixels as the telescope moves: an arc solution applied to the science then
carries that offset. The sky lines in the science frame's own background are at
known wavelengths, so their offset against the arc solution measures it. The solution
is shifted only when the offset is measured from at least three lines that agree
(robust scatter under 0.15 px) and is significant (above three standard errors and
0.03 px): with no flexure it is left exactly as the arcs made it.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from numpy.polynomial import Chebyshev

from pipeline.wavelength.lines import find_lines
from pipeline.wavelength.solution import WavelengthSolution

#: Bright night-sky emission lines (air Å): [OI], Na D, city Hg and the strong OH
#: lines of the red (Osterbrock et al. 1996).
SKY_LINES = np.array(
    [
        4358.34,
        5460.74,
        5577.34,
        5889.95,
        5895.92,
        6300.30,
        6363.78,
        6863.96,
        7316.28,
        7340.88,
        7571.75,
        7750.64,
        7794.11,
        7821.50,
        7913.71,
        7993.33,
        8344.60,
        8399.17,
        8430.17,
        8827.10,
        8885.85,
        8919.53,
        8943.40,
        8988.37,
        9375.96,
        9439.67,
    ]
)


@dataclasses.dataclass(frozen=True)
class SkyOffset:
    """Offset (binned px, science minus arcs) of the sky lines, and its support."""

    offset: float
    error: float
    scatter: float
    n_lines: int
    applied: bool
    note: str


def _pixel_of(solution: WavelengthSolution, waves: np.ndarray) -> np.ndarray:
    j = np.arange(solution.npix, dtype=float)
    w = solution.wavelength(j)
    if w[-1] < w[0]:
        return np.interp(waves, w[::-1], j[::-1], left=np.nan, right=np.nan)
    return np.interp(waves, w, j, left=np.nan, right=np.nan)


def measure_sky_offset(
    sky: np.ndarray, solution: WavelengthSolution, max_offset: float = 12.0
) -> SkyOffset:
    """Offset of the sky lines in ``sky`` (per column) against ``solution``.

    Parameters
    ----------
    sky : ndarray
        Sky spectrum along the dispersion axis (e.g. the fitted background summed over
        the aperture), binned pixels.
    solution : WavelengthSolution
        The arcs' solution.
    max_offset : float
        Largest offset searched, binned pixels.

    Returns
    -------
    SkyOffset
        The offset (binned px, science minus arcs), its error and scatter, the number of
        sky lines measured, whether it is to be applied, and a note; offset 0, not
        applied, with the reason in the note when there is too little sky to tell.
    """
    sky = np.asarray(sky, dtype=float)
    none = SkyOffset(0.0, np.inf, np.inf, 0, False, "")
    if sky.size != solution.npix or not np.isfinite(sky).any():
        return dataclasses.replace(none, note="no sky spectrum")
    found = find_lines(np.where(np.isfinite(sky), sky, np.nanmedian(sky)), threshold=8.0)
    expected = _pixel_of(solution, SKY_LINES)
    ok = np.isfinite(expected) & (expected > 5) & (expected < solution.npix - 6)
    if len(found) == 0 or not ok.any():
        return dataclasses.replace(none, note="no sky line on the detector")
    fwhm = 2.3548 * float(np.median(found.sigma))
    # isolated catalogue lines only: a blend (Na D at low resolution) has no clean centre
    exp = expected[ok]
    gaps = np.abs(exp[:, None] - exp[None, :]) + np.eye(exp.size) * 1e9
    exp = exp[gaps.min(axis=1) > 3 * fwhm]
    if exp.size == 0:
        return dataclasses.replace(none, note="sky lines blended at this resolution")
    # Coarse offset: the most common difference between found and expected lines.
    diffs = (found.centre[:, None] - exp[None, :]).ravel()
    diffs = diffs[np.abs(diffs) <= max_offset]
    if diffs.size == 0:
        return dataclasses.replace(none, note="no sky line near its expected place")
    hist, edges = np.histogram(diffs, bins=np.arange(-max_offset, max_offset + 0.51, 0.5))
    k = int(np.argmax(hist))
    coarse = 0.5 * (edges[k] + edges[k + 1])
    near = np.abs(found.centre[:, None] - (exp[None, :] + coarse))
    idx = np.argmin(near, axis=0)
    close = near[idx, np.arange(exp.size)] <= max(1.0, 0.75 * fwhm)
    d = found.centre[idx[close]] - exp[close]
    sigma = np.hypot(np.nan_to_num(found.centre_error[idx[close]], nan=1.0), 0.02)
    n = int(d.size)
    if n < 3:
        return SkyOffset(
            float(np.median(d)) if n else 0.0,
            np.inf,
            np.inf,
            n,
            False,
            f"{n} sky line(s) measured (need 3)",
        )
    med = float(np.median(d))
    scatter = float(1.4826 * np.median(np.abs(d - med)))
    keep = np.abs(d - med) <= max(3 * scatter, 0.1)
    d, w = d[keep], 1.0 / sigma[keep] ** 2
    n = int(d.size)
    # weighted by each line's centring error: faint sky lines count less
    offset = float(np.sum(w * d) / np.sum(w))
    scatter = float(np.std(d, ddof=1)) if n > 1 else np.inf
    error = max(float(np.sqrt(1.0 / np.sum(w))), scatter / np.sqrt(n)) if n > 1 else np.inf
    applied = n >= 3 and scatter < 0.15 and abs(offset) > max(3 * error, 0.03)
    note = f"sky lines ({n}) offset {offset:+.3f} ± {error:.3f} px from the arcs" + (
        ": solution shifted" if applied else ": not significant, solution kept"
    )
    return SkyOffset(offset, error, scatter, n, applied, note)


def shift_solution(solution: WavelengthSolution, offset: float) -> WavelengthSolution:
    """Move a solution by ``offset`` binned pixels: ``λ_new(j) = λ(j - offset)``.

    Parameters
    ----------
    solution : WavelengthSolution
        The arcs' solution.
    offset : float
        Shift in binned pixels (positive: features at larger pixels).

    Returns
    -------
    WavelengthSolution
        A copy refitted at the same order, its ``sky_shift_pixel`` grown by ``offset``.
    """
    j = np.arange(solution.npix, dtype=float)
    wave = solution.wavelength(j - offset)
    series = Chebyshev.fit(j, wave, solution.order, domain=[j[0], j[-1]])
    coef = series.convert(domain=[-1, 1], window=[-1, 1]).coef
    return dataclasses.replace(
        solution, coefficients=coef, sky_shift_pixel=solution.sky_shift_pixel + offset
    )
