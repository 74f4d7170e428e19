"""Wavelengths past an arc's outermost used lines, against independent evidence there.

Between its outermost used lines a solution is fitted; beyond them, to the detector's
ends, it is an extrapolation (:func:`pipeline.wavelength.calibrate._beyond_lines_along_optics`).
Each of the 80 real library lamps is calibrated as a user's arc would be without it
(leave-one-out, ``loo``: :func:`grade_library_lamps.grade`) and as the library refit
does (``refit``); past the loo solution's outermost used lines it is compared with:

``nist``
    lines the lamp shows bright (>= :data:`BRIGHT_SIGMA` noise) beyond the used span that
    one NIST line group of the lamp's elements (strong and extra lists; lines closer
    than :data:`UNRESOLVED_FWHM` line widths are one unresolved group at its
    intensity-weighted centroid) alone explains within :data:`MATCH_PX`, no other
    group nearer than :data:`ISOLATION_FWHM` widths: solution's pixel of the NIST
    wavelength minus the line's centre;
``refit``
    the lamp's own refit, where it used lines farther out than the loo solution: the
    largest difference between its outermost line and the loo's;
``mode``
    the mode's other lamps' corrected models where their own NIST lines reach beyond
    the loo's lines, a straight line (flexure) removed over the span both measured:
    the largest difference there.

Printed per lamp and side (``b`` blue end = pixel 0, ``r`` red end): the distance of the
outermost used line from the detector end (px), the largest |error| of each evidence
(px, signed for NIST lines: solution's pixel minus the line's, ``-`` where none; ``refit@``: the refit's own error at that NIST line). A second
table takes each refit past its own used lines, beside the stored corrected model
(``stored``) at the same NIST lines. Then, with
``--physical SEEDS``, the physical-truth arcs of every mode and lamp
(:mod:`benchmarks.grade_physical`): the error at the expected lines, at the outermost
used lines and at the detector's ends, where the truth is known. Run::

    .venv/bin/python benchmarks/grade_edges.py [--physical 0-1] [--binnings 1 2]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
sys.path.insert(0, str(Path(__file__).resolve().parent))
from grade_library_lamps import grade  # noqa: E402

from pipeline import lamps  # noqa: E402
from pipeline.wavelength.lines import find_lines  # noqa: E402
from pipeline.wavelength.nist import (  # noqa: E402
    element_lines,
    extra_lamp_lines,
    with_fill_gas,
)

#: A line this many noise units above its surroundings is bright: its centre is good
#: to a few hundredths of a pixel.
BRIGHT_SIGMA = 30.0
#: NIST lines closer than this many line widths (FWHM) are one unresolved feature.
UNRESOLVED_FWHM = 0.6
#: No other NIST group within this many widths of a feature's centroid (its centre
#: would be pulled by it).
ISOLATION_FWHM = 2.5
#: The NIST group must lie within this many px of where the solution puts the line.
MATCH_PX = 4.0
#: A line broader than this many times the lamp's median width is a blend.
BROAD_FWHM = 1.3
#: An evidence error above this (px) counts as a wrong extrapolation.
LIMIT_PX = 0.1


def _pixel_of(sol, wave):
    """Binned pixel of each wavelength on a solution (NaN outside its pixels)."""
    j = np.linspace(-0.5, sol.npix - 0.5, 8 * sol.npix + 1)
    w = sol.wavelength(j)
    if w[-1] < w[0]:
        j, w = j[::-1], w[::-1]
    return np.interp(wave, w, j, left=np.nan, right=np.nan)


def _groups(elements, lo: float, hi: float, width_a: float):
    """NIST line groups (centroid Å, whether its intensities are known, how many lines)
    of a lamp's lines
    between ``lo`` and ``hi`` Å; lines nearer than ``width_a`` Å are one group."""
    els = with_fill_gas(elements)
    w, inten = [], []
    for el in sorted(els):
        cat = element_lines(el).within(lo, hi)
        w += list(cat.wavelength)
        inten += list(cat.intensity)
    extra = extra_lamp_lines(els).within(lo, hi)
    for x in extra.wavelength:
        if not w or np.min(np.abs(np.asarray(w) - x)) > 0.05:
            w.append(x)
            inten.append(np.nan)
    order = np.argsort(w)
    w, inten = np.asarray(w, float)[order], np.asarray(inten, float)[order]
    out = []
    k = 0
    while k < w.size:
        m = k + 1
        while m < w.size and w[m] - w[m - 1] < width_a:
            m += 1
        ww, ii = w[k:m], inten[k:m]
        if ww.size == 1:
            out.append((float(ww[0]), True, 1))
        elif np.all(np.isfinite(ii)) and ii.sum() > 0:
            out.append((float(np.sum(ww * ii) / ii.sum()), True, ww.size))
        else:
            out.append((float(ww.mean()), False, ww.size))
        k = m
    return out


def nist_beyond(template, b, a, side_lo: float, side_hi: float):
    """Errors (px) of ``b`` and ``a`` at bright isolated NIST features beyond
    ``[side_lo, side_hi]``: rows (side, pixel, centroid Å, b error, a error).

    A line either solver set aside as saturated is no evidence (its centre is not the
    lines' centroid), nor one of a single NIST line broader than :data:`BROAD_FWHM`
    times the lamp's median width (a blend with a line no list has)."""
    lines = find_lines(template.flux, threshold=BRIGHT_SIGMA)
    widths = 2.3548 * lines.sigma
    fwhm = float(np.nanmedian(widths)) if widths.size else 3.0
    bad = []
    for sol in (b, a):
        if sol is not None:
            st = np.asarray(sol.lines["status"]).astype(str)
            bad += list(np.asarray(sol.lines["pixel"], float)[st == "saturated"])
    bad = np.asarray(bad)
    rows = []
    disp = np.abs(np.gradient(b.wavelength(np.arange(b.npix, dtype=float))))
    for c, f in zip(lines.centre, widths, strict=True):
        if not np.isfinite(c) or side_lo - 2 <= c <= side_hi + 2:
            continue
        if bad.size and np.min(np.abs(bad - c)) < 1.0:
            continue
        d = float(disp[int(np.clip(round(c), 0, b.npix - 1))])
        wc = float(b.wavelength(c))
        groups = _groups(template.elements, wc - 12 * d, wc + 12 * d, UNRESOLVED_FWHM * fwhm * d)
        gw = np.array([g[0] for g in groups])
        if gw.size == 0:
            continue
        gp = _pixel_of(b, gw)
        near = np.abs(gp - c) < MATCH_PX
        if near.sum() != 1:
            continue
        k = int(np.flatnonzero(near)[0])
        if not groups[k][1] or (groups[k][2] == 1 and f > BROAD_FWHM * fwhm):
            continue
        others = np.delete(gp, k)
        if others.size and np.nanmin(np.abs(others - gp[k])) < ISOLATION_FWHM * fwhm:
            continue
        eb = float(gp[k] - c)
        ea = float(_pixel_of(a, gw[k : k + 1])[0] - c) if a is not None else np.nan
        rows.append(("b" if c < side_lo else "r", float(c), float(gw[k]), eb, ea))
    return rows


def _used_pixels(sol):
    used = np.asarray(sol.lines["used"], bool)
    return np.asarray(sol.lines["pixel"], float)[used]


def refit_beyond(a, b, lo: float, hi: float):
    """Largest |b - a| (px) where the refit's lines reach beyond ``[lo, hi]``, per side."""
    if a is None or a.reference != "NIST air":
        return {}
    pa = _used_pixels(a)
    out = {}
    disp = np.abs(np.gradient(a.wavelength(np.arange(a.npix, dtype=float))))
    for side, j in (("b", np.arange(np.ceil(pa.min()), lo)), ("r", np.arange(hi + 1, pa.max()))):
        j = j[(j >= 0) & (j < a.npix)]
        if j.size:
            d = (b.wavelength(j) - a.wavelength(j)) / disp[j.astype(int)]
            out[side] = float(np.max(np.abs(d)))
    return out


def mode_beyond(template, b, lo: float, hi: float):
    """Largest |b - other| (px) beyond ``[lo, hi]`` where another lamp of the mode
    measured its corrected model, a straight line removed over the shared span; per side
    (name of that lamp, error)."""
    out = {}
    j_all = np.arange(b.npix, dtype=float)
    wb = b.wavelength(j_all)
    disp = np.abs(np.gradient(wb))
    for t in lamps.templates_for_mode(template.mode):
        if t.path == template.path or not t.corrected or t.corrected_pixels is None:
            continue
        tlo, thi = t.corrected_pixels
        shared = (j_all >= max(lo, tlo)) & (j_all <= min(hi, thi))
        if shared.sum() < 200:
            continue
        d = (t.wavelength(j_all) - wb) / disp
        fit = np.polyfit(j_all[shared], d[shared], 1)
        d -= np.polyval(fit, j_all)
        for side, sel in (
            ("b", (j_all < lo) & (j_all >= tlo)),
            ("r", (j_all > hi) & (j_all <= thi)),
        ):
            if sel.sum() < 5:
                continue
            e = float(np.max(np.abs(d[sel])))
            if side not in out or e > out[side][1]:
                out[side] = (t.file_name.removeprefix("goodman_comp_").removesuffix(".fits"), e)
    return out


def _cell(v) -> str:
    return f"{v:+6.2f}" if v is not None and np.isfinite(v) else f"{'-':>6s}"


def real_lamps() -> list[float]:
    """Print the real-lamp table; return every evidence error (px)."""
    print(
        f"{'lamp':32s} s {'gap':>5s} {'nist':>6s} {'(n)':>3s} {'refit@':>6s} "
        f"{'refit':>6s} {'mode':>6s}  worst nist line (Å, px)      mode lamp"
    )
    errors = []
    for t in lamps.library():
        r = grade(t)
        name = r["lamp"]
        if "b" not in r:
            print(f"{name:32s} loo failed: {r.get('b_error', r.get('a_error', ''))}")
            continue
        b, a = r["b"], r.get("a")
        pb = _used_pixels(b)
        lo, hi = float(pb.min()), float(pb.max())
        nist = nist_beyond(t, b, a, lo, hi)
        ref = refit_beyond(a, b, lo, hi)
        mode = mode_beyond(t, b, lo, hi)
        for side, gap in (("b", lo), ("r", b.npix - 1 - hi)):
            rows = [x for x in nist if x[0] == side]
            worst = max(rows, key=lambda x: abs(x[3])) if rows else None
            en = worst[3] if worst else None
            ea = worst[4] if worst else None
            em = mode.get(side, ("", None))
            errors += [abs(e) for e in (en, ref.get(side), em[1]) if e is not None]
            text = (
                f"{name:32s} {side} {gap:5.0f} {_cell(en)} {len(rows):3d} {_cell(ea)} "
                f"{_cell(ref.get(side))} {_cell(em[1])}  "
            )
            text += f"{worst[2]:9.2f} at {worst[1]:6.1f}     " if worst else f"{'':23s}"
            print(text + f"{em[0]}")
    e = np.asarray(errors)
    print(
        f"real lamps: {e.size} edge evidences, median {np.median(e):.3f} px, "
        f"{np.sum(e > LIMIT_PX)} > {LIMIT_PX} px, {np.sum(e > 0.5)} > 0.5 px, max {e.max():.2f}"
    )
    return errors


def physical(seeds, binnings) -> None:
    """Print the physical-truth arcs' errors at the lines, the outermost lines and the ends."""
    from grade_physical import _lamps_of

    from pipeline.simulation.physical import arc_1d
    from pipeline.wavelength import calibrate_arc

    print(
        f"\n{'physical mode':12s} {'lamp':10s} bin seed {'lines rms':>9s} {'at ends':>8s} "
        f"{'blue end':>8s} {'red end':>8s}  gaps (binned px)"
    )
    ends = []
    for mode in lamps.modes():
        for lamp in _lamps_of(mode, "all"):
            for binning in binnings:
                for seed in seeds:
                    arc = arc_1d(mode, binning, lamp=lamp, seed=seed)
                    try:
                        sol = calibrate_arc(
                            arc.flux, mode, lamps.elements(arc.lamp), binning=binning
                        )
                    except Exception as exc:  # every failure is reported
                        print(f"{mode:12s} {lamp:10s} {binning:3d} {seed:4d} FAIL {exc}"[:100])
                        continue
                    x = np.arange(arc.flux.size, dtype=float)
                    disp = np.abs(np.gradient(arc.wavelength))
                    err = (sol.wavelength(x) - arc.wavelength) / disp
                    p = _used_pixels(sol)
                    i_lo, i_hi = int(round(p.min())), int(round(p.max()))
                    inner = err[i_lo : i_hi + 1]
                    row = (
                        float(np.sqrt(np.mean(inner**2))),
                        max(abs(err[i_lo]), abs(err[i_hi])),
                        float(err[0]),
                        float(err[-1]),
                    )
                    ends.append((abs(row[2]), abs(row[3])))
                    print(
                        f"{mode:12s} {lamp:10s} {binning:3d} {seed:4d} {row[0]:9.3f} "
                        f"{row[1]:8.3f} {row[2]:+8.3f} {row[3]:+8.3f}  {i_lo} {x.size - 1 - i_hi}"
                    )
    e = np.asarray(ends).ravel()
    print(
        f"physical: {len(ends)} arcs; detector-end |error| median {np.median(e):.3f} px, "
        f"90th pct {np.percentile(e, 90):.3f}, {np.sum(e > LIMIT_PX)} > {LIMIT_PX}, "
        f"{np.sum(e > 0.5)} > 0.5, max {e.max():.2f}"
    )


def refit_edges() -> list[float]:
    """Print the refits' errors at bright NIST features past their own used lines (the
    corrected model the library would store, :mod:`pipeline.wavelength.refit_library`),
    beside the stored corrected model's; return the refits' errors (px)."""
    from pipeline.wavelength.refit_library import refit_solution

    print(
        f"\n{'refit past its own lines':32s} s {'gap':>5s} {'refit':>6s} {'stored':>6s} (n)  line"
    )
    errors = []
    for t in lamps.library():
        try:
            a = refit_solution(t)
        except ValueError:
            continue
        if a.reference != "NIST air":
            continue
        pa = _used_pixels(a)
        lo, hi = float(pa.min()), float(pa.max())
        stored = _StoredSolution(t) if t.corrected else None
        for side, gap in (("b", lo), ("r", a.npix - 1 - hi)):
            rows = [x for x in nist_beyond(t, a, stored, lo, hi) if x[0] == side]
            if not rows:
                continue
            worst = max(rows, key=lambda x: abs(x[3]))
            errors.append(abs(worst[3]))
            name = t.file_name.removeprefix("goodman_comp_").removesuffix(".fits")
            print(
                f"{name:32s} {side} {gap:5.0f} {worst[3]:+6.2f} {_cell(worst[4])} "
                f"{len(rows):3d}  {worst[2]:9.2f} at {worst[1]:6.1f}"
            )
    e = np.asarray(errors)
    if e.size:
        print(
            f"refits: {e.size} edges with evidence, median {np.median(e):.3f} px, "
            f"{np.sum(e > LIMIT_PX)} > {LIMIT_PX} px, max {e.max():.2f}"
        )
    return errors


class _StoredSolution:
    """A library lamp's stored corrected model with a solution's interface."""

    def __init__(self, template):
        self.template, self.npix = template, template.npix
        self.lines = {"status": np.empty(0, str), "pixel": np.empty(0)}

    def wavelength(self, j):
        return self.template.wavelength(np.asarray(j, float))


def _seeds(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        a, _, c = part.partition("-")
        out += list(range(int(a), int(c or a) + 1))
    return out


def main(argv=None) -> int:
    """Grade the extrapolation past the outermost lines (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--physical", default="", help="seeds of physical-truth arcs, e.g. 0-1")
    parser.add_argument("--binnings", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--no-real", action="store_true", help="physical arcs only")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    if not args.no_real:
        real_lamps()
        refit_edges()
    if args.physical:
        physical(_seeds(args.physical), args.binnings)
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
