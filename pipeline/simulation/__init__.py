"""Internals of the night simulator; the public entry is :mod:`pipeline.simulate`.

One concern per module: ``config`` (what night), ``optics`` (slit, illumination,
wavelengths, line profiles), ``spectra`` (lamps, sky, targets, standards),
``detector`` (bias, pixel response, noise, cosmic rays), ``header`` (cards and file
names), ``night`` (plan, frames in order, truth, atomic writing).
"""
