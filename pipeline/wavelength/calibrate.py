"""Wavelength calibration of a 1-D arc against the Goodman lamp library.

Method (each step fixes one cause of goodman_pipeline's 0.5-2 Å errors):

1. Lines found in the arc are centred with a pixel-integrated Gaussian
   (:mod:`pipeline.wavelength.lines`), and the template's wavelength model is
   evaluated at binned pixel centres ``b*j + (b-1)/2``, never rescaled.
2. The offset between arc and template is found by cross-correlation with a parabolic
   sub-pixel peak, then refined by *forward modelling*: the template spectrum is moved
   by the current offset and binned like the detector, its lines are centred with the
   very same code as the arc's lines, and the median difference updates the offset.
   Measuring both with one method on identically sampled data cancels the centring
   biases of blended and undersampled lines.
3. Lines are paired by nearest predicted position, and the flexure ``s(j)`` (the
   offset in unbinned pixels, a polynomial of order 0-2 chosen by BIC along the
   detector) is fitted with iterative clipping, each line weighted by its centring
   error. Three sets of reference positions are tried: (a) lines of the template
   *spectrum* (whose wavelengths the template model defines); (b) catalogued
   wavelengths of the template's line list placed through the inverse model
   (isolated ones); (c) both, the catalogued lines plus the template-spectrum lines
   far from any catalogued one (real arcs, and ``gsp simulate``, are like that). The
   set the arc follows most closely (robust scatter over sqrt(number of lines)) wins.
4. The solution is ``λ(j) = T(b*j + (b-1)/2 - s(j))``: the template's own model with a
   low-order pixel correction. It cannot run wild beyond the outermost lines the way a
   free high-order fit does. It is then written as one Chebyshev series over the
   binned pixel index (``GSP_Cnnn``), of the lowest degree that reproduces it to
   0.002 binned pixels everywhere.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.nddata import VarianceUncertainty
from astropy.table import Table
from numpy.polynomial import Chebyshev, chebyshev

from pipeline.lamps import LampTemplate
from pipeline.wavelength.lamp_choice import select_template
from pipeline.wavelength.lines import LineList, find_lines
from pipeline.wavelength.shift import bin_spectrum, cross_correlation_lag, shifted_binned
from pipeline.wavelength.solution import WavelengthSolution


class WavelengthCalibrationError(ValueError):
    """An arc could not be calibrated (too few lines, wrong lamp or mode)."""


#: Largest flexure/offset searched, unbinned pixels (Goodman flexure is a few pixels;
#: grating-angle repeatability adds some tens).
MAX_SHIFT_UNBINNED = 120
#: Centring error floor of one line, binned pixels: blends, line asymmetry and
#: interpolation leave a few hundredths of a pixel that photon noise does not
#: describe; without the floor the brightest lines would dominate the fit.
SYSTEMATIC_PX = 0.04


def _inverse_model(template: LampTemplate, wavelengths: np.ndarray, start: np.ndarray):
    """Unbinned template pixel of each wavelength (Newton steps on the model)."""
    x = np.asarray(start, dtype=float).copy()
    deriv = chebyshev.chebder(template.coefficients)
    for _ in range(8):
        x -= (template.wavelength(x) - wavelengths) / chebyshev.chebval(x, deriv)
    return x


def _pair(arc: np.ndarray, predicted: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Mutual nearest neighbours between arc centres and predicted positions."""
    if arc.size == 0 or predicted.size == 0:
        return np.empty(0, int), np.empty(0, int)
    i = np.clip(np.searchsorted(arc, predicted), 1, max(arc.size - 1, 1))
    lo = np.clip(i - 1, 0, arc.size - 1)
    hi = np.clip(i, 0, arc.size - 1)
    near = np.where(np.abs(arc[lo] - predicted) <= np.abs(arc[hi] - predicted), lo, hi)
    ok = np.abs(arc[near] - predicted) <= tol
    ref_idx = np.nonzero(ok)[0]
    arc_idx = near[ok]
    # Mutual: each arc line keeps only its closest reference.
    best: dict[int, int] = {}
    for r, a in zip(ref_idx, arc_idx, strict=True):
        if a not in best or abs(arc[a] - predicted[r]) < abs(arc[a] - predicted[best[a]]):
            best[a] = r
    arc_sel = np.array(sorted(best), dtype=int)
    ref_sel = np.array([best[a] for a in arc_sel], dtype=int)
    return arc_sel, ref_sel


