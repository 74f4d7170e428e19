"""Time reading real Goodman files: header normalisation, raw geometry, a real night.

Run: ``.venv/bin/python benchmarks/bench_real_frames.py [--repeats N]``. Uses the real
frames of ``tests/data/real`` (see its README). Prints per-file classification time
(header normalisation included), the time to read a full 1x1 frame with its geometry
and dark-prescan measurement, and ``reduce_night`` of the real Blue set (bias, flat,
science, no arc) end to end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
REAL = HERE.parent / "tests" / "data" / "real"


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    from pipeline.classify import classify, read_primary_header
    from pipeline.night import reduce_night
    from pipeline.reduction.frame import read_raw

    files = sorted(REAL.rglob("*.fits"))
    headers = [read_primary_header(p) for p in files]
    classify(headers[0])  # warm caches (standard star names, lamp library modes)
    per_header = _median_time(lambda: [classify(h) for h in headers], args.repeats)
    print(f"classify {len(files)} real headers: {1e3 * per_header / len(files):.2f} ms each")

    full = REAL / "dragons_soar" / "full" / "goodman_blue_spec.fits"
    read = _median_time(lambda: read_raw(full), args.repeats)
    print(f"read_raw of a real 4142 x 500 Blue frame (geometry + dark prescan): {read:.3f} s")

    totals = []
    for _ in range(max(1, args.repeats // 2)):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            report = reduce_night(REAL / "dragons_soar" / "full", out)
            totals.append(time.perf_counter() - start)
    print(
        f"reduce_night of the real Blue set (3 files, 1x1, 500 rows): "
        f"median {statistics.median(totals):.2f} s over {len(totals)} runs"
    )
    for step, seconds in report.timings.items():
        print(f"  {step:22s}{seconds:.3f} s")


if __name__ == "__main__":
    main()
