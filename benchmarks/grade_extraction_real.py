"""Optimal against fractional extraction on the real Goodman frames (tests/data/real).

The one real science frame, HD109379 (Blue, 600 l/mm, 1x1, 15 s; bias + flat, no arc),
is reduced by the pipeline (``reduce_night``) with its cosmic-ray cleaning and without
it, traced and extracted both ways. Prints:

1. optimal / fractional per column (median and 16-84 % spread) by S/N, and the
   columns summed instead of weighted (``GSP_EXSM``), saturated or not, with the
   optimal flux left unsummed (fallback off) to show whether summing changed anything;
2. how far the star's bright pixels depart from the fitted model and from the
   data-corrected profile (what the cosmic-ray test must tolerate), and the curve of
   growth: the fraction of the star's light and the S/N inside +-1 to +-4 FWHM;
3. bridging of a lost core: the 1-10 brightest aperture pixels (a saturated column
   loses 6, at most 10) masked on alternate 100-column blocks of unsaturated columns,
   the optimal flux over the unmasked fractional sum, and that difference over the
   optimal flux's standard deviation (z: its 5-95 % range should be about +-1.6 or
   less, the fractional sum sharing the optimal's noise);
4. cosmic rays: columns where the uncleaned frame's fractional sum exceeds the cleaned
   one's by 5 sigma (hits astroscrappy cleaned in the aperture) and how many of them
   the optimal extraction of the uncleaned frame still carries;
5. the real frame scaled down 10-3000 times with the noise of a fainter star added:
   the same table at S/N 5-1000, the efficiency gain (std fractional / optimal);
6. astroscrappy's hits moved onto the star (as found and 10x brighter), and the frame
   binned 2x2 and 3x3.

Run::

    .venv/bin/python benchmarks/grade_extraction_real.py
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty, VarianceUncertainty
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline.night import reduce_night  # noqa: E402
from pipeline.reduction.masks import COSMIC_RAY  # noqa: E402
from pipeline.settings import ReductionSettings  # noqa: E402
from pipeline.spectroscopy import find_targets, trace_target  # noqa: E402
from pipeline.spectroscopy.reduced_frame import load_reduced  # noqa: E402

# the package exports a function named ``extract`` that hides the module
ex = importlib.import_module("pipeline.spectroscopy.extract")
from pipeline.spectroscopy import optimal as op  # noqa: E402
from pipeline.spectroscopy import summed_columns  # noqa: E402
from pipeline.spectroscopy.column_fit import fit_columns, normalised_profile  # noqa: E402
from pipeline.spectroscopy.profile_allowance import (  # noqa: E402
    PROFILE_ERROR,
    PROFILE_ERROR_FLOOR,
    measured_profile_error,
)
from pipeline.spectroscopy.profile_correction import corrected_profile  # noqa: E402

FULL = Path(__file__).resolve().parents[1] / "tests" / "data" / "real" / "dragons_soar" / "full"


def reduced(cosmic: str, out: Path):
    """The real science frame reduced by the pipeline, as extraction reads it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        settings = ReductionSettings(cosmic_ray_rejection=cosmic)
        reduce_night(FULL, out / cosmic, settings=settings, spectra=False)
    return load_reduced(next((out / cosmic).glob("*zt_goodman_blue_spec.fits")))[0]


def _spread(r):
    return f"{np.median(r):.5f} [{np.percentile(r, 16):.5f}, {np.percentile(r, 84):.5f}]"


