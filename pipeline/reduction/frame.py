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
from pipeline.instrument import frame_geometry
from pipeline.reduction import masks
from pipeline.reduction.sections import fits_within, parse_section


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


def trim_section_for(classification: Classification, shape: tuple[int, int]) -> str:
    """The trim section of a raw frame: its ``TRIMSEC`` or the instrument geometry.

    Raises
    ------
    ValueError
        Neither a usable ``TRIMSEC`` nor a known geometry matches the frame's shape.
    """
    if classification.trimsec:
        try:
            if fits_within(classification.trimsec, shape):
                return classification.trimsec
        except ValueError:
            pass
    binning = classification.binning[0]
    try:
        geometry = frame_geometry(binning, imaging=classification.technique == "Imaging")
    except ValueError:
        geometry = None
    if geometry is not None and geometry.shape == tuple(shape):
        return geometry.trim_section
    raise ValueError(
        f"no usable TRIMSEC ({classification.trimsec or 'missing'}) and shape {shape} "
        f"matches no known {classification.technique} {binning}x{binning} geometry"
    )


def prescan_level(data: np.ndarray, trim_section: str) -> float | None:
    """Clipped mean of the prescan columns (left of the trim section), or ``None``.

    A mean, not a median: raw values are integers, and the median of integers is
    quantized to half an ADU, as large as the sky of a dark 2x2 exposure's 1 %.
    Values beyond 5 robust sigma (hot pixels, a cosmic ray) are left out.
    """
    rows, cols = parse_section(trim_section)
    if cols.start < 2:
        return None
    # The first column is often a readout artifact: skip it when there is room.
    first = 1 if cols.start > 3 else 0
    values = data[rows, first : cols.start].astype(np.float64).ravel()
    median = np.median(values)
    spread = 1.4826 * np.median(np.abs(values - median)) or 1.0
    return float(np.mean(values[np.abs(values - median) <= 5 * spread]))


def read_raw(path: str | Path, classification: Classification | None = None) -> FrameState:
    """Read a raw Goodman file as a float32 ``CCDData`` in ADU with a saturation mask.

    The trim section and the prescan level are measured here, from the untrimmed
    pixels; later stages use them.
    """
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        with fits.open(path, memmap=False) as hdul:
            header = hdul[0].header.copy()
            data = hdul[0].data
            if data is None or data.ndim != 2:
                raise ValueError("primary HDU holds no 2-D image")
            data = np.asarray(data, dtype=np.float32)
    if classification is None:
        classification = classify(header, path=path)
    saturated = data >= classification.saturation
    flags = saturated.astype(np.uint8) * masks.SATURATED
    ccd = CCDData(data, unit=u.adu, header=header, mask=saturated)
    state = FrameState(ccd=ccd, classification=classification, path=path, flags=flags)
    state.trim_section = trim_section_for(classification, data.shape)
    state.prescan_level = prescan_level(data, state.trim_section)
    return state
