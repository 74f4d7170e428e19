"""Goodman's optics: the expected dispersion relation of any grating setup.

Public API::

    dispersion_model(lines_per_mm, grating_angle, camera_angle, camera=None, filter2=None)
    dispersion_model_from_header(header)       # None when the header has no optics
    DispersionModel.wavelength(unbinned_pixel) # Å over the trimmed unbinned 0..4059 index
    library_mode(lines_per_mm, grating_angle, camera_angle)  # "400_M2" or None
    check_solution(model, wavelengths, binning)

One concern per module: ``model`` (grating equation, camera, parameters), ``header``
(what a FITS header says), ``check`` (sanity check of a solution), ``fit`` (fitting the
parameters to the lamp library).
"""

from pipeline.optics.check import SolutionCheck, check_solution
from pipeline.optics.header import (
    HeaderOptics,
    camera_of,
    dispersion_model_from_header,
    header_optics,
    lines_per_mm,
)
from pipeline.optics.model import (
    NPIX,
    DispersionModel,
    OpticsError,
    dispersion_model,
    filter_cut_on,
    library_mode,
    packaged_parameters,
)

__all__ = [
    "NPIX",
    "DispersionModel",
    "HeaderOptics",
    "OpticsError",
    "SolutionCheck",
    "camera_of",
    "check_solution",
    "dispersion_model",
    "dispersion_model_from_header",
    "filter_cut_on",
    "header_optics",
    "library_mode",
    "lines_per_mm",
    "packaged_parameters",
]
