"""The CCD: bias structure, pixel response, photon and read noise, cosmic rays, ADC.

One :class:`Detector` is made per night from the night's random generator; its fixed
patterns (bias columns, pixel response) are then the same in every frame, as on a
real detector.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline import instrument

#: Bias level (ADU) of each camera.
BIAS_LEVEL = {"Red": 412.0, "Blue": 357.0}
#: RMS of the small-scale pixel response (fraction).
PIXEL_RESPONSE_RMS = 0.01
#: Amplitude (ADU) of the smooth column pattern of the bias.
BIAS_PATTERN_ADU = 4.0
#: RMS (ADU) of the column-to-column fixed pattern of the bias.
BIAS_COLUMN_RMS = 1.0


@dataclass
class Detector:
    """Fixed patterns and readout of one camera, ROI and binning for a night."""

    camera: str
    geometry: instrument.FrameGeometry
    readout: instrument.ReadoutMode
    rng: np.random.Generator
    bias_level: float = field(init=False)
    column_pattern: np.ndarray = field(init=False, repr=False)
    pixel_response: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        g = self.geometry
        self.bias_level = BIAS_LEVEL[self.camera]
        x = np.arange(g.nx, dtype=float)
        pattern = BIAS_PATTERN_ADU * np.sin(2 * np.pi * x / g.nx) + BIAS_COLUMN_RMS * (
            self.rng.standard_normal(g.nx)
        )
        # pre- and overscan are not pixels of the image area: they read the bare level
        pattern[: g.prescan] = 0.0
        pattern[g.prescan + g.data_width :] = 0.0
        self.column_pattern = pattern
        self.pixel_response = 1.0 + PIXEL_RESPONSE_RMS * self.rng.standard_normal(g.trimmed_shape)

    @property
    def trim_slices(self) -> tuple[slice, slice]:
        g = self.geometry
        return slice(1, g.ny), slice(g.prescan, g.prescan + g.data_width)

    @property
    def saturation_adu(self) -> int:
        return self.readout.saturation_adu

    def bias_image(self) -> np.ndarray:
        """Noise-free bias of one frame (level drifts by a fraction of an ADU)."""
        g = self.geometry
        level = self.bias_level + 0.3 * self.rng.standard_normal()
        img = np.empty(g.shape)
        img[:] = level + self.column_pattern[None, :]
        # the first row reads low (why TRIMSEC starts at row 2)
        img[0] -= 0.04 * level
        return img

    def cosmic_rays(self, exptime: float, rate: float) -> dict[str, np.ndarray]:
        """Cosmic-ray hits in trimmed coordinates: 1-3 px events, ADU per pixel.

        Returns arrays ``row``, ``col`` (trimmed, 0-based), ``adu`` and ``event``
        (index of the event each pixel belongs to).
        """
        ny, nx = self.geometry.trimmed_shape
        n = int(self.rng.poisson(max(rate * exptime, 0.0)))
        if n == 0:
            empty = np.zeros(0, int)
            return {"row": empty, "col": empty, "adu": np.zeros(0), "event": empty}
        r0 = self.rng.integers(1, ny - 2, n)
        c0 = self.rng.integers(1, nx - 2, n)
        kind = self.rng.choice(3, n, p=[0.55, 0.3, 0.15])  # 1, 2 or 3 pixels
        dr = self.rng.integers(-1, 2, n)
        dc = self.rng.integers(-1, 2, n)
        still = (dr == 0) & (dc == 0)
        dc[still] = 1
        # deposited charge: log-normal, median ~ 2500 e-, always well above the noise
        total_e = np.exp(self.rng.normal(np.log(2500.0), 0.6, n)) + 600.0
        rows, cols, adus, events = [], [], [], []
        for k in range(3):
            use = kind >= k
            rows.append(r0[use] + k * dr[use])
            cols.append(c0[use] + k * dc[use])
            adus.append(total_e[use] / (kind[use] + 1) / self.readout.gain)
            events.append(np.nonzero(use)[0])
        row, col = np.concatenate(rows), np.concatenate(cols)
        adu, event = np.concatenate(adus), np.concatenate(events)
        # two events may share a pixel: keep both charges, one entry per pixel
        key = row * nx + col
        uniq, inv = np.unique(key, return_inverse=True)
        first = np.zeros(uniq.size, int)
        first[inv[::-1]] = np.arange(key.size)[::-1]
        return {
            "row": uniq // nx,
            "col": uniq % nx,
            "adu": np.bincount(inv, weights=adu),
            "event": event[first],
        }

    def read(
        self,
        signal,
        *,
        exptime: float,
        cosmic_rate: float,
        light: bool = True,
        noise: bool = True,
    ):
        """Read out a frame: photon noise on ``signal`` (trimmed ADU), bias, read noise,
        cosmic rays, saturation and 16-bit conversion.

        Parameters
        ----------
        signal : ndarray or None
            Expected light in ADU on the trimmed area (``None`` for a bias).
        noise : bool
            ``False``: no photon noise, read noise or cosmic rays.

        Returns
        -------
        data : ndarray of uint16, raw shape
        rays : dict of cosmic-ray pixels (trimmed coordinates), see :meth:`cosmic_rays`
        """
        gain, rdn = self.readout.gain, self.readout.rdnoise
        img = self.bias_image()
        rs, cs = self.trim_slices
        if signal is not None:
            electrons = np.clip(signal, 0.0, None) * gain
            img[rs, cs] += (self.rng.poisson(electrons) if noise else electrons) / gain
        with_rays = noise and light and exptime > 0
        rays = self.cosmic_rays(exptime if with_rays else 0.0, cosmic_rate)
        img[rays["row"] + 1, rays["col"] + self.geometry.prescan] += rays["adu"]
        if noise:
            img += (rdn / gain) * self.rng.standard_normal(img.shape)
        np.clip(img, 0.0, self.saturation_adu, out=img)
        return np.rint(img).astype(np.uint16), rays
