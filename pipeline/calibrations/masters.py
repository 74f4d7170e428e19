"""A master calibration in memory, and what is known about it from its header."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from astropy.nddata import CCDData

from pipeline.classify import classify
from pipeline.vocabulary import DataType, rlevel


@dataclass(frozen=True)
class MasterInfo:
    """Everything :func:`~pipeline.calibrations.selection.select_master` needs.

    ``kind`` is ``"bias"`` or ``"flat"`` (a normalized flat, the one frames use).
    ``final`` is true once ``n_frames`` reached the proposal's minimum number.
    """

    kind: str
    name: str
    readout_key: tuple
    optics_key: tuple | None
    trim_section: str
    date_obs: datetime | None
    n_frames: int
    final: bool
    slit_section: str | None = None
    path: Path | None = None
    technique: str = ""


@dataclass
class Master:
    """A master's pixels (trimmed; flats also slit-trimmed and normalized) and info."""

    info: MasterInfo
    ccd: CCDData

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def slit_section(self) -> str | None:
        return self.info.slit_section


def info_from_header(header, path: str | Path) -> MasterInfo | None:
    """Rebuild a :class:`MasterInfo` from a master written by this pipeline.

    The master keeps the raw cards of its frames, so the classifier recovers its
    readout and optics keys.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The master's primary header.
    path : str or pathlib.Path
        The master's file (its name becomes ``MasterInfo.name``).

    Returns
    -------
    MasterInfo or None
        ``None`` for files that are not masters (``RLEVEL`` != 61), that lack
        ``GSP_TRIM`` or the classifier's keys, and for un-normalized master flats (only a
        normalized flat is applied to frames).
    """
    path = Path(path)
    if int(header.get("RLEVEL", 0) or 0) != rlevel(DataType.MASTER_CALIBRATION):
        return None
    c = classify(header, path=path)
    if not c.ok:
        return None
    kind = "bias" if c.role == "bias" else "flat" if c.role == "flat" else None
    if kind is None or not header.get("GSP_TRIM"):
        return None
    if kind == "flat" and str(header.get("GSP_NORM", "none")).strip() == "none":
        return None  # an un-normalized master flat is not applied to frames
    slit = str(header.get("GSP_SLIT", "none")).strip()
    return MasterInfo(
        kind=kind,
        name=path.name,
        readout_key=c.readout_key,
        optics_key=c.optics_key if kind == "flat" else None,
        trim_section=str(header["GSP_TRIM"]).strip(),
        date_obs=c.date_obs,
        n_frames=int(header.get("NCOMBINE", 1) or 1),
        final=bool(header.get("GSP_MFIN", False)),
        slit_section=None if slit in {"", "none"} else slit,
        path=path,
        technique=c.technique,
    )


def load_master(info: MasterInfo) -> Master:
    """Read a master from disk (with its variance and mask).

    Read directly rather than with ``CCDData.read``: a normalized flat is
    dimensionless (empty ``BUNIT``), which ``CCDData.read`` refuses.

    Parameters
    ----------
    info : MasterInfo
        The master, with its ``path`` set (as :func:`info_from_header` makes it).

    Returns
    -------
    Master
        ``info`` with the pixels as float32 ``CCDData``: unit from ``BUNIT``
        (dimensionless when empty), the ``MASK`` extension as a bool mask and the
        ``UNCERT`` extension as a ``VarianceUncertainty`` (a standard deviation is
        squared), each ``None`` when absent.
    """
    import numpy as np
    from astropy import units as u
    from astropy.io import fits
    from astropy.nddata import VarianceUncertainty

    with fits.open(info.path, memmap=False) as hdul:
        header = hdul[0].header.copy()
        data = np.asarray(hdul[0].data, dtype=np.float32)
        mask = hdul["MASK"].data.astype(bool) if "MASK" in hdul else None
        variance = None
        if "UNCERT" in hdul:
            values = np.asarray(hdul["UNCERT"].data, dtype=np.float32)
            kind = str(hdul["UNCERT"].header.get("UTYPE", "VarianceUncertainty"))
            variance = values**2 if kind.startswith("StdDev") else values
    unit = u.Unit(str(header.get("BUNIT", "") or "").strip() or u.dimensionless_unscaled)
    ccd = CCDData(
        data,
        unit=unit,
        mask=mask,
        uncertainty=None if variance is None else VarianceUncertainty(variance),
        meta=header,
    )
    return Master(info=info, ccd=ccd)
