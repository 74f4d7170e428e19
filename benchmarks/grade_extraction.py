"""Flux bias of optimal extraction against the truth, on synthetic frames with known flux.

Prints four tables (run it on two branches to compare):

1. a continuum source extracted with the fitted profile and with wrong ones (Moffat
   30 % too narrow, 40 % too wide, a Gaussian), bright and faint, with a variance from
   a model and from the pixels' own counts (as the reduction makes it);
2. apertures of +-1 to +-2.5 FWHM on the continuum source: the fraction of the whole
   flux each holds, the S/N of both methods, and the fraction the product reports;
3. an emission line narrower than the continuum (compact region on an extended
   source): columns masked near the line and the line's flux;
4. simulated 400_M2 science frames (1x1, 2x2): optimal over fractional, over the
   whole spectrum and its brightest and faintest fifths (columns where they differ by
   5 sigma, cosmic rays that only the optimal method rejects, are counted apart);
5. the bias over many noise realisations of faint sources in +-1 to +-2.5 FWHM
   apertures, against the noiseless frame's extraction, with the sky fitted on each
   frame and with the noiseless frame's sky (the extraction's own bias alone), and
   the scatter of the whole spectrum's flux against the error the product quotes
   (``summed_std``: the columns' variances and the covariance the profile's error
   gives them).

Biases are ratios of sums over all columns (a median of ratios is biased at low S/N).
Run::

    .venv/bin/python benchmarks/grade_extraction.py
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
from astropy.nddata import StdDevUncertainty
from scipy.ndimage import median_filter

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from benchmarks.grade_wavelength import _trimmed  # noqa: E402
from pipeline.simulate import NightConfig, iter_night  # noqa: E402
from pipeline.simulation.night import NightSimulator  # noqa: E402
from pipeline.spectroscopy import find_targets, trace_target  # noqa: E402
from pipeline.spectroscopy.background import fit_background  # noqa: E402
from pipeline.spectroscopy.extract import extract_arrays, summed_std  # noqa: E402
from tests.spectroscopy.synthetic import frame, moffat  # noqa: E402

GAIN, RDNOISE = 1.5, 4.0


def _inside(fwhm, half_width):
    y = np.linspace(-400, 400, 400001)
    p = moffat(y, fwhm)
    return p[np.abs(y) <= half_width].sum() / p.sum()


def _traced(ccd):
    (t,) = find_targets(ccd, max_targets=1)
    return trace_target(ccd, t)


def _with_profile(trace, kind):
    if kind == "fitted":
        return trace
    if kind == "gaussian":
        sigma = trace.fwhm / 2.3548
        return dataclasses.replace(
            trace, profile_model="gaussian", profile_params={"stddev": sigma}, profile_samples=None
        )
    scale = {"narrow x0.7": 0.7, "wide x1.4": 1.4}[kind]
    params = dict(trace.profile_params, gamma=scale * trace.profile_params["gamma"])
    # the measured profile, which a bright source's extraction starts from, set aside
    return dataclasses.replace(trace, profile_params=params, profile_samples=None)


def _counts_variance(ccd):
    out = ccd.copy()
    std = np.sqrt(np.clip(out.data, 0, None) / GAIN + (RDNOISE / GAIN) ** 2)
    out.uncertainty = StdDevUncertainty(std)
    return out


def _summed(spec):
    return int(np.count_nonzero(spec.meta.get("summed", 0)))


def continuum_table():
    print(f"{'continuum source':30s} {'profile':12s} {'frac-1':>8s} {'opt-1':>8s} {'summed':>6s}")
    cases = [
        ("bright 2000/col", 2000, 0, False),
        ("faint 150/col, sky 80", 150, 3, False),
        ("faint, variance from counts", 150, 3, True),
    ]
    for label, total, seed, counts in cases:
        ccd, _, fluxes = frame((470, 2030), sources=((200, 5, total),), sky=80, seed=seed)
        if counts:
            ccd = _counts_variance(ccd)
        trace = _traced(ccd)
        for kind in ("fitted", "narrow x0.7", "wide x1.4", "gaussian"):
            t = _with_profile(trace, kind)
            frac = extract_arrays(ccd, t, "fractional", aperture_fwhm=3)
            opt = extract_arrays(ccd, t, "optimal", aperture_fwhm=3)
            truth = fluxes[0].sum() * _inside(5, frac.meta["aperture"])
            print(
                f"{label:30s} {kind:12s} {frac.flux.sum() / truth - 1:8.4f} "
                f"{opt.flux.sum() / truth - 1:8.4f} {_summed(opt):6d}"
            )


def aperture_table():
    """What an aperture of +-k FWHM holds of a Moffat source's whole flux, the S/N of
    both methods there, and the fraction the product reports (GSP_APFR, NaN where the
    traced profile's total is not known to 1 %)."""
    print(
        f"\n{'aperture (whole flux)':27s} {'frac/all':>8s} {'opt/all':>8s} {'APFR':>7s} "
        f"{'S/N frac':>8s} {'S/N opt':>8s}"
    )
    for label, total, seed in (
        ("bright 2000/col", 2000, 0),
        ("faint 150/col, sky 80", 150, 3),
        ("fainter 40/col, sky 80", 40, 3),
    ):
        ccd, _, fluxes = frame((470, 2030), sources=((200, 5, total),), sky=80, seed=seed)
        trace = _traced(ccd)
        for k in (1.0, 2.0, 2.5):
            frac = extract_arrays(ccd, trace, "fractional", half_width=k * trace.fwhm)
            opt = extract_arrays(ccd, trace, "optimal", half_width=k * trace.fwhm)
            whole = fluxes[0].sum()
            print(
                f"{label:22s} +-{k:<3.1f} {frac.flux.sum() / whole:8.4f} "
                f"{opt.flux.sum() / whole:8.4f} {frac.meta['enclosed']:7.4f} "
                f"{np.median(frac.flux / frac.std):8.1f} {np.median(opt.flux / opt.std):8.1f}"
            )


def line_table():
    print(
        f"\n{'line on a FWHM 5 continuum':34s} {'masked':>6s} {'opt-1':>8s} {'frac-1':>8s} "
        f"{'summed':>6s}"
    )
    window = slice(190, 212)
    for fwhm, counts, tilt in [
        (4.5, 1e5, 0.02),
        (3.0, 1e5, 0.0),
        (2.5, 1e5, 0.0),
        (2.0, 3e4, 0.03),
    ]:
        kw = {"sources": ((60, 5, 2000),), "curvature": (0, 0.01, 0), "seed": 1}
        ccd, _, _ = frame((120, 400), lines=((200.3, 1.3, counts, fwhm),), tilt=tilt, **kw)
        base, _, _ = frame((120, 400), **kw)
        trace = _traced(ccd)
        out = {}
        for method in ("fractional", "optimal"):
            with_line = extract_arrays(ccd, trace, method)
            without = extract_arrays(base, trace, method)
            out[method] = with_line, (with_line.flux[window] - without.flux[window]).sum()
        truth = counts * _inside(fwhm, out["optimal"][0].meta["aperture"])
        opt = out["optimal"][0]
        print(
            f"FWHM {fwhm} ({fwhm / 5:.0%}), {counts:.0e} ADU, tilt {tilt:<4} "
            f"{int(opt.mask[window].sum()):6d} {out['optimal'][1] / truth - 1:8.4f} "
            f"{out['fractional'][1] / truth - 1:8.4f} {_summed(opt):6d}"
        )


def night_table():
    print(
        f"\n{'simulated 400_M2 science':26s} {'opt/frac-1':>9s} {'brightest':>9s} {'faintest':>9s} "
        f"{'CR cols':>8s}"
    )
    for binning in (1, 2):
        cfg = NightConfig(mode="400_M2", binning=binning, n_bias=1, n_flats=1, n_arcs=1, seed=1)
        night = NightSimulator(cfg).night_truth()
        sci = next(_trimmed(h, night) for _, h, t in iter_night(cfg) if t["role"] == "science")
        trace = _traced(sci)
        frac = extract_arrays(sci, trace, "fractional")
        opt = extract_arrays(sci, trace, "optimal")
        # ranked by the smoothed spectrum: ranking by the noisy flux itself would pick
        # the columns where the fractional sum fell high
        order = np.argsort(median_filter(frac.flux, 51, mode="nearest"))
        # columns where the two differ by 5 sigma are cosmic rays that only the optimal
        # method rejects: counted, not summed
        agree = np.abs(opt.flux - frac.flux) < 5 * frac.std
        fifth = len(order) // 5
        picks = (order, order[-fifth:], order[:fifth])
        ratios = [opt.flux[i][agree[i]].sum() / frac.flux[i][agree[i]].sum() - 1 for i in picks]
        print(
            f"{binning}x{binning} {'':22s} "
            + " ".join(f"{r:9.4f}" for r in ratios)
            + f" {int((~agree).sum()):8d}"
        )


def bias_table(n=30, shape=(90, 600)):
    """Mean flux over ``n`` noise realisations against the noiseless frame's extraction.

    The trace is a bright twin's (the trace's own noise set aside); the noiseless frame
    is extracted with the same trace and aperture. "known sky" passes the noiseless
    frame's sky model to every realisation.
    """
    print(
        f"\n{'bias over ' + str(n) + ' realisations':27s} {'sky':5s} {'frac-1':>15s} "
        f"{'opt-1':>15s} {'opt-frac':>15s} {'scatter/quoted frac, opt':>25s}"
    )
    kw = {"sky": 80, "curvature": (0, 0.01, 0)}
    row = shape[0] / 2
    bright, _, _ = frame(shape, sources=((row, 5, 3000),), **kw)
    trace = _traced(bright)
    for total in (40, 150):
        source = ((row, 5, total),)
        noiseless, rows, _ = frame(shape, sources=source, gain=1e7, rdnoise=0.0, **kw)
        for k in (1.0, 1.5, 2.0, 2.5):
            hw = k * trace.fwhm
            known = fit_background(np.asarray(noiseless.data), rows[0], hw, 15.0, 15.0)
            for label, sky in (("fit", True), ("known", known)):
                ref = extract_arrays(noiseless, trace, "fractional", sky, half_width=hw)
                truth = ref.flux.sum()
                out = {"fractional": [], "optimal": []}
                quoted = {"fractional": [], "optimal": []}
                for seed in range(1, n + 1):
                    ccd, _, _ = frame(shape, sources=source, seed=seed, **kw)
                    for method in out:
                        spec = extract_arrays(ccd, trace, method, sky, half_width=hw)
                        out[method].append(spec.flux.sum() / truth)
                        quoted[method].append(summed_std(spec) / truth)
                f, o = np.array(out["fractional"]), np.array(out["optimal"])

                def _cell(x):
                    return f"{x.mean():+.4f}+-{x.std(ddof=1) / np.sqrt(n):.4f}"

                ratio = [np.std(out[m], ddof=1) / np.mean(quoted[m]) for m in out]
                print(
                    f"{total:3d} ADU/col, sky 80, +-{k:<3.1f} {label:5s} {_cell(f - 1):>15s} "
                    f"{_cell(o - 1):>15s} {_cell(o - f):>15s} {ratio[0]:12.2f} {ratio[1]:12.2f}"
                )


def main() -> int:
    continuum_table()
    aperture_table()
    line_table()
    night_table()
    bias_table()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
