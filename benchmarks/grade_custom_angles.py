"""Grade wavelength calibration of arcs at CUSTOM grating/camera angles (no library mode).

Real Goodman nights are often taken at angles that match no library mode (WAVMODE
``Custom``): the night reducer then starts the calibration from the optics model of the
header's angles (:func:`pipeline.spectroscopy.wavelength_guess.choose_first_guess`,
an ``OpticsGuess``), not from a library lamp. ``grade_physical.py`` only grades library
modes at their own angles; this grades, for every grating (400, 600, 930, 1200 and
2100 l/mm), angle pairs between the library modes, beside the outermost ones and the
real Blue night of issue 12 (930 l/mm at GRT 13.0 / CAM 24.0), the camera angle about
twice the grating angle as Goodman is used (``2*GRT + delta``, delta in -2..+1 deg),
on the Red and Blue cameras, at 1x1 and 2x2, with up to three lamps of the nearest
library mode (whose real flux gives the line intensities), over several seeds.

Each arc is drawn from physical truth (``pipeline.simulation.physical.arc_1d`` with
``grating_angle``/``camera_angle``: the optics model of the header's angles plus a
smooth few-pixel distortion) and moved by a constant offset drawn per arc from
``-offset .. +offset`` unbinned px: the optics model predicts custom angles only to a
constant offset of typically 6 px, up to ~70 px (``pipeline/optics/__init__.py``), which
the simulator's truth does not include. The first guess is what the night reducer takes
from a header carrying the library file's real spellings with the custom angles and
``WAVMODE = Custom``; it is then calibrated with ``calibrate_arc`` as the night does.
Graded as ``grade_physical.py`` grades (every expected line found, RMS <= 0.05 and
|mean| <= 0.03 binned px). Run::

    .venv/bin/python benchmarks/grade_custom_angles.py                 # seeds 0-4
    .venv/bin/python benchmarks/grade_custom_angles.py --seeds 0 --offset 0
    .venv/bin/python benchmarks/grade_custom_angles.py --only 930 --cameras Blue
    .venv/bin/python benchmarks/grade_custom_angles.py --list          # the cases
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grade_physical import _passes, _seed_list, grade_solution, graded  # noqa: E402

from pipeline import lamps  # noqa: E402

GRATINGS = (400, 600, 930, 1200, 2100)
#: Camera angle minus twice the grating angle, cycled over a grating's angle pairs
#: (the library modes span -3.1 .. +3.0 deg; the real Blue night has -2.0).
CAMERA_DELTAS = (0.0, -2.0, 1.0)
#: Degrees beyond the bluest and reddest library grating angle of a grating.
BESIDE_DEG = 1.5
#: Bluest wavelength (Å) of a generated setup: below, the atmosphere passes no light.
BLUE_END = 3100.0
#: Degrees added to a library mode's grating angle (camera angle twice that) for a
#: setup just beside it: outside the tolerance that takes a frame as the mode.
NEAR_MODE_DEG = 0.3
#: Lamps preferred, in this order, among the nearest library mode's.
LAMP_ORDER = ("HgArNe", "CuHeAr", "FeHeAr", "HgAr", "ArHg", "HgNeAr", "Ar", "Ne")
MAX_LAMPS = 3
#: Real custom setups graded besides the generated ones: (l/mm, GRT, CAM, label).
REAL_SETUPS = ((930, 13.0, 24.0, "issue 12 Blue night"),)


@dataclass(frozen=True)
class Setup:
    """Custom angles of one grating, and the library mode whose lamps light them."""

    lines_per_mm: int
    grating_angle: float
    camera_angle: float
    base_mode: str
    label: str

    @property
    def name(self) -> str:
        return f"{self.lines_per_mm}@{self.grating_angle:.2f}/{self.camera_angle:.2f}"


def _library_angles(lpm: int) -> list[tuple[float, str]]:
    """(grating angle, mode) of a grating's library modes with a 4060-px lamp, sorted."""
    from pipeline.optics import packaged_parameters

    out = []
    for m in packaged_parameters().modes.values():
        if int(m.lines_per_mm) != lpm or m.name not in lamps.modes():
            continue
        if all(t.npix != 4060 for t in lamps.templates_for_mode(m.name)):
            continue
        out.append((float(m.grating_angle), m.name))
    return sorted(out)


def _blue_end(lpm: int, grating_angle: float) -> float:
    from pipeline.optics import dispersion_model

    return dispersion_model(lpm, grating_angle, 2.0 * grating_angle).wavelength_range[0]


