"""What holds the library's HgArNe lamps, solved as users' arcs, above 0.05 px?

For every library lamp lit by both bulbs of Goodman's HgArNe arc (the HgAr pen lamp
and the Ne lamp, :mod:`pipeline.wavelength.bulbs`), both calibrations of
``benchmarks/grade_library_lamps.py``: ``refit`` (the library refit, the Ne bulb's
lines carried with their own offset and slope where they stand apart) and ``loo`` (a
user's arc of the mode without this lamp in the library, one solution fitted to every
used line: what an outside grader sees). The loo residuals are then split (unbinned px):

- ``loo``: the user's solution's RMS over its used lines;
- ``clean``: the same over the lines the refit also uses (the refit's outliers out);
- ``floor``: the lowest RMS any single correction of order ``k`` (unweighted, on the
  clean lines) reaches: what a joint solution could reach at best;
- ``+Ne k``: the same with the Ne bulb's offset and slope beside it, for ``k`` 1-3:
  what is left once the bulbs are told apart; then those terms at ``k`` = 2;
- ``shape``: the user's solution minus the refit between the refit's outermost used
  lines, a straight line removed (px RMS), and the extra lines the user's fit kept.

Run (two to three minutes)::

    .venv/bin/python benchmarks/hgarne_floor.py

Finding (main bd2dc62):

====================  =====  =====  =====  =========  =========  =========  =====
lamp                  loo    clean  floor  +Ne k=1    +Ne k=2    +Ne k=3    shape
====================  =====  =====  =====  =========  =========  =========  =====
1200M7 HgArNe         0.145  0.131  0.109  0.076      0.031      0.026      0.070
600Red HgArNe         0.127  0.117  0.111  0.044      0.035      0.031      0.036
1200 CaNIR HgArNe     0.067  0.067  0.066  0.033      0.030      0.029      0.021
400M2 HgArNe          0.057  0.057  0.055  0.052      0.051      0.051      0.020
====================  =====  =====  =====  =========  =========  =========  =====

The other HgArNe lamps above 0.05 px (1200M5 0.093, 930M5 0.093, 930M4 0.084, 930M1
0.073, 1200M4 0.063, 1200M6 0.060) gain nothing from the Ne bulb's terms (0.00-0.01
px): their lines' scatter, not the bulbs.

- 1200M7, 600Red and CaNIR: the excess is the two bulbs, whole. No single smooth
  relation fits both bulbs' lines to better than 0.109 / 0.111 / 0.066 px; with the
  Ne bulb's offset and slope (+0.28 +0.26 x, +0.17 +0.23 x, +0.14 -0.06 x px) the
  user's solution's lines lie 0.026-0.035 px from it, the refit's own figure, at the
  pooled lines' repeatability (0.039 px, ``benchmarks/line_systematics.py``). No line
  list entry, no order, no donor: the user's shape is the refit's within 0.02-0.07 px
  once a straight line is removed (1200M7's 0.07: its joint fit stays at order 1, the
  curvature the bulbs' slope would need hidden in the bulbs' mismatch). The same
  lamps' Ne lines sit where the mode's Ne lamp alone puts them, its HgAr lines where
  the Ar, HgAr and hollow-cathode lamps put them (``benchmarks/bulb_paths.py``): two
  light paths, so a grader of every line against one solution sees the mismatch.
- The joint fit's rejection judges lines against the bulbs' spread, so it keeps
  lines the bulb-aware refit rejects: 1200M7 Ar I 7948.18, 8115.31, Ne I 8484.44,
  8495.36, 8780.62; 600Red Ar I 7206.98, Ne I 8377.61, 8495.36 (0.13-0.32 px from
  their bulb's place). They lift 0.131 -> 0.145 and 0.117 -> 0.127; without them the
  lamps are still bulb-limited far above 0.05 px.
- 400M2: no bulb term (Ne -0.04 +- 0.015 px); its 0.051-0.057 is its lines'. Two of
  its worst are blends the lists do not name: Ne I 7472.439 lies -0.084 A from NIST
  in 400M2 HgArNe (0.99 A/px) and -0.040 A in 930M5 HgArNe (0.40 A/px), blend-set
  aside in 1200M5/M6 HgArNe, but +0.002, -0.013, +0.017, +0.017, -0.002 A in the Ne
  lamps of 400M2, 600Red, 1200M6, 930M5, 930M6: Ar I 7471.164 (NIST, air from
  vacuum 7473.221; in ``nist_air_extra_lines_Ar.txt``, not the strong list the line
  rules read) 1.28 A blue, unresolved at 400M2's 2.9 A FWHM, pulls it blue in lamps
  with argon only. Hg I 7081.90 lies red of NIST in every mode, more at coarser
  dispersion (+0.006 A at 0.30 A/px, +0.02 at 0.40, +0.017-0.027 at 0.64, +0.093 /
  +0.104 in 400M2 HgAr / HgArNe at 0.99): an unlisted red neighbour of the HgAr bulb.
  Ne I 7472.439 is now set aside in lamps holding argon
  (``pipeline/data/lamps/nist_lines/lamp_element_blends.txt``): 400M2 HgArNe as a
  user's arc 0.057 -> 0.048 px, 0.021 px from its refit (0.055 before); its refit's Ne
  bulb terms, which the blend had carried to 4 standard errors, no longer stand apart.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from numpy.polynomial import chebyshev

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from benchmarks.grade_library_lamps import grade  # noqa: E402
from pipeline import lamps  # noqa: E402


def _rms(r) -> float:
    return float(np.sqrt(np.mean(np.square(r)))) if np.size(r) else float("nan")


def _fit_rms(y, x, order, ne=None):
    """Unweighted RMS about a Chebyshev of ``order`` (and the Ne terms), and those terms."""
    cols = [chebyshev.chebvander(x, order)]
    if ne is not None:
        cols.append(np.column_stack([ne, ne * x]))
    a = np.hstack(cols)
    coef = np.linalg.lstsq(a, y, rcond=None)[0]
    return _rms(y - a @ coef), coef[-2:]


def split(a, b) -> dict:
    """The loo solution ``b``'s residuals split against the refit ``a`` (see module doc)."""
    ta, tb = a.lines, b.lines
    ref_a = np.round(np.asarray(ta["reference_wavelength"], float)[np.asarray(ta["used"], bool)], 3)
    used = np.asarray(tb["used"], bool)
    ref = np.round(np.asarray(tb["reference_wavelength"], float), 3)
    clean = used & np.isin(ref, ref_a)
    y = np.asarray(tb["residual_pixel"], float)
    p = np.asarray(tb["pixel"], float)
    x = 2.0 * p / (b.npix - 1) - 1.0
    ion = np.asarray(tb["ion"]).astype(str)
    ne = np.char.startswith(ion, "Ne").astype(float)
    out = {"loo": _rms(y[used]), "clean": _rms(y[clean]), "extra": []}
    out["extra"] = [f"{ion[i]} {ref[i]:.2f} {y[i]:+.2f}" for i in np.flatnonzero(used & ~clean)]
    k = min(int(b.correction_order), 3)
    out["floor"] = min(_fit_rms(y[clean], x[clean], j)[0] for j in range(k, 4))
    for j in (1, 2, 3):
        out[f"ne{j}"], terms = _fit_rms(y[clean], x[clean], j, ne[clean])
        if j == 2:
            out["terms"] = terms
    pa = p[clean]
    grid = np.arange(np.ceil(pa.min()), np.floor(pa.max()) + 1)
    wa = a.wavelength(grid)
    d = (b.wavelength(grid) - wa) / np.abs(np.gradient(wa))
    out["shape"] = _rms(d - np.polyval(np.polyfit(grid, d, 1), grid))
    return out


def main() -> int:
    """Print the table (see the module docstring)."""
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    print(
        f"{'lamp':30s} {'loo':>6s} {'clean':>6s} {'floor':>6s} {'+Ne 1':>6s} {'+Ne 2':>6s} "
        f"{'+Ne 3':>6s} {'Ne off, slope':>14s} {'shape':>6s}  extra lines kept (px)"
    )
    for t in lamps.library():
        if t.elements != frozenset({"Hg", "Ar", "Ne"}):
            continue
        row = grade(t)
        if "a" not in row or "b" not in row or row["a"].reference != "NIST air":
            print(f"{row['lamp']:30s} (no refit or no user's solution)")
            continue
        s = split(row["a"], row["b"])
        off, slope = s["terms"]
        print(
            f"{row['lamp']:30s} {s['loo']:6.3f} {s['clean']:6.3f} {s['floor']:6.3f} "
            f"{s['ne1']:6.3f} {s['ne2']:6.3f} {s['ne3']:6.3f} {off:+6.2f} {slope:+6.2f}x "
            f"{s['shape']:6.3f}  {', '.join(s['extra'])}",
            flush=True,
        )
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