def ratio_table(ccd, trace):
    frac = ex.extract_arrays(ccd, trace, "fractional")
    opt = ex.extract_arrays(ccd, trace, "optimal")
    chi2 = summed_columns.INADEQUATE_CHI2
    summed_columns.INADEQUATE_CHI2 = np.inf
    unsummed = ex.extract_arrays(ccd, trace, "optimal")
    summed_columns.INADEQUATE_CHI2 = chi2
    weights = ex.aperture_weights(trace(), ccd.shape[0], frac.meta["aperture"])
    saturated = ((weights > 0) & np.asarray(ccd.mask, bool)).any(axis=0)
    ok = ~frac.mask & ~opt.mask
    snr = frac.flux / frac.std
    print(f"FWHM {trace.fwhm:.1f} rows, aperture +-{frac.meta['aperture']:.1f}")
    print(
        f"columns {len(snr)}: masked fractional {int(frac.mask.sum())} (saturated in the "
        f"aperture {int(saturated.sum())}), optimal {int(opt.mask.sum())}; NaN "
        f"{int((~np.isfinite(opt.flux)).sum())}"
    )
    print(f"{'S/N per column':16s} {'n':>5s}  optimal/fractional median [16 %, 84 %]")
    for lo, hi in ((0, 300), (300, 1000), (1000, np.inf)):
        s = ok & (snr >= lo) & (snr < hi)
        if s.any():
            print(f"{lo:>6}-{hi:<9} {int(s.sum()):5d}  {_spread(opt.flux[s] / frac.flux[s])}")
    summed = opt.meta["summed"]
    print(
        f"summed (GSP_EXSM) {int(summed.sum())}: saturated {int((summed & saturated).sum())}, "
        f"unsaturated {int((summed & ~saturated).sum())} at columns "
        f"{np.nonzero(summed & ~saturated)[0].tolist()[:20]}"
    )
    d = (unsummed.flux - frac.flux) / frac.std
    print(
        "fallback off: (optimal - fractional) / sigma, 1/50/99 %: "
        + " ".join(f"{v:.2f}" for v in np.nanpercentile(d[ok], [1, 50, 99]))
        + f"; at the summed unsaturated columns {np.round(d[summed & ~saturated], 2).tolist()[:20]}"
    )
    return frac, saturated, weights


def profile_table(ccd, trace):
    """How well the parametric fit, the trace's profile (the star's measured one where
    it is well measured) and the data-corrected profile describe the star's bright
    pixels (model above 30 % of the column's peak, complete columns) and the aperture's
    edges (the rest): the cosmic-ray test allows PROFILE_ERROR of the model counts."""
    opt = ex.extract_arrays(ccd, trace, "optimal")
    rows = trace()
    data = np.asarray(ccd.data, float)
    var = np.asarray(ccd.uncertainty.represent_as(VarianceUncertainty).array, float)
    bad = np.asarray(ccd.mask, bool)
    offset = np.arange(data.shape[0])[:, None] - rows[None, :]
    weights = ex.aperture_weights(rows, data.shape[0], opt.meta["aperture"])
    sky = np.nan_to_num(opt.meta["background"].at(offset)[0])
    net = np.where(bad, 0.0, data - sky)
    pix_var = np.where(bad, 0.0, var)
    inside = (weights > 0) & ~bad
    fitted = normalised_profile(
        np.where(weights > 0, op.fitted_profile(offset, trace), 0.0), weights
    )
    box = (weights * net).sum(axis=0)
    corrected = corrected_profile(fitted, offset, net, pix_var, weights, inside, box)
    complete = ~((weights > 0) & bad).any(axis=0)
    print(f"\nprofile on the bright pixels (PROFILE_ERROR {PROFILE_ERROR}):")
    moffat = dataclasses.replace(trace, profile_samples=None)
    parametric = normalised_profile(
        np.where(weights > 0, op.fitted_profile(offset, moffat), 0.0), weights
    )
    for name, prof in (
        (f"{trace.profile_model} fit", parametric),
        ("trace's profile", fitted),
        ("data-corrected", corrected),
    ):
        model = opt.flux[None, :] * prof
        peak = model.max(axis=0, keepdims=True)
        for part, sel in (("bright", model > 0.3 * peak), ("edges", model <= 0.3 * peak)):
            use = inside & complete[None, :] & sel
            with np.errstate(all="ignore"):
                rel = ((net - model) / model)[use]
                z = ((net - model) / np.sqrt(pix_var))[use]
            print(
                f"  {name:15s} {part:6s} {int(use.sum())} px: (data - model) / model rms "
                f"{np.std(rel):.4f}, 99.9 % {np.percentile(np.abs(rel), 99.9):.4f}; "
                f"in sigma rms {np.std(z):.2f}"
            )
    noise = op._noise_model(net + sky, pix_var, inside)
    noise = None if noise is None else (*noise, sky)
    first = fit_columns(net, pix_var, corrected, inside, box, noise, 5.0, 4, PROFILE_ERROR)
    measured = measured_profile_error(net, pix_var, corrected, offset, first[0], first[2], noise)
    if measured is not None:
        used = np.clip(measured, PROFILE_ERROR_FLOOR, PROFILE_ERROR)[inside]
        print(
            "  allowance used in the cosmic-ray test (measured, within "
            f"{PROFILE_ERROR_FLOOR}-{PROFILE_ERROR}), aperture pixels 5/50/95 %: "
            + " ".join(f"{v:.4f}" for v in np.percentile(used, [5, 50, 95]))
        )


