"""The sensitivity function of a night and setup, from one standard star spectrum.

:func:`compute_sensitivity` turns a wavelength-calibrated standard (``wecfzst_``, counts
per bin over a linear axis in Å) into the detected electrons per second per Å for a unit
flux above the atmosphere, ``S(λ)`` in e⁻ cm² / erg:

1. counts -> e⁻/s/Å with the header's GAIN, EXPTIME and the bin width;
2. corrected to above the atmosphere with the CTIO curve, ``10**(0.4 k(λ) X)``
   (:mod:`pipeline.fluxcal.extinction`), unless ``extinction=False``;
3. divided by the star's tabulated flux, interpolated to each bin;
4. telluric bands (:data:`TELLURIC_BANDS`), the stellar Balmer lines (the tables'
   50 Å bins cannot follow them), masked bins and bins of low S/N left out;
5. ``ln S`` fitted with a penalised cubic B-spline (a P-spline: many knots and a
   curvature penalty), the penalty chosen by 5-fold cross-validation, so the fit is
   as smooth as the data allow and bridges the masked bands smoothly;
6. its 1σ uncertainty from the fit's covariance scaled by the reduced χ².

A standard that cannot give one raises :class:`StandardRejected` whose message says why
(too little signal, outside the table's range...). The result is a :class:`Sensitivity`,
written as a master (:func:`write_sensitivity`, :func:`sensitivity_name`) and read back
with :func:`read_sensitivity`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import astropy.units as u
import numpy as np
from scipy.interpolate import BSpline

from pipeline.fluxcal.extinction import extinction_factor, extinction_file, frame_airmass
from pipeline.fluxcal.setup import Setup, setup_of
from pipeline.fluxcal.standards import StandardStar, find_standard, standard_flux
from pipeline.products import header_name
from pipeline.vocabulary import DataType, rlevel
from pipeline.wavelength.arrays import SpectrumArrays

#: Telluric absorption bands (Å) left out of the fit: O2 B and A bands, H2O bands.
TELLURIC_BANDS: tuple[tuple[float, float], ...] = (
    (6860.0, 6950.0),
    (7160.0, 7340.0),
    (7590.0, 7700.0),
    (8120.0, 8350.0),
    (8950.0, 9800.0),
)
#: Balmer lines (air Å) of the standards, and the half-width (Å) left out around each.
BALMER_LINES = (6562.8, 4861.3, 4340.5, 4101.7, 3970.1, 3889.1, 3835.4)
BALMER_HALF_WIDTH = 40.0
#: Unit of a sensitivity: (e⁻/s/Å) per (erg/s/cm²/Å).
SENSITIVITY_UNIT = u.electron * u.cm**2 / u.erg
#: Flux unit of calibrated spectra.
FLUX_UNIT = u.erg / u.s / u.cm**2 / u.AA
#: A standard whose median S/N per bin (in the fitted range) is below this is refused.
MIN_SNR = 10.0
#: At least this fraction of the spectrum must fall inside the star's table.
MIN_TABLE_COVERAGE = 0.5
#: Interior knots of the P-spline (the penalty, not their number, sets the smoothness).
N_KNOTS = 60
PENALTIES = tuple(10.0 ** np.arange(-3.0, 6.01, 0.5))
#: A sensitivity function is a master calibration (data_type 1).
RLEVEL_SENSITIVITY = rlevel(DataType.MASTER_CALIBRATION)


class FluxInputError(ValueError):
    """A spectrum that cannot be used for flux calibration (no exposure time, gain,
    wavelength axis or airmass); the message says what is wrong and what would do."""


class StandardRejected(FluxInputError):
    """A standard star spectrum that cannot give a sensitivity; the message says why."""


@dataclass
class Sensitivity:
    """A sensitivity function with its uncertainty and provenance.

    Attributes
    ----------
    wavelength : ndarray
        Linear grid (Å) over the fitted range.
    sensitivity, uncertainty : ndarray
        ``S(λ)`` and its 1σ, in e⁻ cm²/erg (electrons per s per Å for 1 erg/s/cm²/Å).
    setup : Setup
        Camera, mode, grating, filter, binning it was made with.
    standard : str
        Star name; ``table`` its flux file.
    frame : str
        The standard's product it was made from; ``raw_frame`` its raw file.
    airmass : float
        Of the standard; ``airmass_source`` says where it came from.
    extinction : bool
        Whether it was corrected to above the atmosphere.
    date_obs : datetime or None
        Of the standard's exposure.
    slit : str
    penalty, fit_rms : float
        Chosen smoothing penalty; RMS of the fit residuals (fraction).
    n_points : int
        Bins used by the fit.
    path : str
        File it was read from or written to ("" before).
    """

    wavelength: np.ndarray
    sensitivity: np.ndarray
    uncertainty: np.ndarray
    setup: Setup
    standard: str = ""
    table: str = ""
    frame: str = ""
    raw_frame: str = ""
    airmass: float = 1.0
    airmass_source: str = ""
    extinction: bool = True
    date_obs: datetime | None = None
    slit: str = ""
    penalty: float = 0.0
    fit_rms: float = 0.0
    n_points: int = 0
    path: str = ""
    notes: list[str] = field(default_factory=list)

    def __call__(self, wavelength) -> tuple[np.ndarray, np.ndarray]:
        """``S`` and its 1σ at ``wavelength`` (Å); NaN outside the fitted range."""
        w = np.asarray(wavelength, float)
        inside = (w >= self.wavelength[0]) & (w <= self.wavelength[-1])
        s = np.exp(np.interp(w, self.wavelength, np.log(self.sensitivity)))
        rel = np.interp(w, self.wavelength, self.uncertainty / self.sensitivity)
        return np.where(inside, s, np.nan), np.where(inside, s * rel, np.nan)

    @property
    def name(self) -> str:
        return Path(self.path).name if self.path else ""

    @property
    def digest(self) -> str:
        """A fingerprint of the numbers a flux calibration takes from this sensitivity.

        A master is rewritten under the same name when its standard is made again (a
        new arc, new settings), so the name alone does not say which values a product
        was made with; the digest does (``GSP_SSUM`` in the master and its products).

        Returns
        -------
        str
            16 hexadecimal characters of the SHA-256 of the wavelength, sensitivity and
            uncertainty (as float64), the airmass and the extinction flag.
        """
        h = hashlib.sha256()
        for values in (self.wavelength, self.sensitivity, self.uncertainty):
            h.update(np.ascontiguousarray(values, np.float64).tobytes())
        h.update(repr((float(self.airmass), bool(self.extinction))).encode())
        return h.hexdigest()[:16]

    def made(self, flux_header) -> bool:
        """Whether a flux-calibrated product was made with these values of this master.

        Parameters
        ----------
        flux_header : astropy.io.fits.Header or dict
            Header of the product (``fwecfzst_``).

        Returns
        -------
        bool
            Its ``GSP_SENS`` is this master's name and its ``GSP_SSUM`` this
            :attr:`digest`.
        """
        return (
            bool(self.name)
            and flux_header.get("GSP_SENS") == self.name
            and flux_header.get("GSP_SSUM") == self.digest
        )

    def header_cards(self) -> list[tuple[str, object, str]]:
        """Provenance cards of a sensitivity master."""
        s = self.setup
        return [
            ("GSP_SSTD", self.standard, "Standard star"),
            ("GSP_STAB", self.table, "Flux table of the standard"),
            ("GSP_SFRM", self.frame, "Standard spectrum the sensitivity comes from"),
            ("GSP_SRAW", self.raw_frame, "Raw frame of the standard"),
            ("GSP_SAIR", round(float(self.airmass), 4), "Airmass of the standard"),
            ("GSP_SASR", self.airmass_source[:60], "Where the airmass came from"),
            ("GSP_SEXT", bool(self.extinction), "Corrected for extinction (above atmosphere)"),
            ("GSP_SEXF", extinction_file().name if self.extinction else "none", "Extinction"),
            ("GSP_SDAT", self.date_obs.isoformat() if self.date_obs else "", "Standard DATE-OBS"),
            ("GSP_SCAM", s.camera, "Camera"),
            ("GSP_SMOD", s.mode, "Grating mode"),
            ("GSP_SGRT", s.grating, "Grating"),
            ("GSP_SFLT", s.filter2, "Order-blocking filter (FILTER2)"),
            ("GSP_SBIN", "x".join(map(str, s.binning)), "Binning (columns x rows)"),
            ("GSP_SANG", "" if s.angles is None else f"{s.angles[0]} {s.angles[1]}", "Angles"),
            ("GSP_SSLT", self.slit, "Slit of the standard"),
            ("GSP_SFIT", "P-spline", "Fit of ln S: cubic B-spline, curvature penalty"),
            ("GSP_SPEN", float(self.penalty), "Penalty chosen by 5-fold cross-validation"),
            ("GSP_SRMS", round(float(self.fit_rms), 5), "RMS of fit residuals (fraction)"),
            ("GSP_SNPT", int(self.n_points), "Bins used by the fit"),
        ]


# ------------------------------------------------------------------ inputs


def _header_float(header, key: str, what: str, example: str) -> float:
    try:
        value = float(str(header.get(key, "")).strip())
    except ValueError:
        value = float("nan")
    if not np.isfinite(value) or value <= 0:
        raise FluxInputError(
            f"{key}={header.get(key)!r} is not {what}; expected a number > 0, e.g. {example}"
        )
    return value


def count_rate(spec: SpectrumArrays, header) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Convert a wavelength-calibrated spectrum in counts per bin to electrons per second per Å.

    Parameters
    ----------
    spec : SpectrumArrays
        The extracted, wavelength-calibrated spectrum: flux and std in ADU (or electrons)
        per pixel, spectral axis in a length unit.
    header : astropy.io.fits.Header or dict
        Its header, for GAIN (e-/ADU) and EXPTIME (s).

    Returns
    -------
    wavelength : numpy.ndarray
        The spectral axis in Å.
    rate : numpy.ndarray
        Electrons per second per Å (NaN where the input is masked or not finite).
    error : numpy.ndarray
        The 1σ uncertainty of ``rate``, same unit (NaN at the same places).

    Raises
    ------
    FluxInputError
        The spectral axis is not a wavelength, or GAIN or EXPTIME is missing or not a
        positive number.
    """
    if spec.axis_unit.physical_type != "length":
        raise FluxInputError(
            "spectrum is not wavelength-calibrated (spectral axis in "
            f"{spec.axis_unit}); flux calibration needs the wecfzst_ product in Å"
        )
    wave = (np.asarray(spec.axis, float) * spec.axis_unit).to_value(u.AA)
    gain = _header_float(header, "GAIN", "a gain", "1.48 e-/ADU")
    exptime = _header_float(header, "EXPTIME", "an exposure time", "60 s")
    step = np.abs(np.gradient(wave)) if wave.size > 1 else np.ones(1)
    scale = gain / (exptime * step)
    if spec.unit.is_equivalent(u.electron):
        scale = scale / gain * spec.unit.to(u.electron)
    bad = np.asarray(spec.mask, bool) | ~np.isfinite(spec.flux) | ~np.isfinite(spec.std)
    rate = np.where(bad, np.nan, np.asarray(spec.flux, float) * scale)
    err = np.where(bad, np.nan, np.asarray(spec.std, float) * scale)
    return wave, rate, err


