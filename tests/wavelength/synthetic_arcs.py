"""1-D arcs synthesised from the lamp library, with the true wavelength of each pixel.

Two ways, because real arcs (and ``gsp simulate``) place catalogued lines at their
laboratory wavelengths while the rest of the lamp follows the template spectrum:

- ``"template"``: the template spectrum moved by ``shift`` unbinned pixels (linear
  interpolation), then binned;
- ``"catalogue"``: pixel-integrated Gaussians at the catalogued wavelengths placed by
  the template model, plus a faint continuum.

Truth in both: ``T(b*j + (b-1)/2 - shift)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from pipeline.lamps import LampTemplate


def _inverse(template: LampTemplate, waves, start):
    x = np.asarray(start, float).copy()
    d = np.polynomial.chebyshev.chebder(template.coefficients)
    for _ in range(8):
        x -= (template.wavelength(x) - waves) / np.polynomial.chebyshev.chebval(x, d)
    return x


def synth_arc(
    template: LampTemplate,
    shift: float,
    binning: int,
    kind: str = "template",
    seed: int = 0,
    fwhm_unbinned: float = 4.5,
    peak: float = 3e4,
):
    """Return (binned flux, true wavelength per binned pixel)."""
    rng = np.random.default_rng(seed)
    b = binning
    n = 4060 // b
    x = np.arange(n * b, dtype=float)
    if kind == "template":
        flux = np.interp(x - shift, np.arange(template.npix), template.flux, left=0, right=0)
        flux = flux * peak / np.percentile(flux, 99.9)
    else:
        u = _inverse(template, template.line_wavelengths, template.line_pixels) + shift
        sig = fwhm_unbinned / 2.3548
        amps = rng.uniform(0.05, 1.0, u.size) * peak * 2.5 * sig
        flux = np.full(x.size, 20.0)
        for uu, a in zip(u, amps, strict=True):
            flux += (
                a
                * 0.5
                * (
                    erf((x + 0.5 - uu) / (np.sqrt(2) * sig))
                    - erf((x - 0.5 - uu) / (np.sqrt(2) * sig))
                )
            )
    binned = flux.reshape(n, b).sum(axis=1)
    noisy = binned + rng.normal(0.0, np.sqrt(np.clip(binned, 0, None) + 25.0))
    truth = template.wavelength(b * np.arange(n) + (b - 1) / 2.0 - shift)
    return noisy, truth
