"""Classify physical-truth failures: noise, or the solver's fault.

``grade_physical.py --seeds`` lists the arcs that miss the accuracy; whether each needs
a fix depends on why. The simulator draws the same truth without noise
(``arc_1d(noise=False)``: same lines, heights and distortion, same seed), so per failing
arc this calibrates both and prints:

- ``noisy`` / ``noiseless``: found / expected lines, RMS and mean (binned px);
- ``sd``: the standard deviation the noisy fit itself predicts for its mean error at the
  expected lines (:func:`benchmarks.lone_line_budget.predicted_sd`: the lines it used,
  the errors it weighed them with, its order), and ``z`` = mean / sd;
- the class:

  ``passes``  the noisy arc meets the accuracy (a case listed from another branch's log);
  ``solver fault``  the noiseless arc fails too: the solver gets the truth itself wrong;
  ``noise: line drawn off``  noiseless passes; an expected line the noisy solution
      lacks was centred more than ``Z_LIMIT`` of its stated errors from its true column
      (noise drew it off, and the solver rightly left it out);
  ``solver: line not used``  noiseless passes; a lost line was centred within its
      errors yet left out or named otherwise (rejection, identification), or never
      listed: the noise only tipped a decision the solver made wrongly;
  ``noise: not calibrated``  noiseless passes; the noisy arc raised an error;
  ``noise budget``  noiseless passes, every line found, ``|z| <= Z_LIMIT``: the error is
      one the fit's own stated errors allow (the accepted class of arcs graded on one
      faint line, ``lone_line_budget.py``);
  ``beyond stated error``  noiseless passes but ``|z| > Z_LIMIT``: noise moved the
      solution further than its errors say it can (an understated error, a pull the
      fit does not know of): a fault of the error model, worth a look.

Failures are given as cases or read from a ``grade_physical.py --seeds`` log, so the
whole grade is not run again::

    .venv/bin/python benchmarks/classify_physical.py --log seeds10-14.log
    .venv/bin/python benchmarks/classify_physical.py --cases "600_UV:1 HgAr 12,400_M2:2 - 3"

(a case is ``mode:binning lamp seed``; lamp ``-`` for the mode's richest).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from benchmarks.grade_physical import MEAN_LIMIT, RMS_LIMIT, grade_solution  # noqa: E402
from benchmarks.lone_line_budget import predicted_sd  # noqa: E402
from pipeline import lamps  # noqa: E402
from pipeline.simulation.physical import arc_1d  # noqa: E402

#: |mean| / predicted sd beyond which noise is not the explanation: 3 sigma happens in
#: 0.3 % of arcs, about once in a 5-seed ``--lamps all`` grade's 770.
Z_LIMIT = 3.0

_SEED = re.compile(r"^seed (\d+): ")
# a failing case in a seed's line: "mode:binning[ lamp] (" after "FAIL " or ", "
_CASE = re.compile(r"(?:FAIL |, )(\d+_[0-9A-Za-z_]+):(\d+)(?: ([A-Za-z]+))? \(")


def failures_in_log(text: str) -> list[tuple[str, int, str | None, int]]:
    """The failing ``(mode, binning, lamp, seed)`` of a ``grade_physical --seeds`` log
    (lamp ``None`` where the grade took each mode's richest)."""
    out = []
    for line in text.splitlines():
        m = _SEED.match(line)
        if not m or "FAIL " not in line:
            continue
        seed = int(m.group(1))
        fails = line.split("FAIL ", 1)[1].split("  not graded", 1)[0]
        for mode, b, lamp in _CASE.findall("FAIL " + fails):
            out.append((mode, int(b), lamp or None, seed))
    return out


def _parse_case(text: str) -> tuple[str, int, str | None, int]:
    case, lamp, seed = text.split()
    mode, _, b = case.partition(":")
    return mode, int(b), None if lamp == "-" else lamp, int(seed)


def _passes(r: dict, n_expected: int) -> bool:
    return bool(r["found"] == n_expected and r["rms"] <= RMS_LIMIT and abs(r["mean"]) <= MEAN_LIMIT)


def _calibrated(mode: str, binning: int, lamp: str | None, seed: int, noise: bool):
    """The arc and its grade, with the predicted sd of its mean (NaN where not solved)."""
    from pipeline.wavelength import calibrate_arc

    arc = arc_1d(mode, binning, lamp=lamp, seed=seed, noise=noise)
    cols = np.array([ln["column"] for ln in arc.lines if ln["expected"]])
    try:
        sol = calibrate_arc(arc.flux, mode, lamps.elements(arc.lamp), binning=binning)
    except Exception as exc:  # a failure of any kind is classified, not raised
        return arc, dict(found=0, rms=np.nan, mean=np.nan, sd=np.nan, error=str(exc)[:80], lost=[])
    r = grade_solution(arc, sol)
    r["sd"] = predicted_sd(sol, cols) if cols.size else np.nan
    r["lost"] = _lost_lines(arc, sol)
    return arc, r


def _lost_lines(arc, sol) -> list[dict]:
    """Expected lines the solution does not use under their own name: where the line
    table has them (``off``: centre minus true column, ``stated``: its centring error,
    binned px) and their status there."""
    t = sol.lines
    px = np.asarray(t["pixel"], float)
    lab = np.asarray(t["lab_wavelength"], float)
    status = np.asarray(t["status"]).astype(str)
    out = []
    for ln in (ln for ln in arc.lines if ln["expected"]):
        own = np.flatnonzero(np.abs(lab - ln["wavelength"]) < 1e-3)
        if own.size and status[own[0]] == "used":
            continue
        k = own[0] if own.size else int(np.argmin(np.abs(px - ln["column"]))) if px.size else -1
        listed = k >= 0 and abs(px[k] - ln["column"]) <= 1.0
        out.append(
            dict(
                line=f"{ln['ion']} {ln['wavelength']:.2f}",
                off=float(px[k] - ln["column"]) if listed else np.nan,
                stated=float(t["pixel_error"][k]) if listed else np.nan,
                status=(status[k] if own.size else f"named {lab[k]:.2f}") if listed else "unlisted",
            )
        )
    return out


def _drawn_off(lost: dict) -> bool:
    """Whether noise drew a lost line off: centred beyond ``Z_LIMIT`` stated errors."""
    return bool(np.isfinite(lost["off"]) and abs(lost["off"]) > Z_LIMIT * lost["stated"])


def classify(mode: str, binning: int, lamp: str | None, seed: int) -> dict:
    """Noisy and noiseless grades of one arc and its class (see the module docstring)."""
    arc, noisy = _calibrated(mode, binning, lamp, seed, noise=True)
    _, clean = _calibrated(mode, binning, lamp, seed, noise=False)
    n = sum(ln["expected"] for ln in arc.lines)
    z = noisy["mean"] / noisy["sd"] if noisy["sd"] > 0 else np.nan
    if not noisy["error"] and _passes(noisy, n):
        kind = "passes"
    elif not _passes(clean, n):
        kind = "solver fault"
    elif noisy["error"]:
        kind = "noise: not calibrated"
    elif noisy["found"] < n:
        drawn = [_drawn_off(lost) for lost in noisy["lost"]]
        kind = "noise: line drawn off" if drawn and all(drawn) else "solver: line not used"
    elif abs(z) <= Z_LIMIT:
        kind = "noise budget"
    else:
        kind = "beyond stated error"
    return dict(
        case=f"{mode}:{binning} {arc.lamp} s{seed}",
        expected=n,
        noisy=noisy,
        noiseless=clean,
        z=z,
        kind=kind,
    )


def _text(r: dict, n: int) -> str:
    return f"{r['found']}/{n} rms {r['rms']:.3f} mean {r['mean']:+.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--log", type=Path, help="a grade_physical.py --seeds log")
    ap.add_argument("--cases", default="", help='e.g. "600_UV:1 HgAr 12,400_M2:2 - 3"')
    args = ap.parse_args(argv)
    cases = failures_in_log(args.log.read_text()) if args.log else []
    cases += [_parse_case(c) for c in args.cases.split(",") if c.strip()]
    if not cases:
        raise SystemExit("no failing case given (--log or --cases)")
    counts: dict[str, int] = {}
    for case in cases:
        c = classify(*case)
        counts[c["kind"]] = counts.get(c["kind"], 0) + 1
        n = c["expected"]
        print(
            f"{c['case']:26s} noisy {_text(c['noisy'], n)} (sd {c['noisy']['sd']:.3f},"
            f" z {c['z']:+.2f}); noiseless {_text(c['noiseless'], n)}: {c['kind']}"
            + (f" [{c['noisy']['error']}]" if c["noisy"]["error"] else ""),
            flush=True,
        )
        for lost in c["noisy"]["lost"]:
            print(
                f"{'':28s}lost {lost['line']}: centre {lost['off']:+.3f} px (stated "
                f"{lost['stated']:.3f}), {lost['status']}"
            )
    print("\n" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