def excluded(wave) -> np.ndarray:
    """Mark wavelengths of telluric bands or stellar Balmer lines.

    Parameters
    ----------
    wave : float or array_like
        Wavelength(s) in Å.

    Returns
    -------
    numpy.ndarray of bool
        True where the sensitivity fit must not use the point (inside a band of
        ``TELLURIC_BANDS`` or within ``BALMER_HALF_WIDTH`` Å of a Balmer line), of the
        shape of ``wave``.
    """
    w = np.asarray(wave, float)
    out = np.zeros(w.shape, bool)
    for lo, hi in TELLURIC_BANDS:
        out |= (w >= lo) & (w <= hi)
    for line in BALMER_LINES:
        out |= np.abs(w - line) <= BALMER_HALF_WIDTH
    return out


# ------------------------------------------------------------------ the fit


def _basis(x, lo, hi, n_knots=N_KNOTS, k=3):
    inner = np.linspace(lo, hi, n_knots + 2)
    t = np.concatenate([[lo] * k, inner, [hi] * k])
    return t, BSpline.design_matrix(np.clip(x, lo, hi), t, k).toarray()


def fit_pspline(x, y, sigma, penalties=PENALTIES, folds: int = 5):
    """Fit a penalised cubic B-spline to ``y(x)``, the penalty chosen by k-fold cross-validation.

    Parameters
    ----------
    x : array_like
        Abscissae (Å for the sensitivity), any order; the knots span their range.
    y : array_like
        Values to fit, same length (e.g. the magnitude of the sensitivity).
    sigma : array_like
        1σ uncertainty of each ``y`` (> 0): the weights are ``1/sigma**2``.
    penalties : sequence of float
        Curvature penalties tried (relative: scaled by the mean weight); the one with the
        smallest cross-validated chi-square wins.
    folds : int
        Number of cross-validation folds (points are dealt to folds in turn).

    Returns
    -------
    dict
        ``knots`` (the B-spline knot vector), ``coefficients``, ``covariance`` (of the
        coefficients, scaled by the reduced chi-square when above 1), ``penalty`` (the
        chosen one), ``rms`` (of the residuals, unit of ``y``) and ``chi2_red``.
    """
    x, y, sigma = (np.asarray(v, float) for v in (x, y, sigma))
    lo, hi = float(x.min()), float(x.max())
    t, a = _basis(x, lo, hi)
    w = 1.0 / sigma**2
    # Curvature penalty (second differences of neighbouring coefficients), scaled so
    # that one penalty grid suits any number of points and any S/N.
    d = np.diff(np.eye(a.shape[1]), 2, axis=0)
    # Where a coefficient's B-spline holds few data (telluric bands, Balmer lines), its
    # curvature is stiffened steeply: the fit crosses a gap near the chord between its
    # edges. Otherwise a small penalty, chosen for a sharp filter edge elsewhere, would
    # let the gap follow the noisy slopes at its edges.
    mass = a.sum(axis=0)
    ratio = np.median(mass) / np.maximum(mass, 1e-9)
    stiff = np.clip(ratio[1:-1] ** 4, 1.0, 1e10)
    scale = np.sum(w) / len(w)
    # Adaptive: a pilot fit finds where the curve truly bends (an order-blocking
    # filter's edge) and the penalty is relaxed there only, so one smoothing level
    # does not have to suit both the edge and the noise of the smooth rest.
    aw = a.T @ (a * w[:, None])
    pilot = np.linalg.solve(aw + 1e-2 * scale * d.T @ (d * stiff[:, None]), a.T @ (w * y))
    bend = np.abs(d @ pilot)
    typical = np.median(bend) + 1e-12
    stiff = stiff * np.clip((typical / np.maximum(bend, typical)) ** 2, 1e-4, 1.0)
    p = d.T @ (d * stiff[:, None]) * scale
    fold = np.arange(len(x)) % folds
    # Normal equations per fold: a training set's are the total minus its fold's, so
    # each penalty costs only small solves.
    parts = []
    for f in range(folds):
        af, wf = a[fold == f], w[fold == f]
        parts.append((af.T @ (af * wf[:, None]), af.T @ (wf * y[fold == f]), af, y[fold == f], wf))
    normal = sum(q[0] for q in parts)
    rhs = sum(q[1] for q in parts)
    # Every (penalty, fold) system in one batched solve: a few hundred tiny LAPACK
    # calls from Python wake BLAS threads each time, which costs more than the maths.
    lams = np.asarray(penalties, float)
    lhs_all = np.stack([normal - q[0] for q in parts])[None] + lams[:, None, None, None] * p
    rhs_all = np.broadcast_to(np.stack([rhs - q[1] for q in parts]), lhs_all.shape[:3])
    coef = np.linalg.solve(lhs_all, rhs_all[..., None])[..., 0]  # (penalty, fold, basis)
    scores = np.zeros(lams.size)
    for f, (_, _, af, yf, wf) in enumerate(parts):
        scores += np.sum(wf * (coef[:, f] @ af.T - yf) ** 2, axis=1)
    scores = np.where(np.isfinite(scores), scores, np.inf)
    lam = penalties[int(np.argmin(scores))]
    lhs = normal + lam * p
    c = np.linalg.solve(lhs, rhs)
    resid = y - a @ c
    inv = np.linalg.inv(lhs)
    # effective number of parameters: trace of the hat matrix
    dof = max(len(x) - float(np.trace(inv @ normal)), 1.0)
    chi2 = float(np.sum(w * resid**2) / dof)
    return {
        "knots": t,
        "coefficients": c,
        "covariance": inv * max(chi2, 1.0),
        "penalty": float(lam),
        "rms": float(np.sqrt(np.mean(resid**2))),
        "chi2_red": chi2,
    }


