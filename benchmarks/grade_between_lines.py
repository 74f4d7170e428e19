"""Which real arcs the between-lines check flags (:mod:`pipeline.wavelength.between_lines`).

Every solution of ``benchmarks/grade_real_arcs.py`` (both tables, "help" starts
included) and every library lamp's solution as ``python -m
pipeline.wavelength.refit_library --dry-run`` fits it: lines used and their RMS, the
extra lines checked, their robust scatter and largest residual, the scatter a right
solution would show (:func:`~pipeline.wavelength.between_lines.expected_scatter`), the
limit, ``z`` (statistical errors of the median estimate above the expectation) and
FLAG where the check trips. Run (about 45 s)::

    .venv/bin/python benchmarks/grade_between_lines.py [real|lib]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
import grade_real_arcs  # noqa: E402

import pipeline.wavelength.calibrate as calibrate  # noqa: E402
from pipeline.lamps import lamp_dir  # noqa: E402
from pipeline.wavelength import refit_library  # noqa: E402
from pipeline.wavelength.between_lines import (  # noqa: E402
    MAD_SPREAD,
    check_limit,
    expected_scatter,
)

#: Solutions made by the graded calibrations, in order (the last is the one kept).
MADE = []
_calibrate_arc = calibrate.calibrate_arc


def _recording(*args, **kwargs):
    sol = _calibrate_arc(*args, **kwargs)
    MADE.append(sol)
    return sol


def row(label: str, sol) -> str:
    """One line: the fit, the check and its verdict."""
    text = f"{label:46s} {sol.n_used:4d} {sol.rms_pixel:6.3f}   {sol.check_lines:3d}"
    if not sol.check_lines:
        return text
    exp = expected_scatter(sol)
    lim = check_limit(sol, sol.check_lines)
    z = (sol.check_pixel / exp - 1.0) / (MAD_SPREAD / np.sqrt(sol.check_lines))
    return (
        f"{text} {sol.check_pixel:6.3f} {sol.check_worst_pixel:6.3f} {exp:6.3f} "
        f"{lim:6.3f} {z:+6.2f}  {'FLAG' if sol.check_warning else ''}"
    )


def real_rows() -> list[str]:
    """Rows of the arcs of both tables of ``grade_real_arcs.py``."""
    out = []
    table_row, history_row = grade_real_arcs._row, grade_real_arcs._history_row

    def first(name, sol, *args, **kwargs):
        out.append(row(name, sol))
        return table_row(name, sol, *args, **kwargs)

    def second(label, how, *args, **kwargs):
        MADE.clear()
        text, ok = history_row(label, how, *args, **kwargs)
        name = f"{label or '  '} ({how})"
        out.append(
            row(name, MADE[-1]) if MADE else f"{name:46s} FAIL{text.split('FAIL', 1)[-1][:90]}"
        )
        return text, ok

    grade_real_arcs._row, grade_real_arcs._history_row = first, second
    try:
        grade_real_arcs.rows()
        grade_real_arcs.history_rows()
    finally:
        grade_real_arcs._row, grade_real_arcs._history_row = table_row, history_row
    return out


def lib_rows() -> list[str]:
    """Rows of the library lamps' refit solutions."""
    out = []
    for path in sorted(lamp_dir().glob("goodman_comp_*.fits")):
        MADE.clear()
        result = refit_library.refit(refit_library.read_template(path))
        label = path.name.removeprefix("goodman_comp_").removesuffix(".fits")
        out.append(row(label, MADE[-1]) if MADE else f"{label:46s} {result.problem[:80]}")
    return out


def main() -> int:
    warnings.simplefilter("ignore")  # a real header's non-ASCII card is replaced: noise here
    grade_real_arcs.calibrate_arc = _recording
    calibrate.calibrate_arc = _recording
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    print(
        f"{'arc':46s} {'used':>4s} {'rms':>6s}   {'chk':>3s} {'robust':>6s} {'worst':>6s}"
        f" {'expect':>6s} {'limit':>6s} {'z':>6s}  (binned px)"
    )
    if which in ("all", "real"):
        print("\n".join(real_rows()), flush=True)
    if which in ("all", "lib"):
        print("\n".join(lib_rows()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
