"""The optics model against every library lamp: fit, residuals, tolerances.

Fits Goodman's grating equation + camera model to the library's stored solutions
(``pipeline.optics.fit``) and prints, per lamp, the model minus the library solution
in unbinned pixels: mean, RMS and max with the mode's zero-point, and the mean without
it (what custom angles, which have no zero-point, can expect). Run::

    .venv/bin/python benchmarks/bench_optics.py           # fit and print
    .venv/bin/python benchmarks/bench_optics.py --write   # and store the parameters

With ``--iraf DIR`` (default ``../shared/reference/real_data/iraf_solutions`` when it
exists) the model is also compared with real arcs solved in IRAF ``identify`` by
another team (Legendre/Chebyshev multispec WCS): offset and shape, unbinned px.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pipeline.optics import dispersion_model, dispersion_model_from_header, packaged_parameters
from pipeline.optics.fit import fit_optics
from pipeline.optics.model import parameters_path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="store the fit in the package")
    ap.add_argument("--iraf", type=Path, default=DEFAULT_IRAF, help="IRAF-solved arcs folder")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    fit = fit_optics()
    dt = time.perf_counter() - t0
    p = fit.parameters
    print(f"fit of {p.provenance['lamps_used']} lamps in {dt:.1f} s")
    print("camera:", {k: round(v, 5) for k, v in vars(p.camera).items()})
    for d, g in sorted(p.gratings.items()):
        print(
            f"grating {d:6g} l/mm: alpha zero {g.alpha_zero_deg:+.4f} deg, "
            f"density scale {g.density_scale:+.5f}"
        )
    print(
        f"\n{'lamp':44s} {'mode':10s} {'mean':>7s} {'rms':>6s} {'max':>6s} "
        f"{'mean w/o zero':>13s}  (unbinned px)"
    )
    for r in fit.residuals:
        flag = "" if r.used else f"  REJECTED: {r.reason}"
        print(
            f"{r.name:44s} {r.mode:10s} {r.mean_px:7.2f} {r.rms_px:6.2f} {r.max_px:6.2f} "
            f"{r.mean_no_zero_px:13.2f}{flag}"
        )
    used = [r for r in fit.residuals if r.used]
    rms = np.array([r.rms_px for r in used])
    mx = np.array([r.max_px for r in used])
    nz = np.array([abs(r.mean_no_zero_px) for r in used])
    print(
        f"\nused lamps: {len(used)}; RMS per lamp median {np.median(rms):.2f} px, "
        f"worst {rms.max():.2f}; max |residual| median {np.median(mx):.2f}, worst {mx.max():.2f}"
    )
    print(
        f"custom angles (no mode zero-point): |mean offset| median {np.median(nz):.1f} px, "
        f"worst {nz.max():.1f}"
    )
    print(
        f"tolerances: shift {p.shift_tolerance_mode_px} px (library mode), "
        f"{p.shift_tolerance_custom_px} px (custom); shape {p.shape_tolerance_px} px"
    )
    print(f"rejected: {', '.join(p.provenance['lamps_rejected'])}")
    if args.write:
        parameters_path().parent.mkdir(parents=True, exist_ok=True)
        parameters_path().write_text(json.dumps(p.to_dict(), indent=1) + "\n")
        packaged_parameters.cache_clear()
        print(f"written {parameters_path()}")
    if parameters_path().exists():
        m = dispersion_model(930, 13.0, 24.0, camera="Blue")
        print(
            f"\n930 l/mm GRT 13.0 CAM 24.0: central {m.central_wavelength:.1f} A, "
            f"dispersion {m.dispersion:.4f} A/px, range {m.wavelength_range[0]:.0f}-"
            f"{m.wavelength_range[1]:.0f} A, library mode {m.library_mode}"
        )
        d = 1e7 / 930
        nominal = d * (np.sin(np.radians(13.0)) + np.sin(np.radians(11.0)))
        print(f"  nominal grating equation (no zero-points): {nominal:.1f} A")
        compare_iraf(args.iraf)
        compare_pypeit(args.iraf.parent / "pypeit_templates" / "soar_goodman_blue_400_SYZY.fits")
    return 0


def compare_pypeit(path: Path) -> None:
    """PypeIt's Blue-camera 400 M1 arc (2x2, vacuum) against the optics of 400 M1."""
    if not path.exists():
        print(f"no PypeIt template at {path}: Blue-camera check skipped")
        return
    import astropy.units as u
    from astropy.io import fits
    from specutils.utils.wcs_utils import vac_to_air

    wave = np.ravel(fits.getdata(path, 1)["wave"])
    air = vac_to_air(wave * u.AA).value
    m = dispersion_model(400, 5.8, 11.6, camera="Blue")
    # binned 2: pixel j centred on 2j + 0.5 of a 4092-px trim, centred on the chip
    x = 2 * np.arange(air.size) + 0.5 - (2 * air.size - 4060) / 2
    r = x - m.pixel(air)
    shift = float(np.median(r))
    slope = float(np.polyfit(x, r, 1)[0]) * 1000
    print(
        f"  PypeIt Blue 400 M1 (2x2, vacuum -> air), 400 l/mm 5.8/11.6 "
        f"({m.library_mode}): offset {shift:+.1f} px, shape max "
        f"{np.abs(r - shift).max():.1f} rms {np.std(r):.2f} px (a scale: "
        f"{slope:+.1f} px per 1000 px)"
    )