def header_of(spectrum, header=None):
    """Find the FITS header of a spectrum.

    Parameters
    ----------
    spectrum : specutils.Spectrum or SpectrumArrays
        The spectrum; only its ``meta["header"]`` is looked at.
    header : astropy.io.fits.Header or None
        The header, when the caller has it; ``None`` takes the one
        ``specutils.Spectrum.read`` keeps in ``meta["header"]``.

    Returns
    -------
    astropy.io.fits.Header
        ``header`` when given, else the spectrum's.

    Raises
    ------
    FluxInputError
        Neither is there.
    """
    if header is not None:
        return header
    meta = getattr(spectrum, "meta", None) or {}
    if meta.get("header") is not None:
        return meta["header"]
    raise FluxInputError(
        "no header: pass the spectrum's FITS header (EXPTIME, GAIN, AIRMASS, the setup "
        "cards), or a spectrum read with specutils.Spectrum.read(path), which keeps it"
    )


def compute_sensitivity(
    spectrum,
    header=None,
    star: StandardStar | None = None,
    extinction: bool = True,
    airmass: float | None = None,
    frame: str = "",
) -> Sensitivity:
    """The sensitivity function from one wavelength-calibrated standard spectrum.

    Parameters
    ----------
    spectrum : specutils.Spectrum or SpectrumArrays
        Counts per bin over a linear wavelength axis (the ``wecfzst_`` product), with
        uncertainty and mask.
    header : astropy.io.fits.Header or mapping, optional
        Its header: EXPTIME, GAIN, the setup cards, OBJECT/OBSRA/OBSDEC, AIRMASS (or
        what computes it); default ``spectrum.meta["header"]`` (as
        ``specutils.Spectrum.read`` gives it).
    star : StandardStar, optional
        Which library star it is (default: recognised from the header).
    extinction : bool
        Correct to above the atmosphere with the CTIO curve.
    airmass : float, optional
        Overrides the header's airmass.
    frame : str
        Name of the product, for provenance (default ``GSP_FNAM``).

    Returns
    -------
    Sensitivity

    Raises
    ------
    StandardRejected
        Not a library star, too little signal, outside the table's wavelength range,
        no usable exposure time or gain, no airmass.
    """
    header = header_of(spectrum, header)
    spec = SpectrumArrays.from_spectrum(spectrum)
    if star is None:
        star, _ = find_standard(
            str(header.get("OBJECT", "")), header.get("OBSRA"), header.get("OBSDEC")
        )
        if star is None:
            raise StandardRejected(
                f"OBJECT {header.get('OBJECT')!r} at OBSRA={header.get('OBSRA')!r} "
                f"OBSDEC={header.get('OBSDEC')!r} is not a star of the flux library "
                "(pipeline/data/fluxcal/esofil); add its table there"
            )
    try:
        wave, rate, err = count_rate(spec, header)
    except FluxInputError as exc:
        raise StandardRejected(str(exc)) from None
    tw, tf, _ = standard_flux(star.path)
    inside = (wave >= tw[0]) & (wave <= tw[-1])
    if inside.mean() < MIN_TABLE_COVERAGE:
        raise StandardRejected(
            f"outside the table's wavelength range: the spectrum covers "
            f"{wave.min():.0f}-{wave.max():.0f} Å, the table of {star.name} "
            f"{tw[0]:.0f}-{tw[-1]:.0f} Å ({100 * inside.mean():.0f}% overlap, "
            f"{100 * MIN_TABLE_COVERAGE:.0f}% needed)"
        )
    if airmass is None:
        try:
            airmass, source = frame_airmass(header)
        except ValueError as exc:
            raise StandardRejected(str(exc)) from None
    else:
        source = "given"
    snr = rate / err
    usable = inside & np.isfinite(snr) & ~excluded(wave)
    med_snr = float(np.nanmedian(snr[usable])) if usable.any() else 0.0
    if med_snr < MIN_SNR:
        raise StandardRejected(
            f"too little signal: median S/N per bin {med_snr:.1f} in the usable range "
            f"(needs >= {MIN_SNR:.0f}); expose the standard longer"
        )
    usable &= snr > 3.0
    if usable.sum() < 30:
        raise StandardRejected(
            f"too few usable bins ({int(usable.sum())}) after masking telluric bands, "
            "Balmer lines and bins of S/N < 3"
        )
    above = extinction_factor(wave, airmass) if extinction else np.ones_like(wave)
    ratio = rate / (np.interp(wave, tw, tf) * above)
    x, y, sy = wave[usable], np.log(ratio[usable]), 1.0 / snr[usable]
    fit = fit_pspline(x, y, sy)
    step = float(np.median(np.abs(np.diff(wave))))
    grid = np.arange(x.min(), x.max() + 0.5 * step, step)
    _, b = _basis(grid, float(x.min()), float(x.max()))
    ln_s = b @ fit["coefficients"]
    sigma_ln = np.sqrt(np.einsum("ij,jk,ik->i", b, fit["covariance"], b))
    s = np.exp(ln_s)
    date = str(header.get("DATE-OBS", "") or "").strip()
    try:
        when = datetime.fromisoformat(date) if date else None
    except ValueError:
        when = None
    return Sensitivity(
        wavelength=grid,
        sensitivity=s,
        uncertainty=s * sigma_ln,
        setup=setup_of(header),
        standard=star.name,
        table=star.file_name,
        frame=frame or header_name(header, "GSP_FNAM"),
        raw_frame=header_name(header, "GSP_ONAM"),
        airmass=float(airmass),
        airmass_source=source,
        extinction=bool(extinction),
        date_obs=when,
        slit=str(header.get("SLIT", "") or "").strip(),
        penalty=fit["penalty"],
        fit_rms=fit["rms"],
        n_points=int(usable.sum()),
    )


