"""Master bias: sigma-clipped median of trimmed bias frames of one readout mode."""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData, VarianceUncertainty

from pipeline.calibrations.combine import MEDIAN_VARIANCE_FACTOR, sigma_clipped_median


def make_master_bias(frames: list[CCDData], gain: float, rdnoise: float) -> CCDData:
    """Combine trimmed bias frames (ADU) into a master bias.

    Works from a single frame up. The variance is the read noise variance (ADU²) over
    the number of frames used, times pi/2 for the median (1 frame: the read noise).

    Parameters
    ----------
    frames : list of CCDData
        Trimmed with the same section (their ``GSP_TRIM`` must agree).
    gain, rdnoise : float
        GAIN (e-/ADU) and RDNOISE (e-) of the readout mode.

    Returns
    -------
    CCDData
        The master bias in the frames' unit (ADU), float32, with a ``VarianceUncertainty``
        (ADU²), an all-false mask and the first frame's header plus ``NCOMBINE``.

    Raises
    ------
    ValueError
        No frames, or frames of different shapes or trim sections.
    """
    if not frames:
        raise ValueError("no bias frames to combine")
    shapes = {f.shape for f in frames}
    trims = {f.header.get("GSP_TRIM") for f in frames}
    if len(shapes) > 1 or len(trims) > 1:
        raise ValueError(f"bias frames differ in shape {shapes} or trim section {trims}")
    read_noise_adu = (rdnoise or 0.0) / (gain or 1.0)
    stack = np.stack([f.data for f in frames])
    combined, n_used = sigma_clipped_median(stack, noise=np.float32(read_noise_adu))
    factor = MEDIAN_VARIANCE_FACTOR if len(frames) > 2 else 1.0
    variance = (factor * read_noise_adu**2 / n_used).astype(np.float32)
    header = fits.Header(frames[0].header)
    header["NCOMBINE"] = (len(frames), "Frames combined")
    return CCDData(
        combined,
        unit=frames[0].unit,
        uncertainty=VarianceUncertainty(variance, unit=frames[0].unit ** 2),
        mask=np.zeros(combined.shape, bool),
        meta=header,
    )
