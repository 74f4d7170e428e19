"""Flat normalization: remove the lamp's spectrum, keep pixel response and illumination.

Methods (``flat_normalization`` setting), for spectroscopic flats with dispersion
along columns (DISPAXIS = 1):

``mean``
    Divide by the mean of the flat (imaging, or when the lamp spectrum should stay).
``simple``
    The median of the central rows (the middle fifth of the slit) gives the lamp's
    dispersion profile; a Chebyshev series of ``order`` is fitted to it and every row
    is divided by the fit. The normalized flat is then 1 at the slit centre and keeps
    the illumination profile along the slit, which flat fielding thus corrects (the
    sky of a reduced frame is the sky at the slit centre, on every row).
``full``
    One Chebyshev fit per row (all rows solved at once as one linear least-squares
    problem, so it is as fast as ``simple``).
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData, VarianceUncertainty
from numpy.polynomial import chebyshev

METHODS = ("mean", "simple", "full")


def _fit_rows(x: np.ndarray, y: np.ndarray, order: int) -> np.ndarray:
    """Chebyshev fits of ``order`` to each column of ``y`` (samples along axis 0)."""
    scaled = 2.0 * (x - x[0]) / max(x[-1] - x[0], 1) - 1.0
    coefficients = chebyshev.chebfit(scaled, y, order)
    # chebval of (order+1, n) coefficients gives (n, len(x)): one fitted row per column of y.
    return chebyshev.chebval(scaled, coefficients)


def normalize_flat(master: CCDData, method: str = "simple", order: int = 15) -> CCDData:
    """Normalize a (slit-trimmed) master flat; records ``GSP_NORM``.

    Parameters
    ----------
    master : CCDData
        Bias-subtracted master flat, slit-trimmed for spectroscopy.
    method : {"mean", "simple", "full"}
        The normalization (see the module's text).
    order : int
        Chebyshev order of the fits (``simple``, ``full``).

    Returns
    -------
    CCDData
        The dimensionless normalized flat (float32, about 1), its variance divided by the
        model squared (``None`` when the master has none), a copy of its mask, and its
        header plus ``GSP_NORM`` and ``GSP_NORD``.

    Raises
    ------
    ValueError
        Unknown method, or a flat with no signal.
    """
    if method not in METHODS:
        raise ValueError(f"flat normalization {method!r}; allowed values: {', '.join(METHODS)}")
    data = master.data.astype(np.float64)
    ny, nx = data.shape
    if method == "mean":
        level = float(np.mean(data))
        if level <= 0:
            raise ValueError("master flat has no signal (mean <= 0)")
        model = np.full(data.shape, level)
    elif method == "simple":
        centre = slice(2 * ny // 5, max(3 * ny // 5, 2 * ny // 5 + 1))
        profile = np.median(data[centre], axis=0)
        if np.median(profile) <= 0:
            raise ValueError("master flat has no signal (median profile <= 0)")
        model = np.broadcast_to(_fit_rows(np.arange(nx, dtype=float), profile, order), data.shape)
    else:
        model = _fit_rows(np.arange(nx, dtype=float), data.T, order)
    # A model going to ~0 (deep absorption of a filter edge) must not blow pixels up.
    floor = 1e-3 * float(np.max(np.abs(model)))
    model = np.where(np.abs(model) > floor, model, floor).astype(np.float32)
    normalized = (data / model).astype(np.float32)
    uncertainty = None
    if master.uncertainty is not None:
        variance = master.uncertainty.represent_as(VarianceUncertainty).array / model**2
        uncertainty = VarianceUncertainty(variance.astype(np.float32))
    header = fits.Header(master.header)
    header["GSP_NORM"] = (method, "Flat normalization method")
    header["GSP_NORD"] = (order, "Order of the normalization fit")
    return CCDData(
        normalized,
        unit="",
        uncertainty=uncertainty,
        mask=None if master.mask is None else master.mask.copy(),
        meta=header,
    )
