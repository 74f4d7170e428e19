"""1-D extraction along a trace: fractional-pixel aperture and optimal (Horne 1986).

specreduce's ``BoxcarExtract`` and ``HorneExtract`` are not used for the sums: in
specreduce 1.9 neither propagates the input uncertainty into the 1-D spectrum together
with the variance of a fitted background, ``BoxcarExtract`` ignores the mask, and
``HorneExtract`` fits its spatial profile column by column with astropy models (slow:
seconds per frame against a 0.3 s budget) and has no cosmic-ray rejection. Both methods
here are vectorised over the whole frame:

- fractional: each pixel's weight is the fraction of its row interval ``[y-0.5,
  y+0.5]`` inside the aperture ``trace ± half_width`` (the seed's method), so the sum
  varies smoothly as the trace moves across pixel boundaries; on a target, pixels that
  depart from flux x profile (cosmic rays the 2-D cleaning spared: on a bright line's
  core it protects the line, and 9 rays in 10 reached the sum on simulated frames)
  are rejected as the optimal method rejects them and bridged with the profile
  (``meta["rejected"]``, the product's ``GSP_EXCR``);
- optimal: Horne's weights with the target's fitted spatial profile corrected from
  the data, cosmic rays rejected, and columns that no smooth profile describes summed
  instead and flagged (``meta["summed"]``); see :mod:`pipeline.spectroscopy.optimal`.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.nddata import StdDevUncertainty, VarianceUncertainty

from pipeline.reduction.masks import COSMIC_RAY
from pipeline.spectroscopy.background import BackgroundModel, fit_background
from pipeline.spectroscopy.dips import low_response_pixels
from pipeline.spectroscopy.optimal import fitted_profile, header_noise, optimal_sums
from pipeline.spectroscopy.profile_correction import BRIDGE_ERROR
from pipeline.spectroscopy.trace import Trace, enclosed_fraction
from pipeline.wavelength.arrays import SpectrumArrays
from pipeline.wavelength.shared_noise import band_of_sum

METHODS = ("fractional", "optimal")


def _variance(ccd, data, band) -> np.ndarray:
    """Per-pixel variance: the CCD's uncertainty, else from GAIN and RDNOISE."""
    if getattr(ccd, "uncertainty", None) is not None:
        unc = ccd.uncertainty
        arr = np.asarray(unc.array)[band]
        if isinstance(unc, StdDevUncertainty):
            return np.asarray(arr, float) ** 2
        return np.asarray(type(unc)(arr).represent_as(VarianceUncertainty).array, float)
    gain, rdnoise = header_noise(ccd)
    return np.clip(data, 0.0, None) / gain + (rdnoise / gain) ** 2


def aperture_weights(trace_rows: np.ndarray, ny: int, half_width: float) -> np.ndarray:
    """Fraction of each pixel (rows x columns) inside ``trace ± half_width``.

    Parameters
    ----------
    trace_rows : ndarray
        The trace's row at each column.
    ny : int
        Rows of the frame (or band).
    half_width : float
        Aperture half width, rows.

    Returns
    -------
    ndarray
        Rows x columns, values 0-1.
    """
    y = np.arange(ny, dtype=float)[:, None]
    lo = trace_rows[None, :] - half_width
    hi = trace_rows[None, :] + half_width
    return np.clip(np.minimum(y + 0.5, hi) - np.maximum(y - 0.5, lo), 0.0, 1.0)


def _row_band(rows: np.ndarray, reach: float, ny_full: int) -> slice:
    """The rows the aperture and sky windows can reach: 5-10x less arithmetic than the
    whole frame."""
    r0 = max(int(np.floor(np.nanmin(rows) - reach)), 0)
    r1 = min(int(np.ceil(np.nanmax(rows) + reach)) + 1, ny_full)
    if r1 - r0 < 3:
        raise ValueError(
            f"trace rows {np.nanmin(rows):.1f}..{np.nanmax(rows):.1f} fall outside the "
            f"frame's {ny_full} rows; nothing to extract"
        )
    return slice(r0, r1)


def _sky_sum_variance(bkg_model, weights: np.ndarray, offset: np.ndarray, nx: int) -> np.ndarray:
    """Variance of the sky summed over the aperture, per column.

    The sky estimate is one fitted line per column: its error is common to every
    aperture pixel, so it adds coherently, (sum of weights)^2 * var, not per pixel.
    """
    if bkg_model is None:
        return np.zeros(nx)
    sw = weights.sum(axis=0)
    mean_off = (weights * offset).sum(axis=0) / np.maximum(sw, 1e-12)
    sky_sum_var = sw**2 * (
        bkg_model.variance_intercept
        + mean_off**2 * bkg_model.variance_slope
        + 2 * mean_off * bkg_model.covariance
    )
    return np.nan_to_num(sky_sum_var, nan=np.inf)


