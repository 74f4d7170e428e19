"""Master flat: saturation check, then sigma-clipped median of scaled flats."""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData, VarianceUncertainty

from pipeline.calibrations.combine import MEDIAN_VARIANCE_FACTOR, sigma_clipped_median


def saturated_percent(saturated: np.ndarray) -> float:
    """Percentage of true pixels of a saturation map (raw value >= saturation level).

    Parameters
    ----------
    saturated : numpy.ndarray of bool
        The saturation map of one frame, any shape.

    Returns
    -------
    float
        Saturated pixels over all pixels, in percent (0 to 100).
    """
    return 100.0 * float(np.count_nonzero(saturated)) / saturated.size


def check_saturation(saturated: np.ndarray, threshold_percent: float) -> str | None:
    """Tell whether a flat is usable, or why it is not.

    Parameters
    ----------
    saturated : numpy.ndarray of bool
        The map of pixels of the trimmed raw flat at or above the readout mode's half
        full well (goodman_pipeline's level for this check) or saturated.
    threshold_percent : float
        The proposal's saturation threshold: the largest percentage of saturated pixels
        a usable flat may have.

    Returns
    -------
    str or None
        ``None`` when the flat is usable, else the reason (starting with ``"rejected:"``)
        with the measured percentage and the threshold.
    """
    percent = saturated_percent(saturated)
    if percent > threshold_percent:
        return (
            f"rejected: {percent:.2f} % of pixels saturated, above the "
            f"saturation threshold of {threshold_percent:g} %"
        )
    return None


def _level(ccd: CCDData) -> float:
    # The central half of the frame avoids the unilluminated slit ends.
    ny, nx = ccd.shape
    core = ccd.data[ny // 4 : 3 * ny // 4, nx // 4 : 3 * nx // 4]
    return float(np.median(core))


def make_master_flat(frames: list[CCDData]) -> CCDData:
    """Combine trimmed, bias-subtracted flats (ADU) into a master flat.

    Each flat is scaled to the mean level of the set before combining, so lamp
    intensity changes between exposures do not count as outliers. Saturation must be
    checked before (:func:`check_saturation`).

    Parameters
    ----------
    frames : list of CCDData
        Trimmed, bias-subtracted flats (ADU) of one readout mode and optics setup, with the
        same shape and ``GSP_TRIM``; their uncertainties (if any) and masks carry over.

    Returns
    -------
    CCDData
        The master flat (ADU, float32, not normalized) at the mean level of the set, with a
        ``VarianceUncertainty`` when the flats had one (else ``None``), the union of the
        flats' masks, and the first flat's header plus ``NCOMBINE``.

    Raises
    ------
    ValueError
        No frames, different shapes or trim sections, or a flat with no signal.
    """
    if not frames:
        raise ValueError("no flat frames to combine")
    shapes = {f.shape for f in frames}
    trims = {f.header.get("GSP_TRIM") for f in frames}
    if len(shapes) > 1 or len(trims) > 1:
        raise ValueError(f"flats differ in shape {shapes} or trim section {trims}")
    levels = np.array([_level(f) for f in frames])
    if np.any(levels <= 0):
        raise ValueError("a flat has no signal (median level <= 0 after bias subtraction)")
    scales = (levels.mean() / levels).astype(np.float32)
    stack = np.stack([f.data * s for f, s in zip(frames, scales, strict=True)])
    variances = [
        f.uncertainty.represent_as(VarianceUncertainty).array * s**2
        for f, s in zip(frames, scales, strict=True)
        if f.uncertainty is not None
    ]
    # The mean variance serves twice (clipping noise, master variance): computed once.
    mean_variance = np.mean(variances, axis=0) if variances else None
    noise = np.sqrt(mean_variance) if variances else None
    combined, n_used = sigma_clipped_median(stack, noise=noise)
    uncertainty = None
    if variances:
        factor = MEDIAN_VARIANCE_FACTOR if len(frames) > 2 else 1.0
        variance = factor * mean_variance / n_used
        uncertainty = VarianceUncertainty(variance.astype(np.float32), unit=frames[0].unit ** 2)
    # A pixel saturated in any input flat is not trusted in the master.
    mask = np.zeros(combined.shape, bool)
    for f in frames:
        if f.mask is not None:
            mask |= f.mask.astype(bool)
    header = fits.Header(frames[0].header)
    header["NCOMBINE"] = (len(frames), "Frames combined")
    return CCDData(combined, unit=frames[0].unit, uncertainty=uncertainty, mask=mask, meta=header)