def _clipped_polyfit(x, y, err, order, sigma=3.5, n_iter=8):
    """Weighted Chebyshev fit with iterative clipping of outliers.

    Residuals are compared with each line's own centring error times a robust scale of
    the normalised residuals, so faint (noisy) lines are down-weighted rather than
    rejected, while misidentified lines and blends (off by much more than their
    error) are rejected.
    """
    used = np.ones(x.size, bool)
    fit = None
    for _ in range(n_iter):
        if used.sum() <= order + 1:
            break
        fit = Chebyshev.fit(x[used], y[used], order, domain=[-1, 1], w=1.0 / err[used])
        norm = (y - fit(x)) / err
        scale = max(1.4826 * np.median(np.abs(norm[used])), 1.0)
        new = np.abs(norm) <= sigma * scale
        if np.array_equal(new, used):
            break
        used = new
    if fit is None or used.sum() <= order:
        fit = Chebyshev.fit(x, y, 0, domain=[-1, 1], w=1.0 / err)
        used = np.ones(x.size, bool)
    return fit, used


def _fit_shift(pix, shift, err, npix, max_order):
    """Fit the flexure s(j) with the lowest order the lines support (0, 1 or 2).

    A higher order is kept only when it lowers the Bayesian information criterion of
    the clipped, weighted fit: a needless quadratic would swing beyond the outermost
    lines, where the requirement (0.3 px maximum error) is hardest to meet.
    """
    x = 2.0 * pix / max(npix - 1, 1) - 1.0
    best = None
    for order in range(0, max_order + 1):
        if pix.size < 3 * (order + 2):
            break
        fit, used = _clipped_polyfit(x, shift, err, order)
        chi2 = float(np.sum(((shift - fit(x)) / err)[used] ** 2))
        m = int(used.sum())
        # Compare on a common line set so that clipping more lines is no advantage.
        bic = m * np.log(max(chi2, 1e-12) / m) + (order + 1) * np.log(m)
        # A higher order must lower the BIC clearly (by 6: 'strong' evidence).
        if best is None or bic < best[0] - 6.0:
            best = (bic, fit, used)
    if best is None:
        fit, used = _clipped_polyfit(x, shift, err, 0)
        return fit, used
    return best[1], best[2]


def _forward_offset(arc_lines: LineList, template: LampTemplate, b: int, n: int, s0: float):
    """Refine a uniform offset by comparing the arc with the moved, binned template."""
    s = s0
    tol = 1.5
    for _ in range(2):
        model = shifted_binned(template.flux, s, b, n)
        ref = find_lines(model)
        a_idx, r_idx = _pair(arc_lines.centre, ref.centre, tol)
        if a_idx.size < 3:
            return s, None
        d = arc_lines.centre[a_idx] - ref.centre[r_idx]
        step = b * float(np.median(d))
        if abs(step) < 0.05:
            # converged: keep the offset this reference was made with (the caller
            # places lines by it), the step being far below any tolerance
            return s, ref
        s += step
        tol = 1.0
    model = shifted_binned(template.flux, s, b, n)
    ref = find_lines(model)
    return s, ref