# ------------------------------------------------------------------ products


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", str(text)).strip("_")


def sensitivity_name(sens: Sensitivity) -> str:
    """``master_sens_<mode>_<FILTER2>_<CAMERA>_<bx>x<by>_<YYYYMMDD>_<star>.fits``.

    goodman_pipeline's master style (``master_flat_400m2_GG455_...``): the mode, the
    filter, the camera and binning say which science it fits; the night (the date of
    its evening) and the star keep two standards of one night apart.

    Parameters
    ----------
    sens : Sensitivity
        The sensitivity; its setup, date of observation and standard make the name.

    Returns
    -------
    str
        The file name (mode and star slugged to ``[A-Za-z0-9._]``; ``nodate`` without a
        date; no filter part without an order-blocking filter).
    """
    s = sens.setup
    mode = _slug(s.mode).lower()
    if s.angles:
        mode += f"_{s.angles[0]:.1f}_{s.angles[1]:.1f}"
    # The night's date, as observers name nights: the evening's (UT minus 12 h, so
    # a standard at 01:00 UT on the 22nd belongs to the night of the 21st).
    night = (sens.date_obs - timedelta(hours=12)) if sens.date_obs else None
    date = night.strftime("%Y%m%d") if night else "nodate"
    filt = "" if s.filter2 in {"", "NO_FILTER"} else f"_{_slug(s.filter2)}"
    bx, by = s.binning
    return (
        f"master_sens_{mode}{filt}_{s.camera or 'UNKNOWN'}_{bx}x{by}_{date}_"
        f"{_slug(sens.standard).lower()}.fits"
    )


