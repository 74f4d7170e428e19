"""Why a pen lamp's faint lines come out redder than its bright ones: the evidence.

Every real library lamp (``pipeline/data/lamps``) is refitted against NIST air lines
(:func:`~pipeline.wavelength.refit_library.refit_solution`, ``pen_shift="apply"``).
Each used line's residual is taken against the solution of the lamp's other lines (a
pen lamp's offset of its high-excitation Ar I lines, :mod:`pipeline.wavelength.pen_lamp`,
added back), with its peak in electrons per pixel of one frame (peak of the 1-D line
over the extraction aperture's rows, times the gain; ``APNUM1``, ``GAIN``; unknown
without an aperture). Pen lamps: HgAr, Ar, HgArNe, Ne (Ar light from a pen lamp);
hollow cathodes: CuHeAr, FeHeAr. Printed:

1. the residual against the peak (binned in electrons), pen and hollow lamps: a
   flux-dependent shift (charge lost in the serial readout, a centring bias) would be
   the same at the same charge in both;
2. the same line fainter or brighter in another lamp of its kind: the slope of its
   residual on log10 of its peak (lamp zero points and one shift per line fitted);
3. faint pen-lamp lines (< 30 e-) along the detector: charge lost in the readout grows
   with the transfers to the amplifier (``GSP_OVER``: the prescan, so the amplifier, is
   at the low pixels);
4. per lamp, Ar I lines of high excitation (upper level above 4p) minus the 4s-4p lines,
   px and A, and the same by grating dispersion: a shift in Angstrom is the light's,
   one in pixels the detector's or the centring's;
5. Ne I lines of pen lamps by peak (no Ar: the same lamps, detector and centring).

Run::

    .venv/bin/python benchmarks/pen_lamp_shift.py
"""

from __future__ import annotations

import sys
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
from astropy.io import fits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline import lamps  # noqa: E402
from pipeline.wavelength.pen_lamp import HOLLOW_CATHODE, high_excitation_argon  # noqa: E402
from pipeline.wavelength.refit_library import refit_solution  # noqa: E402

#: Peak bins, electrons per pixel of one frame.
PEAK_EDGES = (0, 10, 30, 100, 300, 1000, 3000, 1e4, np.inf)


def _electrons_per_count(path) -> float:
    header = fits.getheader(path)
    ap = str(header.get("APNUM1", "")).split()
    rows = float(ap[3]) - float(ap[2]) if len(ap) == 4 else float("nan")
    return float(header.get("GAIN", np.nan)) / rows


def lamp_lines(template) -> list[dict]:
    """One lamp's used lines: residual against its other lines' solution, peak (e-)."""
    # solved on the other lines (the default measures the offset, not applies it)
    sol = refit_solution(template, pen_shift="apply")
    if sol.reference != "NIST air":
        return []
    t = sol.lines[np.asarray(sol.lines["used"], bool)]
    ion = np.asarray(t["ion"]).astype(str)
    high = high_excitation_argon(t["reference_wavelength"], ion)
    resid = np.asarray(t["residual_pixel"], float)
    if sol.pen_shift_applied:
        resid = resid + np.where(high, sol.pen_shift_pixel[0], 0.0)
    sigma = np.asarray(t["fwhm"], float) / 2.3548
    peak = np.asarray(t["amplitude"], float) / (np.sqrt(2 * np.pi) * sigma)
    peak *= _electrons_per_count(template.path)
    disp = sol.dispersion
    pen = not template.elements & HOLLOW_CATHODE
    return [
        dict(lamp=template.file_name[13:-5], pen=pen, ion=ion[i], high=bool(high[i]),
             wave=round(float(t["reference_wavelength"][i]), 3), r=float(resid[i]),
             peak=float(peak[i]), pixel=float(t["pixel"][i]), disp=disp)
        for i in range(len(t))
    ]  # fmt: skip


def _mean(rows, key="r") -> str:
    v = np.array([o[key] for o in rows])
    if v.size < 2:
        return f"n {v.size:4d}"
    return f"n {v.size:4d}  {v.mean():+.4f} +- {v.std() / np.sqrt(v.size):.4f} px"


def by_peak(obs) -> None:
    """1. Residual against peak, pen and hollow lamps (lamp zero points removed)."""
    print("1. residual (lamp mean removed) by peak, e-/px of one frame")
    for pen in (True, False):
        print("   pen lamps" if pen else "   hollow-cathode lamps")
        for lo, hi in zip(PEAK_EDGES[:-1], PEAK_EDGES[1:], strict=True):
            sel = [o for o in obs if o["pen"] == pen and lo <= o["peak"] < hi]
            if len(sel) >= 3:
                print(f"     {lo:6g}-{hi:<6g} {_mean(sel, 'rel')}")


