"""``gsp demo``: simulate a Goodman night and reduce it, on embedded defaults.

The README's run command. It needs nothing but this repository: a simulated 2x2 night
is written into ``$GSP_DATA_ROOT/raw/<YYYYMMDD>/`` (once; a second run reuses it), then
``gsp reduce`` carries it to products in ``$GSP_DATA_ROOT/products/<YYYYMMDD>/``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

HELP = "simulate a demo night and reduce it end to end (embedded defaults)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``gsp demo`` (the ``gsp.commands`` entry-point protocol).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser, filled in place.
    """
    parser.add_argument(
        "--data-root",
        type=Path,
        default=Path(os.environ.get("GSP_DATA_ROOT", "gsp-data")),
        help="data root holding raw/ and products/ (default: $GSP_DATA_ROOT or ./gsp-data)",
    )
    parser.add_argument("--date", default="2026-11-21", help="night date, YYYY-MM-DD")
    parser.add_argument("--mode", default="400_M2", help="WAVMODE of the demo night")
    parser.add_argument("--binning", type=int, default=2, choices=(1, 2, 3))


def _call(module_name: str, argv: list[str]) -> int:
    """Run a sibling subcommand module with ``argv`` (no shell, no new process)."""
    import importlib

    module = importlib.import_module(f"pipeline.cli.{module_name}")
    parser = argparse.ArgumentParser(prog=f"gsp {module_name}")
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(argv)) or 0)


def run(args: argparse.Namespace) -> int:
    """Simulate a demo night (or reuse one already there) and reduce it end to end.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of :func:`add_arguments`.

    Returns
    -------
    int
        The process exit code: 0 on success, else the failing step's code (``gsp
        simulate``'s, then ``gsp reduce``'s).
    """
    night = args.date.replace("-", "")
    raw = args.data_root / "raw" / night
    products = args.data_root / "products" / night
    if raw.is_dir() and any(raw.glob("*.fits")):
        print(f"reusing the simulated night in {raw}")
    else:
        rc = _call(
            "simulate",
            [
                str(raw),
                "--mode",
                args.mode,
                "--binning",
                str(args.binning),
                "--date",
                args.date,
                "--flexure",
                "1.3",
            ],
        )
        if rc:
            return rc
    rc = _call("reduce", [str(raw), "--out", str(products)])
    print(f"\nraw frames: {raw.resolve()}\nproducts:   {products.resolve()}")
    return rc