def sensitivity_spectrum(sens: Sensitivity) -> SpectrumArrays:
    """Turn a sensitivity into a 1-D spectrum (unit e⁻ cm²/erg) for writing or plotting.

    Parameters
    ----------
    sens : Sensitivity
        The sensitivity function.

    Returns
    -------
    SpectrumArrays
        Sensitivity and its 1σ uncertainty on its wavelength axis (Å), nothing masked.
    """
    return SpectrumArrays(
        flux=sens.sensitivity,
        std=sens.uncertainty,
        mask=np.zeros(sens.wavelength.size, bool),
        axis=sens.wavelength,
        axis_unit=u.AA,
        unit=SENSITIVITY_UNIT,
    )


def write_sensitivity(
    sens: Sensitivity, out_dir, settings=None, raw_dirs=(), flux_settings=None
) -> Path:
    """Write a sensitivity master (atomically) and return its path.

    The file is a 1-D spectrum that ``specutils.Spectrum.read`` reads (unit e⁻ cm²/erg)
    with its provenance in ``GSP_S*`` cards, the lineage cards (RLEVEL 61) and the
    settings it was made with (``settings``, ``flux_settings``).

    Parameters
    ----------
    sens : Sensitivity
        The sensitivity; its ``path`` is set to the written file, and its values to
        those the file reads back as (the axis from the WCS cards, the airmass as
        rounded in ``GSP_SAIR``), whose :attr:`Sensitivity.digest` the master records
        in ``GSP_SSUM``.
    out_dir : str or pathlib.Path
        The products folder of the night.
    settings : ReductionSettings or None
        The reduction settings to record; ``None`` records none.
    raw_dirs : iterable of str or pathlib.Path
        Folders of raw data, never written into (see
        :func:`pipeline.products.write_fits_atomic`).
    flux_settings : FluxSettings or None
        The flux-calibration settings to record; ``None`` records none.

    Returns
    -------
    pathlib.Path
        The written file, named by :func:`sensitivity_name`.
    """
    from pipeline.products import lineage_cards, write_fits_atomic
    from pipeline.wavelength.fits_io import spectrum_hdul

    name = sensitivity_name(sens)
    path = Path(out_dir) / name
    cards = lineage_cards(
        original=sens.raw_frame or sens.frame,
        parent=sens.frame,
        file_name=name,
        rlevel=RLEVEL_SENSITIVITY,
        technique="Spectroscopy",
        extra={k: (v, c) for k, v, c in sens.header_cards()},
        settings=settings,
    )
    if flux_settings is not None:
        cards += flux_settings.to_header_cards()
    hdul = spectrum_hdul(sensitivity_spectrum(sens), None, cards)
    # Stored in double precision: float32 would round S by 1e-7, harmless, but the
    # uncertainty of a good fit is 1e-3 and a master should read back exactly.
    hdul[0].data = np.asarray(sens.sensitivity, np.float64)
    hdul["STD"].data = np.asarray(sens.uncertainty, np.float64)
    hdul[0].header["OBJECT"] = (sens.standard, "Standard star")
    hdul[0].header["OBSTYPE"] = ("SENSFUNC", "Sensitivity function")
    # From now on the sensitivity holds the values the master reads back as (its axis
    # from the WCS cards, its rounded airmass): the spectra this process calibrates with
    # it are then those a later job, reading the file, would make, and the digest
    # written here is the one read_sensitivity gives.
    sens.wavelength = _stored_axis(hdul[0].header, sens.sensitivity.size)
    sens.sensitivity = np.asarray(hdul[0].data, float)
    sens.uncertainty = np.asarray(hdul["STD"].data, float)
    sens.airmass = float(hdul[0].header["GSP_SAIR"])
    hdul[0].header["GSP_SSUM"] = (sens.digest, "Digest of the values (Sensitivity.digest)")
    write_fits_atomic(hdul, path, raw_dirs=raw_dirs)
    sens.path = str(path)
    return path


