"""Flat fielding: divide by the normalized master flat.

Pixels where the normalized flat is below ``MIN_FLAT`` (dead columns, vignetted
corners) are left undivided and masked (``BAD_FLAT`` flag), rather than blown up.
"""

from __future__ import annotations

import numpy as np
from astropy.nddata import CCDData, VarianceUncertainty

from pipeline.reduction import masks

#: Normalized flat values below this are not trusted.
MIN_FLAT = 0.2


def flat_field(ccd: CCDData, flat: CCDData) -> CCDData:
    """Divide a bias-subtracted frame by a normalized flat, propagating the variance.

    Parameters
    ----------
    ccd : CCDData
        Bias-subtracted frame (ADU), trimmed and slit-trimmed like the flat.
    flat : CCDData
        Normalized master flat (dimensionless, about 1).

    Returns
    -------
    CCDData
        The frame divided by the flat (ADU, float32); pixels where the flat is below
        ``MIN_FLAT`` are left undivided and masked; the variance includes the flat's when
        it has one (``None`` when the frame had none).

    Raises
    ------
    ValueError
        Shapes or trim sections differ (the flat and frame were cut differently).
    """
    for key in ("GSP_TRIM", "GSP_SLIT"):
        a, b = ccd.header.get(key), flat.header.get(key)
        if a and b and a != b:
            raise ValueError(f"flat {key}={b} but frame {key}={a}: not aligned")
    if flat.shape != ccd.shape:
        raise ValueError(f"normalized flat shape {flat.shape} differs from frame {ccd.shape}")
    f = flat.data.astype(np.float32, copy=False)
    good = f >= MIN_FLAT
    safe = np.where(good, f, np.float32(1.0))
    data = ccd.data / safe
    variance = None
    if ccd.uncertainty is not None:
        variance = ccd.uncertainty.represent_as(VarianceUncertainty).array / safe**2
        if flat.uncertainty is not None:
            fvar = flat.uncertainty.represent_as(VarianceUncertainty).array
            variance += data**2 * fvar / safe**2
    mask = ~good if ccd.mask is None else (ccd.mask | ~good)
    return CCDData(
        data.astype(np.float32, copy=False),
        unit=ccd.unit,
        mask=mask,
        uncertainty=None if variance is None else VarianceUncertainty(variance, unit=ccd.unit**2),
        meta=ccd.meta,
    )


class FlatStage:
    """Divide by the chosen normalized master flat unless flats are ignored."""

    name = "flat"
    letter = "f"

    def __call__(self, state, context):
        if context.settings.ignore_flats:
            state.notes.append("ignore_flats set: not flat-fielded")
            return state
        flat = context.master_flat
        if flat is None:
            state.notes.append("no compatible master flat: not flat-fielded")
            return state
        state.ccd = flat_field(state.ccd, flat.ccd)
        state.flag(flat.ccd.data < MIN_FLAT, masks.BAD_FLAT)
        state.cards["GSP_FLAT"] = flat.name
        state.cards["GSP_NORM"] = flat.ccd.header.get("GSP_NORM", "none")
        state.add_step(self.letter)
        return state
