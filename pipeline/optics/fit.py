"""Fit the optics model to the lamp library's wavelength solutions.

The library's solutions (``GSP_Cnnn``) are themselves fits with errors (up to a few px,
and a few are plainly wrong), so the fit is robust: a soft-L1 loss, then the lamps
whose model departs from the optics by more than :data:`REJECT_RMS_PX` are left out
and the fit is repeated. Each library mode gets a small zero-point of the camera
angle (the setting repeatability of the angles); a prior keeps it near zero so the
shared parameters carry the physics.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from pipeline import lamps
from pipeline.optics.header import header_optics
from pipeline.optics.model import (
    NPIX,
    CameraParameters,
    GratingParameters,
    LibraryMode,
    OpticsParameters,
    wavelength_at,
)

#: Lamps whose library solution departs by more than this (RMS, unbinned px) from the
#: fitted optics are rejected as wrong library models and the fit repeated without them.
REJECT_RMS_PX = 5.0
#: Weight of the prior on each mode's zero-point: 0.001 deg costs as much as 1 px, so
#: the shared parameters, not the zero-points, carry the trend with angle.
MODE_PRIOR_PER_DEG = 1000.0
#: Pixels sampled along each lamp's solution.
N_SAMPLES = 41


@dataclass(frozen=True)
class LampSolution:
    """One library lamp's setup and its stored solution."""

    name: str
    mode: str
    lines_per_mm: float
    grating_angle: float
    camera_angle: float
    grating_target: float
    camera_target: float
    filter2: str
    npix: int
    template: lamps.LampTemplate


@dataclass(frozen=True)
class LampResidual:
    """The optics model minus a lamp's library solution, in unbinned px."""

    name: str
    mode: str
    used: bool
    reason: str
    mean_px: float
    rms_px: float
    max_px: float
    #: The same without the mode's zero-point: how well custom angles are predicted.
    mean_no_zero_px: float


def library_solutions(templates=None) -> list[LampSolution]:
    """Read the setup of every library lamp from its header.

    Parameters
    ----------
    templates : sequence of LampTemplate or None
        The lamps; ``None`` takes the whole packaged library.

    Returns
    -------
    list of LampSolution
        Per lamp: mode, grooves per mm, measured and target angles (deg), FILTER2, width
        in unbinned pixels and the template itself.
    """
    from astropy.io import fits

    out = []
    for t in templates or lamps.library():
        h = fits.getheader(t.path)
        o = header_optics(h)
        out.append(
            LampSolution(
                name=t.file_name,
                mode=t.mode,
                lines_per_mm=o.lines_per_mm,
                grating_angle=o.grating_angle,
                camera_angle=o.camera_angle,
                grating_target=float(h.get("GRT_TARG", o.grating_angle)),
                camera_target=float(h.get("CAM_TARG", o.camera_angle)),
                filter2=str(h.get("FILTER2", "")).strip(),
                npix=t.npix,
                template=t,
            )
        )
    return out


class _Problem:
    """Vectorised residuals of all lamps for one parameter vector."""

    N_CAMERA = 5

    def __init__(self, sols: list[LampSolution]):
        self.sols = sols
        self.densities = sorted({s.lines_per_mm for s in sols})
        self.modes = sorted({s.mode for s in sols})
        u = np.linspace(0.0, NPIX - 1.0, N_SAMPLES)
        self.u = np.tile(u, len(sols))
        self.wave = np.concatenate([s.template.wavelength(u) for s in sols])
        self.disp = np.concatenate([np.gradient(s.template.wavelength(u), u) for s in sols])
        rep = np.repeat
        self.lpm = rep([s.lines_per_mm for s in sols], N_SAMPLES)
        self.grt = rep([s.grating_angle for s in sols], N_SAMPLES)
        self.cam = rep([s.camera_angle for s in sols], N_SAMPLES)
        self.gi = rep([self.densities.index(s.lines_per_mm) for s in sols], N_SAMPLES)
        self.mi = rep([self.modes.index(s.mode) for s in sols], N_SAMPLES)

    def unpack(self, p):
        nc, ng = self.N_CAMERA, len(self.densities)
        cam = CameraParameters(
            focal_mm=p[1], centre_px=p[2], cubic=p[3], quintic=p[4], camera_zero_deg=p[0]
        )
        a0 = np.asarray(p[nc : nc + ng])
        scale = np.asarray(p[nc + ng : nc + 2 * ng]) * 1e-3
        zero = np.asarray(p[nc + 2 * ng :])
        return cam, a0, scale, zero

    def model(self, p, with_zero=True):
        cam, a0, scale, zero = self.unpack(p)
        g = GratingParameters(alpha_zero_deg=a0[self.gi], density_scale=scale[self.gi])
        z = zero[self.mi] if with_zero else 0.0
        return wavelength_at(self.u, self.lpm, self.grt, self.cam, cam, g, z)

    def pixel_residuals(self, p, with_zero=True):
        return (self.model(p, with_zero) - self.wave) / self.disp

    def __call__(self, p, weights):
        r = self.pixel_residuals(p) * np.repeat(weights, N_SAMPLES)
        _, _, _, zero = self.unpack(p)
        return np.concatenate([r, MODE_PRIOR_PER_DEG * zero])

    def start(self):
        ng = len(self.densities)
        return np.array([0.0, 376.0, NPIX / 2.0, 0.0, 0.0] + [0.0] * (2 * ng + len(self.modes)))

    def scales(self):
        ng = len(self.densities)
        return np.array(
            [0.1, 10.0, 10.0, 0.01, 0.01] + [0.1] * ng + [1.0] * ng + [0.01] * len(self.modes)
        )


