"""The first alignment bent where an arc's curvature departs from its lamp's."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.wavelength.alignment_bend import bend_alignment
from pipeline.wavelength.first_guess import align
from pipeline.wavelength.lamp_choice import select_template
from pipeline.wavelength.nist import lamp_lines


def _arc_from_lamp(template, bend_px: float):
    """The lamp's flux seen on a detector whose pixels bend ``bend_px`` at the ends
    (``u = v + bend_px * x**2``, ``x`` from -1 to 1) from the lamp's, and that map."""
    n = template.flux.size
    v = np.arange(n, dtype=float)
    centre = (n - 1) / 2.0
    x = (v - centre) / centre

    def true_u(vv):
        xx = (np.asarray(vv, float) - centre) / centre
        return np.asarray(vv, float) + bend_px * xx * xx

    flux = np.interp(true_u(v), v, np.asarray(template.flux, float))
    return flux, true_u, x


def _aligned(template, flux):
    cat = lamp_lines(frozenset({"Ar", "Cu", "He"})).within(3000, 11000)
    affine = align(flux, 1, template, cat, 1.5, 120, 0.01)
    return affine, bend_alignment(flux, 1, template, cat, 1.5, affine)


@pytest.fixture(scope="module")
def lamp():
    return select_template("1200_M2", "CuHeAr")


def test_bent_arc_is_aligned_to_the_ends(lamp):
    """A 40-px bend (a linearised arc against a lamp with the optics' curvature) is
    followed to a line width at the ends, where the affine map is tens of px off."""
    flux, true_u, _ = _arc_from_lamp(lamp, 40.0)
    affine, bent = _aligned(lamp, flux)
    v = np.arange(flux.size, dtype=float)
    assert np.max(np.abs(affine(v) - true_u(v))) > 10.0
    # the ends are extrapolated from the outermost windows: a line width at worst
    assert np.max(np.abs(bent(v) - true_u(v))) < 4.0
    assert bent.peak > affine.peak


def test_straight_arc_is_left_affine(lamp):
    """An arc that is its lamp moved keeps the affine map: no bend from noise."""
    flux, _, _ = _arc_from_lamp(lamp, 0.0)
    flux = np.roll(flux, 7)
    affine, bent = _aligned(lamp, flux)
    assert bent == affine