def growth_table(ccd, trace):
    """The fraction of the star's light inside +-k FWHM (curve of growth, against a sky
    at 5.5-6.5 FWHM, beyond the wings) and the S/N of both methods there, beside the
    fraction the product reports (GSP_APFR, from the traced profile)."""
    from pipeline.spectroscopy.background import fit_background

    fwhm = trace.fwhm
    far = 5.0 * fwhm
    sky = fit_background(np.asarray(ccd.data, float), trace(), far, 0.5 * fwhm, fwhm)
    whole = ex.extract_arrays(ccd, trace, "fractional", background=sky, half_width=far)
    third = ccd.shape[1] // 3
    print(
        f"\n{'aperture':9s} {'fraction':>8s} {'blue 1/3':>8s} {'red 1/3':>8s} {'GSP_APFR':>8s} "
        f"{'S/N frac':>8s} {'S/N opt':>8s}"
    )
    for k in (1.0, 1.5, 2.0, 2.5, 3.0, 4.0):
        f = ex.extract_arrays(ccd, trace, "fractional", background=sky, half_width=k * fwhm)
        o = ex.extract_arrays(ccd, trace, "optimal", background=sky, half_width=k * fwhm)
        parts = [
            f.flux[s].sum() / whole.flux[s].sum()
            for s in (slice(None), slice(None, third), slice(-third, None))
        ]
        print(
            f"+-{k:<3.1f} FWHM "
            + " ".join(f"{v:8.4f}" for v in parts)
            + f" {f.meta['enclosed']:8.4f} {np.median(f.flux / f.std):8.0f} "
            f"{np.median(o.flux / o.std):8.0f}"
        )


