"""Small synthetic raw files for the ingest tests."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
from astropy.io import fits

RAW_CARDS = {
    "OBSTYPE": "COMP",
    "OBJECT": "HgArNe",
    "INSTCONF": "Red",
    "GAIN": 1.48,
    "RDNOISE": 3.89,
    "DATE-OBS": "2020-11-27T00:30:52.692",
    "CCDSUM": "2 2",
    "ROI": "Spectroscopic 2x2",
    "GRATING": "400_SYZY",
    "SLIT": "1.0_LONG_SLIT",
    "WAVMODE": "400_M2",
    "FILTER": "NO_FILTER",
    "FILTER2": "GG455",
    "CAM_TARG": 16.1,
    "GRT_TARG": 7.5,
    "OBSRA": "05:34:22.372",
    "OBSDEC": "-5:24:52.448",
    "PROPID": "SOAR2020B-008",
    "OBSID": 1,
    "CONFID": 1,
    "BLOCK_ID": 0,
    "IMAGEID": "34304",
}


def raw_bytes(shape=(12, 40), seed=0, **cards) -> bytes:
    """The bytes of a small raw Goodman-like FITS file (``None`` removes a card)."""
    header = fits.Header()
    for key, value in {**RAW_CARDS, **cards}.items():
        if value is not None:
            header[key] = value
    data = np.random.default_rng(seed).integers(900, 1100, size=shape).astype(np.uint16)
    hdu = fits.PrimaryHDU(data=data, header=header)
    buffer = BytesIO()
    hdu.writeto(buffer)
    return buffer.getvalue()


def write_raw(path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw_bytes(**kwargs))
    return path
