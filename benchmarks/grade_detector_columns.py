"""Do the library lamps' distorted lines sit on fixed detector columns?

A defective column (hot, dead, a charge trap, a stitching or amplifier boundary) distorts
every line whose core covers it, in every mode and exposure of that camera; a
distortion of the lamp's own reduction follows the exposure instead. Each library lamp
is refitted against NIST (:func:`~pipeline.wavelength.refit_library.refit_solution`)
and each of its lines compared, pixel by pixel, with the median profile of the same
lamp's other lines at the same sub-pixel phase (within :data:`PHASE`) and width (a
1.2-px-wide, undersampled line's sampled shape depends on its phase, so comparing
across phases would report the sampling). A line's core deviation is the largest
departure of its two central pixels, as a fraction of the line's flux; it deviates
above :data:`DEVIATES`.

Columns are unbinned columns of the detector's light-sensitive area, 0-based after the
serial prescan: a 1-D lamp's pixel ``i`` is at ``i + x0 + origin - PRESCAN``, ``x0`` the
first raw column it kept (``GSP_TRIM``) and ``origin`` the readout's serial origin
(``PG5_11``: 530 for the 600_RED lamps' 3096-column ROI).

Printed, per camera (``INSTCONF``): for the columns that lines of n modes cover (a
line covers its two central pixels; a mode deviates there when most of its lamps' lines
do), how many of the n deviate, against the binomial count of modes deviating
independently at the camera's rate (a defective column makes every covering mode
deviate: an excess in the last bin), and the columns where all of two or more do;
the lines on the columns given (``--columns``); and the share of deviating lines and of lines off NIST by more than
0.2 px in lamps whose reduction cleaned cosmic rays (``GSP_COSM``) and in the others.
Run::

    .venv/bin/python benchmarks/grade_detector_columns.py [--columns 764 1331 1934]
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline import lamps  # noqa: E402
from pipeline.wavelength.refit_library import refit_solution  # noqa: E402

#: Unbinned serial prescan columns of Goodman's detectors.
PRESCAN = 50
#: Half-width (px) of the profile window around a line's floor pixel.
HALF = 4
#: Sub-pixel phase tolerance (px) of the lines a line is compared with.
PHASE = 0.08
#: Core deviation (fraction of the line's flux) above which a line deviates.
DEVIATES = 0.05
#: Lines fainter than this fraction of the lamp's brightest are not judged.
FAINT = 0.01


def column_origin(header) -> int:
    """Detector column (0-based, after the prescan) of a 1-D lamp's pixel 0."""
    trim = str(header.get("GSP_TRIM", "none") or "none")
    x0 = int(trim.strip("[").split(":")[0]) - 1 if trim not in ("", "none") else 0
    return x0 + int(header.get("PG5_11", 0) or 0) - PRESCAN


def _profiles(flux, pixels):
    """Per line: (index, phase, background-free profile over its sum, sum)."""
    out = []
    for k, c in enumerate(pixels):
        i = int(np.floor(c))
        if i - HALF - 20 < 0 or i + HALF + 21 > flux.size:
            continue
        side = np.r_[flux[i - 20 : i - HALF], flux[i + HALF + 1 : i + 21]]
        y = flux[i - HALF : i + HALF + 2] - np.percentile(side, 20)
        if y.sum() > 0:
            out.append((k, c - i, y / y.sum(), y.sum()))
    return out


def lamp_lines(template) -> list[dict]:
    """Every found line of one lamp with its column, residual and core deviation
    (``nan`` where it is not judged: too faint, or no line of its phase to compare)."""
    header = fits.getheader(template.path)
    sol = refit_solution(template)
    lines = sol.lines
    pixels = np.asarray(lines["pixel"], float)
    fwhm = np.asarray(lines["fwhm"], float)
    prof = _profiles(np.asarray(template.flux, float), pixels)
    brightest = max((p[3] for p in prof), default=0.0)
    origin = column_origin(header)
    rows = []
    for k, phase, y, total in prof:
        same = (
            []
            if total < FAINT * brightest
            else [
                q[2]
                for q in prof
                if q[0] != k
                and abs(q[1] - phase) < PHASE
                and q[3] > FAINT * brightest
                and abs(pixels[q[0]] - pixels[k]) < 1500
                and abs(fwhm[q[0]] / fwhm[k] - 1) < 0.15
            ]
        )
        # too faint, or no line to compare with: listed, not judged
        dev = y - np.median(same, axis=0) if len(same) >= 2 else np.full(y.size, np.nan)
        rows.append(
            {
                "lamp": template.file_name.removeprefix("goodman_comp_").removesuffix(".fits"),
                "mode": template.mode,
                "camera": str(header.get("INSTCONF", "?")),
                "cleaned": template.cosmic_cleaned,
                "column": pixels[k] + origin,
                "core": int(np.floor(pixels[k])) + origin,
                "deviation": float(np.abs(dev[HALF : HALF + 2]).max()),
                "residual": float(lines["residual_pixel"][k]),
                "status": str(lines["status"][k]),
                "ion": str(lines["ion"][k]),
                "wavelength": float(lines["reference_wavelength"][k]),
            }
        )
    return rows


