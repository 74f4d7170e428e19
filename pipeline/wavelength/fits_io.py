"""Writing 1-D spectra as FITS that ``specutils.Spectrum.read(path)`` reads unaided.

Layout (specutils' ``wcs1d-fits`` format, which it identifies without a format
argument): the primary HDU holds the flux with a linear WCS (``CTYPE1 = 'LINEAR'`` as
goodman_pipeline writes it, ``CUNIT1 = 'Angstrom'``, ``CRVAL1``/``CDELT1``/``CD1_1``/
``CRPIX1``; with the standard ``'WAVE'`` astropy converts the axis to metres on
reading, and the product must read back in Å) and every card of
the parent's header; a ``STD`` image HDU holds the standard deviation and a
``MASK`` image HDU the mask; ``COVAR`` (an optimal extraction's) and ``COVBAND`` (a
resampled spectrum's) image HDUs hold the noise its bins share
(:mod:`pipeline.wavelength.shared_noise`, for the error of sums over many bins). The
non-linear pixel solution stays in the header as
``GSP_FUNC``/``GSP_ORDR``/``GSP_Cnnn`` (goodman_pipeline's cards).

specutils' own ``wcs1d-fits`` writer is not used: it fails on spectra whose spectral
axis is an array (``'Header' object has no attribute 'header'`` in specutils 2.4), and
it would drop the parent header's cards.

A pixel-space spectrum (no solution yet, the ``ecfzst_`` product) is written the same
way with a pixel WCS (``CTYPE1 = 'PIXEL'``, ``CUNIT1 = 'pixel'``).
"""

from __future__ import annotations

from pathlib import Path

import astropy.units as u
import numpy as np
from astropy.io import fits

from pipeline.products import apply_cards, fits_text, write_fits_atomic
from pipeline.wavelength.arrays import SpectrumArrays
from pipeline.wavelength.shared_noise import band_hdu, in_std_hdu, shared_noise_hdu

#: Cards of a 2-D parent that must not describe the 1-D product.
_DROP = (
    "NAXIS1",
    "NAXIS2",
    "WCSAXES",
    "CTYPE1",
    "CTYPE2",
    "CRVAL1",
    "CRVAL2",
    "CRPIX1",
    "CRPIX2",
    "CDELT1",
    "CDELT2",
    "CD1_1",
    "CD1_2",
    "CD2_1",
    "CD2_2",
    "CUNIT1",
    "CUNIT2",
    "LTM1_1",
    "LTM2_2",
    "LTV1",
    "LTV2",
    "WAT0_001",
    "WAT1_001",
    "WAT2_001",
    "PC1_1",
    "PC1_2",
    "PC2_1",
    "PC2_2",
    "BSCALE",
    "BZERO",
    "BUNIT",
    "DATASEC",
    "CHECKSUM",
    "DATASUM",
)


def _clean_header(header) -> fits.Header:
    out = fits.Header()
    if header is None:
        return out
    for card in header.cards:
        key = card.keyword
        if key in ("SIMPLE", "BITPIX", "NAXIS", "EXTEND", "XTENSION", "PCOUNT", "GCOUNT"):
            continue
        if key in _DROP or key.startswith("NAXIS"):
            continue
        if key in ("COMMENT", "HISTORY", ""):
            out.add_comment(card.value) if key == "COMMENT" else (
                out.add_history(card.value) if key == "HISTORY" else None
            )
            continue
        # a copy: the parent's Card objects must not change with the product's header
        out.append(fits.Card(card.keyword, card.value, card.comment), end=True)
    return out


