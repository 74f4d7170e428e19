"""Stated centring errors against the scatter they describe, by kind of line.

The fit weighs each line by ``1 / err**2``; a line whose error overstates its scatter
pulls the solution too little, one whose error understates it too much. Printed:

- physical-truth arcs (``--only``, ``--lamps``, ``--seeds`` as in ``grade_physical.py``):
  every used line named after a line of the truth, its centre minus the true column
  (binned px), by kind of line in the truth: ``expected`` (clean, >= 10 sigma),
  ``faint`` (below 10 sigma in one row), ``near brighter`` (a line with 3 % of its
  flux within 3 FWHM), ``blend`` (5 % within 1.5 FWHM);
- with ``--real``, the real arcs of ``grade_real_arcs.py``: each used line's residual
  against NIST (scaled by ``sqrt(n / (n - order - 1))``, a fit's residual being
  smaller than the scatter), brighter and fainter half.

Two errors are compared: the stated one (the line table's ``pixel_error`` and the
identification's :data:`~pipeline.wavelength.identify.SYSTEMATIC_PX` floor in
quadrature: what the fit weighs with, NIST neighbours' pull aside) and the noise one
(the background and the line's own photons, as ``identify.line_shapes`` computes it
for the noise-limited test, and the same floor), and the line table's
``scatter_error`` (the fit's errors, NIST pull included, at the scale its residuals
show: reduced chi-square 1). ``z`` is the RMS of offset / error: 1 where the error
describes the scatter. Run::

    .venv/bin/python benchmarks/line_error_scatter.py --only 930_M1,930_M2 --lamps all --seeds 0-9
    .venv/bin/python benchmarks/line_error_scatter.py --real
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from benchmarks.grade_physical import _lamps_of, _seed_list  # noqa: E402
from pipeline import lamps  # noqa: E402
from pipeline.simulation.physical import arc_1d  # noqa: E402
from pipeline.wavelength import calibrate_arc  # noqa: E402
from pipeline.wavelength.identify import PHOTON_CENTRING, SYSTEMATIC_PX  # noqa: E402
from pipeline.wavelength.lines import continuum, find_lines, robust_noise  # noqa: E402


def noise_errors(flux, pixels) -> np.ndarray:
    """Centring error (binned px) the background and each line's photons give, at ``pixels``."""
    flux = np.asarray(flux, float)
    lines = find_lines(flux, max_lines=250)
    noise = robust_noise(flux - continuum(flux)) or 1.0
    height = lines.amplitude / (np.sqrt(2.0 * np.pi) * np.maximum(lines.sigma, 1e-6))
    per_count = lines.noise.per_count if lines.noise is not None else 0.0
    err = np.sqrt(
        2.0 * lines.sigma / np.sqrt(np.pi) * (noise / np.maximum(height, 1e-12)) ** 2
        + PHOTON_CENTRING * per_count * lines.sigma**2 / np.maximum(lines.amplitude, 1e-12)
    )
    k = np.argmin(np.abs(lines.centre[:, None] - np.asarray(pixels, float)[None, :]), axis=0)
    return err[k]


def _kind(line: dict) -> str:
    if line["expected"]:
        return "expected"
    if line["blended"]:
        return "blend"
    if line["saturated"]:
        return "saturated"
    return "faint" if line["snr_row"] < 10.0 else "near brighter"


def _row(name, off, stated, noisy, scaled) -> str:
    off, stated, noisy, scaled = (np.asarray(a, float) for a in (off, stated, noisy, scaled))
    rms = np.sqrt(np.mean(off**2))
    return f"{name:24s} {off.size:5d} {rms:8.4f}" + "".join(
        f" {np.sqrt(np.mean(err**2)):8.4f} {np.sqrt(np.mean((off / err) ** 2)):6.2f}"
        for err in (stated, noisy, scaled)
    )


HEADER = (
    f"{'lines':24s} {'n':>5s} {'rms off':>8s} {'stated':>8s} {'z':>6s} {'noise':>8s} {'z':>6s}"
    f" {'scaled':>8s} {'z':>6s}"
)


