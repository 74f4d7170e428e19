"""Wavelength calibration against NIST air wavelengths of the lamps' lines.

The Goodman lamp library (its NIST-corrected models) or any dispersion model (the
optics model, ``first_guess=``) only starts the line identification; solutions are
fitted to NIST wavelengths and every product records its line table.

Public API::

    from pipeline.wavelength import calibrate_arc, apply_solution, write_spectrum
    solution = calibrate_arc(arc_1d, mode="400_M2", lamp_elements="HgArNe", binning=2)
    solution = calibrate_arc(arc_1d, lamp_elements="HgArNe", binning=2, first_guess=optics)
    solution.pen_shift_pixel         # a pen lamp's high-excitation Ar I offset, measured
    calibrate_arc(arc_1d, "1200_M6", "HgAr", pen_shift="apply")  # ... and solved around
    solution.ne_bulb_pixel           # an HgArNe lamp's Ne bulb offset and slope, measured
    solution.ne_bulb_error           # ... and their standard errors
    calibrate_arc(arc_1d, "600_RED", "HgArNe", separate_bulbs="apply")  # the HgAr bulb's
    solution.header_cards()          # GSP_FUNC, GSP_ORDR, GSP_NPIX, GSP_Cnnn, GSP_WRMS, ...
    solution.lines                   # pixel, NIST λ, fitted λ, used / why not
    calibrated = apply_solution(science_1d, solution)   # linear Å grid, counts conserved
    write_spectrum(calibrated, "wecfzst_x.fits", header, solution.header_cards(),
                   solution=solution)                  # + LINES, COVBAND (and COVAR)
    summed_error("wecfzst_x.fits", 6550 * u.AA, 6575 * u.AA)  # error of the sum, shared
                                                       # noise of the bins included
"""

from pipeline.wavelength.calibrate import WavelengthCalibrationError, calibrate_arc
from pipeline.wavelength.fits_io import spectrum_hdul, write_spectrum
from pipeline.wavelength.lamp_choice import (
    NoLampTemplateError,
    arc_elements,
    canonical_mode,
    parse_elements,
    select_template,
)
from pipeline.wavelength.resample import apply_solution, linear_grid
from pipeline.wavelength.shared_noise import summed_error
from pipeline.wavelength.solution import WavelengthSolution, solution_from_header

__all__ = [
    "NoLampTemplateError",
    "WavelengthCalibrationError",
    "WavelengthSolution",
    "apply_solution",
    "arc_elements",
    "calibrate_arc",
    "canonical_mode",
    "linear_grid",
    "parse_elements",
    "select_template",
    "solution_from_header",
    "spectrum_hdul",
    "summed_error",
    "write_spectrum",
]
