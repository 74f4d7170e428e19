"""Spectroscopy on reduced 2-D frames: targets, traces, background, 1-D extraction.

Public API::

    from pipeline.spectroscopy import find_targets, trace_target, extract
    targets = find_targets(ccd, max_targets=3, model="moffat")
    trace = trace_target(ccd, targets[0])
    spectrum = extract(ccd, trace, method="optimal")   # specutils.Spectrum, pixel axis

The whole chain for one reduced science frame (targets, extraction, arcs along the
trace, wavelength calibration, ``ecfzst_``/``wecfzst_`` products)::

    from pipeline.spectroscopy import process_science
    results = process_science("cfzst_x.fits", ["fzst_arc1.fits"], settings, out_dir)

and for a reduced night (what ``gsp reduce`` runs after the CCD stages):
:func:`pipeline.spectroscopy.night_stage.calibrate_night`.
"""

from pipeline.spectroscopy.background import BackgroundModel, fit_background
from pipeline.spectroscopy.chain import process_science
from pipeline.spectroscopy.extract import aperture_weights, extract
from pipeline.spectroscopy.product_result import ProductResult
from pipeline.spectroscopy.targets import Target, find_targets, spatial_profile
from pipeline.spectroscopy.trace import Trace, trace_target

__all__ = [
    "BackgroundModel",
    "ProductResult",
    "Target",
    "Trace",
    "aperture_weights",
    "extract",
    "find_targets",
    "fit_background",
    "process_science",
    "spatial_profile",
    "trace_target",
]
