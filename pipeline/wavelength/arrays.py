"""A 1-D spectrum as plain arrays, convertible to and from ``specutils.Spectrum``.

The public functions return ``specutils.Spectrum``; the batch chain (``gsp reduce``)
passes these arrays instead, because importing specutils (with ndcube, gwcs,
matplotlib...) costs about three seconds, a third of a whole night's reduction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import astropy.units as u
import numpy as np


@dataclass
class SpectrumArrays:
    """Flux, standard deviation and mask over a pixel or wavelength axis.

    Attributes
    ----------
    flux, std : ndarray
        Flux and its 1-sigma uncertainty (``std`` may hold ``inf``/NaN where masked).
    mask : ndarray of bool
        True where a value is not to be trusted.
    axis : ndarray
        Binned pixel index, or wavelength in Å (linear once resampled).
    axis_unit : astropy unit
        ``u.pix`` or ``u.AA``.
    unit : astropy unit
        Flux unit (ADU for extracted counts).
    meta : dict
    """

    flux: np.ndarray
    std: np.ndarray
    mask: np.ndarray
    axis: np.ndarray
    axis_unit: u.UnitBase = u.pix
    unit: u.UnitBase = u.adu
    meta: dict = field(default_factory=dict)

    @property
    def variance(self) -> np.ndarray:
        return np.asarray(self.std, float) ** 2

    def to_spectrum(self):
        """The same data as a ``specutils.Spectrum`` (StdDevUncertainty, mask, meta)."""
        from astropy.nddata import StdDevUncertainty
        from specutils import Spectrum

        return Spectrum(
            flux=np.asarray(self.flux, float) * self.unit,
            spectral_axis=np.asarray(self.axis, float) * self.axis_unit,
            uncertainty=StdDevUncertainty(np.asarray(self.std, float)),
            mask=np.asarray(self.mask, bool),
            meta=dict(self.meta),
        )

    @classmethod
    def from_spectrum(cls, spectrum) -> SpectrumArrays:
        """Arrays of a ``specutils.Spectrum`` (or a SpectrumArrays, returned as is)."""
        if isinstance(spectrum, cls):
            return spectrum
        from astropy.nddata import StdDevUncertainty

        flux = np.asarray(spectrum.flux.value, float)
        if spectrum.uncertainty is not None:
            std = np.asarray(spectrum.uncertainty.represent_as(StdDevUncertainty).array, float)
        else:
            std = np.zeros_like(flux)
        mask = (
            np.zeros(flux.size, bool) if spectrum.mask is None else np.asarray(spectrum.mask, bool)
        )
        axis = spectrum.spectral_axis
        return cls(
            flux=flux,
            std=std,
            mask=mask,
            axis=np.asarray(axis.value, float),
            axis_unit=axis.unit,
            unit=spectrum.flux.unit,
            meta=dict(getattr(spectrum, "meta", {}) or {}),
        )
