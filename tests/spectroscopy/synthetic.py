"""Synthetic 2-D spectra with known truth, for the spectroscopy tests."""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
from astropy.nddata import CCDData, StdDevUncertainty


def moffat(dy, fwhm, beta=3.0):
    alpha = fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))
    p = (1.0 + (dy / alpha) ** 2) ** (-beta)
    return p


def frame(
    shape=(300, 1000),
    sources=((150.0, 5.0, 2000.0),),
    curvature=(0.0, 0.01, 4e-6),
    sky=50.0,
    rdnoise=4.0,
    gain=1.5,
    seed=0,
    with_uncertainty=True,
    lines=(),
    tilt=0.0,
):
    """A frame with Moffat sources on curved traces.

    ``sources``: (row at centre column, FWHM rows, total counts per column).
    ``curvature``: trace = row + c1*(x - xc) + c2*(x - xc)**2 added to each source.
    ``lines``: emission lines of every source, (column, Gaussian sigma in columns,
    total counts, spatial FWHM in rows), each tilted by ``tilt`` columns per row about
    the trace (the line's own spatial profile need not be the continuum's).
    Returns (CCDData in ADU, list of true trace arrays, list of true flux per column).
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    x = np.arange(nx, dtype=float)
    y = np.arange(ny, dtype=float)[:, None]
    xc = (nx - 1) / 2
    img = np.full(shape, sky, dtype=float)
    traces, fluxes = [], []
    fine = np.linspace(-0.5, 0.5, 11)
    for row, fwhm, total in sources:
        tr = row + curvature[1] * (x - xc) + curvature[2] * (x - xc) ** 2
        # pixel-integrated profile (mean over 11 sub-samples of each pixel)
        prof = np.mean([moffat(y + f - tr[None, :], fwhm) for f in fine], axis=0)
        norm = np.sum(
            np.mean([moffat(np.arange(-200, 201)[:, None] + f, fwhm) for f in fine], axis=0)
        )
        spec = total * (1.0 + 0.3 * np.sin(x / 50.0))
        img += prof / norm * spec[None, :]
        for col, sigma, counts, line_fwhm in lines:
            dx = x[None, :] - col - tilt * (y - tr[None, :])
            along = np.exp(-0.5 * (dx / sigma) ** 2) / (np.sqrt(2 * np.pi) * sigma)
            lprof = np.mean([moffat(y + f - tr[None, :], line_fwhm) for f in fine], axis=0)
            lnorm = np.sum(
                np.mean([moffat(np.arange(-200, 201)[:, None] + f, line_fwhm) for f in fine], 0)
            )
            img += counts * along * lprof / lnorm
        traces.append(tr)
        fluxes.append(spec)
    electrons = rng.poisson(np.clip(img * gain, 0, None)).astype(float)
    data = electrons / gain + rng.normal(0, rdnoise / gain, shape)
    unc = None
    if with_uncertainty:
        unc = StdDevUncertainty(np.sqrt(np.clip(img, 0, None) / gain + (rdnoise / gain) ** 2))
    ccd = CCDData(data, unit=u.adu, uncertainty=unc, meta={"GAIN": gain, "RDNOISE": rdnoise})
    return ccd, traces, fluxes
