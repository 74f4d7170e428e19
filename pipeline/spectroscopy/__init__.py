"""Spectroscopy on reduced 2-D frames: targets, traces, background, 1-D extraction.

Public API::

    from pipeline.spectroscopy import find_targets, trace_target, extract
    targets = find_targets(ccd, max_targets=3, model="moffat")
    trace = trace_target(ccd, targets[0])
    spectrum = extract(ccd, trace, method="optimal")   # specutils.Spectrum, pixel axis
"""

from pipeline.spectroscopy.background import BackgroundModel, fit_background
from pipeline.spectroscopy.extract import aperture_weights, extract
from pipeline.spectroscopy.targets import NoTargetError, Target, find_targets, spatial_profile
from pipeline.spectroscopy.trace import Trace, trace_target

__all__ = [
    "BackgroundModel",
    "NoTargetError",
    "Target",
    "Trace",
    "aperture_weights",
    "extract",
    "find_targets",
    "fit_background",
    "spatial_profile",
    "trace_target",
]