def within_lines(obs) -> None:
    """2. The same line at another brightness: slope on log10(peak)."""
    for pen in (True, False):
        sel = [o for o in obs if o["pen"] == pen and np.isfinite(o["peak"])]
        lamp_names = sorted({o["lamp"] for o in sel})
        waves = sorted({o["wave"] for o in sel})
        li = {n: k for k, n in enumerate(lamp_names)}
        wi = {w: k for k, w in enumerate(waves)}
        a = np.zeros((len(sel), len(lamp_names) + len(waves) + 1))
        for k, o in enumerate(sel):
            a[k, li[o["lamp"]]] = 1.0
            a[k, len(lamp_names) + wi[o["wave"]]] = 1.0
            a[k, -1] = np.log10(max(o["peak"], 1e-3))
        y = np.array([o["r"] for o in sel])
        coef, *_ = np.linalg.lstsq(a, y, rcond=None)
        rank = np.linalg.matrix_rank(a)
        s2 = float(np.sum((y - a @ coef) ** 2)) / max(len(y) - rank, 1)
        err = np.sqrt(np.linalg.pinv(a.T @ a)[-1, -1] * s2)
        kind = "pen" if pen else "hollow-cathode"
        print(
            f"2. {kind} lamps, one line at another brightness: {coef[-1]:+.4f} +- {err:.4f} "
            f"px per decade of peak ({len(y)} lines, {len(waves)} wavelengths)"
        )


def along_detector(obs) -> None:
    """3. Faint pen-lamp lines along the detector."""
    print("3. pen-lamp lines below 30 e- (lamp mean removed) along the detector")
    for lo in range(0, 4000, 800):
        sel = [o for o in obs if o["pen"] and o["peak"] < 30 and lo <= o["pixel"] < lo + 800]
        print(f"     px {lo:4d}-{lo + 800:<4d} {_mean(sel, 'rel')}")


def high_minus_low(obs) -> None:
    """4. Ar I high minus low excitation, per lamp and by dispersion."""
    print("4. Ar I high- minus low-excitation lines per lamp (px, A)")
    rows = []
    for lamp in sorted({o["lamp"] for o in obs}):
        ar = [o for o in obs if o["lamp"] == lamp and o["ion"] == "Ar I"]
        hi = np.array([o["r"] for o in ar if o["high"]])
        lo = np.array([o["r"] for o in ar if not o["high"]])
        if hi.size < 2 or lo.size < 2:
            continue
        d = hi.mean() - lo.mean()
        e = max(np.sqrt(hi.var() / hi.size + lo.var() / lo.size), 0.01)
        rows.append((ar[0]["pen"], lamp, ar[0]["disp"], d, e))
        print(
            f"     {'pen   ' if ar[0]['pen'] else 'hollow'} {lamp:26s} {ar[0]['disp']:.3f} A/px "
            f"{hi.size:2d}/{lo.size:2d} lines  {d:+.3f} +- {e:.3f} px  {d * ar[0]['disp']:+.4f} A"
        )
    for pen in (True, False):
        for lo_d, hi_d in ((0, 0.35), (0.35, 0.5), (0.5, 1.1), (0, 1.1)):
            sel = [r for r in rows if r[0] == pen and lo_d <= r[2] < hi_d]
            if not sel:
                continue
            w = np.array([1 / r[4] ** 2 for r in sel])
            px = np.sum(w * [r[3] for r in sel]) / w.sum()
            ang = np.sum(w * [r[3] * r[2] for r in sel]) / w.sum()
            print(
                f"   {'pen' if pen else 'hollow':6s} {lo_d:.2f}-{hi_d:.2f} A/px: {len(sel):2d} "
                f"lamps, weighted mean {px:+.4f} px = {ang:+.4f} A"
            )


def neon(obs) -> None:
    """5. Ne I lines of pen lamps by peak."""
    print("5. Ne I lines of pen lamps (lamp mean removed) by peak, e-/px")
    for lo, hi in zip(PEAK_EDGES[:-1], PEAK_EDGES[1:], strict=True):
        sel = [o for o in obs if o["ion"] == "Ne I" and lo <= o["peak"] < hi]
        if len(sel) >= 3:
            print(f"     {lo:6g}-{hi:<6g} {_mean(sel, 'rel')}")


def main() -> int:
    """Print the five figures (see the module docstring)."""
    warnings.simplefilter("ignore")
    by_lamp = defaultdict(list)
    for template in lamps.library():
        for o in lamp_lines(template):
            by_lamp[o["lamp"]].append(o)
    obs = []
    for rows in by_lamp.values():
        if len(rows) < 6:
            continue
        zero = np.mean([o["r"] for o in rows])
        for o in rows:
            o["rel"] = o["r"] - zero
        obs += rows
    by_peak(obs)
    within_lines(obs)
    along_detector(obs)
    high_minus_low(obs)
    neon(obs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
