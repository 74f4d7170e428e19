"""Goodman's dispersion relation from the grating equation and a fitted camera model.

The grating sits at angle ``alpha`` to the collimated beam and the camera at angle
``CAM`` to the collimator, so light leaves the grating at ``beta = CAM - alpha``
towards the detector centre. In first order, ``lambda = d (sin alpha + sin beta)``
with ``d = 1 / (lines per mm)``. A pixel ``u`` (trimmed, unbinned, 0-based) sees
``beta(u) = beta_c + atan((u - x_c) * 15 um / f)`` plus a small odd distortion of the
camera. The focal length ``f``, the centre ``x_c``, the distortion, the zero-points of
the angles and an effective groove-density scale per grating are fitted to the lamp
library (:mod:`pipeline.optics.fit`) and stored in ``pipeline/data/optics/``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

from pipeline.instrument import PIXEL_SIZE_UM, binned_pixel_centres

#: Unbinned width of the trimmed detector: the pixel index of the library templates.
NPIX = 4060
#: Centre of the trimmed detector, unbinned pixel index.
DETECTOR_CENTRE = (NPIX - 1) / 2.0
#: Shortest wavelength (Å) the atmosphere and optics pass without an order-sorting filter.
BLUE_LIMIT = 3200.0
#: Largest difference (degrees) between a frame's angles and a library mode's for the
#: frame to be taken as that mode: the grating is set to 0.001 deg, the camera to ~0.04.
MODE_GRATING_TOLERANCE = 0.05
MODE_CAMERA_TOLERANCE = 0.1

_PIXEL_MM = PIXEL_SIZE_UM * 1e-3


class OpticsError(ValueError):
    """Inputs from which no dispersion relation can be computed (says which and why)."""


@dataclass(frozen=True)
class CameraParameters:
    """The fitted optics shared by every grating (see module docstring)."""

    focal_mm: float
    centre_px: float
    cubic: float
    quintic: float
    camera_zero_deg: float


@dataclass(frozen=True)
class GratingParameters:
    """Fitted zero-point of the grating angle and effective groove-density scale."""

    alpha_zero_deg: float
    density_scale: float


@dataclass(frozen=True)
class LibraryMode:
    """A spectroscopic mode of the lamp library: its nominal angles and zero-point."""

    name: str
    lines_per_mm: float
    grating_angle: float
    camera_angle: float
    filter2: str
    zero_deg: float
    #: GRATING of the mode's lamps (two 1200 l/mm gratings share angles) and how many.
    grating: str = ""
    n_lamps: int = 0
    #: Lamps whose solutions fitted the zero-point (0: the mode's zero is unknown).
    n_fitted: int = 0


@dataclass(frozen=True)
class OpticsParameters:
    """Everything the dispersion model needs, as fitted to the library."""

    camera: CameraParameters
    gratings: dict[float, GratingParameters]
    modes: dict[str, LibraryMode]
    #: Largest expected offset (unbinned px) of a true solution from the model, as a
    #: constant shift, when the angles match a library mode and when they do not.
    shift_tolerance_mode_px: float
    shift_tolerance_custom_px: float
    #: Largest expected deviation (unbinned px) of a true solution from the model's
    #: shape once the shift is removed.
    shape_tolerance_px: float
    provenance: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "camera": vars(self.camera),
            "gratings": {f"{k:g}": vars(v) for k, v in sorted(self.gratings.items())},
            "modes": {k: vars(v) for k, v in sorted(self.modes.items())},
            "shift_tolerance_mode_px": self.shift_tolerance_mode_px,
            "shift_tolerance_custom_px": self.shift_tolerance_custom_px,
            "shape_tolerance_px": self.shape_tolerance_px,
            "provenance": self.provenance,
        }

    @classmethod
    def from_dict(cls, d: dict) -> OpticsParameters:
        return cls(
            camera=CameraParameters(**d["camera"]),
            gratings={float(k): GratingParameters(**v) for k, v in d["gratings"].items()},
            modes={k: LibraryMode(**v) for k, v in d["modes"].items()},
            shift_tolerance_mode_px=float(d["shift_tolerance_mode_px"]),
            shift_tolerance_custom_px=float(d["shift_tolerance_custom_px"]),
            shape_tolerance_px=float(d["shape_tolerance_px"]),
            provenance=dict(d.get("provenance", {})),
        )


def parameters_path() -> Path:
    """Locate the packaged fit of the optics (written by ``benchmarks/bench_optics.py --write``).

    Returns
    -------
    pathlib.Path
        ``pipeline/data/optics/goodman_optics.json`` of the installed package.
    """
    return Path(str(resources.files("pipeline") / "data" / "optics" / "goodman_optics.json"))


@cache
def packaged_parameters() -> OpticsParameters:
    """Read the packaged optics parameters (once per process).

    Returns
    -------
    OpticsParameters
        The camera, grating and mode parameters of :func:`parameters_path`.
    """
    return OpticsParameters.from_dict(json.loads(parameters_path().read_text()))


def wavelength_at(
    unbinned_pixel,
    lines_per_mm: float,
    grating_angle: float,
    camera_angle: float,
    camera: CameraParameters,
    grating: GratingParameters,
    zero_deg: float = 0.0,
) -> np.ndarray:
    """Evaluate the first-order grating equation through the camera model.

    Vectorised over every argument, so the fit can evaluate all lamps at once.

    Parameters
    ----------
    unbinned_pixel : float or array_like
        Column(s) in unbinned pixels (0-based; binned frames use
        :func:`pipeline.instrument.binned_pixel_centres`).
    lines_per_mm : float or array_like
        Grooves per mm.
    grating_angle, camera_angle : float or array_like
        Grating and camera angles in degrees.
    camera : CameraParameters
        The fitted camera (focal length, centre, distortion, zero angle).
    grating : GratingParameters
        The fitted grating (zero-point angle, density scale).
    zero_deg : float or array_like
        An extra camera-angle offset in degrees (a mode's zero point).

    Returns
    -------
    numpy.ndarray
        Wavelength in Å, broadcast over the arguments.
    """
    u = np.asarray(unbinned_pixel, dtype=float)
    alpha = np.radians(np.asarray(grating_angle) + grating.alpha_zero_deg)
    beta_c = np.radians(np.asarray(camera_angle) + camera.camera_zero_deg + zero_deg) - alpha
    t = (u - camera.centre_px) * _PIXEL_MM / camera.focal_mm
    beta = beta_c + np.arctan(t) + camera.cubic * t**3 + camera.quintic * t**5
    d = 1e7 / np.asarray(lines_per_mm, dtype=float) * (1.0 + grating.density_scale)
    return d * (np.sin(alpha) + np.sin(beta))


def filter_cut_on(filter2: str | None) -> float | None:
    """Give the cut-on wavelength of a long-pass order-sorting filter (``GG455`` -> 4550 Å).

    Parameters
    ----------
    filter2 : str or None
        The FILTER2 card (``GG``, ``OG`` or ``RG`` and three digits, in nm).

    Returns
    -------
    float or None
        The cut-on in Å; ``None`` for no filter or one of another kind.
    """
    m = re.match(r"\s*(GG|OG|RG)[-_ ]?(\d{3})", str(filter2 or "").upper())
    return 10.0 * float(m.group(2)) if m else None


@dataclass(frozen=True)
class DispersionModel:
    """The expected wavelength of every pixel for one grating setup.

    Pixels are the trimmed, unbinned, 0-based column index (0 .. 4059, the coordinate
    of the lamp library); binned pixel ``j`` at binning ``b`` is centred on unbinned
    ``b*j + (b-1)/2`` (:meth:`binned_wavelength`).
    """

    lines_per_mm: float
    grating_angle: float
    camera_angle: float
    camera: str | None
    filter2: str | None
    #: The library mode whose angles these are (``"400_M2"``), or ``None`` (custom).
    library_mode: str | None
    parameters: OpticsParameters = field(repr=False)

    @property
    def _grating(self) -> GratingParameters:
        return grating_parameters(self.lines_per_mm, self.parameters)

    @property
    def zero_deg(self) -> float:
        """Zero-point of the library mode (0 for custom angles)."""
        if self.library_mode is None:
            return 0.0
        return self.parameters.modes[self.library_mode].zero_deg

    def wavelength(self, unbinned_pixel) -> np.ndarray:
        """Wavelength (Å, air) at trimmed unbinned 0-based pixel coordinates."""
        return wavelength_at(
            unbinned_pixel,
            self.lines_per_mm,
            self.grating_angle,
            self.camera_angle,
            self.parameters.camera,
            self._grating,
            self.zero_deg,
        )

    def binned_wavelength(self, binning: int, n: int | None = None) -> np.ndarray:
        """Wavelength (Å) at the centres of binned pixels ``0 .. n-1``."""
        n = NPIX // binning if n is None else n
        return self.wavelength(binned_pixel_centres(binning, n))

    def pixel(self, wavelength) -> np.ndarray:
        """Unbinned pixel coordinate of wavelengths (Å): the inverse of :meth:`wavelength`."""
        w = np.asarray(wavelength, dtype=float)
        grid = np.linspace(-200.0, NPIX + 200.0, 1201)
        wg = self.wavelength(grid)
        u = np.interp(w, wg, grid)
        for _ in range(3):  # Newton steps: the relation is smooth and monotonic
            u = u - (self.wavelength(u) - w) / self._derivative(u, 1)
        return u

    def _derivative(self, u, order: int, h: float = 2.0) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        if order == 1:
            return (self.wavelength(u + h) - self.wavelength(u - h)) / (2 * h)
        return (self.wavelength(u + h) - 2 * self.wavelength(u) + self.wavelength(u - h)) / h**2

    @property
    def central_wavelength(self) -> float:
        """Wavelength (Å) at the centre of the trimmed detector (unbinned 2029.5)."""
        return float(self.wavelength(DETECTOR_CENTRE))

    @property
    def nominal_central_wavelength(self) -> float:
        """The bare grating equation ``d (sin GRT + sin(CAM - GRT))``: no zero-points, no
        camera model (what Goodman's setup tables quote; the fitted relation of the
        library's lamps sits ~1 % lower for 930 l/mm, see ``benchmarks/bench_optics.py``)."""
        g, c = math.radians(self.grating_angle), math.radians(self.camera_angle)
        return 1e7 / self.lines_per_mm * (math.sin(g) + math.sin(c - g))

    @property
    def dispersion(self) -> float:
        """Å per unbinned pixel at the detector centre."""
        return float(self._derivative(DETECTOR_CENTRE, 1))

    @property
    def curvature(self) -> float:
        """Second derivative of wavelength (Å per unbinned px²) at the detector centre."""
        return float(self._derivative(DETECTOR_CENTRE, 2, h=50.0))

    @property
    def wavelength_range(self) -> tuple[float, float]:
        """Wavelengths (Å) at the first and last unbinned pixels of the trimmed detector."""
        lo, hi = self.wavelength(np.array([0.0, NPIX - 1.0]))
        return float(lo), float(hi)

    @property
    def usable_range(self) -> tuple[float, float]:
        """The part of :attr:`wavelength_range` free of blocked light and second order.

        Below the filter's cut-on (or the atmosphere's blue limit) there is no light;
        light of ``lambda`` passed by the filter also lands, in second order, where
        first order has ``2*lambda``.
        """
        lo, hi = self.wavelength_range
        blue = filter_cut_on(self.filter2) or BLUE_LIMIT
        return max(lo, blue), min(hi, 2.0 * blue)

    def describe(self) -> dict:
        """The model's inputs and figures, for product headers and status tables."""
        lo, hi = self.wavelength_range
        ulo, uhi = self.usable_range
        return {
            "lines_per_mm": self.lines_per_mm,
            "grating_angle": self.grating_angle,
            "camera_angle": self.camera_angle,
            "camera": self.camera,
            "filter2": self.filter2,
            "library_mode": self.library_mode,
            "central_wavelength": round(self.central_wavelength, 2),
            "dispersion": round(self.dispersion, 5),
            "curvature": float(f"{self.curvature:.4g}"),
            "wavelength_range": [round(lo, 1), round(hi, 1)],
            "usable_range": [round(ulo, 1), round(uhi, 1)],
        }

    @property
    def shift_tolerance_px(self) -> float:
        """Largest expected constant offset (unbinned px) of a true solution from this model."""
        p = self.parameters
        calibrated = self.library_mode and p.modes[self.library_mode].n_fitted > 0
        return p.shift_tolerance_mode_px if calibrated else p.shift_tolerance_custom_px

    @property
    def shape_tolerance_px(self) -> float:
        """Largest expected deviation (unbinned px) from this model once the shift is removed."""
        return self.parameters.shape_tolerance_px


def grating_parameters(lines_per_mm: float, params: OpticsParameters) -> GratingParameters:
    """Look up the fitted parameters of a groove density.

    Parameters
    ----------
    lines_per_mm : float
        The grating's grooves per mm.
    params : OpticsParameters
        The fitted optics (:func:`packaged_parameters`).

    Returns
    -------
    GratingParameters
        The grating's zero-point angle and density scale; the mean over all fitted
        gratings when this density is not in the library.
    """
    g = params.gratings.get(float(lines_per_mm))
    if g is not None:
        return g
    values = list(params.gratings.values())
    return GratingParameters(
        alpha_zero_deg=float(np.mean([v.alpha_zero_deg for v in values])),
        density_scale=float(np.mean([v.density_scale for v in values])),
    )


def _grating_tokens(grating) -> frozenset[str]:
    """Spelling-free identity of a grating: ``SYZY_600-OLD`` == ``600_SYZY_OLD``."""
    return frozenset(re.findall(r"[A-Z0-9]+", str(grating or "").upper()))


def library_mode(
    lines_per_mm: float,
    grating_angle: float,
    camera_angle: float,
    params: OpticsParameters | None = None,
    *,
    grating: str | None = None,
) -> str | None:
    """Find the library mode set up with these angles.

    A frame labelled ``Custom``, mislabelled or unlabelled still finds its library lamps.
    Two modes can share angles (``1200_M7`` and ``1200_CANIR``, different 1200 l/mm
    gratings): the one whose GRATING matches ``grating`` wins, else the one with more
    library lamps.

    Parameters
    ----------
    lines_per_mm : float
        The grating's grooves per mm.
    grating_angle, camera_angle : float
        The frame's grating and camera angles in degrees; a mode matches within
        ``MODE_GRATING_TOLERANCE`` and ``MODE_CAMERA_TOLERANCE``.
    params : OpticsParameters or None
        The fitted optics; ``None`` takes :func:`packaged_parameters`.
    grating : str or None
        The GRATING card, to choose between modes sharing angles; ``None`` does not
        choose by it.

    Returns
    -------
    str or None
        The mode (``"400_M2"``, the spelling of :func:`pipeline.lamps.normalize_mode`), or
        ``None`` when no library mode uses these angles.
    """
    params = params or packaged_parameters()
    wanted = _grating_tokens(grating)
    candidates = []
    for m in params.modes.values():
        if float(m.lines_per_mm) != float(lines_per_mm):
            continue
        dg = abs(m.grating_angle - grating_angle)
        dc = abs(m.camera_angle - camera_angle)
        if dg <= MODE_GRATING_TOLERANCE and dc <= MODE_CAMERA_TOLERANCE:
            same = bool(wanted) and _grating_tokens(m.grating) == wanted
            candidates.append(((same, m.n_lamps, -(dg + dc)), m.name))
    return max(candidates)[1] if candidates else None


def _check_inputs(lines_per_mm, grating_angle, camera_angle) -> tuple[float, float, float]:
    try:
        lpm, grt, cam = float(lines_per_mm), float(grating_angle), float(camera_angle)
    except (TypeError, ValueError) as exc:
        raise OpticsError(
            f"lines_per_mm {lines_per_mm!r}, grating_angle {grating_angle!r}, camera_angle "
            f"{camera_angle!r}: all must be numbers (e.g. 930, 13.0, 24.0)"
        ) from exc
    if not (math.isfinite(lpm) and 50 <= lpm <= 5000):
        raise OpticsError(f"lines_per_mm {lines_per_mm!r} is not a grating (50 .. 5000 l/mm)")
    if not (math.isfinite(grt) and 0.5 <= grt <= 60):
        raise OpticsError(
            f"grating_angle {grating_angle!r} deg: a spectroscopic setup has 0.5 .. 60 deg "
            "(below, the grating is out of the beam: imaging)"
        )
    if not (math.isfinite(cam) and grt < cam <= 120):
        raise OpticsError(
            f"camera_angle {camera_angle!r} deg with grating_angle {grt:g}: the camera must "
            f"be at more than the grating angle and at most 120 deg"
        )
    return lpm, grt, cam


def dispersion_model(
    lines_per_mm: float,
    grating_angle: float,
    camera_angle: float,
    camera: str | None = None,
    filter2: str | None = None,
    *,
    grating: str | None = None,
) -> DispersionModel:
    """Expected dispersion relation of a Goodman setup (first order).

    Parameters
    ----------
    lines_per_mm : float
        Groove density of the grating (``GRATING`` ``930_SYZY`` -> 930).
    grating_angle, camera_angle : float
        Degrees: ``GRT_ANG`` (else ``GRT_TARG``) and ``CAM_ANG`` (else ``CAM_TARG``).
    camera : str, optional
        ``"Red"`` or ``"Blue"``. Both cameras share one optical design; the library
        holds one Blue lamp only, so one camera model serves both.
    filter2 : str, optional
        Order-sorting filter (``GG455``): limits :attr:`DispersionModel.usable_range`.
    grating : str, optional
        GRATING as written in the header; only tells apart library modes that share
        groove density and angles (see :func:`library_mode`).

    Returns
    -------
    DispersionModel
        When the angles match a library mode, the model includes that mode's fitted
        zero-point (:attr:`DispersionModel.library_mode`).

    Raises
    ------
    OpticsError
        When the inputs are not numbers or describe no spectroscopic setup.
    """
    lpm, grt, cam = _check_inputs(lines_per_mm, grating_angle, camera_angle)
    params = packaged_parameters()
    return DispersionModel(
        lines_per_mm=lpm,
        grating_angle=grt,
        camera_angle=cam,
        camera=camera,
        filter2=filter2,
        library_mode=library_mode(lpm, grt, cam, params, grating=grating),
        parameters=params,
    )