def _stored_axis(header, n: int) -> np.ndarray:
    """The wavelengths (Å) of a master's ``n`` values, from its linear WCS cards."""
    return header["CRVAL1"] + header["CDELT1"] * (np.arange(n) + 1 - header["CRPIX1"])


def sensitivity_setup(header) -> Setup:
    """The setup a sensitivity master was made with, from its ``GSP_S*`` cards.

    Used by :func:`read_sensitivity` and by the job engine on a registered master's
    stored header (the standard chooser), so both read the same setup.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A sensitivity master's primary header.

    Returns
    -------
    Setup

    Raises
    ------
    KeyError
        A card the setup needs (``GSP_SCAM``, ``GSP_SMOD``, ``GSP_SBIN``) is missing.
    ValueError
        ``GSP_SBIN`` or ``GSP_SANG`` is not as :func:`write_sensitivity` writes it.
    """
    angles = str(header.get("GSP_SANG", "") or "").split()
    bx, by = (int(v) for v in str(header["GSP_SBIN"]).split("x"))
    return Setup(
        camera=str(header["GSP_SCAM"]),
        mode=str(header["GSP_SMOD"]),
        grating=str(header.get("GSP_SGRT", "")),
        filter2=str(header.get("GSP_SFLT", "NO_FILTER")),
        binning=(bx, by),
        angles=(float(angles[0]), float(angles[1])) if len(angles) == 2 else None,
    )