@dataclass(frozen=True)
class OpticsFit:
    """The fitted parameters and each lamp's residual."""

    parameters: OpticsParameters
    residuals: list[LampResidual]


def fit_optics(templates=None) -> OpticsFit:
    """Fit the optics model to the library lamps (full-width lamps only).

    Parameters
    ----------
    templates : sequence of LampTemplate or None
        The lamps to fit; ``None`` takes the whole packaged library.

    Returns
    -------
    OpticsFit
        Parameters with their tolerances and provenance, and per-lamp residuals.
    """
    return fit_solutions(library_solutions(templates))


def fit_solutions(all_sols: list[LampSolution]) -> OpticsFit:
    """Fit the optics model to lamp solutions (see :func:`fit_optics`).

    Parameters
    ----------
    all_sols : list of LampSolution
        The lamps' setups and solutions; only full-width ones (``NPIX`` unbinned pixels)
        are fitted, the others are listed as unused.

    Returns
    -------
    OpticsFit
        The fitted parameters with their tolerances and provenance, and one residual entry
        per lamp (used or not, and why not).
    """
    sols = [s for s in all_sols if s.npix == NPIX]
    prob = _Problem(sols)
    weights = np.ones(len(sols))
    p = prob.start()
    for _ in range(3):
        res = least_squares(
            prob, p, args=(weights,), loss="soft_l1", f_scale=1.0, x_scale=prob.scales()
        )
        p = res.x
        r = prob.pixel_residuals(p).reshape(len(sols), N_SAMPLES)
        rms = np.sqrt(np.mean(r**2, axis=1))
        new = (rms <= REJECT_RMS_PX).astype(float)
        if np.array_equal(new, weights):
            break
        weights = new
    cam, a0, scale, zero = prob.unpack(p)
    r = prob.pixel_residuals(p).reshape(len(sols), N_SAMPLES)
    r0 = prob.pixel_residuals(p, with_zero=False).reshape(len(sols), N_SAMPLES)
    used = weights > 0
    residuals = []
    for s, ri, r0i, ok in zip(sols, r, r0, used, strict=True):
        residuals.append(
            LampResidual(
                s.name,
                s.mode,
                bool(ok),
                "" if ok else f"library solution departs > {REJECT_RMS_PX:g} px RMS",
                float(ri.mean()),
                float(np.sqrt(np.mean(ri**2))),
                float(np.abs(ri).max()),
                float(r0i.mean()),
            )
        )
    for s in all_sols:
        if s.npix != NPIX:
            residuals.append(
                LampResidual(
                    s.name,
                    s.mode,
                    False,
                    f"{s.npix} px, not the full {NPIX}",
                    np.nan,
                    np.nan,
                    np.nan,
                    np.nan,
                )
            )
    good = [x for x in residuals if x.used]
    shape = r[used] - r[used].mean(axis=1, keepdims=True)
    # every library mode is named from its angles; modes with no full-width lamp
    # (600_RED) get no zero-point
    zeros = dict(zip(prob.modes, zero, strict=True))
    modes = {}
    for m in sorted({s.mode for s in all_sols}):
        ms = [s for s in all_sols if s.mode == m]
        modes[m] = LibraryMode(
            name=m,
            lines_per_mm=ms[0].lines_per_mm,
            grating_angle=float(np.median([s.grating_target for s in ms])),
            camera_angle=float(np.median([s.camera_target for s in ms])),
            filter2=ms[0].filter2,
            zero_deg=float(zeros.get(m, 0.0)),
            grating=ms[0].template.grating,
            n_lamps=len(ms),
            n_fitted=sum(r.used for r in residuals if r.mode == m),
        )
    # tolerances from what the library shows, with a margin of 1.5
    mode_shift = np.array([abs(x.mean_px) for x in good])
    custom_shift = np.array([abs(x.mean_no_zero_px) for x in good])
    params = OpticsParameters(
        camera=cam,
        gratings={
            d: GratingParameters(float(a), float(s))
            for d, a, s in zip(prob.densities, a0, scale, strict=True)
        },
        modes=modes,
        shift_tolerance_mode_px=round(1.5 * float(mode_shift.max()) + 1.0, 1),
        shift_tolerance_custom_px=round(1.5 * float(custom_shift.max()) + 1.0, 1),
        shape_tolerance_px=round(1.5 * float(np.abs(shape).max()) + 1.0, 1),
        provenance={
            "fitted": _dt.date.today().isoformat(),
            "by": "pipeline.optics.fit.fit_optics (benchmarks/bench_optics.py --write)",
            "lamps_used": sum(x.used for x in residuals),
            "lamps_rejected": sorted(x.name for x in residuals if not x.used),
            "rms_px_used": round(float(np.sqrt(np.mean(r[used] ** 2))), 3),
        },
    )
    return OpticsFit(params, residuals)
