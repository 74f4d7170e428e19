"""Compressed raw files, as the archive serves them: gzip (``.fits.gz``) and
tile-compressed (``.fits.fz``, fpack).

The pipeline reads plain FITS files. These functions read a compressed file's header
(the image's header for ``.fz``, whose primary HDU is empty) and write a plain copy for a
job to reduce; the raw file itself is never modified.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

#: Suffixes of compressed raw files (lower case).
COMPRESSED_SUFFIXES = (".gz", ".fz")


def is_compressed(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).lower().endswith(COMPRESSED_SUFFIXES)


def plain_name(path: str | os.PathLike[str]) -> str:
    """The file name without its compression suffix (``a.fits.gz`` -> ``a.fits``;
    ``a.fz`` -> ``a.fits``)."""
    name = os.path.basename(os.fspath(path))
    lower = name.lower()
    if lower.endswith(".gz"):
        return name[:-3]
    if lower.endswith(".fits.fz"):
        return name[:-3]
    if lower.endswith(".fz"):
        return name[:-3] + ".fits"
    return name


def _image_hdu(hdul):
    """The HDU holding the image: the primary one, or the first compressed image."""
    from astropy.io import fits

    primary = hdul[0]
    if primary.header.get("NAXIS", 0) == 0 and len(hdul) > 1:
        for hdu in hdul[1:]:
            if isinstance(hdu, fits.CompImageHDU | fits.ImageHDU):
                return hdu
    return primary


def read_header(path: str | os.PathLike[str], *, check_data: bool = True):
    """The image header of a compressed FITS file (primary cards completed by the
    image's, for ``.fz``).

    Parameters
    ----------
    check_data : bool
        Also read the data through, so a truncated file is refused here.

    Raises
    ------
    ValueError
        When the file is not a readable compressed FITS file (with the reason).
    """
    from astropy.io import fits

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # astropy warns, then raises: report the error
            with fits.open(path, memmap=False) as hdul:
                hdu = _image_hdu(hdul)
                header = hdul[0].header.copy()
                if hdu is not hdul[0]:
                    for card in hdu.header.cards:
                        if card.keyword not in ("XTENSION", "PCOUNT", "GCOUNT", ""):
                            header[card.keyword] = (card.value, card.comment)
                    header["NAXIS"] = hdu.header.get("NAXIS", 0)
                if check_data and hdu.header.get("NAXIS", 0):
                    _ = hdu.data.shape  # decompresses: a truncated file fails here
    except Exception as exc:  # noqa: BLE001 - gzip, astropy and OS errors alike
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"not a readable compressed FITS file: {text}") from exc
    return header


def write_plain(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> Path:
    """A plain FITS copy of a compressed raw file in ``folder`` (same name, no suffix).

    Header and data of the image HDU; ``folder`` is private to the job (its attempt's).
    """
    from astropy.io import fits

    target = Path(folder) / plain_name(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with fits.open(path, memmap=False) as hdul:
        hdu = _image_hdu(hdul)
        header = read_header(path, check_data=False)
        for key in ("ZIMAGE", "ZBITPIX", "ZNAXIS", "ZNAXIS1", "ZNAXIS2", "ZCMPTYPE"):
            header.remove(key, ignore_missing=True)
        plain = fits.PrimaryHDU(hdu.data, header=header)
        tmp = target.with_name(f".{target.name}.tmp")
        plain.writeto(tmp, overwrite=True)
    os.replace(tmp, target)
    return target
