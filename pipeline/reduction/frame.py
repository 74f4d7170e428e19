"""A frame on its way through the stages: loading raw data and the running state."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import CCDData

from pipeline.classify import Classification, classify
from pipeline.reduction import masks
from pipeline.reduction.geometry import RawGeometry, dark_overscan, dark_prescan, raw_geometry
from pipeline.reduction.sections import parse_section


@dataclass
class FrameState:
    """One frame being reduced.

    ``prefix`` gathers goodman_pipeline's step letters, newest first (``"cfzst"``);
    ``cards`` gathers the ``GSP_*`` values the stages set (``GSP_TRIM``, ``GSP_SLIT``...);
    ``notes`` are human-readable remarks that end up in the night's status table.
    """

    ccd: CCDData
    classification: Classification
    path: Path
    prefix: str = ""
    cards: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    flags: np.ndarray | None = None
    prescan_level: float | None = None
    trim_section: str | None = None
    slit_section: str | None = None
    products: list[Path] = field(default_factory=list)
    geometry: RawGeometry | None = None

    def add_step(self, letter: str) -> None:
        self.prefix = letter + self.prefix

    def cut_flags(self, section: str) -> None:
        """Cut :attr:`flags` like the data (trim and slit trim call this)."""
        if self.flags is not None:
            rows, cols = parse_section(section)
            self.flags = self.flags[rows, cols]

    def flag(self, where: np.ndarray, bit) -> None:
        """Set ``bit`` in :attr:`flags` where ``where`` is true."""
        if self.flags is None:
            self.flags = np.zeros(self.ccd.shape, np.uint8)
        self.flags[where] |= bit


def geometry_for(classification: Classification, shape: tuple[int, int]) -> RawGeometry:
    """Work out the raw layout of a frame from its binning and shape (see :mod:`.geometry`).

    Parameters
    ----------
    classification : Classification
        The frame's classification (binning from CCDSUM, TRIMSEC).
    shape : tuple of (int, int)
        (rows, columns) of the raw data.

    Returns
    -------
    RawGeometry
        Trim section, prescan, first unbinned column and the decisions taken.

    Raises
    ------
    ValueError
        The frame is too small to hold any data.
    """
    return raw_geometry(shape, classification.binning, classification.trimsec)


def trim_section_for(classification: Classification, shape: tuple[int, int]) -> str:
    """Give the trim section of a raw frame, from its binning and shape.

    Parameters
    ----------
    classification : Classification
        The frame's classification (binning, TRIMSEC).
    shape : tuple of (int, int)
        (rows, columns) of the raw data.

    Returns
    -------
    str
        FITS section (1-based, inclusive) of the pixels kept, e.g. ``"[26:2055,2:948]"``.

    Raises
    ------
    ValueError
        The frame is too small to hold any data.
    """
    return geometry_for(classification, shape).trim_section


def prescan_level(data: np.ndarray, geometry: RawGeometry) -> float | None:
    """Measure the bias level of the dark prescan columns (:func:`.geometry.dark_prescan`).

    Parameters
    ----------
    data : numpy.ndarray
        The raw, untrimmed pixels in ADU, shape ``(ny, nx)``.
    geometry : RawGeometry
        The frame's layout (where the prescan is).

    Returns
    -------
    float or None
        The level in ADU; ``None`` when the frame has no usable prescan (a window).
    """
    return dark_prescan(data, geometry).level


def image_2d(data: np.ndarray) -> np.ndarray:
    """Take the 2-D image of a primary HDU; pre-2016 files hold it as a 1 x ny x nx cube.

    Parameters
    ----------
    data : numpy.ndarray or None
        The primary HDU's data.

    Returns
    -------
    numpy.ndarray
        The ``(ny, nx)`` image (a view; leading axes of length 1 dropped).

    Raises
    ------
    ValueError
        No data, or more than one plane.
    """
    if data is None:
        raise ValueError("primary HDU holds no data")
    while data.ndim > 2 and data.shape[0] == 1:
        data = data[0]
    if data.ndim != 2:
        raise ValueError(f"primary HDU holds a {data.shape} array, not one 2-D image")
    return data


def read_raw(path: str | Path, classification: Classification | None = None) -> FrameState:
    """Read a raw Goodman file as a float32 ``CCDData`` in ADU with a saturation mask.

    The trim section and the prescan level are measured here, from the untrimmed
    pixels; later stages use them.

    Parameters
    ----------
    path : str or pathlib.Path
        The raw FITS file (never written).
    classification : Classification or None
        The file's classification when already made; ``None`` classifies its header.

    Returns
    -------
    FrameState
        The untrimmed ``CCDData`` (ADU, float32, mask = saturated pixels), the ``flags``
        bit map, the raw geometry and trim section, the prescan level and the header cards
        (``GSP_PSEC``, ``GSP_OSEC``, ``GSP_X0``) and notes for the product.
    """
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        with fits.open(path, memmap=False) as hdul:
            header = hdul[0].header.copy()
            raw = hdul[0].data
            ndim = 0 if raw is None else raw.ndim
            data = np.asarray(image_2d(raw), dtype=np.float32)
    if classification is None:
        classification = classify(header, path=path)
    saturated = data >= classification.saturation
    flags = saturated.astype(np.uint8) * masks.SATURATED
    ccd = CCDData(data, unit=u.adu, header=header, mask=saturated)
    state = FrameState(ccd=ccd, classification=classification, path=path, flags=flags)
    geometry = geometry_for(classification, data.shape)
    state.geometry = geometry
    state.trim_section = geometry.trim_section
    if ndim > 2:
        state.notes.append(f"data stored as a {ndim}-D array (pre-2016 file): its 2-D plane used")
    state.notes += list(geometry.decisions)
    if geometry.binning[0] != classification.binning[0]:
        # The width is a full readout of another column binning: the data win, and
        # every later step (wavelengths at binned pixel centres) must use theirs.
        state.ccd.header["CCDSUM"] = (
            f"{geometry.binning[0]} {geometry.binning[1]}",
            f"From the data width; header said {classification.ccdsum!r}",
        )
    prescan = dark_prescan(data, geometry)
    state.prescan_level = prescan.level
    if prescan.note:
        state.notes.append(prescan.note)
    if prescan.section:
        state.cards["GSP_PSEC"] = (prescan.section, "Prescan columns at bias level (measured)")
    overscan = dark_overscan(data, geometry, prescan)
    if overscan is not None:
        state.cards["GSP_OSEC"] = (
            f"[{overscan.start + 1}:{overscan.stop}]",
            "Columns right of the trim at bias level (measured)",
        )
    state.cards["GSP_X0"] = (
        geometry.first_unbinned_column,
        "Unbinned raw column (0-based) of trimmed column 0",
    )
    return state
