"""The solution beyond the outermost fitted lines, continued along the optics model.

Beyond the outermost lines of an arc nothing measures the solution: it is an
extrapolation. The first guess there is no better: a library lamp's model is itself
extrapolated past its own lamp's lines (600 l/mm at the M2 angles shows no line over
its first ~1000 px), and a correction continued straight leaves the bend of the
relation out (3-5 px at the far end). The optics model (the grating equation and the
camera) is physics there: a real spectrograph departs from it by a smooth, slowly
varying distortion of a few pixels (focus, camera field curvature, the grating's
tilt), which the lines measure where they are. So past the outermost lines the
solution is the optics model, at the pixel the departure measured on the lines,
continued at low order (at most :data:`MAX_ORDER`), puts there; it meets the fitted
solution at the outermost line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.wavelength.robust_fit import choose_order

#: Highest order of the departure from the optics continued beyond the lines: a
#: constant, a scale and two bends describe a camera's smooth distortion; more would
#: follow the lines' noise and swing beyond them.
MAX_ORDER = 3
#: Fewer used lines than this leave the departure unmeasured: an order-3 departure has
#: four coefficients, and cross-validation needs a few lines more to choose it (2100
#: l/mm at 3900 A, 2x2: five lines, two of them misnamed mid-way through the
#: identification, sent the blue group 3 px astray). The guess's own continuation is
#: kept then.
MIN_LINES = 6
#: Bends of the departure are continued at most this many times the lines' span beyond
#: them; farther, only its offset and scale (a night arc whose lines covered 40 % of a
#: 400 l/mm detector, cubic departure continued over the other 55 %: 1.8 px off).
MAX_REACH = 0.5
#: Largest RMS (binned px) of the lines about the optics with the fitted departure: the
#: lines' own scatter is a few hundredths of a pixel; more means a misnamed line among
#: them (a lone end line named after its NIST neighbour) or a setup the optics do not
#: describe, and the continuation would carry the error beyond the lines.
MAX_RESIDUAL_PX = 0.1
#: Lines spanning less than this (in ``x``, whose range is 2: a quarter of the detector)
#: do not measure the departure: its scale and bends over the detector are a few
#: pixels, which a cluster of lines cannot tell from an offset (2100 l/mm at 3900 A:
#: four lines within 90 binned px; continued along the optics at their offset, the blue
#: end was 3-5 px off). The guess's own continuation is kept then.
MIN_SPAN = 0.5


@dataclass(frozen=True)
class Departure:
    """Departure of the lines from the optics model: ``optics.pixel(λ) - v``, unbinned px,
    as a Chebyshev series over the arc's ``x = 2j/(n-1) - 1``."""

    coef: np.ndarray

    def __call__(self, x) -> np.ndarray:
        return np.polynomial.chebyshev.chebval(np.asarray(x, float), self.coef)


def optics_of_guess(guess):
    """The optics model behind a first guess, or ``None``.

    Parameters
    ----------
    guess : object
        A library lamp (its header gives the optics), a lamp moved onto the optics, or a
        dispersion model itself.

    Returns
    -------
    DispersionModel or None
    """
    from pipeline.optics import DispersionModel
    from pipeline.wavelength.template_guess import LampOnOptics, _optics_of

    if isinstance(guess, DispersionModel):
        return guess
    if isinstance(guess, LampOnOptics):
        return guess.optics
    path = getattr(guess, "path", None)
    if path is None:
        return None
    try:
        return _optics_of(str(path))
    except OSError:
        return None


