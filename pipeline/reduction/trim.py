"""Image trim: keep the data area found by :mod:`.geometry`, dropping prescan and overscan."""

from __future__ import annotations

from astropy.io import fits
from astropy.nddata import CCDData

from pipeline.reduction.sections import parse_section


def cut(ccd: CCDData, section: str) -> CCDData:
    """The part of ``ccd`` inside a FITS section, with its mask and uncertainty.

    Parameters
    ----------
    ccd : CCDData
        The image.
    section : str
        A FITS section (1-based, inclusive, columns first).

    Returns
    -------
    CCDData
        The cut-out (views of data, mask and uncertainty) with the same unit and a FITS
        header as meta.

    Raises
    ------
    ValueError
        The section does not lie inside the image.
    """
    rows, cols = parse_section(section)
    ny, nx = ccd.shape
    if rows.stop > ny or cols.stop > nx:
        raise ValueError(f"section {section} lies outside the {nx} x {ny} image")
    return CCDData(
        ccd.data[rows, cols],
        unit=ccd.unit,
        mask=None if ccd.mask is None else ccd.mask[rows, cols],
        uncertainty=None if ccd.uncertainty is None else ccd.uncertainty[rows, cols],
        # Stages set header cards with comments: make sure the meta is a FITS header.
        meta=ccd.meta if isinstance(ccd.meta, fits.Header) else fits.Header(ccd.meta),
    )


def trim_image(ccd: CCDData, section: str) -> CCDData:
    """Trim a raw frame (or a master) to ``section`` and record it in ``GSP_TRIM``.

    Parameters
    ----------
    ccd : CCDData
        The untrimmed frame.
    section : str
        The trim section (FITS notation) of the frame's raw geometry.

    Returns
    -------
    CCDData
        The trimmed frame with ``GSP_TRIM`` set.

    Raises
    ------
    ValueError
        The section does not lie inside the image.
    """
    trimmed = cut(ccd, section)
    trimmed.header["GSP_TRIM"] = (section, "Trim section (raw layout from binning and shape)")
    return trimmed


class TrimStage:
    """Trim with the frame's section from :func:`.geometry.raw_geometry`."""

    name = "trim"
    letter = "t"

    def __call__(self, state, context):
        state.ccd = trim_image(state.ccd, state.trim_section)
        state.cut_flags(state.trim_section)
        state.cards["GSP_TRIM"] = state.trim_section
        state.add_step(self.letter)
        return state