def spectrum_hdul(spectrum, header=None, extra_cards=(), solution=None) -> fits.HDUList:
    """The HDU list :func:`write_spectrum` writes (for callers that write atomically).

    ``spectrum`` is a ``specutils.Spectrum`` or a :class:`SpectrumArrays`; with a
    ``solution`` its line table is appended as a ``LINES`` BINTABLE.

    Parameters
    ----------
    spectrum : specutils.Spectrum or SpectrumArrays
        A 1-D spectrum on a linear wavelength axis (Å) or on pixels.
    header : astropy.io.fits.Header or None
        Cards to keep (the parent's header; WCS and structural cards are dropped);
        ``None`` for none.
    extra_cards : iterable of tuple of (str, object, str)
        More ``(key, value, comment)`` cards (lineage, settings).
    solution : WavelengthSolution or None
        The solution whose lines become the ``LINES`` table; ``None`` for no table.

    Returns
    -------
    astropy.io.fits.HDUList
        Primary (flux, float32, linear WCS), ``STD`` (when the spectrum has one), ``MASK``
        (uint8), ``COVAR``, ``COVDIAG`` and ``COVBAND`` (the noise the bins share, when the
        spectrum has it: :mod:`pipeline.wavelength.shared_noise`) and optionally
        ``LINES``.

    Raises
    ------
    ValueError
        A wavelength axis that is not linear (resample it first).
    """
    spec = SpectrumArrays.from_spectrum(spectrum)
    flux = np.asarray(spec.flux, dtype=np.float32)
    axis = np.asarray(spec.axis, float) * spec.axis_unit
    hdr = _clean_header(header)
    if axis.unit.physical_type == "length":
        wave = axis.to_value(u.AA)
        step = np.diff(wave)
        if wave.size > 1 and not np.allclose(step, step[0], rtol=1e-6, atol=1e-6):
            raise ValueError(
                "spectral axis is not linear; resample it with apply_solution() before "
                "writing (the non-linear solution belongs in the GSP_* header cards)"
            )
        hdr["CTYPE1"] = ("LINEAR", "Air wavelength, linear [Angstrom]")
        hdr["CUNIT1"] = ("Angstrom", "Unit of the spectral axis")
        hdr["CRVAL1"] = (float(wave[0]), "Wavelength of the first pixel [Angstrom]")
        delta = float(step[0]) if wave.size > 1 else 1.0
        hdr["WAT0_001"] = "system=equispec"
        hdr["WAT1_001"] = "wtype=linear label=Wavelength units=angstroms"
        hdr["DC-FLAG"] = (0, "Linear dispersion")
    else:
        hdr["CTYPE1"] = ("PIXEL", "Binned pixel index along the dispersion axis")
        hdr["CUNIT1"] = ("pixel", "")
        hdr["CRVAL1"] = (float(axis.value[0]), "Pixel index of the first element")
        delta = 1.0
    hdr["CRPIX1"] = (1.0, "Reference pixel")
    hdr["CDELT1"] = (delta, "Step of the spectral axis")
    hdr["CD1_1"] = (delta, "Step of the spectral axis")
    hdr["WCSDIM"] = 1
    hdr["DISPAXIS"] = 1
    hdr["BUNIT"] = spec.unit.to_string() or "adu"
    apply_cards(hdr, extra_cards)
    primary = fits.PrimaryHDU(data=flux, header=hdr)
    hdus = [primary]
    if spec.std is not None:
        std = np.asarray(spec.std, float)
        # masked bins may carry an infinite or absurd error: NaN in float32
        std = np.where(np.isfinite(std) & (np.abs(std) < 1e30), std, np.nan)
        uh = fits.Header()
        uh["BUNIT"] = hdr["BUNIT"]
        # "STD": the one standard-deviation HDU name specutils 2.4 reads back (it
        # fails on "UNCERT" and "ERR" while working out their unit).
        hdus.append(fits.ImageHDU(np.asarray(std, np.float32), header=uh, name="STD"))
    mask = spec.mask if spec.mask is not None else np.zeros(flux.size, bool)
    hdus.append(fits.ImageHDU(np.asarray(mask, np.uint8), name="MASK"))
    shared = spec.meta.get("shared_noise")
    if spec.meta.get("profile_covariance") is not None:
        shared = spec.meta["profile_covariance"].shared_noise
    if shared is not None and shared.vectors.shape[0]:
        hdus.append(shared_noise_hdu(shared, hdr["BUNIT"]))
        if shared.in_std is not None:
            hdus.append(in_std_hdu(shared.in_std, hdr["BUNIT"]))
    if spec.meta.get("neighbour_covariance") is not None:
        hdus.append(band_hdu(spec.meta["neighbour_covariance"], hdr["BUNIT"]))
    if solution is not None and getattr(solution, "lines", None) is not None:
        from pipeline.wavelength.line_table import lines_hdu

        hdus.append(lines_hdu(solution))
    return fits.HDUList(hdus)


def write_spectrum(
    spectrum, path: str | Path, header=None, extra_cards=(), raw_dirs=(), solution=None
) -> Path:
    """Write a 1-D spectrum atomically as a FITS file specutils reads with no format.

    Parameters
    ----------
    spectrum : specutils.Spectrum or SpectrumArrays
        Spectral axis in a length unit on a linear grid (see
        :func:`~pipeline.wavelength.resample.apply_solution`) or in pixels.
    path : str or Path
        Destination (written to a temporary file beside it, then renamed).
    header : astropy.io.fits.Header, optional
        Parent header whose cards are kept (2-D WCS cards are dropped).
    extra_cards : iterable of (key, value, comment)
        Cards added last (lineage, ``GSP_*`` solution, quality).
    raw_dirs : iterable of paths
        Folders of raw files, which are never overwritten.
    solution : WavelengthSolution, optional
        Its line table is written as the ``LINES`` extension.

    Returns
    -------
    Path
    """
    path = Path(path)
    hdul = spectrum_hdul(spectrum, header, extra_cards, solution=solution)
    # Every product names itself (GSP_FNAM): that is how a later run recognises a file
    # it may overwrite.
    hdul[0].header["GSP_FNAM"] = (fits_text(path.name), "Current file name")
    return write_fits_atomic(hdul, path, raw_dirs=raw_dirs)
