"""Expected lines the solver used to miss with the RMS fine (issue 12).

- An end line left out of the fit is compared with the others' fit AND its uncertainty
  there (an extrapolation): rejected first by the low order that all lines, outliers
  included, chose, it used to stay 0.11 px from the higher order fitted without it,
  an extrapolation itself 0.09 px off the truth.
- A bright line is not a blend because of a faint, broad fit beside it: a fit much
  broader than the instrument's lines counts only the flux its peak gives at their width.
- A faint line whose window a bright neighbour mostly outshines keeps the pixels nearest
  its centre for its fit, not its whole window with the neighbour's flank in it.
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.wavelength.robust_fit import prediction_variance
from tests.wavelength.physical_cases import assert_line_used_and_accurate


def test_prediction_variance_is_the_scatter_of_the_fitted_value():
    rng = np.random.default_rng(1)
    x = np.linspace(-1.0, 0.7, 25)
    err = np.full(x.size, 0.02)
    where = np.array([0.0, 0.7, 1.0])
    fitted = []
    for _ in range(4000):
        y = rng.normal(0.0, err)
        coef = np.polynomial.chebyshev.chebfit(x, y, 4, w=1.0 / err)
        fitted.append(np.polynomial.chebyshev.chebval(where, coef))
    measured = np.var(np.array(fitted), axis=0)
    predicted = prediction_variance(where, x, 1.0 / err**2, 4)
    assert predicted == pytest.approx(measured, rel=0.1)
    # among the points the fit is known to a fraction of one point's error; beyond
    # them (x = 1, 0.3 past the last) to more than that error
    assert predicted[0] < 0.2 * 0.02**2 < 0.02**2 < predicted[2]


@pytest.mark.parametrize(
    ("mode", "binning", "seed", "wavelength"),
    [
        # Ne I 8919.5, 46 px from the red end: rejected at order 3, then 0.11 px from
        # the order-5 fit of the others
        ("400_M2", 1, 1, 8919.501),
        ("400_M2", 1, 27, 8919.501),
        # Ar I 7948.2 beside Ne I 7943.2 + Hg II 7944.6 (1.6 % each), fitted as one
        # line 2.8 times too broad with 13 % of its flux: set aside as a blend
        ("930_M5", 1, 12, 7948.176),
        # Ne I 5748.3, 3.2 FWHM from a pair 240 times brighter whose broad fit outshone
        # four of its nine window pixels: fitted on all nine, the constant took up the
        # pair's flank, the line half its width (set aside as narrow)
        ("400_M2", 2, 23, 5748.298),
        # ... 3x3: the window's edge pixel is the shoulder of Ne I 5764.4, which the
        # single Gaussian fitted to it and Hg I 5769.6 does not draw (lost)
        ("400_M2", 3, 0, 5748.298),
    ],
)
def test_the_expected_line_is_used_and_the_arc_meets_the_accuracy(mode, binning, seed, wavelength):
    assert_line_used_and_accurate(mode, binning, seed, wavelength)