def _label_with_nist(template: LampTemplate, u_ref: np.ndarray, lab: np.ndarray):
    """Catalogue wavelengths for template-spectrum lines the template does not list.

    A line takes the NIST strong line of the lamp's elements nearest to its model
    wavelength when that line is within 1.5 unbinned pixels and unambiguous (the next
    NIST line at least three times farther). These labels name the lines in the
    solution's table (``lab_wavelength``); the fit itself uses the template model,
    which defines the wavelengths of uncatalogued features.
    """
    from pipeline.wavelength.lamp_choice import nist_lines

    waves = np.concatenate([nist_lines(e)[0] for e in sorted(template.elements)] or [np.empty(0)])
    if waves.size < 2:
        return lab
    waves = np.sort(waves)
    model = template.wavelength(u_ref)
    disp = np.abs(chebyshev.chebval(u_ref, chebyshev.chebder(template.coefficients)))
    i = np.clip(np.searchsorted(waves, model), 1, waves.size - 1)
    d_lo, d_hi = np.abs(model - waves[i - 1]), np.abs(waves[i] - model)
    nearest = np.where(d_lo <= d_hi, waves[i - 1], waves[i])
    d1, d2 = np.minimum(d_lo, d_hi), np.maximum(d_lo, d_hi)
    ok = np.isnan(lab) & (d1 <= 1.5 * disp) & (d2 >= 3 * d1)
    out = lab.copy()
    out[ok] = nearest[ok]
    return out


def _spectrum_arrays(arc) -> tuple[np.ndarray, np.ndarray | None]:
    if hasattr(arc, "flux"):
        flux = np.asarray(arc.flux.value if hasattr(arc.flux, "value") else arc.flux, float)
        var = None
        if getattr(arc, "uncertainty", None) is not None:
            var = np.asarray(arc.uncertainty.represent_as(VarianceUncertainty).array, float)
        mask = getattr(arc, "mask", None)
        if mask is not None:
            flux = np.where(np.asarray(mask, bool), np.nan, flux)
        return flux, var
    return np.asarray(arc, dtype=float), None


