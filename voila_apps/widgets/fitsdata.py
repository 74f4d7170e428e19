"""Reading a downloaded FITS file into what the viewer draws: an image or a spectrum.

The bytes come from ``GET api/files/<id>/download/`` with the user's token (never from
the data directory); files are cached in a per-kernel temporary folder, keyed by id and
``last_modified`` so that a rewritten product is fetched again.
"""

from __future__ import annotations

import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # astropy is imported when a file is read, not with the page
    from astropy.io import fits


@dataclass
class ImageData:
    """A 2D frame."""

    data: np.ndarray
    header: fits.Header
    saturation: float | None = None


@dataclass
class SpectrumData:
    """A 1D spectrum: ``x`` in ``x_unit`` (Å, or pixel before wavelength calibration)."""

    x: np.ndarray
    flux: np.ndarray
    uncertainty: np.ndarray | None
    header: fits.Header
    x_label: str = "Pixel"
    flux_unit: str = "ADU"
    mask: np.ndarray | None = field(default=None)

    @property
    def calibrated(self) -> bool:
        return self.x_label.startswith("Wavelength")


def _axis(header, n: int) -> tuple[np.ndarray, str]:
    ctype = str(header.get("CTYPE1", "")).upper()
    crval = header.get("CRVAL1")
    cdelt = header.get("CDELT1", header.get("CD1_1"))
    crpix = header.get("CRPIX1", 1.0)
    if ctype != "PIXEL" and isinstance(crval, int | float) and isinstance(cdelt, int | float):
        unit = str(header.get("CUNIT1", "Angstrom") or "Angstrom")
        unit = "Å" if unit.lower() in ("angstrom", "angstroms", "aa") else unit
        return crval + (np.arange(n) + 1 - crpix) * cdelt, f"Wavelength ({unit})"
    return np.arange(n, dtype=float), "Pixel"


def read_fits(path: str | Path) -> ImageData | SpectrumData:
    """Read a Goodman raw frame or GSP product.

    Raises
    ------
    ValueError
        When the file holds neither an image nor a spectrum.
    """
    from astropy.io import fits

    with fits.open(path, memmap=False) as hdul:
        named = {h.name.upper(): h for h in hdul[1:]}
        for hdu in hdul:
            if isinstance(hdu, fits.BinTableHDU) and hdu.data is not None:
                cols = {n.lower(): n for n in hdu.columns.names}
                xn = next(
                    (cols[n] for n in ("wavelength", "spectral_axis", "wave") if n in cols), None
                )
                yn = next((cols[n] for n in ("flux", "counts", "intensity") if n in cols), None)
                if xn and yn:
                    un = next((cols[n] for n in ("uncertainty", "error", "std") if n in cols), None)
                    return SpectrumData(
                        np.asarray(hdu.data[xn], float),
                        np.asarray(hdu.data[yn], float),
                        np.asarray(hdu.data[un], float) if un else None,
                        hdul[0].header.copy(),
                        f"Wavelength ({hdu.columns[xn].unit or 'Å'})",
                    )
                continue
            data = getattr(hdu, "data", None)
            if data is None or not getattr(data, "size", 0):
                continue
            data = np.asarray(data, dtype=float)
            while data.ndim > 2:
                data = data[0]
            header = hdu.header.copy()
            if data.ndim == 1 or data.shape[0] == 1:
                flux = data.reshape(-1)
                x, label = _axis(header, flux.size)
                std = named.get("STD") or named.get("UNCERT") or named.get("ERROR")
                unc = None
                if std is not None and std.data is not None and std.data.size == flux.size:
                    unc = np.asarray(std.data, float).reshape(-1)
                mask_hdu = named.get("MASK")
                mask = None
                if mask_hdu is not None and mask_hdu.data is not None:
                    mask = np.asarray(mask_hdu.data).reshape(-1).astype(bool)
                return SpectrumData(
                    x, flux, unc, header, label, str(header.get("BUNIT", "ADU") or "ADU"), mask
                )
            saturation = header.get("GSP_SATV", header.get("SATURATE"))
            return ImageData(
                data, header, float(saturation) if isinstance(saturation, int | float) else None
            )
    raise ValueError(f"{Path(path).name}: no image or spectrum in the file")


class FileCache:
    """Downloads through the client and keeps the last few files read.

    Parameters
    ----------
    client : GSPClient-like
        Used for ``download(file_id, path)``.
    folder : path, optional
        Where files are written (default: a private temporary folder).
    keep : int
        Files kept in memory.
    """

    def __init__(self, client: Any, folder: str | Path | None = None, keep: int = 8) -> None:
        self.client = client
        self._tmp = None if folder else tempfile.TemporaryDirectory(prefix="gsp-view-")
        self.folder = Path(folder or self._tmp.name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.keep = keep
        self._loaded: OrderedDict[tuple, ImageData | SpectrumData] = OrderedDict()

    def get(self, record: dict) -> ImageData | SpectrumData:
        """The file of ``record`` read (downloaded once per version)."""
        key = (record["id"], record.get("last_modified"))
        if key in self._loaded:
            self._loaded.move_to_end(key)
            return self._loaded[key]
        target = self.folder / f"{record['id']}.fits"
        self.client.download(record["id"], target)
        loaded = read_fits(target)
        if isinstance(loaded, ImageData) and loaded.saturation is None:
            sat = record.get("saturation_value")
            loaded.saturation = float(sat) if sat else None
        target.unlink(missing_ok=True)
        self._loaded[key] = loaded
        while len(self._loaded) > self.keep:
            self._loaded.popitem(last=False)
        return loaded
