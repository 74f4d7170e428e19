"""The optics model against every library lamp: fit, residuals, tolerances.

Fits Goodman's grating equation + camera model to the library's stored solutions
(``pipeline.optics.fit``) and prints, per lamp, the model minus the library solution
in unbinned pixels: mean, RMS and max with the mode's zero-point, and the mean without
it (what custom angles, which have no zero-point, can expect). Run::

    .venv/bin/python benchmarks/bench_optics.py           # fit and print
    .venv/bin/python benchmarks/bench_optics.py --write   # and store the parameters
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from pipeline.optics import dispersion_model, packaged_parameters
from pipeline.optics.fit import fit_optics
from pipeline.optics.model import parameters_path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="store the fit in the package")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    fit = fit_optics()
    dt = time.perf_counter() - t0
    p = fit.parameters
    print(f"fit of {p.provenance['lamps_used']} lamps in {dt:.1f} s")
    print("camera:", {k: round(v, 5) for k, v in vars(p.camera).items()})
    for d, g in sorted(p.gratings.items()):
        print(f"grating {d:6g} l/mm: alpha zero {g.alpha_zero_deg:+.4f} deg, "
              f"density scale {g.density_scale:+.5f}")
    print(f"\n{'lamp':44s} {'mode':10s} {'mean':>7s} {'rms':>6s} {'max':>6s} "
          f"{'mean w/o zero':>13s}  (unbinned px)")
    for r in fit.residuals:
        flag = "" if r.used else f"  REJECTED: {r.reason}"
        print(f"{r.name:44s} {r.mode:10s} {r.mean_px:7.2f} {r.rms_px:6.2f} {r.max_px:6.2f} "
              f"{r.mean_no_zero_px:13.2f}{flag}")
    used = [r for r in fit.residuals if r.used]
    rms = np.array([r.rms_px for r in used])
    mx = np.array([r.max_px for r in used])
    nz = np.array([abs(r.mean_no_zero_px) for r in used])
    print(f"\nused lamps: {len(used)}; RMS per lamp median {np.median(rms):.2f} px, "
          f"worst {rms.max():.2f}; max |residual| median {np.median(mx):.2f}, worst {mx.max():.2f}")
    print(f"custom angles (no mode zero-point): |mean offset| median {np.median(nz):.1f} px, "
          f"worst {nz.max():.1f}")
    print(f"tolerances: shift {p.shift_tolerance_mode_px} px (library mode), "
          f"{p.shift_tolerance_custom_px} px (custom); shape {p.shape_tolerance_px} px")
    print(f"rejected: {', '.join(p.provenance['lamps_rejected'])}")
    if args.write:
        parameters_path().parent.mkdir(parents=True, exist_ok=True)
        parameters_path().write_text(json.dumps(p.to_dict(), indent=1) + "\n")
        packaged_parameters.cache_clear()
        print(f"written {parameters_path()}")
    if parameters_path().exists():
        m = dispersion_model(930, 13.0, 24.0, camera="Blue")
        print(f"\n930 l/mm GRT 13.0 CAM 24.0: central {m.central_wavelength:.1f} A, "
              f"dispersion {m.dispersion:.4f} A/px, range {m.wavelength_range[0]:.0f}-"
              f"{m.wavelength_range[1]:.0f} A, library mode {m.library_mode}")
        d = 1e7 / 930
        nominal = d * (np.sin(np.radians(13.0)) + np.sin(np.radians(11.0)))
        print(f"  nominal grating equation (no zero-points): {nominal:.1f} A")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
