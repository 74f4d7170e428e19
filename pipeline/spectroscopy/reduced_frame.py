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


def column_binning(header) -> int:
    """The binning along columns, the first factor of ``CCDSUM``.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A reduced frame's header.

    Returns
    -------
    int
        The first factor of ``CCDSUM``; 1 when it is absent or unreadable.
    """
    try:
        return int(str(header.get("CCDSUM", "1 1")).split()[0])
    except (ValueError, IndexError):
        return 1


def ccdsum_of(header) -> str:
    """The ``CCDSUM`` card as written, for messages.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A reduced frame's header.

    Returns
    -------
    str
        ``CCDSUM`` stripped of blanks at either end, ``"?"`` when absent.
    """
    return str(header.get("CCDSUM", "?")).strip()


def observation_date(header) -> datetime | None:
    """The time of observation, from ``DATE-OBS``.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A reduced frame's header.

    Returns
    -------
    datetime.datetime or None
        ``DATE-OBS`` read as ISO 8601; None when it is absent or unreadable.
    """
    try:
        return datetime.fromisoformat(str(header.get("DATE-OBS", "")).strip())
    except ValueError:
        return None


def raw_name_of(header, fallback: str) -> str:
    """The name of the raw file a product comes from (``GSP_ONAM``).

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A reduced frame's header.
    fallback : str
        The name returned when the header names no raw file.

    Returns
    -------
    str
        The raw file's name.
    """
    return header_name(header, "GSP_ONAM", fallback)
