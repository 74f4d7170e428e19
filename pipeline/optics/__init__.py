"""Goodman's optics: the expected dispersion relation of any grating setup.

Public API::

    dispersion_model(lines_per_mm, grating_angle, camera_angle, camera=None, filter2=None)
    dispersion_model_from_header(header)       # None when the header has no optics
    DispersionModel.wavelength(unbinned_pixel) # Å over the trimmed unbinned 0..4059 index
    library_mode(lines_per_mm, grating_angle, camera_angle)  # "400_M2" or None
    check_solution(model, wavelengths, binning)

Accuracy (``benchmarks/bench_optics.py``): against the 65 library lamps whose stored
solutions the fit accepts, 1.06 px RMS per lamp (median; worst 4.9, worst point 12.5
unbinned px, mostly the library's own fit errors) when the angles match a library mode;
for custom angles (no mode zero-point) expect a constant offset of typically 6 px, up to
~70 px, with the same shape. Fifteen library lamps are left out of the fit and named
(six 3096-px 600_RED files; six 4-line fits wrong by 60-300 px RMS; 400_M2 HgAr and
HgArNe, 35 px off; 600_MID GG395, 5.2 px RMS).
``dispersion_model_from_header`` returns ``None`` (no exception) when the header has
no optics (imaging, no GRATING, no angles); ``strict=True`` raises :class:`OpticsError`
saying which card is missing.

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
