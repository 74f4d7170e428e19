"""Calibrate a simulated arc saved as drawn (``tests/data/simulated``) as the night does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from astropy.io import fits

from pipeline import lamps
from pipeline.spectroscopy.wavelength_guess import choose_first_guess
from pipeline.wavelength import calibrate_arc

DATA = Path(__file__).resolve().parents[1] / "data" / "simulated"


def solved_custom_arc(stem: str):
    """The solution of a saved custom-angle arc, started from the optics model of its
    header as the night reducer starts it, and its truth (``.truth.json``)."""
    flux = np.load(DATA / f"{stem}.flux.npy").astype(float)
    truth = json.loads((DATA / f"{stem}.truth.json").read_text())
    header = fits.Header.fromtextfile(str(DATA / f"{stem}.header.txt"))
    choice = choose_first_guess(header)
    assert choice.first_guess is not None, "a custom-angle arc starts from the optics model"
    sol = calibrate_arc(
        flux,
        choice.mode,
        lamps.elements(truth["lamp"]),
        binning=truth["binning"],
        first_guess=choice.first_guess,
    )
    return sol, truth


def errors_at_expected(sol, truth) -> np.ndarray:
    """The solution's error (binned px) at each expected line of the truth."""
    expected = truth["expected_lines"]
    col = np.array([ln["column"] for ln in expected])
    wave = np.array([ln["wavelength"] for ln in expected])
    disp = np.abs(sol.wavelength(col + 0.5) - sol.wavelength(col - 0.5))
    return (sol.wavelength(col) - wave) / disp


def used_line(sol, wavelength: float) -> bool:
    """Whether the solution uses the NIST line at ``wavelength`` (Å)."""
    used = np.asarray(sol.lines["used"], bool)
    lab = np.asarray(sol.lines["lab_wavelength"], float)[used]
    return bool(np.any(np.abs(lab - wavelength) < 0.01))
