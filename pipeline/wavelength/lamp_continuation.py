"""Where a library lamp's own lines measured its model, continue along that model.

Past an arc's outermost lines the solution is an extrapolation, and the optics model
(:mod:`pipeline.wavelength.optics_continuation`) is the physics there. But a library
lamp's model was fitted to that lamp's own lines: over the wavelengths they span it is
measured, and it describes the spectrograph's own distortion, which the optics model
misses by up to a pixel or two. Tonight's arc departs from it by flexure and a slow
change, which its lines measure. So up to the library lamp's outermost lines the
solution follows the lamp's model at that departure; only beyond them, where the lamp's
model is itself an extrapolation, the optics take over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.lamps import LampTemplate
from pipeline.wavelength.first_guess import guess_wavelength, inverse


@dataclass(frozen=True)
class LampModel:
    """A library lamp's model with the optics model's interface (``wavelength`` of an
    unbinned pixel, ``pixel`` of a wavelength), to continue a solution along it."""

    template: LampTemplate

    def wavelength(self, unbinned_pixel) -> np.ndarray:
        """Wavelength (Å) at unbinned lamp pixels.

        Parameters
        ----------
        unbinned_pixel : array_like

        Returns
        -------
        numpy.ndarray
        """
        return guess_wavelength(self.template, unbinned_pixel)

    def pixel(self, wavelength) -> np.ndarray:
        """Unbinned lamp pixel of each wavelength (NaN beyond the inverted range).

        Parameters
        ----------
        wavelength : array_like
            Å.

        Returns
        -------
        numpy.ndarray
        """
        w = np.asarray(wavelength, float)
        return inverse(self.template, np.atleast_1d(w), self.template.npix).reshape(w.shape)


def library_lamp(guess) -> LampTemplate | None:
    """The library lamp behind a first guess, also one moved onto the optics' shape.

    Parameters
    ----------
    guess : object
        A first guess.

    Returns
    -------
    LampTemplate or None
    """
    from pipeline.wavelength.template_guess import LampOnOptics

    if isinstance(guess, LampOnOptics):
        return guess.template
    return guess if isinstance(guess, LampTemplate) else None


def measured_range(lamp: LampTemplate | None) -> tuple[float, float] | None:
    """Wavelengths (Å) between the lines that measured the lamp's model in use, or ``None``.

    The NIST-corrected model was fitted to the NIST lines between ``corrected_pixels``;
    the stored model to the lamp's catalogued lines.

    Parameters
    ----------
    lamp : LampTemplate or None

    Returns
    -------
    tuple of float or None
    """
    if lamp is None:
        return None
    if lamp.corrected and lamp.corrected_pixels is not None:
        ends = np.array(lamp.corrected_pixels, float)
    elif lamp.line_pixels.size >= 2:
        ends = np.array([lamp.line_pixels.min(), lamp.line_pixels.max()])
    else:
        return None
    w = guess_wavelength(lamp, ends)
    return float(w.min()), float(w.max())


__all__ = ["LampModel", "library_lamp", "measured_range"]
