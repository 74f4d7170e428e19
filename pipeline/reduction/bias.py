"""Bias subtraction, from a master bias or from the frame's prescan level.

This is where the variance is born: after the bias is gone the signal is known, so
``variance = max(signal, 0) / gain + (rdnoise / gain)**2 + variance(master bias)``
in ADU² (GAIN in e-/ADU, RDNOISE in e-).

The bias level drifts between exposures by a fraction of an ADU; the prescan
follows it, so the difference between the frame's prescan level and the master's
(``GSP_PLVL``) is subtracted too (``GSP_BOFF``).

The master bias is trimmed with the same ``TRIMSEC`` as the frame (its ``GSP_TRIM``
must equal the frame's, else the subtraction is refused: goodman_pipeline subtracts a
master misaligned by the trim offset) and cut with the frame's slit section.
"""

from __future__ import annotations

import numpy as np
from astropy.nddata import CCDData, VarianceUncertainty

from pipeline.reduction.trim import cut


def poisson_variance(signal: np.ndarray, gain: float, rdnoise: float) -> np.ndarray:
    """Compute the variance (ADU²) of a bias-free signal in ADU: Poisson plus read noise.

    Parameters
    ----------
    signal : numpy.ndarray
        Bias-subtracted pixels in ADU, any shape (negative values count as 0 electrons).
    gain : float
        GAIN in e-/ADU (1 when missing or not positive).
    rdnoise : float
        RDNOISE in e- (0 when missing).

    Returns
    -------
    numpy.ndarray
        float32 variance in ADU², of the shape of ``signal``.
    """
    gain = gain if gain and gain > 0 else 1.0
    variance = np.maximum(signal, 0, dtype=np.float32) / np.float32(gain)
    variance += np.float32((rdnoise or 0.0) / gain) ** 2
    return variance


def subtract_bias(
    ccd: CCDData,
    master: CCDData,
    gain: float,
    rdnoise: float,
    slit_section: str | None = None,
    level_offset: float = 0.0,
) -> CCDData:
    """Subtract a (trimmed) master bias from a trimmed frame and attach the variance.

    ``level_offset`` (ADU) is also subtracted: the frame's prescan level minus the
    master's, which follows the bias level's drift between exposures (a few tenths of
    an ADU, several percent of a faint sky).

    Parameters
    ----------
    ccd : CCDData
        Trimmed (and possibly slit-trimmed) frame, ADU.
    master : CCDData
        Trimmed master bias, ADU; cut to ``slit_section`` when given.
    gain, rdnoise : float
        Frame's GAIN (e-/ADU) and RDNOISE (e-).
    slit_section : str or None
        The frame's slit trim (FITS section in trimmed pixels) when it was slit-trimmed:
        the master is cut the same way. ``None`` when not slit-trimmed.
    level_offset : float
        ADU subtracted besides the master (0 for none).

    Returns
    -------
    CCDData
        The bias-free frame (ADU, float32) with a ``VarianceUncertainty`` (Poisson + read
        noise + the master's variance), the frame's mask and header.

    Raises
    ------
    ValueError
        Master and frame do not have the same trim section or shape.
    """
    frame_trim = ccd.header.get("GSP_TRIM")
    master_trim = master.header.get("GSP_TRIM")
    if frame_trim and master_trim and frame_trim != master_trim:
        raise ValueError(
            f"master bias trimmed with {master_trim} but frame with {frame_trim}: not aligned"
        )
    if slit_section:
        master = cut(master, slit_section)
    if master.shape != ccd.shape:
        raise ValueError(f"master bias shape {master.shape} differs from frame {ccd.shape}")
    signal = ccd.data - master.data
    if level_offset:
        signal -= np.float32(level_offset)
    variance = poisson_variance(signal, gain, rdnoise)
    if master.uncertainty is not None:
        variance += master.uncertainty.represent_as(VarianceUncertainty).array
    mask = ccd.mask
    if master.mask is not None:
        mask = master.mask.astype(bool) if mask is None else (mask | master.mask.astype(bool))
    return CCDData(
        signal,
        unit=ccd.unit,
        mask=mask,
        uncertainty=VarianceUncertainty(variance, unit=ccd.unit**2),
        meta=ccd.meta,
    )


def subtract_level(ccd: CCDData, level: float, gain: float, rdnoise: float) -> CCDData:
    """Subtract a constant level (the prescan median) and attach the variance.

    Used when no master bias is applied (the ``ignore bias`` setting, or none to be had).

    Parameters
    ----------
    ccd : CCDData
        Trimmed frame in ADU.
    level : float
        The level to subtract, ADU.
    gain : float
        GAIN in e-/ADU.
    rdnoise : float
        RDNOISE in e-.

    Returns
    -------
    CCDData
        The frame less ``level``, with its Poisson + read-noise ``VarianceUncertainty``
        (ADU²), its mask and header.
    """
    signal = ccd.data - np.float32(level)
    return CCDData(
        signal,
        unit=ccd.unit,
        mask=ccd.mask,
        uncertainty=VarianceUncertainty(poisson_variance(signal, gain, rdnoise), unit=ccd.unit**2),
        meta=ccd.meta,
    )


class BiasStage:
    """Master bias when there is one and it is not ignored; else the prescan level."""

    name = "bias"
    letter = "z"

    def __call__(self, state, context):
        c = state.classification
        master = context.master_bias
        if master is not None and not context.settings.ignore_bias:
            offset = 0.0
            master_level = master.ccd.header.get("GSP_PLVL")
            if state.prescan_level is not None and master_level is not None:
                offset = state.prescan_level - float(master_level)
                state.cards["GSP_BOFF"] = (round(offset, 3), "Prescan level minus master's (ADU)")
            state.ccd = subtract_bias(
                state.ccd, master.ccd, c.gain, c.rdnoise, state.slit_section, offset
            )
            state.cards["GSP_BIAS"] = master.name
            state.add_step("z")
            return state
        why = "ignore_bias set" if context.settings.ignore_bias else "no compatible master bias"
        if state.prescan_level is None:
            state.ccd = subtract_level(state.ccd, 0.0, c.gain, c.rdnoise)
            state.notes.append(f"{why} and no prescan: bias NOT subtracted")
            return state
        state.ccd = subtract_level(state.ccd, state.prescan_level, c.gain, c.rdnoise)
        state.cards["GSP_OVER"] = (round(state.prescan_level, 2), "Prescan level subtracted (ADU)")
        state.notes.append(f"{why}: prescan level {state.prescan_level:.1f} ADU subtracted")
        state.add_step("o")
        return state
