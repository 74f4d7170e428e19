"""What starts a frame's wavelength calibration: its library lamp, or the optics.

A frame's WAVMODE names its library lamp when the library has one. A frame labelled
``Custom``, mislabelled or unlabelled whose grating angles are those of a library mode
(:func:`pipeline.optics.library_mode`) uses that mode's lamp. Otherwise (custom
angles) the optics model of its header (:func:`pipeline.optics.dispersion_model_from_header`)
is the first guess, moved onto the frame's own trimmed pixels (``GSP_X0``). Whatever
started it, a solution is compared with the optics afterwards
(:func:`optics_verdict`): one whose shape departs from them is refused, one only
shifted beyond the optics' tolerance is kept and flagged; an arc resampled onto a
wavelength grid is judged by that grid instead
(:mod:`pipeline.spectroscopy.resampled_grid`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.reduction.rebin import first_unbinned_column
from pipeline.spectroscopy.resampled_grid import grid_verdict

#: Unbinned raw column where the library lamps' pixel 0 starts (trimmed at binning 1).
LIBRARY_X0 = 50


@dataclass(frozen=True)
class OpticsGuess:
    """The optics model over a frame's own trimmed unbinned pixels.

    The frame's trimmed column 0 is unbinned raw column ``x0``; the model's (the
    library's) is :data:`LIBRARY_X0`: ``wavelength(v) = optics.wavelength(v + x0 - 50)``.
    """

    optics: object
    x0: int = LIBRARY_X0

    @property
    def name(self) -> str:
        o = self.optics
        return (
            f"optics model {o.lines_per_mm:g} l/mm GRT {o.grating_angle:.2f} "
            f"CAM {o.camera_angle:.2f}"
        )

    def wavelength(self, unbinned_pixel) -> np.ndarray:
        return self.optics.wavelength(np.asarray(unbinned_pixel, float) + self.x0 - LIBRARY_X0)


@dataclass(frozen=True)
class GuessChoice:
    """How one frame's wavelength calibration starts.

    ``mode``: the library mode whose lamp starts it (the frame's WAVMODE or the one its
    angles match), ``first_guess``: the optics when no lamp exists, ``note``: what
    was decided (for the status), ``problem``: why nothing can start it (or ``""``).
    """

    mode: str
    first_guess: OpticsGuess | None
    note: str
    problem: str


def _has_lamp(mode: str) -> bool:
    from pipeline.wavelength.lamp_choice import NoLampTemplateError, select_template

    if not mode:
        return False
    try:
        select_template(mode, None)
    except NoLampTemplateError:
        return False
    return True


def frame_x0(header) -> int:
    """Unbinned raw column of a reduced frame's trimmed column 0 (``GSP_X0``).

    Parameters
    ----------
    header : astropy.io.fits.Header
        A reduced frame's header.

    Returns
    -------
    int
        The library's column when the header does not say.
    """
    try:
        return first_unbinned_column(header)
    except (TypeError, ValueError):
        return LIBRARY_X0


def choose_first_guess(header) -> GuessChoice:
    """The library lamp or the optics model that starts a frame's wavelength solution.

    Parameters
    ----------
    header : astropy.io.fits.Header
        A reduced science (or arc) frame's header.

    Returns
    -------
    GuessChoice
    """
    from pipeline.optics import dispersion_model_from_header, library_mode

    raw = str(header.get("WAVMODE", "") or "").strip()
    if _has_lamp(raw):
        return GuessChoice(raw, None, "", "")
    try:
        # strict: the error names the card that is missing or wrong
        optics, why = dispersion_model_from_header(header, strict=True), ""
    except ValueError as exc:  # OpticsError, or a card that is no number
        optics, why = None, str(exc)
    if optics is None:
        return GuessChoice(
            raw,
            None,
            "",
            f"no library lamp for WAVMODE {raw!r} and no optics model from the header "
            f"({why or 'GRATING, GRT_ANG/GRT_TARG and CAM_ANG/CAM_TARG are needed'}): "
            "give the mode's WAVMODE, or the grating and its angles",
        )
    lib = optics.library_mode or library_mode(
        optics.lines_per_mm,
        optics.grating_angle,
        optics.camera_angle,
        grating=header.get("GRATING"),
    )
    if lib and _has_lamp(lib):
        return GuessChoice(
            lib, None, f"WAVMODE {raw!r}: the grating angles are library mode {lib}", ""
        )
    guess = OpticsGuess(optics, frame_x0(header))
    centre = float(optics.wavelength(np.array([2029.5]))[0])
    return GuessChoice(
        raw,
        guess,
        f"no library lamp for WAVMODE {raw!r}: first guess from the optics "
        f"({optics.lines_per_mm:g} l/mm, GRT {optics.grating_angle:.2f}, CAM "
        f"{optics.camera_angle:.2f}, centre {centre:.0f} A)",
        "",
    )


def optics_verdict(header, solution) -> tuple[bool, str]:
    """Whether a solution agrees with the optics of the frame it calibrates.

    Returns ``(refused, message)``: refused when the solution's shape departs from the
    optics beyond their tolerance (lines misnamed: a wrong solution); a shift beyond
    the tolerance only flags it (the optics miss some modes' zero-points); ``""`` when
    it agrees or the header has no optics. An arc resampled onto a wavelength grid
    (``DC-FLAG``) is judged by its grid (:func:`~pipeline.spectroscopy.resampled_grid.grid_verdict`).

    Parameters
    ----------
    header : astropy.io.fits.Header
        The arc's (or frame's) header, with its grating and angles.
    solution : WavelengthSolution

    Returns
    -------
    refused : bool
    message : str
    """
    from pipeline.optics import check_solution, dispersion_model_from_header

    # a resampled arc has no detector pixels left for the optics to judge: its grid does
    by_grid = grid_verdict(header, solution)
    if by_grid is not None:
        return by_grid
    try:
        optics = dispersion_model_from_header(header)
    except Exception:  # noqa: BLE001 - no optics, nothing to check against
        return False, ""
    if optics is None:
        return False, ""
    # the frame's trimmed pixels start x0 - 50 unbinned px after the library's
    guess = _Shifted(OpticsGuess(optics, frame_x0(header)))
    wave = solution.wavelength(np.arange(solution.npix, dtype=float))
    check = check_solution(guess, wave, int(solution.binning))
    if check.agrees:
        return False, ""
    shape_bad = not check.shape_px <= check.shape_tolerance_px
    return shape_bad, f"solution {check.message}"


class _Shifted:
    """An :class:`OpticsGuess` seen through the check's interface (``pixel``, tolerances)."""

    def __init__(self, guess: OpticsGuess):
        self._g = guess

    def pixel(self, wavelength):
        return self._g.optics.pixel(wavelength) - (self._g.x0 - LIBRARY_X0)

    def __getattr__(self, name):
        return getattr(self._g.optics, name)


__all__ = ["GuessChoice", "OpticsGuess", "choose_first_guess", "frame_x0", "optics_verdict"]
