"""Which light path do the two bulbs of the library's HgArNe lamps follow?

Goodman's HgArNe arc is two pen lamps lit together (HgAr, Ne). For every library
HgArNe lamp, its lines used (as the library refit calibrates it, bulbs solved apart
or not) are placed by the stored refit of each lamp of the same mode, taken minutes
apart with the same grating setting: the Ar, HgAr and Ne pen lamps alone, and the
hollow-cathode CuHeAr and FeHeAr lamps (another light path). Only a zero point is
free (same pixels; no stretch). Per bulb of the HgArNe lamp, the slope of the
residuals across the detector (px per 1000 unbinned px, +- standard error) and
their scatter about it. A lamp whose light follows a bulb's path places that bulb's
lines flat; the bulbs' slopes differ when their paths do (600 Red, 1200 M6, 1200 M7:
the hollow cathodes, Ar and HgAr lamps flat on the HgAr bulb, the Ne lamp flat on the
Ne bulb). Then each HgArNe lamp's Ne-bulb terms as the calibration fits them
(``GSP_WNBO``/``GSP_WNBS``, :class:`pipeline.wavelength.bulbs.BulbTerms`). Run::

    .venv/bin/python benchmarks/bulb_paths.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline import lamps  # noqa: E402
from pipeline.wavelength.refit_library import refit_solution  # noqa: E402


def _name(t) -> str:
    return t.file_name.removeprefix("goodman_comp_").removesuffix(".fits")


def slope(p, r) -> tuple[float, float, float]:
    """Slope (per 1000 px) of ``r`` against ``p``, its standard error, the scatter."""
    a = np.column_stack([np.ones(p.size), (p - p.mean()) / 1000.0])
    c, *_ = np.linalg.lstsq(a, r, rcond=None)
    rr = r - a @ c
    cov = np.linalg.inv(a.T @ a) * np.sum(rr**2) / max(p.size - 2, 1)
    return float(c[1]), float(np.sqrt(cov[1, 1])), float(np.std(rr))


def main() -> int:
    """Print the table (see the module docstring)."""
    warnings.simplefilter("ignore")
    t0 = time.perf_counter()
    library = list(lamps.library())
    for h in library:
        if h.elements != frozenset({"Hg", "Ar", "Ne"}):
            continue
        siblings = [t for t in library if t.mode == h.mode and t.path != h.path]
        sol = refit_solution(h)
        lines = sol.lines[np.asarray(sol.lines["used"], bool)]
        p = np.asarray(lines["pixel"], float)
        w = np.asarray(lines["reference_wavelength"], float)
        ne = np.array([str(s).startswith("Ne") for s in lines["ion"]])
        terms = sol.ne_bulb_pixel
        fitted = "joint" if terms is None else f"Ne bulb {terms[0]:+.3f} {terms[1]:+.3f} x"
        print(f"\n{_name(h)}: {sol.n_used} lines, {sol.rms_pixel:.3f} px vs NIST; {fitted}")
        for t in siblings:
            try:
                other = refit_solution(t)
            except ValueError as exc:
                print(f"  by {_name(t):28s} FAIL {exc}")
                continue
            disp = np.abs(np.gradient(other.wavelength(np.arange(other.npix + 200.0))))
            r = (other.wavelength(p) - w) / disp[p.astype(int)]
            text = f"  by {_name(t):28s}"
            for pick, label in ((~ne, "HgAr"), (ne, "Ne")):
                if pick.sum() < 3:
                    text += f"  {label:4s} {'-':>26s}"
                    continue
                s, e, sc = slope(p[pick], r[pick])
                text += f"  {label:4s} {s:+.3f}±{e:.3f} scatter {sc:.3f}"
            print(text)
    print(f"({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
