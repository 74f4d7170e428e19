"""Per-line residuals of goodman's wide-slit 1200 l/mm CuHeAr history arcs, beside their library lamp.

The history arcs ``goodman_comp_1200M2_CuHeAr_2017-06-10`` and ``1200M3_CuHeAr`` (03:38
and 04:14 UT, ``tests/data/real/goodman_pipeline_history``) have lines 5.9 px wide; the
library lamps of those modes (``pipeline/data/lamps``) 2.6 px. Per NIST line of the arc,
calibrated as ``benchmarks/grade_real_arcs.py`` reads it: its residual (binned px) and
status in each arc of the mode, its FWHM over the arc's median, its residual in the
library lamp's refit (:func:`~pipeline.wavelength.refit_library.refit_solution`), and how
far the library lamp, smoothed to the arc's width, moves it (``smooth``: a Gaussian with
a linear background fitted over 4 px of the narrow line and 8 px of the smoothed one,
the shift minus the median shift of all lines). A line the smoothed lamp moves as the
arc shows it is blended at the arc's width with a neighbour the lamp resolves; a line
off in the arc but not in the smoothed lamp is off for a reason the lamp does not hold.

Run (a minute)::

    .venv/bin/python benchmarks/wide_slit_lines.py

Finding (main 6139f63): see the history README's notes on the 1200 CuHeAr arcs.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import curve_fit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline import lamps  # noqa: E402
from pipeline.wavelength.refit_library import refit_solution  # noqa: E402
from tests.wavelength.real_arcs import HISTORY_ARCS, calibrate_as_read, history_arc  # noqa: E402

#: (library lamp, history arcs of its mode)
MODES = (
    ("goodman_comp_1200M2_CuHeAr.fits", ("1200M2_CuHeAr_2017-06-10",)),
    (
        "goodman_comp_1200M3_CuHeAr.fits",
        ("1200M3_CuHeAr_2017-06-10T0338", "1200M3_CuHeAr_2017-06-10T0414"),
    ),
)
#: Half-widths (px) of the Gaussian fits in the narrow lamp and in it smoothed.
NARROW_HALF, SMOOTH_HALF = 4, 8
#: A fitted centre farther than this (px) from the line's is a neighbour's.
MAX_MOVE = 1.0


def _gauss(x, a, c, s, b, m):
    return a * np.exp(-0.5 * ((x - c) / s) ** 2) + b + m * (x - c)


def _centre(flux: np.ndarray, pixel: float, half: int) -> float:
    """Centre (px) of a Gaussian with a linear background fitted around ``pixel``."""
    i = int(round(pixel))
    x = np.arange(max(i - half, 0), min(i + half + 1, flux.size))
    y = flux[x]
    p0 = [y.max() - y.min(), pixel, half / 3.0, y.min(), 0.0]
    try:
        p, _ = curve_fit(_gauss, x, y, p0=p0, maxfev=20000)
    except RuntimeError:
        return np.nan
    # a fit that wandered more than MAX_MOVE px caught a neighbour, not this line
    return float(p[1]) if abs(p[1] - pixel) < MAX_MOVE else np.nan


def _named(table) -> dict[float, object]:
    """The table's rows named after a NIST line, by wavelength rounded to 0.01 A."""
    rows = {}
    for row in table:
        if np.isfinite(row["reference_wavelength"]):
            rows[round(float(row["reference_wavelength"]), 2)] = row
    return rows


def mode_rows(lamp_file: str, arc_keys: tuple[str, ...]) -> list[str]:
    """One formatted line per NIST line named in the arcs of one mode."""
    template = next(t for t in lamps.library() if t.path.name == lamp_file)
    lamp = refit_solution(template)
    lamp_rows = _named(lamp.lines)
    flux = np.asarray(template.flux, float)
    arcs = []
    for key in arc_keys:
        arc = next(a for a in HISTORY_ARCS if key in a.file)
        arc_flux, _, header = history_arc(arc)
        sol = calibrate_as_read(arc_flux, header)
        used = np.asarray(sol.lines["used"], bool)
        arcs.append((key, sol, _named(sol.lines), float(np.median(sol.lines["fwhm"][used]))))
    lamp_used = np.asarray(lamp.lines["used"], bool)
    lamp_fwhm = float(np.median(lamp.lines["fwhm"][lamp_used]))
    arc_fwhm = float(np.median([a[3] for a in arcs]))
    sigma = np.sqrt(max(arc_fwhm**2 - lamp_fwhm**2, 0.0)) / 2.3548
    smooth = gaussian_filter1d(flux, sigma)
    shifts = {
        wl: _centre(smooth, row["pixel"], SMOOTH_HALF) - _centre(flux, row["pixel"], NARROW_HALF)
        for wl, row in lamp_rows.items()
    }
    typical = np.nanmedian(list(shifts.values()))
    out = [
        f"{lamp_file} ({lamp_fwhm:.2f} px FWHM, refit {lamp.rms_pixel:.4f} px) smoothed by "
        f"{sigma:.2f} px to the arcs' {arc_fwhm:.2f} px"
    ]
    out.append(
        f"{'NIST A':>9s} {'ion':6s}"
        + "".join(f" {a[0][-16:]:>16s} {'w/arc':>5s}" for a in arcs)
        + f" {'lamp':>16s} {'smooth':>7s}"
    )
    waves = sorted(set().union(*(a[2] for a in arcs)))
    for wl in waves:
        ion = next(a[2][wl]["ion"] for a in arcs if wl in a[2])
        text = f"{wl:9.2f} {ion:6s}"
        for _, _, rows, fwhm in arcs:
            if wl in rows:
                r = rows[wl]
                text += f" {r['residual_pixel']:+7.3f} {r['status']:>8s} {r['fwhm'] / fwhm:5.2f}"
            else:
                text += f" {'':16s} {'':5s}"
        if wl in lamp_rows:
            r = lamp_rows[wl]
            shift = shifts[wl] - typical
            text += f" {r['residual_pixel']:+7.3f} {r['status']:>8s} {shift:+7.3f}"
        out.append(text)
    return out


def main() -> int:
    warnings.simplefilter("ignore")  # a real header's non-ASCII card is replaced: noise here
    for lamp_file, keys in MODES:
        for line in mode_rows(lamp_file, keys):
            print(line, flush=True)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
