"""Which set-aside lines the arc itself shows unpulled by a neighbour it cannot weigh.

Binned 3x3, a line is about 1.7 px wide: its width cannot show an unresolved NIST
neighbour of another spectrum, whose light NIST intensities cannot weigh either (a
hollow cathode's sputtered metal against its gas), so such a line is set aside as a
blend (:func:`pipeline.wavelength.identify._statuses`) unless its library lamp,
unbinned, shows it clean. That verdict rests on what is not known, not on the arc: a
lit neighbour pulls the line's centre towards it (``f d exp(-d**2 / (4 s**2))`` at flux
ratio ``f`` and distance ``d``), and the fit of the other lines says where the line's
own NIST place is. A line within :data:`UNPULLED_SIGMA` of its centring error (and of
the fit's error there) of that place shows no pull the fit would notice, whatever the
neighbour's catalogued strength, and is fitted like any clean line; a pulled one stays
aside.

The library lamps show both cases. 1200_M2: Ar II 4282.90 beside Fe I 4282.40 (1.5
unbinned px), and Ar II 5216.81 beside Cu I 5218.20 (4.4 px). Where the lamp lights
the neighbour, or an unlisted one, the line lies 0.2-0.3 unbinned px (FeHeAr 1200
M1/M2, 930 M2), 0.07-0.10 binned 3x3 px, from its place, and 1.3-1.4 px for 5216.81
(1200 M2/M3, the lamp's light at 5216.4): three to five times the 0.02 px centring
floor, set aside. A lamp (or a simulation) that leaves them unlit puts the line on
its place (physical truth, 3x3: 0.01 px off), and it was lost in every arc.
"""

from __future__ import annotations

import numpy as np

from pipeline.wavelength.robust_fit import PolyFit, prediction_variance

#: A candidate line rejoins the fit where its centre lies within this many of its
#: errors (its centring error and the fit's prediction there, in quadrature) of the
#: place the fit of the others gives its NIST line. Stricter than the outlier
#: rejection's clip: the catalogue says a neighbour may pull it, so the arc must show
#: that it does not.
UNPULLED_SIGMA = 2.0


def unpulled(candidate, x, y, err, fit: PolyFit, fit_x, fit_err) -> np.ndarray:
    """Candidate lines whose centre the fit of the others puts on their NIST place.

    Parameters
    ----------
    candidate : numpy.ndarray of bool
        Per arc line, whether it is judged (set aside for a neighbour its width
        cannot show).
    x, y : numpy.ndarray
        Per arc line, its normalised coordinate and the correction its NIST line asks
        for there (guess px; any value where not a candidate).
    err : numpy.ndarray
        Per arc line, its centring error (guess px).
    fit : PolyFit
        The correction fitted without the candidates.
    fit_x, fit_err : numpy.ndarray
        The points that fit was made from (all of them; ``fit.used`` picks the kept
        ones) and their errors.

    Returns
    -------
    numpy.ndarray of bool
        True for a candidate strictly between the fit's outermost lines (beyond them the
        fit's place is an extrapolation a line would bend its own way) and within
        :data:`UNPULLED_SIGMA` of its errors of the fit.
    """
    candidate = np.asarray(candidate, bool)
    out = np.zeros(candidate.size, bool)
    keep = np.asarray(fit.used, bool)
    if not candidate.any() or not np.isfinite(fit.loo_rms) or keep.sum() <= fit.order + 1:
        return out
    x = np.asarray(x, float)
    inside = candidate & (x > fit.x_lo) & (x < fit.x_hi)
    if not inside.any():
        return out
    fx = np.asarray(fit_x, float)[keep]
    fw = 1.0 / np.asarray(fit_err, float)[keep] ** 2
    reach = prediction_variance(x[inside], fx, fw, fit.order)
    resid = np.abs(np.asarray(y, float)[inside] - fit(x[inside]))
    out[inside] = resid <= UNPULLED_SIGMA * np.sqrt(np.asarray(err, float)[inside] ** 2 + reach)
    return out