def _cleaned_pixels(ccd, band) -> np.ndarray:
    """The pixels the reduction's cosmic-ray step cleaned (``ccd.flags``, the product's
    ``MASK`` bits, as :func:`~pipeline.spectroscopy.reduced_frame.load_reduced` reads them)."""
    flags = getattr(ccd, "flags", None)
    shape = np.shape(ccd.data)
    if not isinstance(flags, np.ndarray) or flags.shape != shape:
        return np.zeros((band.stop - band.start, shape[1]), bool)
    return (np.asarray(flags[band]).astype(np.uint8) & COSMIC_RAY) != 0


def _rejection_reasons(rejected, cleaned, net, model, row0) -> dict[int, str]:
    """Column: the rows bridged with the profile and why, for ``meta``."""
    out = {}
    for c in np.nonzero(rejected.any(axis=0))[0]:
        parts = []
        rows = np.nonzero(rejected[:, c] & ~cleaned[:, c])[0]
        if rows.size:
            excess = net[rows, c] - model[rows, c]
            # a pixel far below the profile is no cosmic ray (a blemish)
            what = "a cosmic ray the 2-D cleaning left" if excess.max() > 0 else "a low pixel"
            values = ", ".join(f"{e:+.0f}" for e in excess)
            parts.append(
                f"rows {(rows + row0).tolist()} rejected ({values} from flux x profile): {what}"
            )
        rows = np.nonzero(rejected[:, c] & cleaned[:, c])[0]
        if rows.size:
            parts.append(f"rows {(rows + row0).tolist()} cleaned by the 2-D cosmic-ray step")
        out[int(c)] = "; ".join(parts) + "; bridged with the profile"
    return out


