"""Where light lands on the detector: slit, illumination, wavelengths, line profiles.

All positions here are in TRIMMED, BINNED, 0-based pixel coordinates (row ``y``,
column ``x``), with pixel ``x`` covering the continuous interval ``[x-0.5, x+0.5]``.
The binned column ``x`` is centred on unbinned template pixel ``b*x + (b-1)/2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.special import erf, gammaln

from pipeline import instrument
from pipeline.lamps import LampTemplate

# Slit edges (half-maximum of the illumination) in UNBINNED raw rows, from real
# Spectroscopic 2x2 frames whose slit-illuminated trim was rows 110:928 of 948.
SLIT_LOWER_UNBINNED = 219.5
SLIT_UPPER_UNBINNED = 1857.5
#: Width (unbinned px, Gaussian sigma) of the soft slit edges.
SLIT_EDGE_SIGMA_UNBINNED = 3.0
#: Linear gradient of the illumination across the slit (fraction, end to end).
ILLUMINATION_GRADIENT = 0.04
#: Step of the fine grid on which 1-D spectra are tabulated (binned px).
FINE_STEP = 1.0 / 16.0


def _row_of_unbinned(u: float, binning: int, origin: float = 0.0) -> float:
    """Trimmed binned row of an unbinned chip row (trim drops raw row 0; the ROI's raw
    row 0 is chip row ``origin``)."""
    return (u - origin - (binning - 1) / 2.0) / binning - 1.0


@dataclass(frozen=True)
class Layout:
    """Geometry of one night's spectra on the trimmed binned detector.

    ``binning`` is along the dispersion (serial, columns); ``binning_y`` along the slit
    (parallel, rows), by default the same. ``rows_unbinned`` and ``roi`` describe a
    custom ROI: a window of that many chip rows centred on the slit centre.
    """

    binning: int
    imaging: bool
    line_fwhm_unbinned: float
    tilt: float
    binning_y: int | None = None
    rows_unbinned: int | None = None
    roi: str | None = None

    @property
    def by(self) -> int:
        return self.binning if self.binning_y is None else self.binning_y

    @property
    def row_origin_unbinned(self) -> float:
        """Chip row (unbinned) of the ROI's first raw row."""
        if self.rows_unbinned is None:
            return 0.0
        centre = 0.5 * (SLIT_LOWER_UNBINNED + SLIT_UPPER_UNBINNED)
        return float(round(centre - self.rows_unbinned / 2.0))

    @cached_property
    def geometry(self) -> instrument.FrameGeometry:
        if self.binning_y is None and self.rows_unbinned is None and self.roi is None:
            return instrument.frame_geometry(self.binning, self.imaging)
        base = instrument.frame_geometry(self.binning, self.imaging)
        rows = self.rows_unbinned or (base.ny * self.binning)
        return instrument.FrameGeometry(
            roi=self.roi or base.roi,
            binning=self.binning,
            nx=base.nx,
            ny=rows // self.by,
            prescan=base.prescan,
            data_width=base.data_width,
        )

    @property
    def shape(self) -> tuple[int, int]:
        """Trimmed (rows, columns)."""
        return self.geometry.trimmed_shape

    @property
    def row_offset(self) -> int:
        """Raw row = trimmed row + row_offset (0-based)."""
        return 1

    @property
    def col_offset(self) -> int:
        """Raw column = trimmed column + col_offset (0-based)."""
        return self.geometry.prescan

    @property
    def slit_edges(self) -> tuple[float, float]:
        """Half-maximum rows of the illumination (trimmed, binned, 0-based)."""
        b, o = self.by, self.row_origin_unbinned
        return (
            _row_of_unbinned(SLIT_LOWER_UNBINNED, b, o),
            _row_of_unbinned(SLIT_UPPER_UNBINNED, b, o),
        )

    @property
    def slit_centre(self) -> float:
        lo, hi = self.slit_edges
        return 0.5 * (lo + hi)

    @property
    def edge_sigma(self) -> float:
        return SLIT_EDGE_SIGMA_UNBINNED / self.by

    @property
    def line_sigma(self) -> float:
        """Gaussian sigma of an unresolved line, binned px."""
        return self.line_fwhm_unbinned / self.binning / (2.0 * math.sqrt(2.0 * math.log(2.0)))

    def illumination(self, rows=None) -> np.ndarray:
        """Illumination along the slit: soft-edged top hat with a gentle gradient.

        Equal to 1 at the slit-centre row; ~0 outside the slit.
        """
        y = np.arange(self.shape[0], dtype=float) if rows is None else np.asarray(rows, float)
        return _illumination(y, *self.slit_edges, self.edge_sigma)

    def row_shift(self, rows) -> np.ndarray:
        """Column shift of a spectral feature on each row relative to the slit centre."""
        return self.tilt * (np.asarray(rows, float) - self.slit_centre)

    def fine_grid(self) -> np.ndarray:
        """Continuous column coordinates on which 1-D spectra are tabulated."""
        pad = 8.0 + abs(self.tilt) * self.shape[0]
        return np.arange(-pad, self.shape[1] - 1 + pad + FINE_STEP, FINE_STEP)

    def unbinned(self, x) -> np.ndarray:
        """Unbinned template pixel of a binned column coordinate."""
        return self.binning * np.asarray(x, float) + (self.binning - 1) / 2.0

    def wavelength(self, template: LampTemplate, flexure_unbinned: float, x=None):
        """True wavelength (Å) at binned column coordinates on the slit-centre row."""
        x = np.arange(self.shape[1], dtype=float) if x is None else np.asarray(x, float)
        return template.wavelength(self.unbinned(x) - flexure_unbinned)

    def column_of_wavelength(self, template: LampTemplate, flexure_unbinned: float, wave):
        """Binned column (slit-centre row) where the true wavelength equals ``wave``.

        Inverts the monotonic Chebyshev model on a dense grid, then polishes with
        Newton steps so the result is exact to ~1e-9 px.
        """
        wave = np.atleast_1d(np.asarray(wave, float))
        grid = np.arange(-64.0, template.npix + 64.0, 0.5)
        wg = template.wavelength(grid)
        order = np.argsort(wg)
        u = np.interp(wave, wg[order], grid[order])
        deriv = np.polynomial.chebyshev.chebder(template.coefficients)
        for _ in range(4):
            u = u - (template.wavelength(u) - wave) / np.polynomial.chebyshev.chebval(u, deriv)
        return (u + flexure_unbinned - (self.binning - 1) / 2.0) / self.binning