DEFAULT_IRAF = (
    Path(__file__).resolve().parents[2] / "shared" / "reference" / "real_data" / "iraf_solutions"
)


def _iraf_wavelength(header, n):
    """Wavelength of pixels 1..n from an IRAF multispec Legendre/Chebyshev WCS."""
    from numpy.polynomial import chebyshev, legendre

    wat = "".join(
        str(header[k]).ljust(68) for k in sorted(k for k in header if k.startswith("WAT2_"))
    )
    nums = [float(x) for x in wat.split('"')[1].split()]
    ftype, order, pmin, pmax = int(nums[11]), int(nums[12]), nums[13], nums[14]
    coef = nums[15 : 15 + order]
    p = np.arange(1, n + 1.0)
    x = (2 * p - (pmax + pmin)) / (pmax - pmin)
    w = legendre.legval(x, coef) if ftype == 2 else chebyshev.chebval(x, coef)
    return p, w, (p >= pmin) & (p <= pmax)


def compare_iraf(folder: Path) -> None:
    """Offset and shape of real IRAF solutions against the optics model."""
    from astropy.io import fits

    files = sorted(folder.glob("non-linear_fits_solution_*.fits")) if folder.is_dir() else []
    files = [f for f in files if "spline" not in f.name]  # splines: no closed form here
    if not files:
        print(f"\nno IRAF-solved arcs in {folder}: independent check skipped")
        return
    print("\nindependent check: real arcs solved in IRAF (offset: constant; shape: after it)")
    for f in files:
        h = fits.getheader(f)
        n = int(h["NAXIS1"])
        p, w, sel = _iraf_wavelength(h, n)
        m = dispersion_model_from_header(h)
        # 4142 columns: raw with the 50-column prescan; otherwise centred on the chip
        u = p - 1 - (50 if n == 4142 else (n - 4060) / 2)
        r = (u - m.pixel(w))[sel]
        shift = float(np.median(r))
        print(
            f"  {f.name:42s} {h['GRATING']:10s} GRT {h['GRT_ANG']:.2f} CAM "
            f"{h['CAM_ANG']:.2f} ({m.library_mode}): offset {shift:+.1f} px, shape max "
            f"{np.abs(r - shift).max():.1f} rms {np.std(r):.2f} px"
        )


if __name__ == "__main__":
    raise SystemExit(main())
