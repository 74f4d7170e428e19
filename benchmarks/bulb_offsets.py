"""Do the two bulbs of real HgArNe arcs (HgAr pen lamp, Ne lamp) share a zero point?

For every real arc with lines of both bulbs (the library lamps as the refit
calibrates them, ``sp_400m1``, PypeIt's Blue 400 and the 400 M1 / M2 parts of its Red
400, goodman_pipeline's history arcs), the residuals against NIST of the lines used
and rejected as outliers are fitted with a Chebyshev of the solution's own
correction order plus, per line:

- ``Ne-HgAr``: a zero point per bulb (what ``GSP_WBLB`` reports;
  :func:`pipeline.wavelength.bulbs.measure_offset`);
- ``lin``: the same with a term linear in pixel for the Ne lines too (Ne minus HgAr
  at the red end minus at the centre);
- ``Hg-Ar``: the control, Hg against Ar, which come from the same bulb.

All in unbinned px with their standard errors; ``rms`` is the lines' scatter about
the Chebyshev alone and with the bulbs' zero points (unbinned px). Run::

    .venv/bin/python benchmarks/bulb_offsets.py
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from pathlib import Path

import numpy as np
from numpy.polynomial import chebyshev

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline import lamps  # noqa: E402
from pipeline.wavelength import calibrate_arc  # noqa: E402
from pipeline.wavelength.refit_library import MAX_ORDER, _calibrate  # noqa: E402
from tests.wavelength.real_arcs import (  # noqa: E402
    HISTORY_ARCS,
    PYPEIT_RED_SPLICE,
    as_read,
    history_arc,
    pypeit_blue_400,
    pypeit_red_400,
    pypeit_red_400_m2_on_detector,
    sp_400m1,
)


def _lines(sol):
    """x in [-1, 1], residual and error (unbinned px), element of the lines measured."""
    t = sol.lines
    status = np.asarray(t["status"]).astype(str)
    ref = np.asarray(t["reference_wavelength"], float)
    pick = np.isin(status, ("used", "outlier")) & np.isfinite(ref)
    pix = np.asarray(t["pixel"], float)[pick]
    b = sol.binning
    x = 2.0 * pix / (sol.npix - 1) - 1.0
    y = np.asarray(t["residual_pixel"], float)[pick] * b
    err = np.asarray(t["fit_error"], float)[pick] * b
    element = np.array([s.split(" ")[0] for s in np.asarray(t["ion"]).astype(str)[pick]])
    return x, y, err, element


def _fit(x, y, err, order, extra):
    """Weighted least squares of y on a Chebyshev and ``extra`` columns; their values,
    standard errors, and the RMS without and with them."""
    base = chebyshev.chebvander(x, order)
    a = np.hstack([base, np.column_stack(extra)])
    w = 1.0 / np.maximum(err, 1e-3)
    coef, *_ = np.linalg.lstsq(a * w[:, None], y * w, rcond=None)
    r = y - a @ coef
    chi2 = float(np.sum((r * w) ** 2)) / max(y.size - a.shape[1], 1)
    cov = np.linalg.pinv((a * w[:, None]).T @ (a * w[:, None])) * chi2
    c0, *_ = np.linalg.lstsq(base * w[:, None], y * w, rcond=None)
    k = base.shape[1]
    se = np.sqrt(np.diag(cov))[k:]
    rms = (float(np.sqrt(np.mean((y - base @ c0) ** 2))), float(np.sqrt(np.mean(r**2))))
    return coef[k:], se, rms


def row(name: str, sol) -> str:
    """One line of the table (see the module docstring)."""
    x, y, err, element = _lines(sol)
    ne = (element == "Ne").astype(float)
    hg = (element == "Hg").astype(float)
    ar = (element == "Ar").astype(float)
    counts = f"Hg {int(hg.sum()):2d} Ar {int(ar.sum()):2d} Ne {int(ne.sum()):2d}"
    order = min(max(int(sol.correction_order), 0), y.size - 6)
    text = f"{name:44s} {counts}"
    if ne.sum() >= 3 and (hg + ar).sum() >= 3 and order >= 0:
        (d,), (sd,), rms = _fit(x, y, err, order, [ne])
        (_, d1), (_, sd1), _ = _fit(x, y, err, order, [ne, ne * x])
        text += (
            f"  Ne-HgAr {d:+.3f}±{sd:.3f}  lin {d1:+.3f}±{sd1:.3f}  rms {rms[0]:.3f}->{rms[1]:.3f}"
        )
    else:
        text += f"  {'(too few lines of a bulb)':57s}"
    if hg.sum() >= 2 and ar.sum() >= 2 and order >= 0:
        cols = [hg] + ([ne] if ne.sum() >= 3 else [])
        (dh, *_), (sh, *_), _ = _fit(x, y, err, order, cols)
        text += f"  Hg-Ar {dh:+.3f}±{sh:.3f}"
    return text


def arcs():
    """(name, solution) of every real arc with lines of both bulbs."""
    for t in lamps.library():
        if not ("Ne" in t.lamp and ("Ar" in t.lamp or "Hg" in t.lamp)):
            continue
        stored = dataclasses.replace(t, corrected_coefficients=None, corrected_pixels=None)
        name = "library " + t.file_name.removeprefix("goodman_comp_").removesuffix(".fits")
        yield name, _calibrate(t, stored, MAX_ORDER)
    arc, header = sp_400m1()
    yield "sp_400m1 (goodman_focus, 2019)", calibrate_arc(arc, "400_M1", "HgArNe", 1)
    flux, _ = pypeit_blue_400()
    yield "PypeIt Blue 400 (2x2)", calibrate_arc(flux, "400_M1", "HgArNe", 2)
    flux, _ = pypeit_red_400()
    part = flux[:PYPEIT_RED_SPLICE]
    yield "PypeIt Red 400 M1 part (2x2)", calibrate_arc(part, "400_M1", "HgArNe", 2)
    flux, _ = pypeit_red_400_m2_on_detector()
    yield "PypeIt Red 400 M2 part (2x2)", calibrate_arc(flux, "400_M2", "HgArNe", 2)
    for h in HISTORY_ARCS:
        if "Ne" not in h.file:
            continue
        flux, _, header = history_arc(h)
        read = as_read(header)
        name = "history " + h.file.removeprefix("goodman_comp_").removesuffix(".fits")
        try:
            yield (
                name[:44],
                calibrate_arc(
                    flux, read.mode, read.lamp_elements, read.binning, first_guess=read.first_guess
                ),
            )
        except ValueError as exc:
            print(f"{name[:44]:44s} FAIL {exc}")


def main() -> int:
    warnings.simplefilter("ignore")  # a real header's non-ASCII card is replaced: noise here
    print("lines used + outliers; offsets in unbinned px (± standard error)")
    for name, sol in arcs():
        print(row(name, sol), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
