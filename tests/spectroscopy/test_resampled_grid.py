"""A resampled arc's solution is judged by the wavelength grid its header states."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pipeline.optics import dispersion_model_from_header
from pipeline.spectroscopy.resampled_grid import GRID_TOLERANCE_PX, grid_departure
from pipeline.spectroscopy.wavelength_guess import optics_verdict
from pipeline.wavelength import calibrate_arc
from pipeline.wavelength.calibrate import chebyshev_for
from tests.wavelength.real_arcs import HISTORY_ARCS, as_read, history_arc

#: an IRAF-linearised 400 M2 HgAr arc (DC-FLAG = 0) whose optics bend 8 px at the ends
NAME = "goodman_comp_400M2_GG455_HgAr_2017-05-05_linear.fits"


@pytest.fixture(scope="module")
def solved():
    arc = next(a for a in HISTORY_ARCS if a.file == NAME)
    flux, _, header = history_arc(arc)
    read = as_read(header)
    sol = calibrate_arc(flux, read.mode, read.lamp_elements, read.binning, read.first_guess)
    return header, sol


def test_right_solution_of_a_linearised_arc_is_not_refused(solved):
    """Its right solution departs from the optics' curved shape (the pixels were
    resampled), which the optics check used to refuse; it follows its linear grid."""
    header, sol = solved
    assert grid_departure(sol, "linear") < GRID_TOLERANCE_PX / 2
    assert optics_verdict(header, sol) == (False, "")
    # read as detector pixels (no DC-FLAG) the optics judge it, and refuse its shape
    raw = header.copy()
    del raw["DC-FLAG"]
    refused, message = optics_verdict(raw, sol)
    assert refused and "optics" in message, message


def test_solution_with_the_optics_curvature_on_a_linearised_arc_is_refused(solved):
    """Lines named from a start that carries the optics' curvature give a solution of
    the optics' shape: the optics agree with it, the arc's linear grid does not."""
    header, sol = solved
    j = np.arange(sol.npix, dtype=float)
    optics = dispersion_model_from_header(header)
    # the optics' wavelengths moved onto the solution's at the centre (a zero point)
    wave = (
        optics.wavelength(j)
        - optics.wavelength(j[sol.npix // 2])
        + sol.wavelength(j[sol.npix // 2])
    )
    curved = dataclasses.replace(sol, coefficients=chebyshev_for(j, wave))
    refused, message = optics_verdict(header, curved)
    assert refused, message
    assert "linear wavelength grid" in message and "DC-FLAG = 0" in message, message
    assert "misnamed" in message