def extract_arrays(
    ccd,
    trace: Trace,
    method: str = "fractional",
    background: bool | BackgroundModel = True,
    aperture_fwhm: float = 2.0,
    background_spacing: float = 3.0,
    background_width: float = 3.0,
    half_width: float | None = None,
    reject_cosmic_rays: bool | None = None,
) -> SpectrumArrays:
    """Extract a 1-D spectrum in pixel space with propagated uncertainty (as arrays).

    Parameters
    ----------
    ccd : astropy.nddata.CCDData
        Reduced 2-D frame (dispersion along columns), with uncertainty and mask when
        available (otherwise the variance comes from ``GAIN``/``RDNOISE``).
    trace : Trace
        Path of the target.
    method : {"fractional", "optimal"}
    background : bool or BackgroundModel
        ``True``: fit the sky in two side windows; ``False``: none (arcs); or a
        model already fitted.
    aperture_fwhm : float
        Full aperture width in units of the trace's FWHM (goodman: 2).
    background_spacing, background_width : float
        Distance from the aperture edge and width of each sky window, in FWHM units
        (the reduction settings of the same names).
    half_width : float, optional
        Aperture half width in rows; overrides ``aperture_fwhm``.
    reject_cosmic_rays : bool, optional
        Whether the fractional sum rejects pixels that depart from flux x the spatial
        profile (cosmic rays the 2-D cleaning left) and bridges them, and the pixels
        the 2-D cleaning replaced (``ccd.flags`` with the ``COSMIC_RAY`` bit), with
        the profile, as the optimal method always does; by default when a background
        is subtracted (a target on the sky: an arc's lines fill the slit, no target's
        profile to test them against).

    Returns
    -------
    SpectrumArrays
        Flux per binned pixel column (the CCD's unit) over the pixel index, its
        standard deviation, ``mask`` (columns with masked or non-finite
        pixels in the aperture, or no sky pixels), and in ``meta``: ``trace``,
        ``aperture`` (half width, rows), ``background`` (model or None), ``method``,
        ``sky`` (the sky per column summed over the aperture), ``mask_reasons``
        (column: why it is masked, for the columns masked for a detector blemish,
        :func:`~pipeline.spectroscopy.dips.low_response_pixels`), ``rejected``
        (column: the rows rejected against flux x profile, or cleaned by the
        reduction's cosmic-ray step (``ccd.flags``), and bridged with the profile, in
        the same form; empty without rejection) and their counts ``rejected_pixels``
        and ``cleaned_bridged``, ``enclosed`` (the
        fraction of the target's measured profile inside the aperture,
        :func:`~pipeline.spectroscopy.trace.enclosed_fraction`) and, for the optimal
        method, ``summed`` (columns summed because no smooth profile describes them)
        and ``profile_covariance``
        (:class:`~pipeline.spectroscopy.profile_covariance.ColumnCovariance` or None: the
        covariance the profile's error gives the columns, common to all of them; a
        column's own share, 5-10 % of a faint column's variance, is in its ``std``,
        and a sum over many columns needs the rest, see :func:`summed_std`).
    """
    method = str(method).strip().lower()
    if method not in METHODS:
        raise ValueError(f"extraction method {method!r} is not known; use one of {METHODS}")
    full = np.asarray(ccd.data)
    ny_full, nx = full.shape
    unit = ccd.unit if getattr(ccd, "unit", None) is not None else u.adu
    rows = trace()
    fwhm = max(float(trace.fwhm), 1.0)
    hw = float(half_width) if half_width is not None else 0.5 * aperture_fwhm * fwhm
    reach = hw + (background_spacing + background_width) * fwhm * (background is True) + 2
    band = _row_band(rows, reach, ny_full)
    r0 = band.start
    data = np.asarray(full[band], dtype=float)
    ny = data.shape[0]
    bad = ~np.isfinite(data)
    if getattr(ccd, "mask", None) is not None:
        bad |= np.asarray(ccd.mask[band], bool)
    var = _variance(ccd, data, band)
    bad |= ~np.isfinite(var)
    cleaned = _cleaned_pixels(ccd, band) & ~bad
    rows = rows - r0
    offset = np.arange(ny, dtype=float)[:, None] - rows[None, :]

    bkg_model = background if isinstance(background, BackgroundModel) else None
    if background is True:
        bkg_model = fit_background(
            data, rows, hw, background_spacing * fwhm, background_width * fwhm, mask=bad
        )
    sky = np.zeros_like(data) if bkg_model is None else np.nan_to_num(bkg_model.at(offset)[0])
    net = np.where(bad, 0.0, data - sky)
    pix_var = np.where(bad, 0.0, var)

    weights = aperture_weights(rows, ny, hw)
    aperture_bad = ((weights > 0) & bad).any(axis=0)
    sky_bad = np.zeros(nx, bool)
    if bkg_model is not None:
        sky_bad = ~np.isfinite(bkg_model.intercept) | (bkg_model.n_pixels < 3)
    # A detector blemish under the trace takes light no error covers: its columns are
    # masked, with the reason, whichever method sums them.
    dips = low_response_pixels(net, pix_var, weights)
    dip_cols = dips.any(axis=0)
    col_bad = aperture_bad | sky_bad | dip_cols

    sky_sum_var = _sky_sum_variance(bkg_model, weights, offset, nx)
    sw = weights.sum(axis=0)

    if reject_cosmic_rays is None:
        reject_cosmic_rays = background is not False
    fit, rejected = None, np.zeros_like(bad)
    if method == "optimal" or reject_cosmic_rays:
        # Horne's sums need the aperture's rows only, a third of the band (which also
        # holds the sky windows).
        ap = np.nonzero(weights.any(axis=1))[0]
        ar = slice(ap[0], ap[-1] + 1) if ap.size else slice(0, ny)
        # Pixels the 2-D step cleaned hold their neighbours' mean, which on a line's
        # or a star's core is too low (-8 to -40 sigma on simulated line cores): the
        # profile bridges them instead.
        fit = optimal_sums(
            net[ar],
            pix_var[ar],
            weights[ar],
            (bad | cleaned)[ar],
            ccd,
            sky[ar],
            fitted_profile(offset[ar], trace),
            offset[ar],
            sky_error=None
            if bkg_model is None
            else (bkg_model.variance_intercept, bkg_model.variance_slope, bkg_model.covariance),
            covariance=method == "optimal",
        )
        # Both methods reject cosmic rays against the spatial profile: the 2-D cleaning
        # spares most rays on a bright line's core (its contrast test protects the
        # line), while a line has the target's profile along the slit and a ray has not.
        rejected[ar] = (weights[ar] > 0) & ~bad[ar] & ~fit.kept
    if method == "fractional":
        flux = (weights * net).sum(axis=0)
        variance = (weights**2 * np.where(rejected, 0.0, pix_var)).sum(axis=0) + sky_sum_var
        if fit is not None:
            # rejected pixels are bridged with flux x profile, as Horne's weights bridge
            # them, and the profile's error on them adds to the sum's (BRIDGE_ERROR)
            fill = np.where(rejected[ar], weights[ar] * (fit.model - net[ar]), 0.0)
            flux = flux + fill.sum(axis=0)
            lost = np.where(rejected[ar], weights[ar] * fit.model, 0.0).sum(axis=0)
            with np.errstate(all="ignore"):
                lost_var = np.nan_to_num(lost**2 * fit.model_variance / fit.flux**2)
            variance = variance + lost_var + (BRIDGE_ERROR * lost) ** 2
            with np.errstate(all="ignore"):
                col_bad = col_bad | (lost > 0.5 * np.abs(fit.flux))
    else:
        flux, variance, coverage = fit.flux, fit.variance, fit.coverage
        # The optimal weights sum the sky error with sum(P/V)/sum(P^2/V), not sum(w).
        with np.errstate(all="ignore"):
            variance = variance + np.where(sw > 0, sky_sum_var * (fit.sky_coeff / sw) ** 2, 0.0)
        # Horne's weights bridge lost pixels with the profile: a column is masked only
        # when less than half of the profile remains, and the profile's error on the
        # part it stands in for adds to the flux's (see BRIDGE_ERROR).
        lost = np.clip(1.0 - coverage, 0.0, 1.0)
        variance = variance + (BRIDGE_ERROR * lost * np.nan_to_num(flux)) ** 2
        col_bad = sky_bad | (coverage < 0.5) | dip_cols
    sky_col = (weights * sky).sum(axis=0)
    meta = {
        "trace": trace,
        "aperture": hw,
        "background": bkg_model,
        "method": method,
        "sky": sky_col,
        "enclosed": enclosed_fraction(trace, hw),
    }
    meta["mask_reasons"] = {
        int(c): f"low-response pixels at rows {(np.nonzero(dips[:, c])[0] + r0).tolist()}: a "
        "compact deficit below the neighbouring columns' profile (detector)"
        for c in np.nonzero(dip_cols)[0]
    }
    meta["rejected_pixels"] = int((rejected & ~cleaned).sum())
    meta["cleaned_bridged"] = int((rejected & cleaned).sum())
    meta["rejected"] = (
        {}
        if fit is None
        else _rejection_reasons(rejected[ar], cleaned[ar], net[ar], fit.model, ar.start + r0)
    )
    if method == "optimal":
        meta["summed"] = fit.summed
        meta["profile_covariance"] = fit.covariance
    return SpectrumArrays(
        flux=flux,
        std=np.sqrt(np.clip(variance, 0.0, None)),
        mask=col_bad | ~np.isfinite(flux) | ~np.isfinite(variance),
        axis=np.arange(nx, dtype=float),
        axis_unit=u.pix,
        unit=unit,
        meta=meta,
    )


