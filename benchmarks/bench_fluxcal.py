"""Speed of flux calibration: one standard's sensitivity, one spectrum calibrated.

Simulates and reduces a 400_M2 2x2 night with one science target and one standard
(a few seconds, not timed), then times warm (imports done, tables cached; the median
of ``--repeat`` runs):

- sensitivity: ``compute_sensitivity`` on the standard's ``wecfzst_`` spectrum, and the
  whole step a job runs (read the product, check saturation, fit, write the master);
- flux calibration: ``flux_calibrate`` on the science spectrum, and the whole step
  (read, choose the sensitivity, calibrate, write ``fwecfzst_``).

It also prints the recovered flux's median absolute deviation from the simulator's
truth. The issue's budgets: sensitivity <= 0.5 s, one spectrum <= 0.1 s. Run::

    .venv/bin/python benchmarks/bench_fluxcal.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline.fluxcal.apply import flux_calibrate  # noqa: E402
from pipeline.fluxcal.io import read_spectrum  # noqa: E402
from pipeline.fluxcal.night_stage import flux_product, sensitivity_from_product  # noqa: E402
from pipeline.fluxcal.sensitivity import TELLURIC_BANDS, compute_sensitivity  # noqa: E402
from pipeline.night import reduce_night  # noqa: E402
from pipeline.simulate import NightConfig, simulate_night  # noqa: E402
from pipeline.simulation.spectra import filter_cut_on  # noqa: E402


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    cfg = NightConfig(
        mode="400_M2",
        binning=2,
        n_bias=2,
        n_flats=2,
        n_arcs=1,
        n_science=1,
        n_standards=1,
        n_targets=1,
        standard_airmass=1.8,
        seed=11,
    )
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        truth = simulate_night(tmp / "raw", cfg)
        reduce_night(tmp / "raw", tmp / "out")
        std = next(f for f in truth["frames"] if f["role"] == "standard")
        sci = next(f for f in truth["frames"] if f["role"] == "science")
        std_w = tmp / "out" / ("wecfzst_" + std["file"].replace(".fits", "_target_1.fits"))
        sci_w = tmp / "out" / ("wecfzst_" + sci["file"].replace(".fits", "_target_1.fits"))
        std_red = tmp / "out" / ("cfzst_" + std["file"])
        spec, header = read_spectrum(std_w)
        sci_spec, sci_header = read_spectrum(sci_w)

        compute_sensitivity(spec, header)  # warm
        t_fit = _median_time(lambda: compute_sensitivity(spec, header), args.repeat)
        scratch = tmp / "bench"
        t_step = _median_time(
            lambda: sensitivity_from_product(std_w, scratch, reduced_path=std_red),
            args.repeat,
        )
        sens, _ = sensitivity_from_product(std_w, scratch, reduced_path=std_red)
        flux_calibrate(sci_spec, sci_header, sens)  # warm
        t_cal = _median_time(lambda: flux_calibrate(sci_spec, sci_header, sens), args.repeat)
        t_prod = _median_time(lambda: flux_product(sci_w, [sens], scratch), args.repeat)

        cal, _ = flux_calibrate(sci_spec, sci_header, sens)
        target = sci["targets"][0]
        tw, tf = np.array(target["wavelength_at_trace"]), np.array(target["flux_true"])
        order = np.argsort(tw)
        true = np.interp(cal.axis, tw[order], tf[order])
        good = ~cal.mask & (cal.axis > filter_cut_on("GG455") + 150)
        good &= cal.axis < cal.axis.max() - 100
        for lo, hi in TELLURIC_BANDS:
            good &= (cal.axis < lo) | (cal.axis > hi)
        mad = float(np.median(np.abs(cal.flux[good] / true[good] - 1)))

    print(
        f"night: 400_M2 2x2, standard {sens.standard} at airmass {sens.airmass:.3f}, "
        f"science at {sci['airmass']:.3f}; {args.repeat} repeats, medians"
    )
    print(f"sensitivity fit (compute_sensitivity)          {t_fit:.4f} s  (budget 0.5 s)")
    print(f"sensitivity step (read + saturation + fit + write) {t_step:.4f} s")
    print(f"flux calibration of one spectrum (flux_calibrate) {t_cal:.4f} s  (budget 0.1 s)")
    print(f"flux product step (read + choose + calibrate + write) {t_prod:.4f} s")
    print(
        f"recovered flux vs truth: median |relative deviation| {100 * mad:.2f} % "
        f"over {int(good.sum())} bins outside telluric bands"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
