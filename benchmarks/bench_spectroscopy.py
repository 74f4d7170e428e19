"""Speed of extraction + wavelength calibration of one reduced 2x2 science frame.

Simulates a 400_M2 2x2 night in memory, trims the science frame and two arcs (prefix
level removed), then times, warm (templates cached, numpy/scipy imported; the median
of ``--repeat`` runs):

    targets -> trace -> extraction (fractional and optimal) -> 2 arcs extracted along
    the trace -> 2 arc solutions -> combination -> resampling -> product write

The issue's budget: <= 0.3 s for the whole of it. Run::

    .venv/bin/python benchmarks/bench_spectroscopy.py [--binning 2] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from benchmarks.grade_wavelength import _trimmed  # noqa: E402
from pipeline.simulate import NightConfig, iter_night
from pipeline.simulation.night import NightSimulator
from pipeline.spectroscopy import extract, find_targets, trace_target
from pipeline.spectroscopy.arc_solutions import calibrate_along_trace, combine_solutions
from pipeline.wavelength import apply_solution, write_spectrum


def _frames(binning):
    cfg = NightConfig(
        mode="400_M2",
        binning=binning,
        flexure_px=1.3,
        n_bias=1,
        n_flats=1,
        n_arcs=2,
        n_science=1,
        seed=1,
    )
    night = NightSimulator(cfg).night_truth()
    sci, arcs = None, []
    for name, hdul, truth in iter_night(cfg):
        if truth["role"] == "arc":
            arcs.append((_trimmed(hdul, night), name))
        elif truth["role"] == "science":
            sci = _trimmed(hdul, night)
    return sci, arcs


def run_once(sci, arcs, method, out: Path) -> dict:
    t = {}
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    (target,) = find_targets(sci, max_targets=1)
    t["targets"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    trace = trace_target(sci, target)
    t["trace"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    spec = extract(sci, trace, method)
    t["extract"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    hw = spec.meta["aperture"]
    sols = []
    t_arc_ext = 0.0
    for arc, name in arcs:
        ta = time.perf_counter()
        sols.append(calibrate_along_trace(arc, name, trace, hw, "400_M2"))
        t_arc_ext += time.perf_counter() - ta
    t["arcs (extract+solve, 2)"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sol, _ = combine_solutions(sols, [None, None])
    cal = apply_solution(spec, sol)
    t["combine+resample"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    write_spectrum(cal, out / "wecfzst_bench.fits", sci.header, sol.header_cards())
    t["write"] = time.perf_counter() - t0
    t["total"] = sum(t.values())
    t["total CPU (load-independent)"] = time.process_time() - cpu0
    return t


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binning", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    sci, arcs = _frames(args.binning)
    print(
        f"science frame {sci.shape[1]} columns x {sci.shape[0]} rows, "
        f"binning {args.binning}, 2 arcs; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for method in ("fractional", "optimal"):
            run_once(sci, arcs, method, Path(tmp))  # warm-up
            runs = [run_once(sci, arcs, method, Path(tmp)) for _ in range(args.repeat)]
            print(f"\n{method} extraction, median of {args.repeat} warm runs (s):")
            for key in runs[0]:
                print(f"  {key:26s} {np.median([r[key] for r in runs]):.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
