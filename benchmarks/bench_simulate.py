"""Time the night simulator: a 2x2 night of 5 bias + 5 flats + 2 arcs + 2 science frames.

Run: ``.venv/bin/python benchmarks/bench_simulate.py`` (target: under 10 s).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.simulate import NightConfig, simulate_night  # noqa: E402


def main() -> None:
    cases = [
        ("2x2 Red 400_M2, 5 bias + 5 flats + 2 arcs + 2 science", NightConfig()),
        ("1x1 Blue 930_M2, same frames", NightConfig(binning=1, camera="Blue", mode="930_M2")),
    ]
    for label, cfg in cases:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            truth = simulate_night(Path(tmp) / "night", cfg)
            dt = time.perf_counter() - t0
        print(f"{label}: {len(truth['frames'])} frames in {dt:.2f} s")


if __name__ == "__main__":
    main()