def fit_departure(optics, x, v, wave, err, binning: int = 1) -> Departure | None:
    """Low-order fit of the lines' departure from the optics model.

    Parameters
    ----------
    optics : DispersionModel
    x : numpy.ndarray
        Normalised arc coordinate of each used line.
    v : numpy.ndarray
        Its unbinned arc coordinate.
    wave : numpy.ndarray
        Its NIST wavelength, Å.
    err : numpy.ndarray
        Its centring error, unbinned px.
    binning : int
        Binning along the dispersion (the residual limit is in binned px).

    Returns
    -------
    Departure or None
        ``None`` with fewer than :data:`MIN_LINES` lines, lines spanning less
        than :data:`MIN_SPAN`, or lines the optics with a smooth departure do not
        describe (:data:`MAX_RESIDUAL_PX`).
    """
    d = optics.pixel(wave) - v
    # a line past the model's invertible range (a lamp model ends at its own pixels)
    # has no departure to give: a NaN there would turn every coefficient into NaN
    ok = np.isfinite(d)
    x, d, err = x[ok], d[ok], np.asarray(err, float)[ok]
    if x.size < MIN_LINES or np.ptp(x) < MIN_SPAN:
        return None
    w = 1.0 / np.maximum(err, 1e-3) ** 2
    # bends measured over the lines' span, carried farther beyond them than half that
    # span, are their noise magnified: a scale only there
    reach = max(x.min() + 1.0, 1.0 - x.max())
    cap = MAX_ORDER if reach <= MAX_REACH * np.ptp(x) else 1
    order, _ = choose_order(x, d, w, cap)
    a = np.polynomial.chebyshev.chebvander(x, order)
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(a * sw[:, None], d * sw, rcond=None)
    resid = d - a @ coef
    if np.sqrt(np.mean(resid**2)) > MAX_RESIDUAL_PX * binning:
        return None
    return Departure(coef)


def wavelength_beyond(jq, end_j, end_wave, n, binning, optics, departure) -> np.ndarray:
    """Wavelengths at binned pixels ``jq`` past an outermost line, along the optics.

    Parameters
    ----------
    jq : numpy.ndarray
        Binned pixels beyond the outermost fitted line.
    end_j, end_wave : float
        That line's binned pixel and the fitted solution's wavelength there, Å.
    n, binning : int
        Binned pixels of the arc, binning along the dispersion.
    optics : DispersionModel
    departure : Departure

    Returns
    -------
    numpy.ndarray
        The optics model at the continued departure, offset to meet the solution at
        the outermost line (Å).
    """
    b = int(binning)

    def x_of(jj):
        return 2.0 * np.asarray(jj, float) / max(n - 1, 1) - 1.0

    def v_of(jj):
        return b * np.asarray(jj, float) + (b - 1) / 2.0

    # the departure at the end line as the solution has it (continuity there)
    offset = float(optics.pixel(end_wave)) - float(v_of(end_j)) - float(departure(x_of(end_j)))
    return optics.wavelength(v_of(jq) + departure(x_of(jq)) + offset)


def continue_along_optics(j, wave, n, binning, optics, departure, j_lo, j_hi) -> np.ndarray:
    """The solution ``wave`` with its parts beyond ``[j_lo, j_hi]`` along the optics.

    Parameters
    ----------
    j : numpy.ndarray
        Binned pixel index (increasing).
    wave : numpy.ndarray
        The fitted solution at ``j``, Å.
    n, binning : int
        Binned pixels of the arc, binning along the dispersion.
    optics : DispersionModel
    departure : Departure
    j_lo, j_hi : float
        Outermost fitted lines (binned px).

    Returns
    -------
    numpy.ndarray
        ``wave`` inside the lines; beyond them, :func:`wavelength_beyond` where the
        model reaches (``wave`` unchanged on a side it does not).
    """
    out = np.array(wave, float)
    for end, side in ((j_lo, j < j_lo), (j_hi, j > j_hi)):
        if side.any():
            w_end = float(np.interp(end, j, wave))
            beyond = wavelength_beyond(j[side], end, w_end, n, binning, optics, departure)
            # a model that cannot place the end line (a library lamp's model past the
            # lamp's own pixels) gives nothing there: that side stays as it was
            if np.isfinite(beyond).all():
                out[side] = beyond
    return out


__all__ = [
    "Departure",
    "continue_along_optics",
    "fit_departure",
    "optics_of_guess",
    "wavelength_beyond",
]