def coverage(rows) -> dict[int, tuple[set, set]]:
    """Column -> (modes with a line whose two central pixels cover it, those deviating)."""
    seen = collections.defaultdict(lambda: collections.defaultdict(list))
    for r in rows:
        if not np.isfinite(r["deviation"]):
            continue
        for col in (r["core"], r["core"] + 1):
            seen[col][r["mode"]].append(r["deviation"] > DEVIATES)
    return {
        col: (set(by_mode), {m for m, v in by_mode.items() if np.mean(v) > 0.5})
        for col, by_mode in seen.items()
    }


def _print_coverage(cover) -> None:
    """Deviating modes per column against independent deviation (module docstring)."""
    pairs = [(len(c), len(d)) for c, d in cover.values()]
    if not pairs:
        print("  no line judged")
        return
    rate = sum(d for _, d in pairs) / sum(n for n, _ in pairs)
    print(f"  a mode deviates at {rate:.3f} of the columns its lines cover")
    for n in range(2, max(n for n, _ in pairs) + 1):
        got = [d for m, d in pairs if m == n]
        if not got:
            continue
        seen = np.bincount(got, minlength=n + 1)
        expected = stats.binom.pmf(np.arange(n + 1), n, rate) * len(got)
        print(
            f"  {len(got):4d} columns covered by {n} modes, 0..{n} deviating: "
            f"{seen.tolist()}  expected {np.round(expected, 1).tolist()}"
        )
    every = sorted(col for col, (c, d) in cover.items() if len(c) >= 2 and d == c)
    print(f"  columns where every one of >= 2 covering modes deviates ({len(every)}):")
    for col in every:
        print(f"    {col:5d}: {', '.join(sorted(cover[col][0]))}")


def main(argv=None) -> int:
    """Grade the library lamps' line distortions by detector column (module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--columns", type=int, nargs="*", default=[764, 1331, 1934])
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    rows = [r for t in lamps.library() for r in lamp_lines(t)]
    for camera in sorted({r["camera"] for r in rows}):
        cam = [r for r in rows if r["camera"] == camera]
        print(
            f"{camera} camera: {len(cam)} lines of {len({r['lamp'] for r in cam})} lamps, "
            f"{sum(np.isfinite(r['deviation']) for r in cam)} judged, "
            f"{sum(r['deviation'] > DEVIATES for r in cam)} deviating"
        )
        _print_coverage(coverage(cam))
    print(f"\nlines whose core covers columns {args.columns} (+-1.5 px):")
    for r in sorted(rows, key=lambda r: (r["column"], r["lamp"])):
        if any(abs(r["column"] - c) <= 1.5 for c in args.columns):
            print(
                f"  {r['column']:7.1f} {r['lamp']:26s} {'DCR' if r['cleaned'] else 'raw':3s} "
                f"{r['ion']:6s} {r['wavelength']:9.2f} {r['status']:12s} "
                f"res {r['residual']:+.3f} px  core deviation {r['deviation']:.3f}"
                + ("" if np.isfinite(r["deviation"]) else " (not judged)")
            )
    print()
    for cleaned in (True, False):
        sel = [r for r in rows if r["cleaned"] == cleaned and np.isfinite(r["deviation"])]
        res = np.array([r["residual"] for r in sel])
        named = np.isfinite(res)
        print(
            f"lamps {'cleaned of cosmic rays (GSP_COSM)' if cleaned else 'not cleaned':36s}: "
            f"{len({r['lamp'] for r in sel}):2d} lamps, {len(sel):4d} lines, deviating "
            f"{np.mean([r['deviation'] > DEVIATES for r in sel]):.3f}; {named.sum():4d} named, "
            f"|residual| > 0.2 px {np.mean(np.abs(res[named]) > 0.2):.3f}"
        )
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