def bridging_table(ccd, trace, frac, saturated, weights):
    data = np.asarray(ccd.data, float)
    cols = np.arange(data.shape[1])
    blocks = (cols // 100) % 2 == 0
    print(
        f"\n{'core lost':10s} {'optimal / unmasked fractional':36s} {'1-99 %':>15s} "
        f"{'z 5-95 %':>12s} {'masked':>6s} {'summed':>6s}"
    )
    for n in (1, 3, 6, 10):
        top = np.argsort(np.where(weights > 0, data, -np.inf), axis=0)[-n:]
        test = ccd.copy()
        mask = np.asarray(ccd.mask, bool).copy()
        for rows in top:
            mask[rows[blocks], cols[blocks]] = True
        test.mask = mask
        opt = ex.extract_arrays(test, trace, "optimal")
        u = blocks & ~saturated & ~opt.mask
        r = opt.flux[u] / frac.flux[u]
        z = (opt.flux - frac.flux)[u] / opt.std[u]
        print(
            f"{n:2d} px      {_spread(r):36s} "
            + " ".join(f"{v:.4f}" for v in np.percentile(r, [1, 99]))
            + "  "
            + " ".join(f"{v:5.2f}" for v in np.percentile(z, [5, 95]))
            + f" {int(opt.mask[u].sum()):6d} {int(opt.meta['summed'][u].sum()):6d}"
        )


def scaled_table(ccd, gain=2.06, rdnoise=3.99, seed=1):
    """The real frame scaled down by k with the photon and read noise a k-times
    fainter star would have, its variance from its counts (as the reduction makes it):
    the real profile and spectrum at lower S/N."""
    rng = np.random.default_rng(seed)
    print(
        f"\n{'scaled':7s} {'S/N':>6s} {'sum opt/frac':>12s} {'median [16 %, 84 %]':>31s} "
        f"{'std frac/opt':>12s} {'summed':>6s} {'masked':>6s} {'NaN':>4s}"
    )
    for k in (1, 10, 100, 1000, 3000):
        d = np.asarray(ccd.data, float)
        if k > 1:
            extra = np.clip(d / k / gain * (1 - 1 / k), 0, None) + rdnoise**2 * (1 - 1 / k**2)
            d = d / k + rng.normal(0.0, np.sqrt(extra))
        c = ccd.copy()
        c.data = d
        c.uncertainty = StdDevUncertainty(np.sqrt(np.clip(d, 0, None) / gain + rdnoise**2))
        (target,) = find_targets(c, max_targets=1)
        trace = trace_target(c, target)
        frac = ex.extract_arrays(c, trace, "fractional")
        opt = ex.extract_arrays(c, trace, "optimal")
        ok = ~frac.mask & ~opt.mask
        print(
            f"1/{k:<5d} {np.median(frac.flux[ok] / frac.std[ok]):6.1f} "
            f"{opt.flux[ok].sum() / frac.flux[ok].sum():12.5f} "
            f"{_spread(opt.flux[ok] / frac.flux[ok]):>31s} "
            f"{np.median(frac.std[ok] / opt.std[ok]):12.3f} {int(opt.meta['summed'].sum()):6d} "
            f"{int(opt.mask.sum()):6d} {int((~np.isfinite(opt.flux)).sum()):4d}"
        )


def cosmic_table(clean, raw, trace, cr_mask):
    fc = ex.extract_arrays(clean, trace, "fractional")
    fr = ex.extract_arrays(raw, trace, "fractional")
    oc = ex.extract_arrays(clean, trace, "optimal")
    orw = ex.extract_arrays(raw, trace, "optimal")
    ok = ~fc.mask & ~fr.mask & ~oc.mask & ~orw.mask
    hits = ok & (fr.flux - fc.flux > 5 * fc.std)
    left = hits & (orw.flux - oc.flux > 5 * oc.std)
    extra = ok & ~hits & (np.abs(oc.flux - fc.flux) > 5 * fc.std)
    weights = ex.aperture_weights(trace(), clean.shape[0], fc.meta["aperture"])
    cr_cols = ((weights > 0) & cr_mask).any(axis=0)
    excess = (fr.flux - fc.flux)[cr_cols] / fc.std[cr_cols]
    left_sigma = (orw.flux - oc.flux)[cr_cols] / oc.std[cr_cols]
    print(
        f"\nastroscrappy pixels in the aperture {int(((weights > 0) & cr_mask).sum())} "
        f"(frame {int(cr_mask.sum())}) on {int(cr_cols.sum())} columns; uncleaned - cleaned "
        f"in sigma: fractional max {np.max(excess, initial=0):.2f}, optimal max "
        f"{np.max(left_sigma, initial=0):.2f}"
    )
    print(
        f"cosmic rays: astroscrappy cleaned {int(hits.sum())} aperture columns by > 5 sigma "
        f"of the sum; optimal on the uncleaned frame still carries {int(left.sum())} of them; "
        f"optimal departs from fractional by > 5 sigma on {int(extra.sum())} other columns"
    )


def binned_table(ccd):
    """The reduced frame summed b x b (charge, variance and mask as a binned readout
    would give them, bias and read noise apart): a 2x2 or 3x3 night's star."""
    data = np.asarray(ccd.data, float)
    var = np.asarray(ccd.uncertainty.represent_as(VarianceUncertainty).array, float)
    mask = np.asarray(ccd.mask, bool)
    print(
        f"\n{'binned':7s} {'S/N':>6s} {'median [16 %, 84 %]':>31s} {'summed':>6s} {'of which saturated':>18s}"
    )
    for b in (2, 3):
        ny, nx = data.shape[0] // b * b, data.shape[1] // b * b

        def binned(a, how, ny=ny, nx=nx, b=b):
            return how(a[:ny, :nx].reshape(ny // b, b, nx // b, b), axis=(1, 3))

        c = CCDData(
            binned(data, np.sum),
            unit="adu",
            uncertainty=VarianceUncertainty(binned(var, np.sum)),
            mask=binned(mask, np.any),
            header=ccd.header,
        )
        (target,) = find_targets(c, max_targets=1)
        trace = trace_target(c, target)
        frac = ex.extract_arrays(c, trace, "fractional")
        opt = ex.extract_arrays(c, trace, "optimal")
        ok = ~frac.mask & ~opt.mask
        weights = ex.aperture_weights(trace(), c.shape[0], frac.meta["aperture"])
        saturated = ((weights > 0) & c.mask).any(axis=0)
        summed = opt.meta["summed"]
        print(
            f"{b}x{b}     {np.median(frac.flux[ok] / frac.std[ok]):6.0f} "
            f"{_spread(opt.flux[ok] / frac.flux[ok]):>31s} {int(summed.sum()):6d} "
            f"{int((summed & saturated).sum()):18d}"
        )


def transplant_table(clean, raw, trace, cr_mask, repeats=10, seed=0):
    """astroscrappy's hits on this frame (their excess over the cleaned values), moved
    onto the star at random, as found and 10x brighter: how far the extracted flux of
    a hit column rises, in its sigma."""
    rng = np.random.default_rng(seed)
    hit = np.where(cr_mask, np.asarray(raw.data) - np.asarray(clean.data), 0.0)
    labels, n = ndimage.label(cr_mask, structure=np.ones((3, 3)))
    peaks = ndimage.maximum(hit, labels, range(1, n + 1))
    print(
        f"\nastroscrappy events {n} ({int(cr_mask.sum())} px), peak excess ADU median "
        f"{np.median(peaks):.0f}, max {np.max(peaks):.0f}; moved onto the star "
        f"{repeats} times:"
    )
    base = {m: ex.extract_arrays(raw, trace, m) for m in ("fractional", "optimal")}
    rows = trace()
    ny, nx = raw.shape
    for scale in (1, 10):
        excess = {m: [] for m in base}
        for _ in range(repeats):
            data = np.asarray(raw.data, float).copy()
            cols = []
            for sl in ndimage.find_objects(labels):
                patch = hit[sl] * scale
                c0 = int(rng.integers(100, nx - 100))
                r0 = int(rows[c0]) + int(rng.integers(-15, 15))
                data[r0 : r0 + patch.shape[0], c0 : c0 + patch.shape[1]] += patch
                cols += range(c0, c0 + patch.shape[1])
            test = raw.copy()
            test.data = data
            cols = np.unique(cols)
            out = {m: ex.extract_arrays(test, trace, m) for m in base}
            # the columns both methods extract (the fractional masks saturated ones)
            ok = cols[~out["fractional"].mask[cols] & ~base["fractional"].mask[cols]]
            for m, b in base.items():
                excess[m].append((out[m].flux - b.flux)[ok] / b.std[ok])
        line = f"  x{scale:<3d}"
        for m, z in excess.items():
            z = np.concatenate(z)
            line += f" {m}: {len(z)} columns, > 3 sigma {int((z > 3).sum())}, max {z.max():.1f};"
        print(line)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        clean = reduced("default", Path(tmp))
        with fits.open(next(Path(tmp, "default").glob("c*zt_*spec.fits"))) as hdul:
            cr_mask = (hdul["MASK"].data & COSMIC_RAY) != 0
        raw = reduced("none", Path(tmp))
    (target,) = find_targets(clean, max_targets=1)
    trace = trace_target(clean, target)
    frac, saturated, weights = ratio_table(clean, trace)
    profile_table(clean, trace)
    growth_table(clean, trace)
    bridging_table(clean, trace, frac, saturated, weights)
    cosmic_table(clean, raw, trace, cr_mask)
    scaled_table(raw)
    transplant_table(clean, raw, trace, cr_mask)
    binned_table(raw)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