def simulated(cases, seeds) -> list[str]:
    """Rows by kind of line and binning over physical-truth arcs."""
    groups: dict[tuple[str, int], list] = {}
    for mode, b, lamp in cases:
        for seed in seeds:
            arc = arc_1d(mode, b, lamp=lamp, seed=seed)
            try:
                sol = calibrate_arc(arc.flux, mode, lamps.elements(arc.lamp), binning=b)
            except ValueError:
                continue
            t = sol.lines
            used = np.asarray(t["used"], bool)
            pix = np.asarray(t["pixel"], float)[used]
            lab = np.asarray(t["lab_wavelength"], float)[used]
            err = np.asarray(t["pixel_error"], float)[used]
            scaled = np.asarray(t["scatter_error"], float)[used]
            noisy = noise_errors(arc.flux, pix)
            truth = np.array([ln["wavelength"] for ln in arc.lines])
            for p, w, e, ne, se in zip(pix, lab, err, noisy, scaled, strict=True):
                k = np.nonzero(np.abs(truth - w) < 1e-3)[0]
                if k.size == 0:
                    continue
                line = arc.lines[int(k[0])]
                row = (
                    p - line["column"],
                    np.hypot(e, SYSTEMATIC_PX),
                    np.hypot(ne, SYSTEMATIC_PX),
                    se,
                )
                groups.setdefault((_kind(line), b), []).append(row)
    out = [HEADER]
    for (kind, b), rows in sorted(groups.items()):
        a = np.array(rows)
        out.append(_row(f"{kind} {b}x{b}", *a.T))
    return out


def real() -> list[str]:
    """Rows per real arc, brighter and fainter half of its used lines."""
    from pipeline.wavelength.lamp_choice import arc_elements, parse_elements
    from tests.wavelength.real_arcs import iraf_arc, pypeit_blue_400, sp_400m1

    arcs = []
    flux, header = sp_400m1()
    arcs.append(("sp_400m1", flux, calibrate_arc(flux, header["WAVMODE"], arc_elements(header), 1)))
    flux, _, header = iraf_arc("non-linear_fits_solution_legendre.fits")
    arcs.append(
        ("IRAF 930M3", flux, calibrate_arc(flux, "930_M3", parse_elements(header["OBJECT"]), 1))
    )
    flux, _, header = iraf_arc("non-linear_fits_solution_cheb.fits")
    arcs.append(("IRAF 600 Cu", flux, calibrate_arc(flux, "600_BLUE", header["OBJECT"], 1)))
    flux, _ = pypeit_blue_400()
    arcs.append(("PypeIt Blue 400", flux, calibrate_arc(flux, "400_M1", "HgArNe", 2)))
    out = [HEADER]
    for name, flux, sol in arcs:
        t = sol.lines
        used = np.asarray(t["used"], bool)
        n = int(used.sum())
        scale = np.sqrt(n / max(n - sol.correction_order - 1, 1))
        resid = np.asarray(t["residual_pixel"], float)[used] * scale
        stated = np.hypot(np.asarray(t["pixel_error"], float)[used], SYSTEMATIC_PX)
        noisy = np.hypot(noise_errors(flux, np.asarray(t["pixel"], float)[used]), SYSTEMATIC_PX)
        scaled = np.asarray(t["scatter_error"], float)[used]
        amp = np.asarray(t["amplitude"], float)[used]
        bright = amp >= np.median(amp)
        for half, keep in (("brighter", bright), ("fainter", ~bright)):
            out.append(_row(f"{name} {half}", resid[keep], stated[keep], noisy[keep], scaled[keep]))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="930_M1,930_M2", help="modes, e.g. 930_M1,930_M2")
    ap.add_argument("--lamps", default="all", help="'richest', 'all' or names (HgAr,HgArNe)")
    ap.add_argument("--seeds", type=_seed_list, default=_seed_list("0-9"))
    ap.add_argument("--binnings", type=lambda s: [int(b) for b in s.split(",")], default=[1, 2])
    ap.add_argument("--real", action="store_true", help="the real arcs instead")
    args = ap.parse_args(argv)
    if args.real:
        rows = real()
    else:
        cases = [
            (m.strip(), b, lamp)
            for m in args.only.split(",")
            for b in args.binnings
            for lamp in _lamps_of(lamps.normalize_mode(m.strip()), args.lamps)
        ]
        rows = simulated(cases, args.seeds)
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
