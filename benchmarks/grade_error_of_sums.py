"""The error of sums over a product's bins: scatter over noise realisations against the quoted error.

A faint source (40 ADU per column on a sky of 80, 600 columns, the trace of a bright
twin) in +-1 and +-2.5 FWHM apertures is extracted from ``--n`` noise realisations
with both methods, resampled to a linear dispersion (a non-linear solution, blue to
the right, as the Goodman's) and written as a ``wecfzst_`` product. For sums over the
whole spectrum and over a 40 Å window, the scatter of the summed flux over the
realisations is divided by the mean error quoted:

- ``quadrature``: the bins' ``STD`` summed in quadrature (all a product gave before);
- ``summed_std``: :func:`pipeline.spectroscopy.extract.summed_std` on the resampled
  spectrum in memory;
- ``product``: :func:`pipeline.wavelength.shared_noise.summed_error` on the written
  product (``-`` on a branch without it).

1.00 is an honest error, within the ratio's own standard error over ``n`` realisations,
about ``1 / sqrt(2 (n - 1))`` (printed: +-0.11 at the default 40, so a single row 10 %
from 1 says nothing; the realisations 1-40 and 1-200 happen to scatter high: the
simulator's raw pixel sums over those seeds scatter 3.5-7 % above their exact noise,
while over 3000 seeds they are within 1.5 %). Run::

    .venv/bin/python benchmarks/grade_error_of_sums.py [--n 40]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline.spectroscopy import find_targets, trace_target  # noqa: E402
from pipeline.spectroscopy.extract import extract_arrays, summed_std  # noqa: E402
from pipeline.wavelength.fits_io import write_spectrum  # noqa: E402
from pipeline.wavelength.resample import resample_arrays  # noqa: E402
from pipeline.wavelength.solution import WavelengthSolution  # noqa: E402
from tests.spectroscopy.synthetic import frame  # noqa: E402

try:
    from pipeline.wavelength.shared_noise import summed_error
except ImportError:  # a branch without the product's shared noise
    summed_error = None

SHAPE = (90, 600)
KW = {"sky": 80, "curvature": (0, 0.01, 0)}
ROW = SHAPE[0] / 2
SOLUTION = WavelengthSolution(
    np.array([6000.0, -1.5, 2e-4]), SHAPE[1], 1, 0, 0, 0, 0, None, "", "", ""
)
RANGES = {"whole": (None, None), "40 A": (5600.0, 5640.0)}


def run(n: int) -> None:
    bright, _, _ = frame(SHAPE, sources=((ROW, 5, 3000),), **KW)
    (target,) = find_targets(bright, max_targets=1)
    trace = trace_target(bright, target)
    print(f"{n} realisations: each ratio's standard error is +-{1 / np.sqrt(2 * (n - 1)):.2f}")
    print(
        f"{'faint 40 ADU/col, sky 80':26s} {'range':6s} {'method':10s} "
        f"{'quadrature':>10s} {'summed_std':>10s} {'product':>8s}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for k in (1.0, 2.5):
            hw = k * trace.fwhm
            rows = {}
            for seed in range(1, n + 1):
                ccd, _, _ = frame(SHAPE, sources=((ROW, 5, 40),), seed=seed, **KW)
                for method in ("fractional", "optimal"):
                    res = resample_arrays(
                        extract_arrays(ccd, trace, method, half_width=hw), SOLUTION
                    )
                    path = write_spectrum(res, Path(tmp) / f"wecfzst_{method}.fits")
                    wave = np.asarray(res.axis)
                    for label, (lo, hi) in RANGES.items():
                        pick = ~np.asarray(res.mask, bool)
                        pick &= (wave >= (lo or -np.inf)) & (wave <= (hi or np.inf))
                        row = rows.setdefault(
                            (label, method), {"sum": [], "q": [], "s": [], "p": []}
                        )
                        row["sum"].append(res.flux[pick].sum())
                        row["q"].append(np.sqrt((res.std[pick] ** 2).sum()))
                        row["s"].append(summed_std(res, pick))
                        if summed_error is not None:
                            row["p"].append(summed_error(path, lo, hi).value)
            for (label, method), row in rows.items():
                scatter = np.std(row["sum"], ddof=1)
                cells = [f"{scatter / np.mean(row[key]):10.2f}" for key in ("q", "s")]
                product = f"{scatter / np.mean(row['p']):8.2f}" if row["p"] else f"{'-':>8s}"
                print(
                    f"{'+-' + str(k) + ' FWHM':26s} {label:6s} {method:10s} "
                    + " ".join(cells)
                    + f" {product}"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40)
    run(parser.parse_args().n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
