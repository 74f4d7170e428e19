"""The 80 REAL library lamps as judges of line measurement and selection.

Every lamp of ``pipeline/data/lamps`` is a real Goodman arc (1x1). Each is calibrated
against NIST air wavelengths twice:

(a) ``refit``: as :mod:`pipeline.wavelength.refit_library` does, from its own stored
    model (:func:`~pipeline.wavelength.refit_library.refit_solution`);
(b) ``loo``: as a user's arc of that mode and lamp would be if the library lacked this
    file (leave-one-out): the file is hidden from the library (:func:`library_without`:
    every lookup through :func:`pipeline.lamps.library`, such as the mode's lamps a
    sparse arc takes its shape from, misses it) and the arc is calibrated as a user's
    is, from its mode and lamp elements; the first guess is then the mode's other lamp
    that :func:`pipeline.lamps.find_template` chooses for the lamp's elements, or, when
    no other lamp of the mode shares an element, the optics model of the lamp's header
    (the mode's zero-point was fitted with this lamp among others: a slight leak).

Per lamp: lines used, RMS and mean against NIST (unbinned px), and for (b) the RMS of
(b) - (a) over the span of (a)'s used lines (px) and the guess it started from. Then
pooled figures: RMS over every used line, how many lamps have RMS <= 0.05 px.

A lamp's own RMS against NIST does not say whether its solution is right (a misnamed
end line bends a fit that then passes through it; a lamp whose lines were not found
fits the few it kept). The lamps of a mode were mostly taken together, their common
lines on the same pixels to a few hundredths, so the column ``mode`` judges each
refit by the mode's other refits: per other lamp, the RMS of their difference over
the span both measured (a straight line removed: flexure and grating-angle
repeatability between exposures move and stretch a lamp), the median of those (px; ``-`` for a lamp alone in its mode). Run::

    .venv/bin/python benchmarks/grade_library_lamps.py [--lines N]

``--lines N`` also lists the N worst used lines of (a) (lamp, ion, NIST wavelength,
residual px, centring error, FWHM).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline import lamps  # noqa: E402
from pipeline.wavelength import calibrate_arc  # noqa: E402
from pipeline.wavelength.optics_continuation import optics_of_guess  # noqa: E402
from pipeline.wavelength.refit_library import _stored, refit_solution  # noqa: E402

#: The issue's accuracy limit (RMS against NIST, px).
GATE_PX = 0.05


@contextlib.contextmanager
def library_without(template):
    """The packaged library without ``template``'s file, for every lookup inside the block.

    :func:`pipeline.lamps.library` is the one place the library's lamps are listed
    (:func:`~pipeline.lamps.templates_for_mode`, :func:`~pipeline.lamps.find_template`,
    :func:`~pipeline.lamps.modes` read it at each call): replaced for the block, no
    step of a user's calibration can start from, or take a shape from, the left-out
    lamp.
    """
    full = lamps.library
    kept = tuple(t for t in full() if t.path != template.path)
    lamps.library = lambda: kept
    try:
        yield kept
    finally:
        lamps.library = full


def leave_one_out_guess(template):
    """The first guess a user's arc of ``template``'s mode and lamp gets without it."""
    others = [t for t in lamps.templates_for_mode(template.mode) if t.path != template.path]
    wanted = template.elements
    if others:
        best = max(
            others,
            key=lambda t: (
                t.elements == wanted,
                len(t.elements & wanted),
                -len(t.elements - wanted),
            ),
        )
        if best.elements & wanted:
            return best, best.file_name.removeprefix("goodman_comp_").removesuffix(".fits")
    optics = optics_of_guess(_stored(template))
    return optics, "optics"


def _short(file_name: str) -> str:
    return file_name.removeprefix("goodman_comp_").removesuffix(".fits")


def _used(sol):
    used = np.asarray(sol.lines["used"], bool)
    return sol.lines[used]


def _span_difference(a, b) -> float:
    """RMS of b - a (px of a's dispersion) between a's outermost used lines."""
    pix = np.asarray(_used(a)["pixel"], float)
    j = np.arange(np.floor(pix.min()), np.ceil(pix.max()) + 1)
    wa = a.wavelength(j)
    disp = np.abs(np.gradient(wa))
    return float(np.sqrt(np.mean(((b.wavelength(j) - wa) / disp) ** 2)))


def mode_agreement(rows) -> None:
    """Each row's ``mode`` figure: median over the mode's other refits of the RMS of
    their difference from its refit between the outermost lines both used (a straight
    line removed: flexure and grating-angle repeatability between exposures)."""
    for r in rows:
        if "a" not in r:
            continue
        a = r["a"]
        pa = np.asarray(_used(a)["pixel"], float)
        diffs = []
        for o in rows:
            if o is r or "a" not in o or o["mode"] != r["mode"]:
                continue
            po = np.asarray(_used(o["a"])["pixel"], float)
            lo, hi = max(pa.min(), po.min()), min(pa.max(), po.max())
            if hi - lo < 200:
                continue
            j = np.arange(np.ceil(lo), np.floor(hi) + 1)
            wa = a.wavelength(j)
            d = (o["a"].wavelength(j) - wa) / np.abs(np.gradient(wa))
            d -= np.polyval(np.polyfit(j, d, 1), j)
            diffs.append(float(np.sqrt(np.mean(d**2))))
        r["mode_rms"] = float(np.median(diffs)) if diffs else float("nan")


def grade(template) -> dict:
    """Both calibrations of one lamp and their figures."""
    row = {
        "lamp": template.file_name.removeprefix("goodman_comp_").removesuffix(".fits"),
        "mode": template.mode,
    }
    try:
        a = refit_solution(template)
        row["a"] = a
    except ValueError as exc:
        row["a_error"] = f"{type(exc).__name__}: {exc}"
        return row
    with library_without(template):
        guess, name = leave_one_out_guess(template)
        row["guess"] = name
        try:
            if guess is None:
                raise ValueError("no other lamp and no optics model")
            if isinstance(guess, lamps.LampTemplate):
                # a user's arc: the library chooses its lamp (``guess``) from the mode;
                # its header says whether its reduction cleaned it of cosmic rays
                b = calibrate_arc(
                    template.flux,
                    template.mode,
                    template.elements,
                    1,
                    cosmic_cleaned=template.cosmic_cleaned,
                )
                if b.template != guess.file_name:
                    raise ValueError(f"started from {b.template}, not {guess.file_name}")
            else:
                b = calibrate_arc(
                    template.flux,
                    None,
                    template.elements,
                    1,
                    first_guess=guess,
                    cosmic_cleaned=template.cosmic_cleaned,
                )
            row["b"] = b
            row["diff"] = _span_difference(a, b)
            if b.shape_from and b.shape_from != b.template:  # a sparse arc's donor
                row["guess"] += f" shape {_short(b.shape_from)}"
        except ValueError as exc:
            row["b_error"] = f"{type(exc).__name__}: {str(exc)[:60]}"
    return row


def _figures(sol) -> str:
    if sol.reference != "NIST air":
        return f"{sol.n_used:4d}  {'(' + sol.reference[:14] + ')':>16s}"
    return f"{sol.n_used:4d} {sol.rms_pixel:7.3f} {sol.mean_pixel:+7.3f}"


def _pooled(rows, key) -> tuple[float, int, int, int]:
    resid = [np.asarray(_used(r[key])["residual_pixel"], float) for r in rows if key in r]
    sols = [r[key] for r in rows if key in r and r[key].reference == "NIST air"]
    allr = np.concatenate(resid) if resid else np.empty(0)
    ok = sum(s.rms_pixel <= GATE_PX for s in sols)
    return float(np.sqrt(np.mean(allr**2))), allr.size, ok, len(sols)


def main(argv=None) -> int:
    """Grade every library lamp (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=0, help="list the N worst used lines")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    rows = [grade(t) for t in lamps.library()]
    mode_agreement(rows)
    print(
        f"{'lamp':38s} {'refit: used':>11s} {'rms':>7s} {'mean':>7s} {'mode':>6s}   "
        f"{'loo: used':>9s} {'rms':>7s} {'mean':>7s} {'vs refit':>8s}  guess  (unbinned px)"
    )
    for r in rows:
        text = f"{r['lamp']:38s} "
        if "a" in r:
            mode = r["mode_rms"]
            text += f"{'':7s}{_figures(r['a'])} " + (
                f"{mode:6.3f}" if np.isfinite(mode) else f"{'-':>6s}"
            )
        else:
            text += f"FAIL {r['a_error'][:60]}"
        if "b" in r:
            text += f"   {'':5s}{_figures(r['b'])} {r['diff']:8.3f}  {r['guess']}"
        elif "b_error" in r:
            text += f"   FAIL {r['b_error']}  {r['guess']}"
        print(text)
    for key, label in (("a", "refit"), ("b", "leave-one-out")):
        rms, n, ok, total = _pooled(rows, key)
        print(
            f"{label:14s}: pooled RMS {rms:.4f} px over {n} lines; "
            f"{ok} of {total} NIST-calibrated lamps <= {GATE_PX} px"
        )
    mode = np.array([r["mode_rms"] for r in rows if np.isfinite(r.get("mode_rms", np.nan))])
    print(
        f"refit vs the mode's other refits: median {np.median(mode):.3f} px, RMS "
        f"{np.sqrt(np.mean(mode**2)):.3f} px over {mode.size} lamps, {np.sum(mode > 0.1)} > 0.1 px"
    )
    diffs = np.array([r["diff"] for r in rows if "diff" in r])
    failed = sum("b" not in r for r in rows)
    print(
        f"leave-one-out vs refit: median {np.median(diffs):.3f} px, {np.sum(diffs > 0.1)} "
        f"lamps > 0.1 px, {np.sum(diffs > 0.5)} > 0.5 px; {failed} failed"
    )
    if args.lines:
        lines = []
        for r in rows:
            if "a" not in r:
                continue
            for ln in _used(r["a"]):
                lines.append((r["lamp"], ln))
        lines.sort(key=lambda x: -abs(float(x[1]["residual_pixel"])))
        print(f"\n{'worst used lines (refit)':38s} {'ion':6s} {'NIST A':>10s} {'resid':>7s}")
        for lamp, ln in lines[: args.lines]:
            print(
                f"{lamp:38s} {str(ln['ion']):6s} {float(ln['reference_wavelength']):10.3f} "
                f"{float(ln['residual_pixel']):+7.3f} err {float(ln['pixel_error']):.3f} "
                f"fwhm {float(ln['fwhm']):.2f} px {float(ln['pixel']):7.1f}"
            )
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
