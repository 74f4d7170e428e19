"""Error budget of physical-truth arcs graded on one or two clean lines.

Some lamps show a single clean line in a mode (930 l/mm M1 and M2 with their Hg lamps:
Ar II 4052.92, Ne I 5400.56): the issue's ``|mean| <= 0.03`` px is then a bound on the
solution's error at that one place. Per arc this prints where that error comes from:

- ``centre``: the line's measured centre minus its true column (binned px), and
  ``stated``: the centring error the line table states for it;
- ``fit``: the solution minus the line's NIST wavelength at its measured centre, px
  (how far the fit strays from the line towards its neighbours);
- ``error``: the solution minus the truth at the true column (what is graded);
- ``sd``: the standard deviation the fit itself predicts for its mean error at the
  expected lines, from the lines it used, the errors it weighed them with and its order
  (:func:`pipeline.wavelength.robust_fit.prediction_variance` of the correction).

The summary compares the arcs failing the mean with the number noise alone explains
(each arc's chance of ``|N(0, sd)| > 0.03``). Run::

    .venv/bin/python benchmarks/lone_line_budget.py
    .venv/bin/python benchmarks/lone_line_budget.py --modes 930_M1 --seeds 0-29
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from numpy.polynomial import chebyshev

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from benchmarks.grade_physical import MEAN_LIMIT, _seed_list  # noqa: E402
from pipeline import lamps  # noqa: E402
from pipeline.simulation.physical import arc_1d  # noqa: E402


def predicted_sd(sol, columns: np.ndarray) -> float:
    """Standard deviation (binned px) the fit predicts for its mean at ``columns``."""
    t = sol.lines
    used = np.asarray(t["status"]) == "used"
    n = sol.npix
    x = 2.0 * np.asarray(t["pixel"], float)[used] / (n - 1) - 1.0
    w = 1.0 / np.asarray(t["fit_error"], float)[used] ** 2
    order = max(int(sol.correction_order), 0)
    a = chebyshev.chebvander(x, order) * np.sqrt(w)[:, None]
    _, r = np.linalg.qr(a)
    xe = 2.0 * np.asarray(columns, float) / (n - 1) - 1.0
    # the mean of the fit at the expected lines: one row, the mean of theirs
    row = chebyshev.chebvander(xe, order).mean(axis=0)
    z = np.linalg.solve(r.T, row)
    return float(np.sqrt(z @ z))


def budget(mode: str, binning: int, lamp: str, seed: int) -> list[dict]:
    """One row per expected line of one arc (see the module docstring)."""
    from pipeline.wavelength import calibrate_arc

    arc = arc_1d(mode, binning, lamp=lamp, seed=seed)
    sol = calibrate_arc(arc.flux, mode, lamps.elements(arc.lamp), binning=binning)
    x = np.arange(arc.flux.size, dtype=float)
    disp = np.gradient(arc.wavelength, x)
    exp = [ln for ln in arc.lines if ln["expected"]]
    if not exp:
        return []
    cols = np.array([ln["column"] for ln in exp])
    sd = predicted_sd(sol, cols)
    lab = np.asarray(sol.lines["lab_wavelength"], float)
    rows = []
    for ln in exp:
        d = float(np.interp(ln["column"], x, disp))
        gap = np.abs(lab - ln["wavelength"])
        k = int(np.argmin(np.where(np.isfinite(gap), gap, np.inf)))
        own = gap[k] < 1e-3
        rows.append(
            dict(
                case=f"{mode}:{binning} {arc.lamp} s{seed}",
                line=f"{ln['ion']} {ln['wavelength']:.2f}",
                centre=float(sol.lines["pixel"][k] - ln["column"]) if own else np.nan,
                stated=float(sol.lines["pixel_error"][k]) if own else np.nan,
                fit=float(sol.lines["residual_pixel"][k]) if own else np.nan,
                error=float((sol.wavelength(np.array([ln["column"]]))[0] - ln["wavelength"]) / d),
                sd=sd,
            )
        )
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default="930_M1,930_M2", help="modes, e.g. 930_M1,930_M2")
    ap.add_argument("--lamps", default="HgAr,HgArNe", help="lamps, e.g. HgAr,HgArNe")
    ap.add_argument("--binnings", default="1,2", help="binnings, e.g. 1,2")
    ap.add_argument("--seeds", type=_seed_list, default=list(range(10)), help="e.g. 0-9")
    args = ap.parse_args(argv)
    print(
        f"{'arc':24s} {'line':14s} {'centre':>7s} {'stated':>7s} {'fit':>7s} "
        f"{'error':>7s} {'sd':>6s}  (binned px)"
    )
    fails, expected_fails, arcs = 0, 0.0, 0
    for mode in args.modes.split(","):
        for b in (int(v) for v in args.binnings.split(",")):
            for lamp in args.lamps.split(","):
                for seed in args.seeds:
                    rows = budget(mode.strip(), b, lamp.strip(), seed)
                    if not rows:
                        continue
                    arcs += 1
                    mean = float(np.mean([r["error"] for r in rows]))
                    sd = rows[0]["sd"]
                    fails += abs(mean) > MEAN_LIMIT
                    expected_fails += math.erfc(MEAN_LIMIT / (sd * math.sqrt(2.0)))
                    for r in rows:
                        print(
                            f"{r['case']:24s} {r['line']:14s} {r['centre']:+7.3f} "
                            f"{r['stated']:7.3f} {r['fit']:+7.3f} {r['error']:+7.3f} "
                            f"{r['sd']:6.3f}" + ("  FAIL" if abs(mean) > MEAN_LIMIT else ""),
                            flush=True,
                        )
    print(
        f"\n{arcs} arcs: {fails} with |mean| > {MEAN_LIMIT} px; the fits' own predicted "
        f"errors expect {expected_fails:.1f} from noise alone"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