def custom_setups() -> list[Setup]:
    """The graded angle pairs: beside, between the library modes, and real nights."""
    from pipeline.optics import dispersion_model, packaged_parameters

    setups = []
    for lpm in GRATINGS:
        lib = _library_angles(lpm)
        angles = [g for g, _ in lib]
        distinct = [g for i, g in enumerate(angles) if i == 0 or g - angles[i - 1] > 0.2]
        blue = distinct[0] - BESIDE_DEG
        while blue < distinct[0] - 0.3 and _blue_end(lpm, blue) < BLUE_END:
            blue += 0.1
        wanted = [(blue, "beside (blue)")] if blue < distinct[0] - 0.3 else []
        busiest = max(lib, key=lambda x: len(lamps.templates_for_mode(x[1])))[1]
        near = packaged_parameters().modes[busiest]
        g, cam = near.grating_angle + NEAR_MODE_DEG, near.camera_angle + 2 * NEAR_MODE_DEG
        setups.append(Setup(lpm, round(g, 2), round(cam, 2), busiest, f"beside {busiest}"))
        wanted += [((a + b) / 2, "between") for a, b in zip(distinct, distinct[1:], strict=False)]
        wanted += [(distinct[-1] + BESIDE_DEG, "beside (red)")]
        for k, (g, label) in enumerate(wanted):
            g = round(g, 2)
            cam = round(2.0 * g + CAMERA_DELTAS[k % len(CAMERA_DELTAS)], 2)
            base = min(lib, key=lambda x, g=g: abs(x[0] - g))[1]
            setups.append(Setup(lpm, g, cam, base, label))
        for r_lpm, g, cam, label in REAL_SETUPS:
            if r_lpm == lpm:
                base = min(lib, key=lambda x, g=g: abs(x[0] - g))[1]
                setups.append(Setup(lpm, g, cam, base, label))
    kept = []
    for s in setups:
        model = dispersion_model(s.lines_per_mm, s.grating_angle, s.camera_angle)
        if model.library_mode is not None:
            continue  # these angles are a library mode: grade_physical.py grades it
        kept.append(s)
    return kept


def _lamps_of(mode: str) -> list[str]:
    have = {t.lamp for t in lamps.templates_for_mode(mode) if t.npix == 4060}
    ranked = [lp for lp in LAMP_ORDER if lp in have] + sorted(have - set(LAMP_ORDER))
    return ranked[:MAX_LAMPS]


def custom_header(template, camera: str, optics, setup: Setup):
    """The header the night reducer would read: the library file's cards (real
    spellings), the custom target and measured angles, ``WAVMODE = Custom``."""
    from astropy.io import fits

    from pipeline.simulation.header import template_header

    h = fits.Header(template_header(template), copy=True)
    h["GRT_TARG"], h["CAM_TARG"] = setup.grating_angle, setup.camera_angle
    h["GRT_ANG"], h["CAM_ANG"] = optics.grating_angle, optics.camera_angle
    h["WAVMODE"] = "Custom"
    h["INSTCONF"] = camera
    h["INSTRUME"] = "ghts_red" if camera == "Red" else "ghts_blue"
    return h


def offset_px(setup: Setup, lamp: str, camera: str, binning: int, seed: int, scale: float):
    """The constant offset (unbinned px) of the optics model's zero-point for one arc."""
    if scale <= 0:
        return 0.0
    key = zlib.crc32(f"{setup.name}|{lamp}|{camera}|{binning}".encode())
    return float(np.random.default_rng([int(seed), key, 12]).uniform(-scale, scale))


def grade_case(setup: Setup, lamp: str, camera: str, binning: int, seed: int, offset: float):
    """Calibrate one custom-angle arc as the night reducer does, and grade it."""
    from pipeline.simulation.night import pick_template
    from pipeline.simulation.physical import arc_1d
    from pipeline.spectroscopy.wavelength_guess import choose_first_guess
    from pipeline.wavelength import calibrate_arc

    shift = offset_px(setup, lamp, camera, binning, seed, offset)
    out = {
        "setup": setup,
        "lamp": lamp,
        "camera": camera,
        "binning": binning,
        "seed": seed,
        "shift": shift,
    }
    arc = arc_1d(
        setup.base_mode,
        binning,
        lamp=lamp,
        seed=seed,
        camera=camera,
        grating_angle=setup.grating_angle,
        camera_angle=setup.camera_angle,
        flexure_px=shift,
    )
    out["expected"] = sum(ln["expected"] for ln in arc.lines)
    out["injected"] = len(arc.lines)
    header = custom_header(pick_template(setup.base_mode, lamp), camera, arc.truth.optics, setup)
    choice = choose_first_guess(header)
    t0 = time.perf_counter()
    try:
        if choice.problem:
            raise ValueError(choice.problem)
        if choice.first_guess is None:
            raise ValueError(f"not custom: {choice.note or choice.mode}")
        sol = calibrate_arc(
            arc.flux,
            choice.mode,
            lamps.elements(arc.lamp),
            binning=binning,
            first_guess=choice.first_guess,
        )
    except Exception as exc:  # the grader reports every failure, whatever its kind
        out.update(found=0, rms=np.nan, mean=np.nan, max=np.nan, seconds=np.nan)
        out["error"] = f"{type(exc).__name__}: {exc}"[:110]
        return out
    out["seconds"] = time.perf_counter() - t0
    out["order"] = sol.correction_order
    out.update(grade_solution(arc, sol))
    return out


