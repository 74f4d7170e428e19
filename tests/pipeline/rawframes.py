"""Hand-made raw Goodman frames for tests that need full control of one header card.

Headers copy the cards of the real 2024 Red camera file that classification and
reduction read; pixel data follow the 2x2 spectroscopic geometry (2071 x 948, 25
prescan columns, TRIMSEC [26:2055,2:948]).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from pipeline.instrument import frame_geometry

BIAS_LEVEL = 412.0
#: Slit edges of the hand-made flats, in trimmed rows.
SLIT_ROWS = (100.0, 830.0)

BASE_CARDS = {
    "OBJECT": "FRB20240312A",
    "INSTCONF": "Red",
    "INSTRUME": "ghts_red",
    "OBSRA": "03:26:29.404",
    "OBSDEC": "-54:36:19.526",
    "LAMP_HGA": "FALSE",
    "LAMP_NE": "FALSE",
    "LAMP_AR": "FALSE",
    "LAMP_FE": "FALSE",
    "LAMP_CU": "FALSE",
    "LAMP_QUA": "FALSE",
    "CAM_TARG": 11.6,
    "GRT_TARG": 5.8,
    "FILTER": "NO_FILTER",
    "FILTER2": "NO_FILTER",
    "GRATING": "400_SYZY",
    "SLIT": "1.0_LONG_SLIT",
    "WAVMODE": "400_M1",
    "EXPTIME": 300.0,
    "RDNOISE": 3.89,
    "GAIN": 1.48,
    "OBSTYPE": "OBJECT",
    "ROI": "Spectroscopic 2x2",
    "DISPAXIS": 1,
    "TRIMSEC": "[26:2055,2:948]",
    "CCDSUM": "2 2",
    "PROPID": "SOAR-2024A-001",
    "DATE-OBS": "2024-03-20T00:03:11.448",
}

ROLE_CARDS = {
    "bias": {"OBSTYPE": "BIAS", "OBJECT": "Bias", "EXPTIME": 0.0},
    "flat": {"OBSTYPE": "FLAT", "OBJECT": "Flat", "LAMP_QUA": "TRUE", "EXPTIME": 5.0},
    "arc": {"OBSTYPE": "COMP", "OBJECT": "HgAr", "LAMP_HGA": "TRUE", "EXPTIME": 10.0},
    "science": {},
}


def header(role: str = "science", **cards) -> fits.Header:
    h = fits.Header()
    values = {**BASE_CARDS, **ROLE_CARDS[role], **cards}
    for key, value in values.items():
        if value is not None:
            h[key] = value
    return h


def bias_pattern(nx: int) -> np.ndarray:
    """A column pattern that makes misaligned bias subtraction visible."""
    x = np.arange(nx)
    pattern = 30.0 * ((x // 7) % 2)  # 7-column stripes: a shift of one column shows
    pattern[:25] = 0
    return pattern


def pixels(role: str, rng: np.random.Generator, n_cosmics: int = 0) -> np.ndarray:
    g = frame_geometry(2)
    data = np.full(g.shape, BIAS_LEVEL) + bias_pattern(g.nx)[None, :]
    rows = np.arange(g.ny) - 1.0  # trimmed row coordinate
    illum = ((rows >= SLIT_ROWS[0]) & (rows <= SLIT_ROWS[1])).astype(float)
    cols = slice(g.prescan, g.prescan + g.data_width)
    x = np.arange(g.data_width)
    if role == "flat":
        lamp = 20000.0 * (0.6 + 0.4 * np.sin(np.pi * x / g.data_width))
        data[:, cols] += illum[:, None] * lamp[None, :]
    elif role == "science":
        data[:, cols] += illum[:, None] * 200.0
    elif role == "arc":
        line = np.zeros(g.data_width)
        line[::100] = 5000.0
        data[:, cols] += illum[:, None] * line[None, :]
    data += rng.normal(0.0, 3.89 / 1.48, g.shape)
    if n_cosmics:
        ys = rng.integers(1, g.ny, n_cosmics)
        xs = rng.integers(g.prescan, g.prescan + g.data_width, n_cosmics)
        data[ys, xs] += 5000.0
    data[0, :] -= 5.0
    return np.clip(np.round(data), 0, 65535).astype(np.uint16)


def write(path: Path, role: str = "science", rng=None, data=None, **cards) -> Path:
    rng = rng or np.random.default_rng(0)
    data = pixels(role, rng) if data is None else data
    hdu = fits.PrimaryHDU(data=data, header=header(role, **cards))
    hdu.writeto(path, overwrite=True)
    return path


def small_night(folder: Path, n_bias: int = 3, n_flats: int = 3, n_science: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    t = 0
    for role, n in (("bias", n_bias), ("flat", n_flats), ("arc", 1), ("science", n_science)):
        for i in range(n):
            t += 1
            write(
                folder / f"{t:04d}_{role}_{i}.fits",
                role,
                rng,
                **{"DATE-OBS": f"2024-03-20T00:{t:02d}:00.000"},
            )
    return folder