def summed_std(spectrum, columns=None) -> float:
    """Standard deviation of the flux summed over columns, the columns' covariance included.

    Optimal extraction's columns share the error of the profile they are weighted
    with (``meta["profile_covariance"]``; after resampling ``meta["shared_noise"]``):
    summing their ``std`` in quadrature understates a sum over many columns (2-3x for
    a faint source in a wide aperture), and a resampled spectrum's bins share the
    noise of the pixels split between them (``meta["neighbour_covariance"]``,
    whatever the method). A product read from a file:
    :func:`pipeline.wavelength.shared_noise.summed_error`.

    Parameters
    ----------
    spectrum : SpectrumArrays or specutils.Spectrum
        An extracted spectrum (:func:`extract_arrays` or :func:`extract`).
    columns : array_like of int or bool, optional
        The columns summed; by default every column not masked.

    Returns
    -------
    float
        The standard deviation of ``flux[columns].sum()``.
    """
    if hasattr(spectrum, "std"):
        std, mask = np.asarray(spectrum.std, float), spectrum.mask
    else:
        unc = spectrum.uncertainty
        if unc is None:
            raise ValueError("the spectrum has no uncertainty; extract it with extract()")
        std = np.asarray(unc.represent_as(StdDevUncertainty).array, float)
        mask = spectrum.mask
    nx = std.size
    if columns is None:
        columns = np.ones(nx, bool) if mask is None else ~np.asarray(mask, bool)
    pick = np.zeros(nx, bool)
    pick[np.asarray(columns)] = True
    variance = float((std[pick] ** 2).sum())
    meta = spectrum.meta or {}
    # the pixels' own covariance, else (a resampled spectrum) its shared-noise vectors
    covariance = meta.get("profile_covariance") or meta.get("shared_noise")
    if covariance is not None:
        variance += covariance.of_sum(pick)
    if meta.get("neighbour_covariance") is not None:
        variance += band_of_sum(meta["neighbour_covariance"], pick)
    return float(np.sqrt(max(variance, 0.0)))


def extract(ccd, trace: Trace, method: str = "fractional", background=True, **kwargs):
    """Extract a 1-D spectrum in pixel space as a ``specutils.Spectrum``.

    Same parameters as :func:`extract_arrays` (``aperture_fwhm``,
    ``background_spacing``, ``background_width``, ``half_width``); the result carries a
    ``StdDevUncertainty``, the mask, and the ``meta`` described there.

    Parameters
    ----------
    ccd : astropy.nddata.CCDData
    trace : Trace
    method : {"fractional", "optimal"}
    background : bool or BackgroundModel
    **kwargs
        Passed to :func:`extract_arrays`.

    Returns
    -------
    specutils.Spectrum
    """
    return extract_arrays(ccd, trace, method, background, **kwargs).to_spectrum()
