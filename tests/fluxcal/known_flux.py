"""1-D spectra of known flux as the detector counts them, for the flux calibration tests.

Counts per bin = F(λ) S(λ) 10**(-0.4 k(λ) X) t Δλ / g, with Gaussian noise of the
counts (shot noise plus read noise) from a seeded generator; F and S are known, so a
test compares what the pipeline recovers with the truth.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.io import fits

from pipeline.fluxcal.extinction import extinction_factor
from pipeline.fluxcal.standards import find_standard, standard_flux
from pipeline.wavelength.arrays import SpectrumArrays

GAIN = 1.48


def true_sensitivity(wave, filter_cut: float | None = None) -> np.ndarray:
    """A throughput shape like Goodman's (e⁻ cm²/erg): a bell, optionally a long-pass cut."""
    w = np.asarray(wave, float)
    s = 4e14 * (0.1 + 0.9 * np.exp(-0.5 * ((w - 6000.0) / 2200.0) ** 2))
    if filter_cut:
        s = s / (1.0 + np.exp(-(w - filter_cut) / 40.0))
    return s


def target_flux(wave) -> np.ndarray:
    """A science target (erg/s/cm²/Å): a smooth continuum rising to the red, one line."""
    w = np.asarray(wave, float)
    cont = 3e-15 * (w / 5000.0) ** 1.5
    return cont + 2e-15 * np.exp(-0.5 * ((w - 6563.0) / 3.0) ** 2)


def header(object_name: str, airmass: float, exptime: float, **cards) -> fits.Header:
    h = fits.Header()
    values = {
        "OBJECT": object_name,
        "OBSTYPE": "OBJECT",
        "EXPTIME": exptime,
        "GAIN": GAIN,
        "RDNOISE": 3.89,
        "AIRMASS": airmass,
        "INSTCONF": "Red",
        "GRATING": "SYZY_400",
        "WAVMODE": "400_M1",
        "FILTER2": "NO_FILTER",
        "CCDSUM": "2 2",
        "SLIT": "1.0_LONG_SLIT",
        "DATE-OBS": "2026-12-05T01:00:00.000",
        "OBSRA": "08:41:32.37",
        "OBSDEC": "-32:56:32.9",
        "GSP_FNAM": f"wecfzst_0001_{object_name}_target_1.fits",
        "GSP_ONAM": f"0001_{object_name}.fits",
    }
    values.update(cards)
    for key, value in values.items():
        h[key] = value
    return h


def observe(
    flux,
    wave,
    airmass: float,
    exptime: float,
    seed: int = 1,
    sensitivity=None,
    noise: bool = True,
) -> SpectrumArrays:
    """Counts per bin (ADU) of a source of flux ``flux(wave)`` seen through ``sensitivity``."""
    wave = np.asarray(wave, float)
    step = float(wave[1] - wave[0])
    s = true_sensitivity(wave) if sensitivity is None else sensitivity
    electrons = flux * s * extinction_factor(wave, airmass) * exptime * step
    std_e = np.sqrt(np.clip(electrons, 0, None) + 30.0**2)
    rng = np.random.default_rng(seed)
    observed = electrons + (rng.standard_normal(wave.size) * std_e if noise else 0.0)
    return SpectrumArrays(
        flux=observed / GAIN,
        std=std_e / GAIN,
        mask=np.zeros(wave.size, bool),
        axis=wave,
        axis_unit=u.AA,
        unit=u.adu,
    )


def star_flux(name: str, wave) -> np.ndarray:
    star, _ = find_standard(name)
    tw, tf, _ = standard_flux(star.path)
    return np.interp(wave, tw, tf)
