"""First-guess dispersion models and the coarse alignment of an arc against one.

A *first guess* is any object with a ``wavelength(unbinned_pixel) -> Å`` method over
the trimmed, unbinned, 0-based pixel index (the coordinate of the library templates):
a :class:`~pipeline.lamps.LampTemplate` or the optics model. It only starts the line
identification; the solution is fitted to NIST wavelengths.

The arc may sit tens of pixels away from the guess and its dispersion may differ by a
few per cent (custom grating angles, where the optics model is all there is). The
coarse alignment finds the affine map ``u = c + s (v - c) + d`` from the arc's
unbinned coordinate ``v`` to the guess's coordinate ``u`` by cross-correlating the arc
with a reference rendered through the guess (the template's own flux when the guess
is a library lamp, NIST lines otherwise), over a grid of scales ``s``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.wavelength.lines import continuum, robust_noise
from pipeline.wavelength.nist import LineCatalogue

#: Unbinned pixels beyond the 4060-px template width over which a guess is inverted
#: (where it stays monotonic: a stored cubic may turn over far beyond the detector).
INVERSION_MARGIN = 600


@dataclass(frozen=True)
class Alignment:
    """Map from the arc's unbinned coordinate ``v`` to the guess's ``u``.

    ``u = centre + scale * (v - centre) + offset + bend2 * x**2 + bend3 * x**3`` with
    ``x = (v - centre) / centre``: affine, and bent where the arc's curvature differs
    from the guess's (:mod:`pipeline.wavelength.alignment_bend`).
    """

    scale: float
    offset: float
    centre: float
    peak: float  # normalised cross-correlation at the optimum (match quality)
    bend2: float = 0.0  # guess px at the detector's ends
    bend3: float = 0.0

    def __call__(self, v):
        v = np.asarray(v, float)
        u = self.centre + self.scale * (v - self.centre) + self.offset
        if self.bend2 or self.bend3:
            x = (v - self.centre) / self.centre
            u = u + x * x * (self.bend2 + self.bend3 * x)
        return u


def guess_wavelength(guess, unbinned_pixel) -> np.ndarray:
    """Evaluate a first guess in Å at unbinned pixels.

    Parameters
    ----------
    guess : object
        Any object with a ``wavelength(unbinned_pixel)`` method (a lamp template, an
        optics model).
    unbinned_pixel : float or array_like
        Unbinned pixel coordinates (0 is the library's first pixel).

    Returns
    -------
    numpy.ndarray
        float wavelengths in Å, of the shape of ``unbinned_pixel``.
    """
    return np.asarray(guess.wavelength(np.asarray(unbinned_pixel, float)), float)


def inverse(guess, wavelengths, npix_unbinned: int = 4060) -> np.ndarray:
    """Unbinned guess coordinate of each wavelength (NaN outside the inverted range).

    The guess is tabulated on a 1-px grid extended by :data:`INVERSION_MARGIN`,
    inverted by interpolation, then polished with two Newton steps.

    Parameters
    ----------
    guess : object
        Any object with a ``wavelength(unbinned_pixel)`` method.
    wavelengths : float or array_like
        Wavelengths in Å.
    npix_unbinned : int
        Unbinned pixels of the detector's data section (4060).

    Returns
    -------
    numpy.ndarray
        Unbinned pixel coordinate of each wavelength (float, NaN outside the range).

    Raises
    ------
    ValueError
        When the guess is not monotonic over the detector (not a dispersion relation).
    """
    grid = np.arange(-INVERSION_MARGIN, npix_unbinned + INVERSION_MARGIN, dtype=float)
    wave = guess_wavelength(guess, grid)
    step = np.diff(wave)
    sign = np.sign(step[INVERSION_MARGIN + npix_unbinned // 2])
    bad = np.nonzero(np.sign(step) != sign)[0]
    mid = INVERSION_MARGIN + npix_unbinned // 2
    lo = bad[bad < mid].max() + 1 if np.any(bad < mid) else 0
    hi = bad[bad >= mid].min() if np.any(bad >= mid) else grid.size - 1
    if sign == 0 or lo > INVERSION_MARGIN or hi < INVERSION_MARGIN + npix_unbinned - 1:
        raise ValueError(
            "first-guess wavelength model is not monotonic over the detector; "
            "expected a dispersion relation (wavelength rising or falling with pixel)"
        )
    grid, wave, step = grid[lo : hi + 1], wave[lo : hi + 1], step[lo:hi]
    if step[0] < 0:
        wave, grid = wave[::-1], grid[::-1]
    lam = np.asarray(wavelengths, float)
    x = np.interp(lam, wave, grid, left=np.nan, right=np.nan)
    for _ in range(2):
        w0 = guess_wavelength(guess, x)
        slope = guess_wavelength(guess, x + 0.5) - guess_wavelength(guess, x - 0.5)
        with np.errstate(all="ignore"):
            x = x - (w0 - lam) / slope
    return x


def _prepare(flux: np.ndarray) -> np.ndarray:
    """Continuum-free, noise-normalised, asinh-compressed arc for correlation.

    Compression lets the many faint lines count as well as the few bright ones, whose
    relative intensities the reference rarely reproduces.
    """
    flux = np.where(np.isfinite(flux), flux, 0.0)
    net = flux - continuum(flux)
    noise = robust_noise(net) or 1.0
    z = np.arcsinh(np.clip(net / noise, 0.0, None) / 5.0)
    return z - z.mean()


def _render_lines(positions, weights, n, sigma) -> np.ndarray:
    """Gaussians of width ``sigma`` (binned px) at ``positions`` on ``0..n-1``."""
    out = np.zeros(n)
    half = int(np.ceil(4 * sigma)) + 1
    offs = np.arange(-half, half + 1)
    ok = np.isfinite(positions) & (positions > -half) & (positions < n + half)
    pos, wts = positions[ok], weights[ok]
    idx = np.round(pos).astype(int)[:, None] + offs[None, :]
    val = wts[:, None] * np.exp(-0.5 * ((idx - pos[:, None]) / sigma) ** 2)
    good = (idx >= 0) & (idx < n)
    np.add.at(out, idx[good], val[good])
    return out


def _norm(z: np.ndarray) -> float:
    return float(np.sqrt(np.sum(z * z)))


class _Correlator:
    """Cross-correlation of one arc with many references (the arc's FFT kept)."""

    def __init__(self, arc_z: np.ndarray, ref_size: int, max_lag: int):
        self.n_arc, self.n_ref = arc_z.size, ref_size
        total = arc_z.size + ref_size - 1
        self.size = 1 << (total - 1).bit_length()
        self.arc_fft = np.fft.rfft(arc_z, self.size)
        self.arc_norm = _norm(arc_z)
        lags = np.arange(-ref_size + 1, arc_z.size)
        self.keep = np.abs(lags) <= max_lag
        self.lags = lags[self.keep]

    def best_lag(self, ref_z: np.ndarray) -> tuple[float, float]:
        c = np.fft.irfft(self.arc_fft * np.conj(np.fft.rfft(ref_z, self.size)), self.size)
        corr = np.concatenate([c[self.size - (self.n_ref - 1) :], c[: self.n_arc]])[self.keep]
        k = int(np.argmax(corr))
        lag = float(self.lags[k])
        if 0 < k < corr.size - 1:
            y0, y1, y2 = corr[k - 1], corr[k], corr[k + 1]
            den = y0 - 2 * y1 + y2
            if den < 0:
                lag += 0.5 * (y0 - y2) / den
        norm = self.arc_norm * _norm(ref_z)
        return lag, float(corr[k] / norm) if norm > 0 else 0.0


def align(
    flux: np.ndarray,
    binning: int,
    guess,
    catalogue: LineCatalogue,
    sigma_binned: float,
    max_shift_unbinned: float,
    max_scale_error: float,
    lamp_flux: bool = True,
    ionic_weight: float = 1.0,
) -> Alignment:
    """Coarse affine alignment of a binned arc against a first guess.

    Parameters
    ----------
    flux : ndarray
        Binned arc flux.
    binning : int
        Binning along the dispersion axis.
    guess : object with ``wavelength(unbinned_pixel)``
        A library template (its flux is the reference) or any dispersion model (NIST
        lines rendered through it are the reference).
    catalogue : LineCatalogue
        NIST lines of the lamp's elements.
    sigma_binned : float
        Gaussian sigma of the arc's lines, binned px (to render NIST lines).
    max_shift_unbinned : float
        Largest offset searched, unbinned px.
    max_scale_error : float
        Largest relative dispersion error searched (0 keeps the scale at 1).
    lamp_flux : bool
        Whether a library template's flux is the reference (``False``: its model only,
        NIST lines rendered through it, for an arc of other lamps).
    ionic_weight : float
        Factor on the rendered weight of ionic lines (``Ar II``): a pen lamp's are weak,
        and a NIST list's many ionic lines, each as strong as the neutral ones after
        the per-spectrum rescaling, would align the arc with lines it does not show.

    Returns
    -------
    Alignment
    """
    b = int(binning)
    n = flux.size
    centre = (n * b - 1) / 2.0
    arc_z = _prepare(flux)
    v = np.arange(n * b, dtype=float)
    template_flux = getattr(guess, "flux", None) if lamp_flux else None
    if template_flux is not None:
        # prepared once, unbinned; each scale only resamples and bins it
        template_z = _prepare(np.asarray(template_flux, float))
        tx = np.arange(template_z.size, dtype=float)
    else:
        u_lines = inverse(guess, catalogue.wavelength, max(n * b, 4060))
        weights = np.log1p(np.clip(catalogue.intensity, 0, None))
        ionic = ~np.char.endswith(np.char.strip(catalogue.ion.astype(str)), " I")
        weights = weights * np.where(ionic, ionic_weight, 1.0)
    max_lag = int(np.ceil(max_shift_unbinned / b))
    correlator = _Correlator(arc_z, n, max_lag)

    def score(s: float, sigma: float) -> tuple[float, float]:
        if template_flux is not None:
            u = centre + s * (v - centre)
            ref = np.interp(u, tx, template_z, left=0.0, right=0.0).reshape(n, b).sum(axis=1)
        else:
            vk = centre + (u_lines - centre) / s
            ref = _render_lines((vk - (b - 1) / 2.0) / b, weights, n, sigma)
        return correlator.best_lag(ref - ref.mean())

    if max_scale_error <= 0:
        scales = np.array([1.0])
    else:
        # Coarse grid: the ends move by at most ~4 binned px between neighbours, and the
        # rendered lines are broadened to match that coarseness.
        step = max(4.0 / n, 1e-4)
        k = int(np.ceil(max_scale_error / step))
        scales = 1.0 + step * np.arange(-k, k + 1)
    coarse_sigma = max(sigma_binned, 1.5)
    results = [(s, *score(s, coarse_sigma)) for s in scales]
    s_best, lag, peak = max(results, key=lambda r: r[2])
    if scales.size > 1:
        fine_step = step / 5.0
        fine = s_best + fine_step * np.arange(-5, 6)
        results = [(s, *score(s, sigma_binned)) for s in fine]
        s_best, lag, peak = max(results, key=lambda r: r[2])
    # Arc features sit ``lag`` binned px after the reference's: v_arc = v_ref + b*lag.
    offset = -s_best * b * lag
    return Alignment(scale=float(s_best), offset=float(offset), centre=centre, peak=peak)