def calibrate_arc(
    arc_spectrum_1d,
    mode: str,
    lamp_elements=None,
    binning: int = 1,
    template: LampTemplate | None = None,
    max_shift_unbinned: float = MAX_SHIFT_UNBINNED,
    arc_name: str | None = None,
) -> WavelengthSolution:
    """Wavelength solution of one extracted arc.

    Parameters
    ----------
    arc_spectrum_1d : specutils.Spectrum or ndarray
        Arc flux against binned pixel index (masked pixels are ignored).
    mode : str
        WAVMODE, any usual spelling (``400_M2``, ``400 M2``).
    lamp_elements : set of str or str, optional
        Lamps that were on (``{"Hg", "Ar", "Ne"}`` or ``"HgArNe"``).
    binning : int
        Binning along the dispersion axis.
    template : LampTemplate, optional
        Force a library template instead of choosing one.
    max_shift_unbinned : float
        Largest offset against the template searched, unbinned pixels.
    arc_name : str, optional
        File name recorded in the solution (``GSP_LAMP``).

    Returns
    -------
    WavelengthSolution

    Raises
    ------
    NoLampTemplateError
        No library lamp for the mode.
    WavelengthCalibrationError
        The arc does not match the template (another mode or lamp, no lines).
    """
    flux, _ = _spectrum_arrays(arc_spectrum_1d)
    b = int(binning)
    n = flux.size
    if template is None:
        template = select_template(mode, lamp_elements)
    if np.isfinite(flux).sum() < 0.5 * n:
        raise WavelengthCalibrationError(
            f"arc has {np.isfinite(flux).sum()} usable pixels of {n}; "
            "at least half must be finite to calibrate"
        )
    arc_lines = find_lines(flux)
    if len(arc_lines) < 3:
        raise WavelengthCalibrationError(
            f"only {len(arc_lines)} lines found in the arc (need 3 or more); "
            "is the lamp on and the arc extracted along the slit?"
        )
    reference_binned = bin_spectrum(template.flux, b, n)
    lag, peak = cross_correlation_lag(
        np.nan_to_num(flux), reference_binned, max_lag=int(np.ceil(max_shift_unbinned / b))
    )
    s0 = b * lag
    candidates = []

    # (a) Lines of the template spectrum, moved and binned like the arc.
    s_fwd, ref = _forward_offset(arc_lines, template, b, n, s0)
    if ref is not None and len(ref):
        a_idx, r_idx = _pair(arc_lines.centre, ref.centre, 1.0)
        if a_idx.size >= 4:
            pix = arc_lines.centre[a_idx]
            # Unbinned template pixel of each line: the model line sat at ref in the
            # template moved by s_fwd.
            u_ref = b * ref.centre[r_idx] + (b - 1) / 2.0 - s_fwd
            shift = b * pix + (b - 1) / 2.0 - u_ref
            lab = np.full(pix.size, np.nan)
            if template.line_pixels.size:
                k = np.abs(u_ref[:, None] - template.line_pixels[None, :])
                near = np.argmin(k, axis=1)
                close = k[np.arange(pix.size), near] < 1.5
                lab[close] = template.line_wavelengths[near[close]]
            lab = _label_with_nist(template, u_ref, lab)
            err = b * np.hypot(
                np.hypot(arc_lines.centre_error[a_idx], ref.centre_error[r_idx]), SYSTEMATIC_PX
            )
            candidates.append(
                ("template-spectrum", pix, u_ref, template.wavelength(u_ref), lab, shift, err)
            )

    # (b) Catalogued wavelengths of the template's line list, placed through the
    # inverse template model. Catalogued lines closer than 2.5 FWHM to another are
    # blends whose centre depends on their (unknown) flux ratio: left out when enough
    # isolated ones remain.
    fwhm_unbinned = b * 2.3548 * float(np.median(arc_lines.sigma))
    if template.line_pixels.size >= 3:
        u_lab = _inverse_model(template, template.line_wavelengths, template.line_pixels)
        gaps = np.diff(u_lab)
        isolated = np.ones(u_lab.size, bool)
        isolated[1:] &= gaps > 2.5 * fwhm_unbinned
        isolated[:-1] &= gaps > 2.5 * fwhm_unbinned
        if isolated.sum() < 6:
            isolated[:] = True
        predicted = (u_lab + s_fwd - (b - 1) / 2.0) / b
        a_idx, r_idx = _pair(arc_lines.centre, predicted, 1.5)
        keep = isolated[r_idx]
        a_idx, r_idx = a_idx[keep], r_idx[keep]
        # Three catalogued lines fix the offset of the template model (some library
        # lamps list no more, e.g. 2100_3900A); the acceptance test below is stricter
        # for so few lines.
        if a_idx.size >= 3:
            pix = arc_lines.centre[a_idx]
            u_ref = u_lab[r_idx]
            shift = b * pix + (b - 1) / 2.0 - u_ref
            waves = template.line_wavelengths[r_idx]
            err = b * np.hypot(arc_lines.centre_error[a_idx], SYSTEMATIC_PX)
            candidates.append(("line-list", pix, u_ref, waves, waves, shift, err))

            # (c) Both: the catalogued lines, plus the template-spectrum lines far from
            # any catalogued one (the weak, uncatalogued features, whose positions the
            # template model defines). Real arcs and simulated ones are built this way.
            if candidates[0][0] == "template-spectrum":
                _, t_pix, t_u, t_wave, t_lab, t_shift, t_err = candidates[0]
                cat = np.concatenate([u_lab, template.line_pixels])
                far = np.min(np.abs(t_u[:, None] - cat[None, :]), axis=1) > 3 * fwhm_unbinned
                if far.any():
                    order = np.argsort(np.concatenate([pix, t_pix[far]]))
                    candidates.append(
                        (
                            "line-list+template-spectrum",
                            np.concatenate([pix, t_pix[far]])[order],
                            np.concatenate([u_ref, t_u[far]])[order],
                            np.concatenate([waves, t_wave[far]])[order],
                            np.concatenate([waves, t_lab[far]])[order],
                            np.concatenate([shift, t_shift[far]])[order],
                            np.concatenate([err, t_err[far]])[order],
                        )
                    )

    if not candidates:
        raise WavelengthCalibrationError(
            f"arc lines do not match the {template.file_name} template "
            f"(correlation {peak:.2f}); is the arc of mode {mode!r} with lamp "
            f"{template.lamp}?"
        )

    best = None
    for name, pix, _u_ref, ref_wave, lab, shift, err in candidates:
        fallback = np.nanmedian(err) if np.isfinite(err).any() else b * SYSTEMATIC_PX
        err = np.where(np.isfinite(err) & (err > 0), err, fallback)
        fit, used = _fit_shift(pix, shift, err, n, max_order=2)
        x = 2.0 * pix / max(n - 1, 1) - 1.0
        resid_px = (shift - fit(x)) / b
        rms = float(np.sqrt(np.mean(resid_px[used] ** 2))) if used.any() else np.inf
        mad = 1.4826 * float(np.median(np.abs(resid_px[used]))) if used.any() else np.inf
        # The scatter of fewer than six lines says more about how few they are (and
        # how many were clipped) than about how well the arc follows the reference:
        # it counts as at least 0.02 px then.
        floor = 0.02 if used.sum() < 6 else 0.002
        score = max(mad, floor) / np.sqrt(max(used.sum(), 1))
        if best is None or score < best[0]:
            best = (score, name, pix, ref_wave, lab, fit, used, rms)
    _, name, pix, ref_wave, lab, fit, used, rms_px = best
    n_used = int(used.sum())
    limit = 0.35 if n_used >= 6 else 0.15
    if n_used < 3 or rms_px > limit:
        raise WavelengthCalibrationError(
            f"arc does not follow the {template.file_name} template: {n_used} lines fit "
            f"with {rms_px:.2f} px scatter (expected >= 3 lines within {limit} px); is the "
            f"arc of mode {mode!r}?"
        )

    j = np.arange(n, dtype=float)
    xj = 2.0 * j / max(n - 1, 1) - 1.0
    wave_all = template.wavelength(b * j + (b - 1) / 2.0 - fit(xj))
    coefficients = _chebyshev_for(j, wave_all, template)
    fitted = chebyshev.chebval(pix, coefficients)
    resid = fitted - ref_wave
    disp = np.abs(np.gradient(wave_all))
    rms_a = float(np.sqrt(np.mean(resid[used] ** 2)))
    lines = Table(
        {
            "pixel": pix,
            "reference_wavelength": ref_wave * u.AA,
            "lab_wavelength": lab * u.AA,
            "fitted_wavelength": fitted * u.AA,
            "residual": resid * u.AA,
            "used": used,
        }
    )
    return WavelengthSolution(
        coefficients=coefficients,
        npix=n,
        binning=b,
        rms_angstrom=rms_a,
        rms_pixel=float(np.sqrt(np.mean((resid[used] / np.interp(pix[used], j, disp)) ** 2))),
        n_used=n_used,
        n_rejected=int((~used).sum()),
        lines=lines,
        template=template.file_name,
        lamp=template.lamp,
        mode=template.mode,
        reference=name,
        shift_unbinned=float(fit(0.0)),
        arcs=[arc_name] if arc_name else [],
    )


def _chebyshev_for(j: np.ndarray, wave: np.ndarray, template: LampTemplate) -> np.ndarray:
    """Lowest-degree default-domain Chebyshev series matching ``wave`` to 0.002 px."""
    disp = np.abs(np.gradient(wave))
    tol = 0.002 * disp
    start = max(len(template.coefficients) - 1, 1)
    for degree in range(start, 10):
        # Fit on a scaled domain (well conditioned), then convert to the default
        # domain that goodman's GSP_Cnnn use.
        series = Chebyshev.fit(j, wave, degree, domain=[j[0], j[-1]])
        coef = series.convert(domain=[-1, 1], window=[-1, 1]).coef
        if np.all(np.abs(chebyshev.chebval(j, coef) - wave) <= tol):
            return coef
    return coef