def _illumination(y, lo, hi, sigma, gradient=ILLUMINATION_GRADIENT):
    s = math.sqrt(2.0) * sigma

    def shape(v):
        return (
            0.5
            * (erf((v - lo) / s) - erf((v - hi) / s))
            * (1.0 + gradient * (v - 0.5 * (lo + hi)) / (hi - lo))
        )

    return shape(np.asarray(y, float)) / shape(np.array(0.5 * (lo + hi)))


def add_gaussian_lines(grid, spectrum, centres, fluxes, sigma):
    """Add pixel-integrated Gaussian lines to a spectrum tabulated on ``grid``.

    ``spectrum[i]`` is the content of a one-pixel-wide bin centred at ``grid[i]``, so a
    line of total ``flux`` centred at ``c`` contributes
    ``flux * (Phi((x+0.5-c)/sigma) - Phi((x-0.5-c)/sigma))``: exactly what a detector
    pixel at ``x`` collects. Only a +-8 sigma window around each line is computed.

    Parameters
    ----------
    grid : numpy.ndarray
        Evenly spaced bin centres, in pixels (unbinned or binned, as ``sigma``).
    spectrum : numpy.ndarray
        Bin contents on ``grid``, added to in place.
    centres : float or array_like
        Line centres, same unit as ``grid``.
    fluxes : float or array_like
        Total flux of each line (counts), same length as ``centres``.
    sigma : float
        Gaussian sigma of every line, same unit as ``grid``.

    Returns
    -------
    numpy.ndarray
        ``spectrum`` itself, with the lines added.
    """
    step = grid[1] - grid[0]
    half = 8.0 * sigma + 1.0
    s = math.sqrt(2.0) * sigma
    for c, f in zip(np.atleast_1d(centres), np.atleast_1d(fluxes), strict=True):
        i0 = max(int(np.floor((c - half - grid[0]) / step)), 0)
        i1 = min(int(np.ceil((c + half - grid[0]) / step)) + 1, grid.size)
        if i1 <= i0:
            continue
        x = grid[i0:i1]
        spectrum[i0:i1] += 0.5 * f * (erf((x + 0.5 - c) / s) - erf((x - 0.5 - c) / s))
    return spectrum


def spread_rows(grid, spectrum, layout: Layout, rows, cols=None) -> np.ndarray:
    """Spread a slit-filling spectrum over rows: ``S(x - tilt*(y - yc))``.

    Parameters
    ----------
    grid : numpy.ndarray
        Increasing column positions (pixels) where ``spectrum`` is tabulated.
    spectrum : numpy.ndarray
        The spectrum per pixel on ``grid``.
    layout : Layout
        The frame's layout: its ``row_shift`` gives each row's tilt shift in columns.
    rows : numpy.ndarray
        The rows (0-based) to fill.
    cols : numpy.ndarray or None
        The columns to sample; ``None`` takes every column of ``layout.shape``.

    Returns
    -------
    numpy.ndarray
        Shape ``(len(rows), len(cols))``: the spectrum, shifted per row, linearly
        interpolated (0 outside ``grid``).
    """
    cols = np.arange(layout.shape[1], dtype=float) if cols is None else cols
    shifts = layout.row_shift(rows)
    xs = cols[None, :] - shifts[:, None]
    return np.interp(xs, grid, spectrum, left=0.0, right=0.0)


def moffat_alpha(fwhm: float, beta: float) -> float:
    """Convert a Moffat profile's FWHM to its core width ``alpha``.

    Parameters
    ----------
    fwhm : float
        Full width at half maximum (rows).
    beta : float
        Moffat power index (> 0.5).

    Returns
    -------
    float
        ``alpha = fwhm / (2 sqrt(2**(1/beta) - 1))``, in the unit of ``fwhm``.
    """
    return fwhm / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))


def moffat_profile(dy, fwhm: float, beta: float) -> np.ndarray:
    """Sample a unit-area 1-D Moffat profile at offsets ``dy`` (rows).

    Parameters
    ----------
    dy : float or array_like
        Offsets from the profile's centre, in rows.
    fwhm : float
        Full width at half maximum, in rows.
    beta : float
        Moffat power index (> 0.5: finite area).

    Returns
    -------
    numpy.ndarray
        The profile at ``dy`` (per row; integrates to 1 over all rows).
    """
    alpha = moffat_alpha(fwhm, beta)
    norm = alpha * math.sqrt(math.pi) * math.exp(gammaln(beta - 0.5) - gammaln(beta))
    return (1.0 + (np.asarray(dy, float) / alpha) ** 2) ** (-beta) / norm
