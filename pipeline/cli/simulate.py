"""``gsp simulate NIGHT_DIR``: write a simulated raw Goodman night and its truth.json."""

from __future__ import annotations

import argparse
import sys
import time

HELP = "write a simulated raw Goodman night (FITS frames + truth.json) into NIGHT_DIR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``gsp simulate`` (the ``gsp.commands`` entry-point protocol).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser, filled in place.
    """
    parser.add_argument("night_dir", metavar="NIGHT_DIR", help="directory to create")
    parser.add_argument("--mode", default="400_M2", help="WAVMODE of the lamp library (400_M2)")
    parser.add_argument("--camera", default="Red", help="Red or Blue (Red)")
    parser.add_argument("--binning", default="2", help="1, 2 or 3 (2)")
    parser.add_argument(
        "--lamp", default=None, help="comparison lamp, e.g. HgArNe (the mode's richest)"
    )
    parser.add_argument("--n-bias", type=int, default=5)
    parser.add_argument("--n-flats", type=int, default=5)
    parser.add_argument("--n-arcs", type=int, default=2)
    parser.add_argument("--n-science", type=int, default=2)
    parser.add_argument("--n-standards", type=int, default=0)
    parser.add_argument("--n-targets", type=int, default=1, help="point sources per science frame")
    parser.add_argument("--imaging", action="store_true", help="an imaging night instead")
    parser.add_argument(
        "--flexure",
        default="0",
        help="flexure in UNBINNED px: one number, or comma-separated, one per "
        "arc/science/standard frame",
    )
    parser.add_argument(
        "--flexure-jitter", type=float, default=0.0, help="random extra per frame (px)"
    )
    parser.add_argument("--tilt", type=float, default=0.002, help="line tilt, columns per row")
    parser.add_argument("--readout", default=None, help='readout mode, e.g. "344kHz ATTN3"')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--date", default="2026-11-21", help="local date of the night, YYYY-MM-DD")
    parser.add_argument(
        "--obstype-convention",
        default="goodman",
        help="goodman (BIAS/FLAT/COMP/OBJECT), lco (BIAS/LAMPFLAT/ARC/SPECTRUM), "
        "old (ZERO/LAMPFLAT/ARC/SPECTRUM) or mixed",
    )
    parser.add_argument("--proposal", default="SOAR2026B-001", help="PROPID")
    parser.add_argument("--object", default="AT2026xyz", help="OBJECT of the science frames")
    parser.add_argument(
        "--no-noise", action="store_true", help="no photon/read noise and no cosmic rays"
    )
    parser.add_argument("--force", action="store_true", help="replace a non-empty NIGHT_DIR")
    parser.add_argument(
        "--arc-source",
        default="library",
        help="library (arcs from the lamp templates) or physical (NIST lines at the optics "
        "model's relation with a smooth distortion; the truth of every frame)",
    )
    parser.add_argument(
        "--truth-distortion",
        type=float,
        default=2.0,
        help="scale of the physical truth's distortion from the optics model, unbinned px (2)",
    )
    parser.add_argument(
        "--saturated-lines",
        type=int,
        default=3,
        help="brightest arc lines driven past saturation (physical arcs; 3)",
    )
    parser.add_argument(
        "--angles",
        default=None,
        metavar="GRT,CAM",
        help="custom grating,camera angles in degrees (no library lamp; needs "
        "--arc-source physical), e.g. 13.0,24.0",
    )
    parser.add_argument(
        "--wavmode",
        default=None,
        help='WAVMODE written in the headers, e.g. "Custom", "400 m2" or "" (the mode)',
    )
    parser.add_argument(
        "--no-lamp-keywords",
        action="store_true",
        help="write no LAMP_* cards (older files: the lamp only in OBJECT)",
    )
    parser.add_argument(
        "--roi-rows",
        type=int,
        default=None,
        help="custom ROI: this many UNBINNED rows centred on the slit (400 = real "
        "'Spectroscopic ZZ Ceti', 200 rows at 2x2)",
    )
    parser.add_argument("--roi-name", default=None, help="ROI card of the custom ROI")
    parser.add_argument(
        "--instrume",
        default=None,
        help='INSTRUME card, e.g. "Goodman Spectro" (ghts_red / ghts_blue)',
    )
    parser.add_argument(
        "--trimsec",
        default=None,
        help="TRIMSEC card written instead of the true one (real files: [1:4142,1:400])",
    )
    parser.add_argument(
        "--arc-serial-binning",
        type=int,
        default=None,
        help="binning of the arcs along the dispersion (1: arcs at CCDSUM '1 2' in a 2x2 night)",
    )


def _flexure(text: str):
    parts = [p for p in text.replace(" ", "").split(",") if p]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        return None
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def run(args: argparse.Namespace) -> int:
    """Simulate a night of raw Goodman frames (and its truth file) into a new folder.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of :func:`add_arguments`.

    Returns
    -------
    int
        The process exit code: 0 on success, 2 for a bad option (flexure, angles, or a
        configuration the simulator refuses), 1 when the night exists already (without
        ``--force``) or cannot be written.
    """
    from pathlib import Path

    from pipeline.simulate import (
        NightConfig,
        NightExistsError,
        SimulationConfigError,
        simulate_night,
    )

    flexure = _flexure(args.flexure)
    if flexure is None:
        print(
            f"error: --flexure {args.flexure!r} is not a number or a comma-separated "
            "list of numbers (unbinned px)",
            file=sys.stderr,
        )
        return 2
    angles = _flexure(args.angles) if args.angles is not None else (None, None)
    if not isinstance(angles, list | tuple) or len(angles) != 2:
        print(
            f"error: --angles {args.angles!r} must be two numbers GRT,CAM in degrees "
            "(e.g. 13.0,24.0)",
            file=sys.stderr,
        )
        return 2
    try:
        cfg = NightConfig(
            mode=args.mode,
            camera=args.camera,
            binning=args.binning,
            lamp=args.lamp,
            n_bias=args.n_bias,
            n_flats=args.n_flats,
            n_arcs=args.n_arcs,
            n_science=args.n_science,
            n_standards=args.n_standards,
            n_targets=args.n_targets,
            imaging=args.imaging,
            flexure_px=flexure,
            flexure_jitter_px=args.flexure_jitter,
            tilt=args.tilt,
            readout=args.readout,
            obstype_convention=args.obstype_convention,
            science_object=args.object,
            date=args.date,
            proposal_id=args.proposal,
            seed=args.seed,
            noise=not args.no_noise,
            arc_source=args.arc_source,
            truth_distortion_px=args.truth_distortion,
            n_saturated_lines=args.saturated_lines,
            grating_angle=angles[0],
            camera_angle=angles[1],
            wavmode_card=args.wavmode,
            lamp_keywords=not args.no_lamp_keywords,
            roi_rows=args.roi_rows,
            roi_name=args.roi_name,
            trimsec_card=args.trimsec,
            arc_serial_binning=args.arc_serial_binning,
            instrume_card=args.instrume,
        )
        t0 = time.perf_counter()
        truth = simulate_night(Path(args.night_dir), cfg, force=args.force)
    except SimulationConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NightExistsError as exc:
        print(f"error: {exc} (use --force to replace it)", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write the night to {args.night_dir}: {exc}", file=sys.stderr)
        return 1
    n = len(truth["frames"])
    print(
        f"wrote {n} frames and truth.json to {args.night_dir} in {time.perf_counter() - t0:.1f} s"
    )
    return 0
