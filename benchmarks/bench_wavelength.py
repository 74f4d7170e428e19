"""Speed and accuracy of line identification + fitting of one real arc against NIST.

Times :func:`pipeline.wavelength.calibrate_arc` warm (imports done, library and NIST
lists cached; the median of ``--repeat`` runs) on the real Red-camera 400 M1 HgArNe arc
``tests/data/real/goodman_focus/sp_400m1.fits`` (1-D: median of the central rows):

- 1x1 and 2x2 (the same arc summed in pairs of columns);
- starting from the library template (its NIST-corrected model), and from a first guess
  only (the template's model moved by 20 px with a dispersion 2 % off, no template
  flux: NIST lines rendered through the guess find the offset and scale).

Each row prints the median time, the RMS and mean of the fit against NIST air lines
(binned px) and the lines used. The issue's budget: <= 0.3 s per arc. Run::

    .venv/bin/python benchmarks/bench_wavelength.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline.wavelength import calibrate_arc, select_template  # noqa: E402
from tests.wavelength.real_arcs import PerturbedGuess, sp_400m1  # noqa: E402


def _cases():
    arc, header = sp_400m1()
    template = select_template("400_M1", "HgArNe")
    guess = PerturbedGuess(template, offset=20.0, scale=1.02)
    binned = arc[: arc.size // 2 * 2].reshape(-1, 2).sum(axis=1)
    return [
        ("1x1 library template", arc, 1, {"template": template}),
        ("2x2 library template", binned, 2, {"template": template}),
        ("1x1 first guess only", arc, 1, {"first_guess": guess}),
        ("2x2 first guess only", binned, 2, {"first_guess": guess}),
    ]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    cases = _cases()
    print(f"{'case':24s} {'median s':>9s} {'min s':>7s} {'rms px':>7s} {'mean px':>8s} lines")
    for name, flux, b, kw in cases:
        calibrate_arc(flux, "400_M1", "HgArNe", b, **kw)  # warm-up
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            sol = calibrate_arc(flux, "400_M1", "HgArNe", b, **kw)
            times.append(time.perf_counter() - t0)
        print(
            f"{name:24s} {np.median(times):9.3f} {np.min(times):7.3f} "
            f"{sol.rms_pixel:7.3f} {sol.mean_pixel:8.4f} {sol.n_used}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
