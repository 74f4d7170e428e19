"""Reading a 1-D product (``wecfzst_``, ``fwecfzst_``) as plain arrays and its header.

``specutils.Spectrum.read`` reads these files too, but importing specutils costs about
three seconds; the night's flux step (and a live job) reads them with astropy alone.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits

from pipeline.wavelength.arrays import SpectrumArrays
from pipeline.wavelength.shared_noise import read_band, read_shared_noise


def read_spectrum(path) -> tuple[SpectrumArrays, fits.Header]:
    """Read a 1-D product's spectrum (flux, std, mask, linear axis, unit) and its header.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``wecfzst_``/``fwecfzst_`` (or ``ecfzst_``) FITS file: the flux in the primary
        HDU, optional ``STD`` and ``MASK`` extensions, a linear WCS in the header.

    Returns
    -------
    spectrum : SpectrumArrays
        Flux in ``BUNIT`` (ADU when absent or unreadable), its standard deviation (zeros
        without a ``STD`` extension), the mask (all false without ``MASK``), and the
        spectral axis at pixel centres, in Å when ``CUNIT1`` is Angstrom or
        ``CTYPE1 = 'LINEAR'``, else in pixels; ``meta`` holds the bins' shared noise
        (``shared_noise`` and ``neighbour_covariance``, None without the ``COVAR`` and
        ``COVBAND`` extensions: :mod:`pipeline.wavelength.shared_noise`).
    header : astropy.io.fits.Header
        A copy of the primary header.

    Raises
    ------
    ValueError
        The file is not a 1-D spectrum of this pipeline's layout; the message says why.
    """
    path = Path(path)
    with warnings.catch_warnings(), fits.open(path, memmap=False) as hdul:
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        header = hdul[0].header.copy()
        data = hdul[0].data
        if data is None or data.ndim != 1:
            raise ValueError(f"{path.name}: not a 1-D spectrum (primary HDU holds {data!r:.40})")
        flux = np.asarray(data, float)
        std = np.asarray(hdul["STD"].data, float) if "STD" in hdul else np.zeros_like(flux)
        mask = np.asarray(hdul["MASK"].data, bool) if "MASK" in hdul else np.zeros(flux.size, bool)
        meta = {"shared_noise": read_shared_noise(hdul), "neighbour_covariance": read_band(hdul)}
    n = np.arange(flux.size)
    step = float(header.get("CDELT1", header.get("CD1_1", 1.0)))
    axis = float(header.get("CRVAL1", 0.0)) + step * (n + 1 - float(header.get("CRPIX1", 1.0)))
    cunit = str(header.get("CUNIT1", "")).strip().lower()
    axis_unit = u.AA if cunit.startswith("angstrom") or header.get("CTYPE1") == "LINEAR" else u.pix
    try:
        unit = u.Unit(str(header.get("BUNIT", "adu")))
    except ValueError:
        unit = u.adu
    spec = SpectrumArrays(
        flux=flux, std=std, mask=mask, axis=axis, axis_unit=axis_unit, unit=unit, meta=meta
    )
    return spec, header
