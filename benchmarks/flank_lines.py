"""Physical-truth lines whose strength the simulator reads on a neighbour's flank.

``pipeline.simulation.physical.physical_truth`` takes each NIST line's strength from the
real library lamp: the highest pixel within ``_MEASURE_HALF_WIDTH`` px of the line's
place, above the 20th percentile of 81 px around it. Where the lamp shows no line there
but a much brighter one lies just beyond that window, the window's highest pixel is
that line's flank (or halo), and the simulator draws a clean line of that height that
the real lamp does not have. 930_M1 and 930_M2 with their Hg lamps: Ar II 4052.92 lies
15 px from the saturated Hg I 4046.56 (7.8e5 ADU), whose halo falls monotonically from
5500 to 4400 ADU across the window; it is drawn as strong as Hg I 4339.22 (which the
lamp shows 3200 ADU high), and it is the only line those arcs expect: every
physical-truth failure of those modes is graded on it alone.

Printed, per library lamp whose NIST-corrected model places the NIST lines (to about
0.1 px, so a line the lamp shows peaks inside the window): the lines injected with a
strength whose window's highest pixel sits on its edge, on a flank rising outwards, and
with no peak inside the window of the detection height; the height the simulator now
draws (its own, fitted at its place under the flank: ``physical._height_on_flank``; 0:
not drawn); and which of them the seed-0 physical-truth arcs expect (binned 1x1 and
2x2). Before that fit, the simulator drew the height read (43 such lines expected,
35 shown by the lamp at < 20 % of it). Run::

    .venv/bin/python benchmarks/flank_lines.py
    .venv/bin/python benchmarks/flank_lines.py --modes 930_M1,930_M2
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline import lamps  # noqa: E402
from pipeline.optics import dispersion_model_from_header  # noqa: E402
from pipeline.simulation import physical  # noqa: E402
from pipeline.simulation.config import lamp_name  # noqa: E402
from pipeline.simulation.header import template_header  # noqa: E402

#: A line the lamp shows at less than this fraction of the height the simulator reads
#: is drawn from its neighbour's light rather than its own.
UNSHOWN = 0.2


def flank_lines(template) -> list[tuple[float, float, float]]:
    """NIST lines the simulator reads on a neighbour's flank in this lamp.

    Only lines its NIST-corrected model places precisely are judged (elsewhere a line
    the lamp shows may sit a few px off its modelled place). Per line: its wavelength,
    the height the simulator reads, and the height of a Gaussian of the lamp's width
    at its place fitted over a quadratic flank (what the lamp shows of it).
    """
    f = np.asarray(template.flux, float)
    # the simulator's own noise estimate and detection height
    noise = 1.4826 * np.median(np.abs(np.diff(f) - np.median(np.diff(f)))) / math.sqrt(2.0)
    floor = physical._DETECTION_SIGMA * noise
    half = physical._MEASURE_HALF_WIDTH
    own = dispersion_model_from_header(template_header(template))
    nist = physical.lamp_lines(template.lamp)
    place = physical._template_positions(template, own, nist)
    precise = physical._placed_precisely(template)
    width = physical._lamp_sigma(template.file_name, f.tobytes(), noise)
    out = []
    for ln in nist:
        p = float(place(np.array([ln.wavelength]))[0])
        if not np.isfinite(p) or not precise(np.array([p])):
            continue
        i = int(round(p))
        lo, hi = i - half, i + half + 1
        if lo < 1 or hi > f.size - 1:
            continue
        level = np.percentile(f[max(i - 40, 0) : i + 41], 20)
        window = f[lo:hi]
        height = float(window.max() - level)
        if height < floor:
            continue  # not drawn at all
        j = int(np.argmax(window))
        on_flank = (j == 0 and f[lo - 1] > f[lo]) or (j == window.size - 1 and f[hi] > f[hi - 1])
        inner = np.arange(lo + 1, hi - 1)
        peaks = inner[(f[inner] >= f[inner - 1]) & (f[inner] >= f[inner + 1])]
        peak = float(f[peaks].max() - level) if peaks.size else 0.0
        if on_flank and peak < floor:
            out.append((ln.wavelength, height, _shown_height(f, p, lo, hi, width)))
    return out


def _shown_height(f, p, lo, hi, width) -> float:
    """Height of a Gaussian of the lamp's width at ``p`` over a quadratic level, fitted
    to the window ``f[lo:hi]`` (NaN without a measured width)."""
    if width is None:
        return float("nan")
    x = np.arange(lo, hi, dtype=float)
    t = x - p
    a = np.column_stack([np.ones_like(t), t, t**2, np.exp(-0.5 * (t / width(p)) ** 2)])
    coef, *_ = np.linalg.lstsq(a, f[lo:hi], rcond=None)
    return float(coef[3])


def _expected(mode: str, lamp: str, binning: int) -> set[float]:
    arc = physical.arc_1d(mode, binning, lamp=lamp, seed=0)
    return {round(ln["wavelength"], 3) for ln in arc.lines if ln["expected"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default="", help="modes, e.g. 930_M1,930_M2 (default: all)")
    args = ap.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()] or list(lamps.modes())
    n_lamps = n_lines = n_expected = n_unshown = n_drawn = 0
    for mode in modes:
        for template in lamps.templates_for_mode(mode):
            found = flank_lines(template)
            if not found:
                continue
            name = lamp_name(template)
            exp = {b: _expected(mode, name, b) for b in (1, 2)}
            truth = physical.physical_truth(template, 0)
            drawn = dict(
                zip(np.round(truth.template.line_wavelengths, 3), truth.strengths, strict=True)
            )
            n_lamps += 1
            n_lines += len(found)
            for w, h, shown in found:
                n_drawn += drawn.get(round(w, 3), 0.0) > 0
                where = [f"{b}x{b}" for b in (1, 2) if round(w, 3) in exp[b]]
                n_expected += bool(where)
                n_unshown += bool(where) and shown < UNSHOWN * h
                print(
                    f"{mode:11s} {name:7s} {w:9.3f}  read {h:9.0f} ADU, shown {shown:8.0f}"
                    f", drawn {drawn.get(round(w, 3), 0.0):8.0f}"
                    f"  expected: {', '.join(where) or '-'}"
                    + (f" (of {len(exp[1])} / {len(exp[2])})" if where else "")
                )
    print(
        f"\n{n_lines} lines of {n_lamps} lamps read on a neighbour's flank, {n_drawn} of "
        f"them drawn (at their own fitted height); {n_expected} expected in a seed-0 arc "
        f"(1x1 or 2x2), {n_unshown} of those shown by the lamp at less than "
        f"{UNSHOWN:.0%} of the height read"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
