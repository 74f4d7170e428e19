"""A solution off between its lines is flagged: checked at bright lamp lines it was not
fitted to (extra NIST lines, :mod:`pipeline.wavelength.between_lines`), on real arcs."""

from __future__ import annotations

import dataclasses
from functools import cache

import numpy as np
import pytest

from pipeline.lamps import lamp_dir, read_template
from pipeline.spectroscopy.arc_solutions import combine_solutions
from pipeline.wavelength import calibrate_arc
from pipeline.wavelength.nist import element_lines, extra_element_lines
from pipeline.wavelength.refit_library import _stored
from tests.wavelength.real_arcs import HISTORY_ARCS, as_read, history_arc

#: Ar I lines the 1200 l/mm CuHeAr lamps show bright and NIST's strong-line list lacks,
#: at their NIST ASD air wavelengths (Norlen 1973; ``benchmarks/history_limits.py``).
UNLISTED_AR_I = (5162.285, 5221.271, 5572.541, 5739.520, 5834.263)


@cache
def _solve(name: str, goodman_lamp: str = ""):
    """The history arc ``name`` calibrated as ``gsp reduce`` reads it; with
    ``goodman_lamp``, from that library lamp's goodman model (``GSP_Cnnn``) instead of
    its NIST-corrected one, as the library held it before the lamp's refit."""
    arc = next(a for a in HISTORY_ARCS if name in a.file)
    flux, _, header = history_arc(arc)
    read = as_read(header)
    template = _stored(read_template(lamp_dir() / goodman_lamp)) if goodman_lamp else None
    return calibrate_arc(
        flux,
        read.mode,
        read.lamp_elements,
        read.binning,
        template=template,
        first_guess=read.first_guess,
    )


#: The 03:38 1200 M3 CuHeAr exposure solved from goodman's model of the library lamp:
#: 13 NIST lines at 0.02 px, yet 0.10 px off at the lamp's unlisted Ar I lines (9 lines
#: at 0.08 px and 0.21 px off before the Ar I lines of its red end were listed).
BENT = ("1200M3_CuHeAr_2017-06-10T0338", "goodman_comp_1200M3_CuHeAr.fits")


def test_extra_lines_hold_the_unlisted_ar_i_lines_at_nist_air_wavelengths():
    """PypeIt's vacuum wavelengths, made air with Morton 2000, land on NIST's air values."""
    extra = extra_element_lines("Ar")
    strong = element_lines("Ar").wavelength
    for wave in UNLISTED_AR_I:
        assert np.min(np.abs(extra.wavelength - wave)) < 0.002, wave
        assert np.min(np.abs(strong - wave)) > 0.05, wave
    assert all("PypeIt" in s for s in extra.source)


def test_sparse_1200m3_arc_bent_between_its_lines_is_flagged():
    """13 NIST lines at 0.02 px, yet the lamp's unlisted Ar I lines put it 0.1 px off
    (:data:`BENT`: a real arc bent between its lines by a real, wrong model).

    (9 lines at 0.08 px and 0.2 px off before Ar I 5421.35, 5451.65 and 5506.11 were
    fit lines: they hold its red part now, the blue part still bends.)"""
    sol = _solve(*BENT)
    assert sol.n_used < 15
    assert sol.rms_pixel < 0.1  # its own lines do not show it
    assert sol.check_lines >= 10
    assert sol.check_pixel > 0.09
    assert sol.check_warning
    assert any("between its lines" in w for w in sol.coverage_warnings())
    cards = {k: v for k, v, _ in sol.header_cards()}
    assert cards["GSP_WXOK"] is False
    assert cards["GSP_WXN"] == sol.check_lines


@pytest.mark.parametrize("name", ["1200M3_CuHeAr_2017-06-10T0414", "1200M2_CuHeAr_2017-06-10"])
def test_the_same_lamp_fitted_right_between_its_lines_passes(name):
    """The other 1200 CuHeAr exposures of that night are checked and not flagged."""
    sol = _solve(name)
    # the 1200M2 arc's Ar I 5421.35 and 5451.65 are fit lines, not checks, since they
    # were added to the strong list: 2 checks remain there
    assert sol.check_lines >= 2
    assert not sol.check_warning
    assert {k: v for k, v, _ in sol.header_cards()}["GSP_WXOK"] is True


def test_a_flag_is_not_averaged_away_when_arcs_are_combined():
    """Combined with an unflagged arc that agrees with it, the flagged arc's warning stays."""
    flagged = _solve(*BENT)
    clean = dataclasses.replace(
        flagged, check_lines=0, check_pixel=float("nan"), check_warning="", arcs=["other"]
    )
    combined, note = combine_solutions([clean, flagged], [None, None])
    assert "combined" in note
    assert combined.check_warning == flagged.check_warning
    assert any("between its lines" in w for w in combined.coverage_warnings())
