"""Applying a wavelength solution: flux-conserving resampling to a linear dispersion.

specutils' ``FluxConservingResampler`` does propagate the uncertainty, but it treats
flux as a density, loops in Python (0.35 s for 2030 pixels here, more than the whole
budget of one frame) and drops the mask. A binned spectrum holds *counts per pixel*, so
resampling here splits each pixel's counts over the output bins in proportion to the
wavelength overlap (the solution is monotonic, so the overlaps of two sorted sets of
edges are found by one merge). Variance propagates with the squared weights, and an
output bin is masked when any pixel contributing to it is.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np

from pipeline.wavelength.arrays import SpectrumArrays
from pipeline.wavelength.solution import WavelengthSolution

#: Output bins ahead with which a bin's covariance is kept: an input pixel spans at most
#: three bins of the linear grid while the dispersion stays within twice its mean.
BAND = 2


def linear_grid(solution: WavelengthSolution, n: int | None = None) -> tuple[float, float, int]:
    """Start (Å, centre of the first bin), step (Å) and length of the linear grid.

    The grid spans the centres of the first and last pixels with as many bins as the
    detector has pixels, so its step is the mean dispersion.

    Parameters
    ----------
    solution : WavelengthSolution
        The solution of the spectrum's pixels.
    n : int or None
        Bins of the grid (at least 2); ``None`` for the detector's pixels
        (``solution.npix``).

    Returns
    -------
    start : float
        Centre of the first bin, Å (the bluest end).
    step : float
        Bin width, Å.
    n : int
        Number of bins.
    """
    n = solution.npix if n is None else int(n)
    w = solution.wavelength([0, solution.npix - 1])
    lo, hi = float(min(w)), float(max(w))
    return lo, (hi - lo) / (n - 1), n


def _overlap_pieces(edges_in, edges_out):
    """The pieces the merged edges cut: input bin ``j``, output bin ``k``, the
    fraction ``frac`` of the input bin and the length of each piece."""
    n_in, n_out = edges_in.size - 1, edges_out.size - 1
    merged = np.union1d(edges_in, edges_out)
    left, right = merged[:-1], merged[1:]
    mid = 0.5 * (left + right)
    j = np.searchsorted(edges_in, mid) - 1
    k = np.searchsorted(edges_out, mid) - 1
    ok = (j >= 0) & (j < n_in) & (k >= 0) & (k < n_out)
    j, k, length = j[ok], k[ok], (right - left)[ok]
    return j, k, length / (edges_in[j + 1] - edges_in[j]), length


def _overlap_resample(edges_in, counts, var, bad, edges_out, neighbours=False):
    """Split counts of input bins over output bins by overlap of their edges (with
    ``neighbours``, also the covariance of each output bin with the next two)."""
    n_out = edges_out.size - 1
    j, k, frac, length = _overlap_pieces(edges_in, edges_out)
    flux = np.bincount(k, frac * counts[j], minlength=n_out)
    variance = np.bincount(k, frac**2 * var[j], minlength=n_out)
    covered = np.bincount(k, length, minlength=n_out)
    width = np.diff(edges_out)
    masked = np.bincount(k, (frac > 0) & bad[j], minlength=n_out) > 0
    masked |= covered < 0.999 * width
    if not neighbours:
        return flux, variance, masked
    # An input pixel split over two or three output bins makes them covary by
    # frac_k frac_l var: its pieces are consecutive pieces of the merged edges.
    band = np.zeros((BAND, n_out))
    for step in range(1, BAND + 2):
        same = j[step:] == j[:-step]
        lag = k[step:] - k[:-step]
        for d in range(1, BAND + 1):
            use = same & (lag == d)
            first = k[:-step][use]
            piece = frac[:-step][use] * frac[step:][use] * var[j[:-step][use]]
            band[d - 1] += np.bincount(first, piece, minlength=n_out)
    return flux, variance, masked, band


def _shared_noise(covariance, shared):
    """The spectrum's shared noise as vectors over its bins, or None.

    The pixel columns' covariance of an optimal extraction
    (:class:`~pipeline.spectroscopy.profile_covariance.ColumnCovariance`) holds on the pixels
    only: a resampled spectrum carries its shared-noise vectors instead.
    """
    if covariance is not None:
        return covariance.shared_noise
    return shared


def apply_solution(spectrum_1d, solution: WavelengthSolution, n: int | None = None):
    """Resample a pixel-space spectrum onto a linear wavelength grid, conserving counts.

    Parameters
    ----------
    spectrum_1d : specutils.Spectrum or SpectrumArrays
        Extracted spectrum over the binned pixel index (counts per pixel), with an
        uncertainty and optionally a mask.
    solution : WavelengthSolution
        Its wavelength solution (``solution.npix`` must equal the spectrum's length).
    n : int, optional
        Number of output bins (default: as many as pixels).

    Returns
    -------
    specutils.Spectrum (or SpectrumArrays when given SpectrumArrays)
        Spectral axis in Å (linear), flux in counts per output bin, ``StdDevUncertainty``
        and a mask (bins touching masked or non-finite pixels, or the grid's ends).
        ``meta["wavelength_solution"]`` holds the solution.
    """
    if isinstance(spectrum_1d, SpectrumArrays):
        return resample_arrays(spectrum_1d, solution, n)
    return resample_arrays(SpectrumArrays.from_spectrum(spectrum_1d), solution, n).to_spectrum()


def resample_arrays(
    spec: SpectrumArrays, solution: WavelengthSolution, n: int | None = None
) -> SpectrumArrays:
    """Resample a spectrum onto the solution's linear grid: :func:`apply_solution` on plain arrays.

    Flux is conserved bin by bin (overlap of pixel and bin edges); the variance follows.

    Parameters
    ----------
    spec : SpectrumArrays
        The extracted spectrum on pixels (its length is the solution's ``npix``).
    solution : WavelengthSolution
        The wavelength solution of those pixels.
    n : int or None
        Bins of the output grid; ``None`` for as many as pixels.

    Returns
    -------
    SpectrumArrays
        Flux, std and mask on the linear axis in Å (blue to red), the solution kept in
        ``meta["wavelength_solution"]``; ``meta["neighbour_covariance"]`` (``BAND`` x
        bins: the covariance of each bin with the next, then the one after, from
        the pixels split between them), and an optimal extraction's pixel covariance
        (``meta["profile_covariance"]``) becomes ``meta["shared_noise"]``
        (:class:`~pipeline.wavelength.shared_noise.SharedNoise` over the new bins).

    Raises
    ------
    ValueError
        The spectrum's length is not the solution's, or the solution is not monotonic.
    """
    flux = np.asarray(spec.flux, dtype=float)
    if flux.size != solution.npix:
        raise ValueError(
            f"spectrum has {flux.size} pixels but the wavelength solution was made for "
            f"{solution.npix}; extract the arc and the science with the same binning"
        )
    var = spec.variance
    bad = ~np.isfinite(flux) | ~np.isfinite(var) | np.asarray(spec.mask, bool)
    counts = np.where(bad, 0.0, flux)
    var = np.where(bad, 0.0, var)

    edges_pix = np.arange(flux.size + 1) - 0.5
    edges_in = solution.wavelength(edges_pix)
    flipped = edges_in[-1] < edges_in[0]
    if flipped:  # blue to the right: flip so edges increase
        edges_in, counts, var, bad = edges_in[::-1], counts[::-1], var[::-1], bad[::-1]
    if np.any(np.diff(edges_in) <= 0):
        raise ValueError("wavelength solution is not monotonic over the detector")
    start, step, n_out = linear_grid(solution, n)
    centres = start + step * np.arange(n_out)
    edges_out = np.concatenate([centres - 0.5 * step, [centres[-1] + 0.5 * step]])
    out, out_var, masked, band = _overlap_resample(
        edges_in, counts, var, bad, edges_out, neighbours=True
    )
    meta = dict(spec.meta)
    meta["wavelength_solution"] = solution
    # A sum over resampled bins counts each split pixel's noise in two or three bins:
    # their std alone gives it 1/3 too little variance on average (a pixel split in
    # halves counts twice a quarter of it).
    meta["neighbour_covariance"] = band
    shared = _shared_noise(meta.pop("profile_covariance", None), meta.get("shared_noise"))
    if shared is not None:
        # the shared noise goes through the same linear map as the counts

        # the pieces are the counts' own: cut once, not once per vector
        j, k, frac, _ = _overlap_pieces(edges_in, edges_out)

        def through(vector):
            vector = np.where(bad, 0.0, vector[::-1] if flipped else vector)
            return np.bincount(k, frac * vector[j], minlength=n_out)

        in_std = None
        if shared.in_std is not None:
            # Each pixel's own share of the shared noise is in its variance, so in the
            # bins' variance and their band, as diag(R D R^T) and its band; the vectors
            # hold all of R D R^T: the band keeps the rest of it (the pixels' own noise
            # split between bins) and the bins' variance its diagonal, counted once.
            own = np.where(bad, 0.0, shared.in_std[::-1] if flipped else shared.in_std)
            _, in_std, _, own_band = _overlap_resample(
                edges_in, own, own, bad, edges_out, neighbours=True
            )
            band = band - own_band
            meta["neighbour_covariance"] = band
        meta["shared_noise"] = shared.mapped(through, in_std)
    return SpectrumArrays(
        flux=out,
        std=np.sqrt(out_var),
        mask=masked,
        axis=centres,
        axis_unit=u.AA,
        unit=spec.unit,
        meta=meta,
    )
