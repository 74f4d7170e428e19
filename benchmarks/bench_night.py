"""A whole 2x2 night, raw to wavelength-calibrated: ``gsp reduce`` against goodman's
``redccd`` + ``redspec`` on the same files, side by side in one run.

Each side runs as a fresh process (imports included), on the same simulated 400_M2
night (5 bias, 5 flats, 2 arcs, 2 science), LACosmic on both sides; wall time and peak
resident memory (``wait4`` rusage) of every process are printed, and the wavelength
error of each side's calibrated science spectra against the simulator's truth.

Run: ``.venv/bin/python benchmarks/bench_night.py`` (sets up goodman-pipeline in
``benchmarks/.goodman-venv/`` on first use, see ``goodman_env.py``).
Target (issue 4): >= 3x faster wall time than redccd + redspec.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_reduce import (  # noqa: E402
    _goodman_env_vars,
    _run_measured,
    goodman_compatible,
    make_night,
)


def _wavelength_error(path: Path, truth_frames: dict) -> str:
    """RMS / max / mean error (binned px) of a calibrated file's pixel solution."""
    from astropy.io import fits
    from numpy.polynomial import chebyshev

    h = fits.getheader(path)
    raw = str(h.get("GSP_ONAM", ""))
    frame = truth_frames.get(raw)
    if frame is None or "GSP_C000" not in h or "targets" not in frame:
        return "no truth"
    order = int(h["GSP_ORDR"])
    coef = [float(h[f"GSP_C{i:03d}"]) for i in range(order + 1)]
    t = np.asarray(frame["targets"][0]["wavelength_at_trace"])
    wave = chebyshev.chebval(np.arange(t.size), coef)
    e = (wave - t) / np.abs(np.gradient(t))
    return f"rms {np.sqrt(np.mean(e**2)):.3f} max {np.abs(e).max():.3f} mean {e.mean():+.3f} px"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args(argv)
    import goodman_env

    goodman_env.ensure(quiet=True)
    work = Path(tempfile.mkdtemp(prefix="bench-night-"))
    try:
        raw = work / "raw"
        make_night(raw)
        truth = json.loads((raw / "truth.json").read_text())
        (raw / "truth.json").rename(work / "truth.json")  # redccd reads every file in raw
        goodman_compatible(raw)
        frames = {f["file"]: f for f in truth["frames"]}

        gsp = str(Path(sys.executable).with_name("gsp"))
        ours_out = work / "ours"
        ours = _run_measured(
            [gsp, "reduce", str(raw), "--out", str(ours_out), "--cosmic", "lacosmic", "--quiet"]
        )
        theirs_out = work / "goodman"
        theirs_out.mkdir()
        env = _goodman_env_vars(work)
        redccd = _run_measured(
            goodman_env.redccd_command()
            + ["--raw-path", str(raw), "--red-path", str(theirs_out), "--cosmic", "lacosmic"],
            cwd=work,
            env=env,
        )
        redspec_cmd = [str(Path(goodman_env.redccd_command()[0]).with_name("redspec"))]
        redspec = _run_measured(
            redspec_cmd + ["--data-path", str(theirs_out), "--proc-path", str(theirs_out)],
            cwd=work,
            env=env,
        )
        ours_w = sorted(ours_out.glob("wecfzst_*.fits"))
        theirs_w = sorted(theirs_out.glob("wecfzst_*.fits"))
        total = redccd[0] + redspec[0]
        print("whole 2x2 night (5 bias, 5 flats, 2 arcs, 2 science), LACosmic, fresh processes:")
        print(
            f"  gsp reduce         : {ours[0]:6.2f} s wall, peak {ours[1]:6.0f} MB, "
            f"exit {ours[2]}, {len(ours_w)} wavelength-calibrated spectra"
        )
        print(
            f"  redccd             : {redccd[0]:6.2f} s wall, peak {redccd[1]:6.0f} MB, "
            f"exit {redccd[2]}"
        )
        print(
            f"  redspec            : {redspec[0]:6.2f} s wall, peak {redspec[1]:6.0f} MB, "
            f"exit {redspec[2]}, {len(theirs_w)} wavelength-calibrated spectra"
        )
        print(
            f"  redccd + redspec   : {total:6.2f} s wall, peak {max(redccd[1], redspec[1]):6.0f} MB"
        )
        print(f"  wall-time ratio (redccd + redspec) / gsp reduce: {total / ours[0]:.1f}x")
        print("\nwavelength error against truth, along the science trace (binned px):")
        for p in ours_w:
            print(f"  ours    {p.name:55s} {_wavelength_error(p, frames)}")
        for p in theirs_w:
            print(f"  goodman {p.name:55s} {_wavelength_error(p, frames)}")
    finally:
        if args.keep:
            print(f"\nscratch folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
