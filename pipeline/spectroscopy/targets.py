"""Finding the targets on a reduced 2-D spectrum from its spatial profile.

goodman_pipeline rejects good but extended targets ("FWHM too large") and misses faint
ones. Here:

- the spatial profile is the median over a central band of columns, so a faint
  continuum gains sqrt(number of columns) in S/N while cosmic rays and sky lines do not
  count; the band is narrow enough that a tilted trace stays sharp in it;
- the sky and slit illumination are removed with a running low percentile wide enough
  (many times any source FWHM) not to eat wide sources;
- a peak is a target when its prominence exceeds ``threshold`` times the profile's own
  noise, whatever its width; only profiles narrower than one resolution element (hot
  columns) or wider than a third of the slit (sky residuals) are refused, and each
  refusal says why.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import ndimage

from pipeline.wavelength.peaks import find_peaks


@dataclass
class Target:
    """A source found on the slit.

    Attributes
    ----------
    centre : float
        Row of the profile peak (0-based) at ``column``.
    fwhm : float
        Full width at half maximum along the slit, rows.
    snr : float
        Signal-to-noise ratio of the profile within ±1 FWHM (per column of the band
        times sqrt of the band width: the S/N of the whole collapsed profile).
    amplitude : float
        Peak height above the background in the collapsed profile (data units/row).
    background : float
        Background level under the peak in the collapsed profile.
    model : str
        ``"moffat"`` or ``"gaussian"``.
    params : dict
        Fitted model parameters (``amplitude``, ``x_0``, ``gamma``/``alpha`` or
        ``stddev``; Moffat ``alpha`` the power).
    column : float
        Column at the centre of the band used for the profile.
    """

    centre: float
    fwhm: float
    snr: float
    amplitude: float
    background: float
    model: str
    params: dict = field(default_factory=dict)
    column: float = 0.0

    def summary(self) -> dict:
        return {
            "centre": round(float(self.centre), 3),
            "fwhm": round(float(self.fwhm), 3),
            "snr": round(float(self.snr), 1),
            "model": self.model,
        }


def _moffat(y, amp, x0, gamma, alpha, c):
    return c + amp * (1.0 + ((y - x0) / gamma) ** 2) ** (-alpha)


def _gauss(y, amp, x0, sigma, c):
    return c + amp * np.exp(-0.5 * ((y - x0) / sigma) ** 2)


def _least_squares(func, y, data, p0, lower, upper, n_iter=60):
    """Bounded Levenberg-Marquardt with a numerical Jacobian (a handful of parameters).

    ``scipy.optimize.curve_fit`` does this too, but importing scipy.optimize costs
    half a second at every start of ``gsp reduce`` for two tiny fits per frame.
    """
    p = np.clip(np.asarray(p0, float), lower, upper)
    lam = 1e-3
    r = data - func(y, *p)
    cost = float(r @ r)
    for _ in range(n_iter):
        h = 1e-6 * np.maximum(np.abs(p), 1e-3)
        jac = np.empty((y.size, p.size))
        for k in range(p.size):
            q = p.copy()
            q[k] += h[k]
            jac[:, k] = (func(y, *q) - func(y, *p)) / h[k]
        jtj = jac.T @ jac
        g = jac.T @ r
        improved = False
        for _ in range(10):
            a = jtj + lam * np.diag(np.diag(jtj) + 1e-12)
            try:
                step = np.linalg.solve(a, g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            q = np.clip(p + step, lower, upper)
            rq = data - func(y, *q)
            cq = float(rq @ rq)
            if np.isfinite(cq) and cq < cost:
                converged = cost - cq < 1e-10 * max(cost, 1e-300)
                p, r, cost, lam = q, rq, cq, max(lam / 10, 1e-9)
                improved = True
                break
            lam *= 10
        if not improved or converged:
            break
    if not np.all(np.isfinite(p)):
        raise RuntimeError("profile fit did not converge")
    return p


def fit_source_profile(y, prof, x0, fwhm0, model):
    """Fit one source's spatial profile, a Moffat or Gaussian over a constant.

    Parameters
    ----------
    y : numpy.ndarray
        Row (or offset) of each sample.
    prof : numpy.ndarray
        The profile's samples.
    x0 : float
        First guess of the centre; the fit keeps within ``fwhm0`` of it.
    fwhm0 : float
        First guess of the FWHM.
    model : str
        ``"moffat"``, else a Gaussian is fitted.

    Returns
    -------
    tuple or None
        ``(centre, fwhm, amplitude, background, params)``, ``params`` the model's
        parameters by name; None when the fit fails.
    """
    amp0 = max(float(prof[np.argmin(np.abs(y - x0))]), 1e-12)
    inf = np.inf
    try:
        if model == "moffat":
            gamma0 = max(fwhm0, 1.0) / (2 * math.sqrt(2 ** (1 / 2.5) - 1))
            amp, xc, gamma, alpha, c = _least_squares(
                _moffat,
                y,
                prof,
                [amp0, x0, gamma0, 2.5, 0.0],
                np.array([0, x0 - fwhm0, 0.2, 0.6, -inf]),
                np.array([inf, x0 + fwhm0, 10 * y.size, 20, inf]),
            )
            fwhm = 2 * gamma * math.sqrt(2 ** (1 / alpha) - 1)
            params = {"amplitude": amp, "x_0": xc, "gamma": gamma, "alpha": alpha}
        else:
            amp, xc, sigma, c = _least_squares(
                _gauss,
                y,
                prof,
                [amp0, x0, max(fwhm0, 1.0) / 2.3548, 0.0],
                np.array([0, x0 - fwhm0, 0.2, -inf]),
                np.array([inf, x0 + fwhm0, 5 * y.size, inf]),
            )
            fwhm = 2.3548 * sigma
            params = {"amplitude": amp, "x_0": xc, "stddev": sigma}
    except (RuntimeError, ValueError, FloatingPointError):
        return None
    return float(xc), float(fwhm), float(amp), float(c), {k: float(v) for k, v in params.items()}


#: Columns per block of the spatial profile (see :func:`spatial_profile`).
BLOCK = 16


def _profile_blocks(ccd, band: float):
    """Median of each block of ``BLOCK`` columns in the central band (rows x blocks)."""
    data = np.asarray(ccd.data, dtype=float)
    if getattr(ccd, "mask", None) is not None:
        data = np.where(ccd.mask, np.nan, data)
    ny, nx = data.shape
    width = max(int(band * nx), min(nx, 2 * BLOCK))
    nblocks = max(width // BLOCK, 1)
    width = min(nblocks * BLOCK, nx)
    c0 = (nx - width) // 2
    sub = data[:, c0 : c0 + width]
    if width % BLOCK == 0 and width >= BLOCK:
        cube = sub.reshape(ny, -1, BLOCK)
    else:
        cube = sub[:, None, :]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # nanmedian is ~8x slower than median: only pay for it when there are NaNs.
        blocks = np.nanmedian(cube, axis=2) if np.isnan(cube).any() else np.median(cube, axis=2)
    good = np.isfinite(blocks).mean(axis=0) > 0.5
    return blocks[:, good], c0 + (width - 1) / 2.0


def _mean_of_blocks(blocks: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(blocks, axis=1)


def _noise_of_blocks(blocks: np.ndarray) -> float:
    """Noise of the mean profile from the scatter of the block medians in each row."""
    if blocks.shape[1] < 3:
        return float("nan")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        spread = 1.4826 * np.nanmedian(
            np.abs(blocks - np.nanmedian(blocks, axis=1, keepdims=True)), axis=1
        )
    return float(np.nanmedian(spread) / math.sqrt(blocks.shape[1]))


def spatial_profile(ccd, band: float = 0.15) -> tuple[np.ndarray, float, int]:
    """Spatial profile over a central band of columns: the mean of block medians.

    Each block of 16 columns gives a median (immune to cosmic rays and hot pixels);
    the profile is their mean. A plain median over all columns is quantised on low
    sky levels (raw data are integers), which makes its noise look far smaller than it
    is and lets steps pass for faint targets.

    Parameters
    ----------
    ccd : astropy.nddata.CCDData
        Reduced 2-D spectrum, dispersion along columns.
    band : float
        Fraction of the columns (centred) used.

    Returns
    -------
    profile : ndarray (rows)
    column : float
        Centre column of the band.
    ncols : int
        Number of columns used.
    """
    blocks, column = _profile_blocks(ccd, band)
    if blocks.shape[1] == 0:
        return np.full(blocks.shape[0], np.nan), column, 0
    return _mean_of_blocks(blocks), column, int(blocks.shape[1] * BLOCK)


def find_targets(
    ccd,
    max_targets: int = 3,
    model: str = "moffat",
    threshold: float = 5.0,
    band: float = 0.15,
) -> list[Target]:
    """Find up to ``max_targets`` sources along the slit.

    Parameters
    ----------
    ccd : astropy.nddata.CCDData
        Reduced 2-D spectrum, dispersion along columns (axis 1).
    max_targets : int
        Most targets returned (the highest S/N first... then ordered by row).
    model : {"moffat", "gaussian"}
        Spatial profile model fitted to each peak.
    threshold : float
        Detection threshold: peak prominence in units of the profile's noise.
    band : float
        Fraction of the columns (centred) collapsed into the profile.

    Returns
    -------
    list of Target
        Sorted by row. Empty when nothing passes the threshold.
    """
    model = str(model).strip().lower()
    if model not in ("moffat", "gaussian"):
        raise ValueError(f"target model {model!r} is not known; use 'moffat' or 'gaussian'")
    blocks, column = _profile_blocks(ccd, band)
    prof = _filled_profile(blocks)
    if prof is None:
        return []
    y = np.arange(prof.size, dtype=float)
    # Background: running 20th percentile over a third of the slit, then smoothed;
    # a source must be narrower than that window to be found, which any star is.
    win = max(31, (prof.size // 3) | 1)
    base = ndimage.percentile_filter(prof, 20, size=win, mode="nearest")
    base = ndimage.uniform_filter1d(base, size=max(5, win // 4), mode="nearest")
    net = prof - base
    noise = _profile_noise(net, blocks)
    # Peaks are looked for in the profile itself (lightly smoothed, so that a faint
    # wide source is one peak), with their prominence over the neighbouring minima:
    # the soft edges of the slit-filling sky are steps, not peaks, whereas in
    # ``net`` a percentile baseline leaves bumps beside them.
    smooth = ndimage.gaussian_filter1d(prof, 1.0)
    peaks = find_peaks(smooth, threshold * noise / 1.6, wlen=win, min_width=1.0)
    found: list[Target] = []
    for k in np.argsort(peaks.prominence)[::-1][: 4 * max_targets]:
        target = _fit_target(
            y, net, int(peaks.index[k]), float(peaks.width[k]), model, noise, threshold
        )
        if target is None or any(
            abs(target.centre - t.centre) < 0.5 * max(target.fwhm, t.fwhm) for t in found
        ):
            continue
        background = float(np.interp(target.centre, y, base)) + target.background
        found.append(replace(target, background=background, column=column))
        if len(found) >= max_targets:
            break
    found.sort(key=lambda t: t.centre)
    return found


def _filled_profile(blocks: np.ndarray) -> np.ndarray | None:
    """The spatial profile with its non-finite rows interpolated (``None``: too few)."""
    if blocks.shape[1] == 0:
        return None
    prof = _mean_of_blocks(blocks)
    finite = np.isfinite(prof)
    if finite.sum() < 10:
        return None
    y = np.arange(prof.size, dtype=float)
    return np.where(finite, prof, np.interp(y, y[finite], prof[finite]))


def _profile_noise(net: np.ndarray, blocks: np.ndarray) -> float:
    """The noise of the background-subtracted profile.

    The scatter between column blocks is the direct measure; the row-to-row one misses
    noise common to neighbouring rows. The larger of the two is used.
    """
    d = np.diff(net)
    noise = 1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2)
    block_noise = _noise_of_blocks(blocks)
    if np.isfinite(block_noise):
        noise = max(noise, block_noise)
    if not np.isfinite(noise) or noise <= 0:
        noise = float(np.std(net)) or 1.0
    return noise


def _fit_target(y, net, peak: int, width: float, model: str, noise: float, threshold: float):
    """The profile fitted around one peak, as a :class:`Target` (its ``background`` the
    fit's constant over the baseline), or ``None`` when it is not a source."""
    fwhm0 = float(max(width, 1.5))
    half = int(max(4 * fwhm0, 12))
    lo, hi = max(peak - half, 0), min(peak + half + 1, net.size)
    fit = fit_source_profile(y[lo:hi], net[lo:hi], float(peak), fwhm0, model)
    if fit is None:
        return None
    xc, fwhm, amp, c, params = fit
    if not (0 <= xc < net.size) or fwhm < 1.0 or fwhm > net.size / 3:
        return None
    ap = np.abs(y - xc) <= fwhm
    snr = float(np.sum(net[ap] - c)) / (noise * math.sqrt(max(ap.sum(), 1)))
    if snr < threshold:
        return None
    return Target(
        centre=xc, fwhm=fwhm, snr=snr, amplitude=amp, background=c, model=model, params=params
    )
