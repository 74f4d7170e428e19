"""A library lamp as a first guess, checked against the optics.

Most library lamps' stored models follow Goodman's optics to a pixel or two, but a few
are fits to four lines that are wrong by tens to hundreds of pixels at the ends (930_M1
HgAr: 340 px). Started from such a model the identification pairs the arc's lines with
the wrong NIST lines. So the lamp's model is compared with the optics model of the
lamp's own header (:func:`pipeline.optics.check_solution`, shape only: a zero-point
offset is the optics' known weakness) unless the lamp carries a model refitted to NIST
lines (that one is better than the optics); when the shapes disagree, the optics model moved
onto the lamp's own identified lines is the guess, and the lamp's flux still serves
the coarse alignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from pipeline.lamps import LampTemplate


@dataclass(frozen=True)
class LampOnOptics:
    """A library lamp whose dispersion is the optics model shifted onto its lines.

    ``wavelength(u) = optics.wavelength(u - shift)`` over the lamp's unbinned pixels;
    ``flux``, ``lamp``, ``mode`` and ``file_name`` are the lamp's.
    """

    template: LampTemplate
    optics: object
    shift: float
    reason: str

    @property
    def flux(self) -> np.ndarray:
        return self.template.flux

    @property
    def lamp(self) -> str:
        return self.template.lamp

    @property
    def mode(self) -> str:
        return self.template.mode

    @property
    def file_name(self) -> str:
        return self.template.file_name

    @property
    def npix(self) -> int:
        return self.template.npix

    def wavelength(self, unbinned_pixel) -> np.ndarray:
        return self.optics.wavelength(np.asarray(unbinned_pixel, float) - self.shift)


@cache
def _optics_of(path: str):
    from astropy.io import fits

    from pipeline.optics import dispersion_model_from_header

    return dispersion_model_from_header(fits.getheader(path))


def checked_template_guess(template: LampTemplate):
    """The lamp itself, or :class:`LampOnOptics` when its model's shape is not the optics'.

    Parameters
    ----------
    template : LampTemplate

    Returns
    -------
    LampTemplate or LampOnOptics
    """
    from pipeline.optics import check_solution

    optics = _uncorrected_optics(template)
    if optics is None:
        return template
    u = np.arange(template.npix, dtype=float)
    check = check_solution(optics, template.wavelength(u), 1, shift_tolerance_px=np.inf)
    if check.agrees:
        return template
    return _on_optics(template, optics, check.shift_px, f"library model {check.message}")


def _uncorrected_optics(template: LampTemplate):
    """The optics model of a lamp the NIST refit did not correct (``None`` for a corrected
    lamp, whose refitted shape is better than the optics', or when its header gives none)."""
    if template.corrected:
        return None
    try:
        return _optics_of(str(template.path))
    except OSError:
        return None


def _on_optics(template: LampTemplate, optics, fallback_shift: float, reason: str):
    """The optics model moved onto the lamp's own identified lines (two or more), or by
    ``fallback_shift``."""
    lines = np.isfinite(template.line_pixels) & np.isfinite(template.line_wavelengths)
    if lines.sum() >= 2:
        shift = float(
            np.median(template.line_pixels[lines] - optics.pixel(template.line_wavelengths[lines]))
        )
    else:
        shift = fallback_shift
    return LampOnOptics(template, optics, shift, reason)


def optics_shape_guess(template: LampTemplate) -> LampOnOptics | None:
    """The lamp with the optics model's shape, for an arc too sparse to correct its own.

    A lamp whose stored model the NIST refit could not correct (its own flux shows too
    few NIST lines) keeps a model whose shape nothing has checked beyond the optics'
    generous tolerance; an arc of a few lines can correct a guess only to low order.
    The optics model's departures are smooth (a zero-point, a scale, slow bends), so
    it is the other candidate shape there.

    Parameters
    ----------
    template : LampTemplate
        A library lamp.

    Returns
    -------
    LampOnOptics or None
        The optics model moved onto the lamp; ``None`` for a NIST-corrected lamp or
        one whose header gives no optics model.
    """
    optics = _uncorrected_optics(template)
    if optics is None:
        return None
    return _moved_onto_lamp(template, optics, "optics shape (sparse arc, uncorrected lamp)")


def optics_gap_guess(template: LampTemplate) -> LampOnOptics | None:
    """The lamp with the optics model's shape, for an arc whose lines leave a wide gap.

    Where an arc shows no line over a wide stretch, its own lamp in the library shows
    few or none there either, so even a NIST-corrected model is an extrapolation
    there, while the optics model is physics (the grating equation and the camera);
    the lines on either side then tell which shape they need less correction from.

    Parameters
    ----------
    template : LampTemplate
        A library lamp, NIST-corrected or not.

    Returns
    -------
    LampOnOptics or None
        The optics model moved onto the lamp; ``None`` when its header gives none.
    """
    try:
        optics = _optics_of(str(template.path))
    except OSError:
        return None
    if optics is None:
        return None
    return _moved_onto_lamp(template, optics, "optics shape (wide gap between the arc's lines)")


def _moved_onto_lamp(template: LampTemplate, optics, reason: str) -> LampOnOptics:
    u = np.arange(template.npix, dtype=float)
    shift = float(np.median(u - optics.pixel(template.wavelength(u))))
    return _on_optics(template, optics, shift, reason)


__all__ = [
    "LampOnOptics",
    "checked_template_guess",
    "optics_gap_guess",
    "optics_shape_guess",
]
