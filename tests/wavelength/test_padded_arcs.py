"""An arc padded with identical pixels (zeros where nothing was recorded) keeps its noise.

The pixel noise (:func:`pipeline.wavelength.lines.robust_noise`, the median absolute
difference of neighbouring pixels) sets the detection threshold and each line's peak
S/N, by which a faint line whose centring error exceeds what the fit needs is set
aside as weak. PypeIt's Red 400 M2 arc, placed on a 2030-px detector row with 925 zero
pixels, measured 0.62 counts for 5.5 (base): its faint Ne I lines (S/N 6-14, centred
to 0.14-0.27 px) passed for lines 50-120 sigma high, were used, and sat 0.09-0.20 px
off NIST (the fit 0.0756 px RMS).
"""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.wavelength.lines import robust_noise


@pytest.mark.parametrize("pad", [0, 500, 1500])
def test_zero_padding_does_not_lower_the_noise(pad):
    """Gaussian noise of 5 counts, padded at both ends with ``pad`` zeros: base measured
    0.011 and 0 counts with 500 and 1500 px of padding on 1000 px of data."""
    rng = np.random.default_rng(1)
    data = 100.0 + rng.normal(0.0, 5.0, 1000)
    arc = np.r_[np.zeros(pad), data, np.zeros(pad)]
    assert robust_noise(arc) == pytest.approx(robust_noise(data), rel=0.05)
    assert robust_noise(arc) == pytest.approx(5.0, rel=0.1)


@pytest.mark.parametrize("sigma", [0.7, 1.0, 2.0])
def test_integer_counts_keep_their_noise(sigma):
    """Low noise in whole ADU repeats values by chance: only runs of identical pixels
    (four equal differences of zero) are left out, which such noise rarely makes."""
    rng = np.random.default_rng(2)
    counts = np.round(rng.normal(50.0, sigma, 20000))
    d = np.diff(counts)
    plain = 1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0)
    assert robust_noise(counts) == pytest.approx(plain, rel=0.05)