def read_sensitivity(path) -> Sensitivity:
    """Read a sensitivity master written by :func:`write_sensitivity`.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``master_sens_*.fits`` file.

    Returns
    -------
    Sensitivity
        Wavelength (Å), sensitivity (e⁻ cm²/erg) and uncertainty, the setup and the
        provenance read back from the ``GSP_S*`` cards; ``path`` is the file read.

    Raises
    ------
    ValueError
        The file is not a sensitivity master (no ``GSP_SSTD`` card or no ``STD`` HDU).
    """
    from astropy.io import fits

    path = Path(path)
    with fits.open(path, memmap=False) as hdul:
        h = hdul[0].header
        if "GSP_SSTD" not in h or "STD" not in hdul:
            raise ValueError(
                f"{path.name} is not a sensitivity master (expected GSP_SSTD and an STD HDU)"
            )
        data = np.asarray(hdul[0].data, float)
        std = np.asarray(hdul["STD"].data, float)
        header = h.copy()
    wave = _stored_axis(header, data.size)
    date = str(header.get("GSP_SDAT", "") or "")
    return Sensitivity(
        wavelength=wave,
        sensitivity=data,
        uncertainty=std,
        setup=sensitivity_setup(header),
        standard=str(header["GSP_SSTD"]),
        table=str(header.get("GSP_STAB", "")),
        frame=str(header.get("GSP_SFRM", "")),
        raw_frame=str(header.get("GSP_SRAW", "")),
        airmass=float(header.get("GSP_SAIR", 1.0)),
        airmass_source=str(header.get("GSP_SASR", "")),
        extinction=bool(header.get("GSP_SEXT", True)),
        date_obs=datetime.fromisoformat(date) if date else None,
        slit=str(header.get("GSP_SSLT", "")),
        penalty=float(header.get("GSP_SPEN", 0.0)),
        fit_rms=float(header.get("GSP_SRMS", 0.0)),
        n_points=int(header.get("GSP_SNPT", 0)),
        path=str(path),
    )
