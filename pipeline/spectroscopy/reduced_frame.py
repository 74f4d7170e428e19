"""A reduced frame as the spectroscopy chain reads it, and the header cards it needs.

:func:`load_reduced` reads a reduced product (its uncertainty, its mask with the
cleaned cosmic-ray pixels unmasked, and the mask's bits); the helpers read the binning,
``CCDSUM``, the time of observation and the raw file name from a header.
"""

from __future__ import annotations

import warnings
from datetime import datetime
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData

from pipeline.products import header_name


def load_reduced(item) -> tuple[CCDData, str]:
    """A reduced frame and its file name, from a path or a CCDData (header GSP_FNAM).

    Parameters
    ----------
    item : path or CCDData

    Returns
    -------
    ccd : CCDData
        With uncertainty and mask (cleaned cosmic-ray pixels unmasked), and the
        ``MASK`` bits in ``flags``.
    name : str
    """
    if isinstance(item, CCDData):
        name = header_name(item.header, "GSP_FNAM", item.meta.get("file_name", "frame.fits"))
        return item, name
    path = Path(item)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # datfix and other harmless FITS fixes
        ccd = CCDData.read(path, hdu_uncertainty="UNCERT", hdu_mask="MASK", unit="adu")
        with fits.open(path, memmap=False) as hdul:
            bits = hdul["MASK"].data if "MASK" in hdul else None
    if bits is not None:
        from pipeline.reduction.masks import COSMIC_RAY

        # Cosmic-ray pixels were cleaned by the CCD reduction: their values are usable
        # (and optimal extraction rejects what is left of a hit), so only saturated and
        # bad-flat pixels stay masked; masking cleaned pixels would blank whole columns
        # of a fractional extraction.
        ccd.mask = (np.asarray(bits, np.uint8) & ~np.uint8(COSMIC_RAY)) != 0
        # ... and their bits go along: extraction bridges them with the target's
        # profile, which a line's core fits better than the cleaning's neighbour mean
        ccd.flags = np.asarray(bits, np.uint8)
    return ccd, path.name


def _binning(header) -> int:
    try:
        return int(str(header.get("CCDSUM", "1 1")).split()[0])
    except (ValueError, IndexError):
        return 1


def _ccdsum(header) -> str:
    return str(header.get("CCDSUM", "?")).strip()


def _date(header) -> datetime | None:
    try:
        return datetime.fromisoformat(str(header.get("DATE-OBS", "")).strip())
    except ValueError:
        return None


def _raw_name(header, fallback: str) -> str:
    return header_name(header, "GSP_ONAM", fallback)
