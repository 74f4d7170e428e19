"""Bits of the reduced-frame mask (the ``MASK`` extension, uint8).

In memory ``CCDData.mask`` is boolean (astropy makes it so); the stages also keep a
uint8 flag array (:attr:`FrameState.flags`) whose bits say why a pixel is bad, and
that array is what the ``MASK`` extension of a product holds. A pixel is bad when any
bit is set, so readers that treat ``MASK`` as boolean (``CCDData.read``) see every
flagged pixel as masked.
"""

import numpy as np

SATURATED = np.uint8(1)
COSMIC_RAY = np.uint8(2)
BAD_FLAT = np.uint8(4)
#: Every bit, for documentation and tests.
ALL = {"saturated": SATURATED, "cosmic_ray": COSMIC_RAY, "bad_flat": BAD_FLAT}
