"""What importing specutils costs a process: the reason ``SpectrumArrays`` exists.

    .venv/bin/python benchmarks/bench_specutils_import.py [--rounds 3]

``gsp reduce`` and the job engine's workers pass spectra between the pipeline's steps as
:class:`pipeline.wavelength.arrays.SpectrumArrays` and convert to
``specutils.Spectrum`` only where a public function returns one, so that a process that
never hands out a ``Spectrum`` never imports specutils (and ndcube, gwcs...). This
prints, per round, the wall seconds of a new Python importing what every pipeline
process imports (numpy, astropy units and FITS, CCDData) and the same plus specutils,
alternating the two so that a busy machine's drift favours neither; then the medians,
their difference and the 1-minute load average before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

BASE = "import numpy, astropy.units, astropy.io.fits, astropy.nddata"
WITH_SPECUTILS = BASE + "; import specutils"


def _seconds(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="imports of each kind (3)")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    base, full = [], []
    for n in range(args.rounds):
        base.append(_seconds(BASE))
        full.append(_seconds(WITH_SPECUTILS))
        print(f"round {n + 1}: base {base[-1]:.2f} s, with specutils {full[-1]:.2f} s")
    b, f = statistics.median(base), statistics.median(full)
    print(f"median: base {b:.2f} s, with specutils {f:.2f} s, specutils adds {f - b:.2f} s")
    print(f"load average (1 min): {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
