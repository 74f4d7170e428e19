"""A physical-truth arc case the solver once got wrong, checked the same way everywhere."""

from __future__ import annotations

import numpy as np

from benchmarks.grade_physical import MEAN_LIMIT, RMS_LIMIT, grade_solution
from pipeline import lamps
from pipeline.simulation.physical import arc_1d


def assert_line_used_and_accurate(
    mode: str,
    binning: int,
    seed: int,
    wavelength: float,
    lamp: str | None = None,
    line_heights=None,
) -> None:
    """Calibrate the physical-truth arc ``(mode, binning, seed)`` (of ``lamp``, default the
    mode's richest) and check that the NIST
    line at ``wavelength`` (Å) is used under its own name, that every expected line is
    found, and that the solution meets the accuracy (RMS and mean, binned px).
    ``line_heights`` as :func:`pipeline.simulation.physical.arc_1d`'s."""
    from pipeline.wavelength import calibrate_arc

    arc = arc_1d(mode, binning, lamp=lamp, seed=seed, line_heights=line_heights)
    sol = calibrate_arc(arc.flux, mode, lamps.elements(arc.lamp), binning=binning)
    lab = np.asarray(sol.lines["lab_wavelength"], float)
    k = int(np.nanargmin(np.abs(lab - wavelength)))
    assert abs(lab[k] - wavelength) < 1e-3 and bool(sol.lines["used"][k]), sol.lines[k]
    r = grade_solution(arc, sol)
    assert r["found"] == sum(ln["expected"] for ln in arc.lines), r
    assert r["rms"] <= RMS_LIMIT and abs(r["mean"]) <= MEAN_LIMIT, r


def read_on_flank(mode: str, lamp: str | None, *wavelengths: float) -> dict[float, float]:
    """Heights that draw these NIST lines as the simulator drew them before it fitted a
    line's own height on a brighter neighbour's flank (``arc_1d(line_heights=...)``).

    Each is the highest pixel of the library lamp's flux within
    ``physical._MEASURE_HALF_WIDTH`` px of the line's place, above the 20th percentile of
    81 px around it: there, the neighbour's flank or halo. The real lamp shows these
    lines far fainter or not at all (930_M1/M2 Hg lamps: Ar II 4052.92, 15 px from the
    saturated Hg I 4046.56); a lamp with more of that gas would show them so. Tests of
    a solver's behaviour beside a bright neighbour keep their scenario by drawing the
    line explicitly at that height.
    """
    from pipeline.optics import dispersion_model_from_header
    from pipeline.simulation import physical
    from pipeline.simulation.header import template_header
    from pipeline.simulation.night import pick_template

    template = pick_template(lamps.normalize_mode(mode), lamp)
    f = np.asarray(template.flux, float)
    own = dispersion_model_from_header(template_header(template))
    place = physical._template_positions(template, own, physical.lamp_lines(template.lamp))
    half = physical._MEASURE_HALF_WIDTH
    out = {}
    for w in wavelengths:
        i = int(round(float(place(np.array([w]))[0])))
        level = np.percentile(f[max(i - 40, 0) : i + 41], 20)
        out[w] = float(f[i - half : i + half + 1].max() - level)
    return out
