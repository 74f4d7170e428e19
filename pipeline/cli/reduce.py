"""``gsp reduce RAW_DIR --out OUT_DIR [--settings FILE]``: reduce a whole night.

Classifies every FITS file under RAW_DIR, builds master bias and flats, reduces each
science, standard and arc frame, extracts and wavelength-calibrates the spectra,
flux-calibrates them when the night (or a ``--calibrations`` folder) has a standard star
of the same setup, and prints a table of what was made and what was skipped and why. Exit code: 0 when every file was reduced, combined or knowingly
skipped; 1 when a frame failed unexpectedly; 2 on a usage error (missing folder, bad
settings, output inside the raw folder).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = "reduce a night of raw Goodman files: masters, reduced frames, status table"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``gsp reduce`` (the ``gsp.commands`` entry-point protocol).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser, filled in place.
    """
    parser.add_argument("raw_dir", type=Path, help="folder of raw FITS files (any depth)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the products")
    parser.add_argument(
        "--settings", type=Path, help="JSON file of reduction settings (DESIGN.md §6)"
    )
    parser.add_argument(
        "--cosmic",
        choices=("default", "lacosmic", "dcr", "none"),
        help="cosmic-ray method (overrides the settings file)",
    )
    parser.add_argument(
        "--pen-shift",
        choices=("measure", "apply"),
        help="a pen lamp's high-excitation Ar I offset: measured and reported (default), "
        "or applied, the solution fitted to the other lines (overrides the settings file)",
    )
    parser.add_argument(
        "--bulb-separation",
        choices=("measure", "apply"),
        help="an HgArNe lamp's Ne bulb offset and slope: measured and reported (default), "
        "or applied, the solution the HgAr bulb's (overrides the settings file)",
    )
    parser.add_argument("--ignore-bias", action="store_true", default=None)
    parser.add_argument("--ignore-flats", action="store_true", default=None)
    parser.add_argument(
        "--calibrations",
        type=Path,
        action="append",
        default=[],
        help="product folder of an earlier night whose masters may be used (repeatable)",
    )
    parser.add_argument(
        "--ccd-only",
        action="store_true",
        help="stop after the CCD reduction (no extraction or wavelength calibration), "
        "like goodman_pipeline's redccd",
    )
    parser.add_argument(
        "--no-flux",
        action="store_true",
        help="no flux calibration (overrides the settings file's flux_calibration)",
    )
    parser.add_argument(
        "--standards-dir",
        type=Path,
        action="append",
        default=[],
        help="folder of more standard-star tables (f<star>.dat, optional esofil_info.txt), "
        "searched after the bundled library (repeatable)",
    )
    parser.add_argument(
        "--standard",
        help="preferred standard star (e.g. 'LTT 3218') when several fit a spectrum",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _settings(args):
    """Reduction and flux settings: the file's, then the command line's overrides."""
    from pipeline.settings import FluxSettings, ReductionSettings, settings_from_file

    if args.settings:
        reduction, flux = settings_from_file(args.settings)
        values, flux_values = reduction.to_dict(), flux.to_dict()
    else:
        values, flux_values = {}, {}
    if args.cosmic:
        values["cosmic_ray_rejection"] = args.cosmic
    for name in ("pen_shift", "bulb_separation"):
        if getattr(args, name, None):
            values[name] = getattr(args, name)
    if args.ignore_bias:
        values["ignore_bias"] = True
    if args.ignore_flats:
        values["ignore_flats"] = True
    if getattr(args, "no_flux", False):
        flux_values["flux_calibration"] = False
    if getattr(args, "standard", None):
        flux_values["preferred_standard"] = args.standard
    return ReductionSettings.from_dict(values), FluxSettings.from_dict(flux_values)


def run(args: argparse.Namespace) -> int:
    """Reduce a night of raw files into masters and products, and print the status table.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of :func:`add_arguments`.

    Returns
    -------
    int
        The process exit code: 0 when every file was handled, 1 when a file failed, 2 for
        bad input (no raw folder, ``--out`` inside it, unreadable or invalid settings).
    """
    raw, out = args.raw_dir, args.out
    if not raw.is_dir():
        print(f"gsp reduce: {raw} is not a folder of raw files", file=sys.stderr)
        return 2
    if out.resolve() == raw.resolve() or raw.resolve() in out.resolve().parents:
        print(
            f"gsp reduce: --out {out} is inside the raw folder {raw}; raw data are never "
            "written to: choose a separate output folder",
            file=sys.stderr,
        )
        return 2
    try:
        settings, flux_settings = _settings(args)
    except (OSError, ValueError) as exc:
        print(f"gsp reduce: bad settings: {exc}", file=sys.stderr)
        return 2
    if getattr(args, "standards_dir", None):
        from pipeline.fluxcal.standards import use_library_dirs

        try:
            use_library_dirs(args.standards_dir)
        except ValueError as exc:
            print(f"gsp reduce: --standards-dir: {exc}", file=sys.stderr)
            return 2

    from tqdm import tqdm

    from pipeline.night import find_raw_files, reduce_night

    n_files = len(find_raw_files(raw))
    start = time.perf_counter()
    # Each file is classified once, then combined or reduced once: two ticks a file.
    bar = tqdm(total=2 * n_files, unit="step", disable=args.quiet, file=sys.stderr)

    def progress(phase: str, name: str) -> None:
        bar.set_description(phase)
        bar.update(1)

    report = reduce_night(
        raw,
        out,
        settings,
        calibration_dirs=args.calibrations,
        progress=progress,
        spectra=not args.ccd_only,
        flux_settings=flux_settings,
    )
    bar.close()
    print(report.table())
    if report.spectra:
        from pipeline.spectroscopy.night_stage import products_table

        print()
        print(products_table(report.spectra))
    if not args.ccd_only:
        # Imported only here: the spectroscopy stack (specutils...) takes seconds to load.
        from pipeline.spectroscopy.night_stage import write_products_json

        write_products_json(out, report, report.spectra)
    counts: dict[str, int] = {}
    for r in report.results:
        counts[r.status] = counts.get(r.status, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(
        f"\n{n_files} files: {summary}; {len(report.products)} products in {out} "
        f"({time.perf_counter() - start:.1f} s)"
    )
    return 1 if report.failed else 0
