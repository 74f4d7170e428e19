"""Slit trim: keep only the rows the slit illuminates (spectroscopy).

The section comes from the master flat the frame is flat-fielded with
(:func:`pipeline.calibrations.slit.detect_slit`), and the normalized flat was cut with
the same section, so the frame and the flat stay aligned.
"""

from __future__ import annotations

from astropy.nddata import CCDData

from pipeline.reduction.trim import cut


def slit_trim(ccd: CCDData, section: str) -> CCDData:
    """Cut a trimmed frame to the slit section and record it in ``GSP_SLIT``.

    Parameters
    ----------
    ccd : CCDData
        A trimmed frame or master.
    section : str
        The slit section (FITS notation, in trimmed pixels) of
        :func:`pipeline.calibrations.slit.detect_slit`.

    Returns
    -------
    CCDData
        The rows inside the slit, with mask and uncertainty, and ``GSP_SLIT`` set.

    Raises
    ------
    ValueError
        The section does not lie inside the frame.
    """
    trimmed = cut(ccd, section)
    trimmed.header["GSP_SLIT"] = (section, "Slit trim section, slit illuminated area only")
    return trimmed


class SlitTrimStage:
    """Applies the slit section of the chosen master flat, when there is one."""

    name = "slit trim"
    letter = "s"

    def __call__(self, state, context):
        flat = context.master_flat
        section = flat.slit_section if flat is not None else None
        if not section:
            state.notes.append("no slit trim (no master flat with a slit section)")
            return state
        state.ccd = slit_trim(state.ccd, section)
        state.cut_flags(section)
        state.slit_section = section
        state.cards["GSP_SLIT"] = section
        state.add_step(self.letter)
        return state
