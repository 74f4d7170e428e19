"""Facts about the Goodman spectrograph that every stage needs.

Readout modes (gain, read noise and the saturation level of each), the raw frame
geometry of each ROI and binning, and the plate scale. Nothing here reads files: the
classifier and the simulator both build on these tables so that they agree.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

#: Arcseconds per unbinned pixel along the slit.
PLATE_SCALE_ARCSEC = 0.15
#: Physical size of an unbinned pixel, micrometres.
PIXEL_SIZE_UM = 15.0
#: Raw data are unsigned 16-bit: nothing above this can be recorded.
DIGITAL_SATURATION_ADU = 65535

CAMERAS = ("Red", "Blue")
BINNINGS = (1, 2, 3)


@dataclass(frozen=True)
class ReadoutMode:
    """One readout mode of a Goodman camera.

    ``level_adu`` is goodman_pipeline's "half full well" of the mode (50 % of the
    pixel's full well, in ADU); goodman_pipeline uses it only to reject flats with too
    many pixels above it, and calls it a saturation level "though they are not the same
    thing". A pixel saturates at the full well or at the 16-bit limit, whichever comes
    first (:attr:`saturation_adu`); flats are checked against :attr:`half_well_adu`.
    """

    camera: str
    rate_khz: int
    attenuation: int
    gain: float
    rdnoise: float
    level_adu: int

    @property
    def full_well_adu(self) -> int:
        """Full well in ADU: twice the half full well (the table's definition)."""
        return 2 * self.level_adu

    @property
    def saturation_adu(self) -> int:
        """Level (raw ADU) at and above which a pixel is saturated: full well or 16 bits.

        Not the half full well: on the real Blue 100kHz ATTN3 flat (gain 2.06) the
        photon-transfer variance keeps rising as a linear, Poisson + 0.34 % PRNU detector
        up to 54000 ADU above bias, and the star's spatial profile keeps its shape
        (peak/sum 0.042, sigma 9.0 px) from 17000 to 35500 ADU; masking at the half
        well (33932 ADU) lost a third of that spectrum's columns.
        """
        return min(self.full_well_adu, DIGITAL_SATURATION_ADU)

    @property
    def half_well_adu(self) -> int:
        """Half full well capped at 16 bits: goodman_pipeline's flat-rejection level."""
        return min(self.level_adu, DIGITAL_SATURATION_ADU)

    @property
    def name(self) -> str:
        return f"{self.camera} {self.rate_khz}kHz ATTN{self.attenuation}"


# Source of every row: goodman_pipeline (BSD-3), goodman_pipeline/core/core.py,
# class SaturationValues, columns camera, read_rate (kHz), analog_attn, gain (e-/ADU),
# read_noise (e-), half_full_well (ADU); commit c9ce517 of soar-telescope/goodman_pipeline.
# Its rows are one well per camera divided by the gain (Blue 69 900 e-, Red 102 500 e-
# half well). The real HD109379 frame's header (GAIN 2.06, RDNOISE 3.99, "Tested Speeds
# 330 (100 KHz)", "Analog Attenuation 3 (High)") is the Blue 100 kHz ATTN3 row.
READOUT_MODES: tuple[ReadoutMode, ...] = (
    ReadoutMode("Blue", 50, 0, 0.25, 3.33, 279600),
    ReadoutMode("Blue", 50, 2, 0.47, 3.35, 148723),
    ReadoutMode("Blue", 50, 3, 0.91, 3.41, 76813),
    ReadoutMode("Blue", 100, 0, 0.56, 3.69, 124821),
    ReadoutMode("Blue", 100, 2, 1.06, 3.72, 65943),
    ReadoutMode("Blue", 100, 3, 2.06, 3.99, 33932),
    ReadoutMode("Blue", 200, 0, 1.4, 4.74, 49928),
    ReadoutMode("Blue", 200, 2, 2.67, 5.12, 26179),
    ReadoutMode("Blue", 400, 0, 5.67, 8.62, 12328),
    ReadoutMode("Red", 100, 3, 1.54, 3.45, 66558),
    ReadoutMode("Red", 100, 2, 3.48, 5.88, 29454),
    ReadoutMode("Red", 344, 3, 1.48, 3.89, 69257),
    ReadoutMode("Red", 344, 0, 3.87, 7.05, 26486),
    ReadoutMode("Red", 750, 2, 1.47, 5.27, 69728),
    ReadoutMode("Red", 750, 0, 3.77, 8.99, 27188),
)


class UnknownReadoutModeWarning(UserWarning):
    """A GAIN/RDNOISE pair that is not in the readout table."""


def find_readout_mode(
    gain: float, rdnoise: float, camera: str | None = None, tol: float = 0.006
) -> ReadoutMode | None:
    """Return the readout mode with this gain and read noise, or ``None``.

    Parameters
    ----------
    gain, rdnoise : float
        ``GAIN`` (e-/ADU) and ``RDNOISE`` (e-) as written in the header.
    camera : str, optional
        ``"Red"`` or ``"Blue"`` (``INSTCONF``); when given, only that camera's modes match.
    tol : float
        Absolute tolerance on both values (headers round them to two decimals).

    Returns
    -------
    ReadoutMode or None
        The first mode of ``READOUT_MODES`` within ``tol`` of both values; ``None`` when no
        mode matches.
    """
    for mode in READOUT_MODES:
        if camera is not None and mode.camera.lower() != str(camera).strip().lower():
            continue
        if abs(mode.gain - gain) <= tol and abs(mode.rdnoise - rdnoise) <= tol:
            return mode
    return None


def saturation_level(gain: float, rdnoise: float, camera: str | None = None) -> int:
    """Saturation level in ADU for a readout mode.

    An unknown GAIN/RDNOISE pair never raises: it falls back to the 16-bit limit
    (65535) with an :class:`UnknownReadoutModeWarning`, since a frame from a new or
    mistyped mode must still be reduced.

    Parameters
    ----------
    gain : float
        ``GAIN`` in e-/ADU, as written in the header.
    rdnoise : float
        ``RDNOISE`` in e-, as written in the header.
    camera : str or None
        ``"Red"`` or ``"Blue"``; ``None`` matches either camera's modes.

    Returns
    -------
    int
        The mode's full well in ADU (twice its "half full well") capped at the 16-bit
        limit (65535), or 65535 for an unknown mode.
    """
    mode = find_readout_mode(gain, rdnoise, camera)
    if mode is None:
        warnings.warn(
            f"GAIN={gain} RDNOISE={rdnoise} is not a known readout mode"
            f"{' of the ' + camera + ' camera' if camera else ''}; "
            f"using the 16-bit limit {DIGITAL_SATURATION_ADU} ADU as saturation level",
            UnknownReadoutModeWarning,
            stacklevel=2,
        )
        return DIGITAL_SATURATION_ADU
    return mode.saturation_adu


def half_well_level(gain: float, rdnoise: float, camera: str | None = None) -> int:
    """goodman_pipeline's flat-rejection level (half full well, ADU) of a readout mode.

    Parameters
    ----------
    gain, rdnoise : float
        ``GAIN`` (e-/ADU) and ``RDNOISE`` (e-) as written in the header.
    camera : str or None
        ``"Red"`` or ``"Blue"``; ``None`` matches either camera's modes.

    Returns
    -------
    int
        The mode's half full well capped at 65535; 65535 for an unknown mode (no
        warning: :func:`saturation_level` gives it).
    """
    mode = find_readout_mode(gain, rdnoise, camera)
    return DIGITAL_SATURATION_ADU if mode is None else mode.half_well_adu


# Unbinned raw geometry of both cameras (columns are the dispersion axis); the raw
# layout of any frame is worked out from these in pipeline.reduction.geometry.
#: Columns of a full unbinned readout.
RAW_WIDTH_1X1 = 4142
#: Unbinned prescan columns at the left of a full readout.
PRESCAN_1X1 = 50
#: Unbinned columns kept after the prescan: the lamp library's pixel range.
DATA_WIDTH_1X1 = 4060
_RAW_WIDTH_1X1 = RAW_WIDTH_1X1
_PRESCAN_1X1 = PRESCAN_1X1
_DATA_WIDTH_1X1 = DATA_WIDTH_1X1
_SPECTROSCOPIC_ROWS_1X1 = 1896
_IMAGING_ROWS_1X1 = 4096


@dataclass(frozen=True)
class FrameGeometry:
    """Raw frame layout for one ROI and binning.

    Sections are FITS-style strings (1-based, inclusive), as in ``TRIMSEC``.
    ``trim`` keeps the illuminated, non-prescan, non-overscan area and drops the
    first row, which is affected by the readout.
    """

    roi: str
    binning: int
    nx: int
    ny: int
    prescan: int
    data_width: int

    @property
    def shape(self) -> tuple[int, int]:
        """Numpy shape (rows, columns)."""
        return (self.ny, self.nx)

    @property
    def trim_section(self) -> str:
        return f"[{self.prescan + 1}:{self.prescan + self.data_width},2:{self.ny}]"

    @property
    def prescan_section(self) -> str:
        return f"[1:{self.prescan},1:{self.ny}]"

    @property
    def trimmed_shape(self) -> tuple[int, int]:
        return (self.ny - 1, self.data_width)


def roi_name(technique: str, binning: int) -> str:
    """Write the ``ROI`` header value for a technique and binning.

    Parameters
    ----------
    technique : str
        ``"Spectroscopic"`` or ``"Imaging"``.
    binning : int
        Binning along both axes.

    Returns
    -------
    str
        For example ``"Spectroscopic 2x2"``.
    """
    return f"{technique} {binning}x{binning}"


def frame_geometry(binning: int, imaging: bool = False) -> FrameGeometry:
    """Raw geometry for a binning (1, 2 or 3) of the spectroscopic or imaging ROI.

    The 2x2 spectroscopic frame is 2071 x 948 with 25 binned prescan columns and
    ``TRIMSEC = [26:2055,2:948]``, as in real Red camera files.

    Parameters
    ----------
    binning : int
        Binning along both axes: 1, 2 or 3.
    imaging : bool
        True for the imaging ROI (4096 unbinned rows), False for the spectroscopic one
        (1896 rows).

    Returns
    -------
    FrameGeometry
        The ROI name, raw width and height, prescan and data width, in binned pixels.

    Raises
    ------
    ValueError
        A binning other than 1, 2 or 3.
    """
    if binning not in BINNINGS:
        raise ValueError(f"binning {binning!r} is not supported; use one of {BINNINGS}")
    rows = _IMAGING_ROWS_1X1 if imaging else _SPECTROSCOPIC_ROWS_1X1
    return FrameGeometry(
        roi=roi_name("Imaging" if imaging else "Spectroscopic", binning),
        binning=binning,
        nx=math.ceil(_RAW_WIDTH_1X1 / binning),
        ny=rows // binning,
        prescan=round(_PRESCAN_1X1 / binning),
        data_width=_DATA_WIDTH_1X1 // binning,
    )


def binned_pixel_centres(binning: int, n: int):
    """Unbinned coordinates of the centres of ``n`` binned pixels.

    Binned pixel ``j`` covers unbinned pixels ``b*j ... b*j + b - 1``, so its centre is
    ``b*j + (b - 1)/2``. Evaluating an unbinned wavelength model there (rather than
    scaling its coefficients) is what keeps binned solutions unbiased.

    Parameters
    ----------
    binning : int
        Binning ``b`` along the axis (1 for unbinned).
    n : int
        Number of binned pixels.

    Returns
    -------
    numpy.ndarray
        float, shape ``(n,)``: the centre of each binned pixel in unbinned pixels
        (0-based).
    """
    import numpy as np

    return binning * np.arange(n) + (binning - 1) / 2.0