def cases(args) -> list[tuple[Setup, str, str, int]]:
    """Every (setup, lamp, camera, binning) graded, filtered by ``--only``."""
    out = []
    for s in custom_setups():
        if args.only and not any(
            o.strip() in f"{s.name} {s.base_mode}" for o in args.only.split(",")
        ):
            continue
        for lamp in _lamps_of(s.base_mode):
            for camera in args.cameras.split(","):
                for b in args.binnings:
                    out.append((s, lamp, camera, b))
    return out


def _fail_text(r: dict) -> str:
    s = r["setup"]
    head = f"{s.name} {r['lamp']} {r['camera']} {r['binning']}x{r['binning']} s{r['seed']}"
    head += f" (off {r['shift']:+.0f})"
    if r["error"]:
        return f"{head}: {r['error']}"
    return (
        f"{head}: found {r['found']}/{r['expected']}, rms {r['rms']:.3f}, "
        f"mean {r['mean']:+.3f}, max {r['max']:.2f}"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=_seed_list, default=_seed_list("0-4"))
    ap.add_argument(
        "--offset",
        type=float,
        default=70.0,
        help="largest constant offset (unbinned px) of the optics model's zero-point "
        "drawn per arc (default 70; 0 grades the simulator's truth as it is)",
    )
    ap.add_argument("--cameras", default="Red,Blue")
    ap.add_argument("--binnings", type=lambda t: [int(v) for v in t.split(",")], default=[1, 2])
    ap.add_argument("--only", default="", help="setups whose name contains any of these, e.g. 930@")
    ap.add_argument("--list", action="store_true", help="print the angle pairs and exit")
    args = ap.parse_args(argv)
    if args.list:
        from pipeline.optics import dispersion_model

        for s in custom_setups():
            o = dispersion_model(s.lines_per_mm, s.grating_angle, s.camera_angle)
            lo, hi = o.wavelength_range
            print(
                f"{s.name:22s} {s.label:20s} lamps of {s.base_mode:10s} "
                f"{', '.join(_lamps_of(s.base_mode)):22s} {lo:6.0f}-{hi:6.0f} A"
            )
        return 0
    todo = cases(args)
    t0 = time.perf_counter()
    total, n_all, n_graded, rows_all = 0, 0, 0, []
    for seed in args.seeds:
        rows = [grade_case(s, lp, cam, b, seed, args.offset) for s, lp, cam, b in todo]
        rows_all += rows
        ok = sum(_passes(r) for r in rows)
        total += ok
        n_all += len(rows)
        n_graded += sum(graded(r) for r in rows)
        print(f"seed {seed}: {ok}/{sum(graded(r) for r in rows)} graded", flush=True)
        for r in rows:
            if not graded(r):
                print(f"  not graded (no expected line) {_fail_text(r)}", flush=True)
            elif not _passes(r):
                print(f"  FAIL {_fail_text(r)}", flush=True)
    print(
        f"\n{len(args.seeds)} seeds x {len(todo)} custom-angle arcs in "
        f"{time.perf_counter() - t0:.0f} s: {total}/{n_graded} graded arcs meet the accuracy "
        f"(offset up to {args.offset:g} unbinned px); {n_all - n_graded} not graded "
        "(no expected line)"
    )
    for key, name in (
        (lambda r: r["setup"].lines_per_mm, "l/mm"),
        (lambda r: r["camera"], "camera"),
        (lambda r: r["binning"], "binning"),
    ):
        groups: dict = {}
        for r in rows_all:
            g = groups.setdefault(key(r), [0, 0])
            g[0] += _passes(r)
            g[1] += graded(r)
        print(f"  by {name}: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in groups.items()))
    done = [r for r in rows_all if not r["error"] and graded(r)]
    if done:
        rms = np.array([r["rms"] for r in done])
        sec = np.array([r["seconds"] for r in done])
        print(
            f"  calibrated: RMS median {np.median(rms):.3f} px, worst {rms.max():.3f}; "
            f"identification+fit median {np.median(sec):.2f} s, worst {sec.max():.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
