"""Write ``pipeline/data/lamps/nist_lines/nist_air_extra_lines_<El>.txt`` from PypeIt's lists.

NIST's strong-line lists (``nist_air_strong_lines_<El>.txt``, what the solver fits to)
lack lines the Goodman lamps show bright: Ar I 5162.29, 5221.27, 5421.35... in the 1200
l/mm CuHeAr arcs (``benchmarks/history_limits.py``). PypeIt's arc line lists
(``pypeit/data/arc_lines/lists/<Ion>_lines.dat``, BSD-3-Clause) carry lines measured in
real lamps, each of them in NIST's Atomic Spectra Database (their ``NIST`` column), at
NIST's VACUUM wavelengths. This converts them to air with the IAU standard (Morton 2000,
``specutils.utils.wcs_utils.vac_to_air``, as the project's other vacuum data) and keeps
the lines that are not already in the strong-line list of their element (none of it
within ``SAME_LINE`` Å). The wavelengths are checks of a solution between its lines
(:mod:`pipeline.wavelength.between_lines`), not fit lines.

Run with the lists of a PypeIt checkout (commit recorded in the files)::

    .venv/bin/python benchmarks/make_extra_lines.py /path/to/PypeIt/pypeit/data/arc_lines/lists COMMIT
"""

from __future__ import annotations

import sys
from pathlib import Path

import astropy.units as u
import numpy as np
from specutils.utils.wcs_utils import vac_to_air

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline.wavelength.nist import element_lines, extra_catalogue_path  # noqa: E402

#: PypeIt list files per element of the Goodman lamps.
LISTS = {
    "Ar": ("ArI", "ArII"),
    "Cu": ("CuI",),
    "Fe": ("FeI",),
    "He": ("HeI",),
    "Hg": ("HgI",),
    "Ne": ("NeI",),
}
#: A PypeIt line this close (Å, air) to a strong-list line of its element is that line:
#: the lists round NIST's wavelengths to 0.001-0.01 Å, and the strong list's own
#: neighbours are never this close.
SAME_LINE = 0.05


def _read(path: Path) -> list[tuple[str, float, str]]:
    rows = []
    for text in path.read_text(encoding="utf-8").splitlines():
        cols = [c.strip() for c in text.strip().strip("|").split("|")]
        if len(cols) < 6 or cols[0] == "ion":
            continue
        try:
            wave, nist = float(cols[1]), int(cols[2])
        except ValueError:
            continue
        if nist == 1:
            rows.append((cols[0], wave, cols[5]))
    return rows


def write(lists_dir: Path, commit: str) -> None:
    """Write one extra-line file per element."""
    for el, names in LISTS.items():
        strong = element_lines(el).wavelength
        kept = {}
        for name in names:
            for ion, vac, source in _read(lists_dir / f"{name}_lines.dat"):
                air = float(vac_to_air(vac * u.AA, method="Morton2000").to_value(u.AA))
                if strong.size and np.min(np.abs(strong - air)) < SAME_LINE:
                    continue
                spectrum = f"{el} {ion[len(el) :]}"
                kept.setdefault(round(air, 3), (spectrum, vac, name, source))
        path = extra_catalogue_path(el)
        if not kept:
            continue
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(
                f"# {el} lines bright in real arc lamps that NIST's strong-line list of {el}\n"
                f"# (nist_air_strong_lines_{el}.txt) lacks. Columns: relative intensity (none\n"
                "# stated), air wavelength A (NIST ASD vacuum wavelength converted with\n"
                "# Morton 2000), spectrum, source. Source: PypeIt (github.com/pypeit/PypeIt,\n"
                f"# commit {commit}),\n# pypeit/data/arc_lines/lists/<list>_lines.dat, each line\n"
                "# flagged as in NIST; PypeIt's own source of the line follows the list name.\n"
                "# Licence: BSD-3-Clause, LICENSE_PypeIt_BSD3.rst in this folder.\n"
                "# Written by benchmarks/make_extra_lines.py. Checks, not fit lines.\n"
            )
            for air in sorted(kept):
                spectrum, vac, name, source = kept[air]
                fh.write(
                    f"     , {air:9.3f} , {spectrum}, PypeIt {name}_lines.dat vac "
                    f"{vac:.4f} ({source})\n"
                )
        print(f"{path.name}: {len(kept)} lines")


if __name__ == "__main__":
    write(Path(sys.argv[1]), sys.argv[2])
