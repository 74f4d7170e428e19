"""Cosmic rays on emission-line cores: how many reach the 1-D spectrum, and the lines' flux.

Synthetic frames (``tests/spectroscopy/synthetic.frame``: a Moffat continuum source,
FWHM 5 rows, 2000 ADU per column on a sky of 80) carry bright emission lines of the
source (the continuum's spatial profile) and sky lines (flat along the slit). One cosmic
ray (1-3 pixels, the simulator's charge distribution) is put on the summed core of each
line, inside the aperture; the frame is cleaned as the reduction does
(:func:`~pipeline.reduction.cosmic_rays.remove_cosmic_rays`, cleaned pixels unmasked as
:func:`~pipeline.spectroscopy.reduced_frame.load_reduced` reads them) and extracted with both
methods, and so is the same frame without the rays. Printed per method:

- rays on line cores that astroscrappy leaves (any pixel of the event not flagged);
- rays that survive into the 1-D spectrum: the flux of the ray's columns departs from
  the ray-free extraction by more than 3 times the columns' quoted error;
- the ray charge left in the spectrum (median and 90th percentile of the fraction of
  the ray's ADU);
- the line flux on clean frames (no rays) against the noiseless frame's fractional sum
  (mean ratio - 1 over all lines and seeds, and its standard error); for sky lines,
  which the background removes, the residual over the line's counts in the aperture;
- pixels the extraction rejected against the profile (``GSP_EXCR``) and pixels the
  2-D cleaning replaced that it bridged with the profile (``GSP_EXCB``), over all
  frames; 0 where the branch does not record them.

Run::

    .venv/bin/python benchmarks/grade_cosmic_lines.py [--seeds 12]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline.reduction.cosmic_rays import remove_cosmic_rays  # noqa: E402
from pipeline.reduction.masks import COSMIC_RAY  # noqa: E402
from pipeline.spectroscopy import find_targets, trace_target  # noqa: E402
from pipeline.spectroscopy.extract import extract_arrays  # noqa: E402
from tests.spectroscopy.synthetic import frame  # noqa: E402

GAIN, RDNOISE = 1.5, 4.0
SHAPE = (120, 1000)
ROW = 60.0
SOURCE = ((ROW, 5.0, 2000.0),)
SKY = 80.0
CURVATURE = (0.0, 0.01, 0.0)
SPACING = 50


def _line_layout(rng):
    """Columns, kinds and counts of the lines of one frame (source and sky alternate)."""
    cols = np.arange(40, SHAPE[1] - 40, SPACING) + rng.uniform(
        -0.5, 0.5, (SHAPE[1] - 80) // SPACING + 1
    )
    cols = cols[cols < SHAPE[1] - 40]
    kinds = np.where(np.arange(cols.size) % 2 == 0, "source", "sky")
    # source lines: total counts in the line; sky lines: counts per row
    counts = np.where(
        kinds == "source",
        10 ** rng.uniform(4.0, 5.5, cols.size),
        10 ** rng.uniform(3.0, 4.2, cols.size),
    )
    return cols, kinds, counts


def _sky_lines(cols, kinds, counts, sigma=1.3):
    x = np.arange(SHAPE[1], dtype=float)
    img = np.zeros(SHAPE)
    for c, k, n in zip(cols, kinds, counts, strict=True):
        if k == "sky":
            img += n * np.exp(-0.5 * ((x - c) / sigma) ** 2)[None, :] / (np.sqrt(2 * np.pi) * sigma)
    return img


def _frames(seed, rng_layout):
    """The noisy frame with lines, its ray-free twin's noiseless reference, the lines."""
    cols, kinds, counts = _line_layout(rng_layout)
    src = tuple(
        (c, 1.3, n, 5.0) for c, k, n in zip(cols, kinds, counts, strict=True) if k == "source"
    )
    kw = {"sources": SOURCE, "curvature": CURVATURE, "sky": SKY, "gain": GAIN, "rdnoise": RDNOISE}
    ccd, traces, _ = frame(SHAPE, lines=src, seed=seed, **kw)
    sky = _sky_lines(cols, kinds, counts)
    rng = np.random.default_rng(1000 + seed)
    noise = rng.poisson(np.clip(sky * GAIN, 0, None)) / GAIN
    ccd.data = ccd.data + noise
    var = ccd.uncertainty.array**2 + sky / GAIN
    ccd.uncertainty.array = np.sqrt(var)
    clean_ref, _, _ = frame(SHAPE, lines=src, seed=0, **dict(kw, gain=1e7, rdnoise=0.0))
    clean_ref.data = clean_ref.data + sky
    base_ref, _, _ = frame(SHAPE, seed=0, **dict(kw, gain=1e7, rdnoise=0.0))
    return ccd, clean_ref, base_ref, traces[0], cols, kinds, counts


def _rays(rng, trace, cols):
    """One 1-3 pixel event on each line's core, inside the aperture (the simulator's
    charge: log-normal, median ~2500 e-)."""
    events = []
    for c in cols:
        c0 = int(round(c)) + int(rng.integers(-1, 2))
        r0 = int(round(trace[c0])) + int(rng.integers(-1, 2))
        kind = int(rng.choice(3, p=[0.55, 0.3, 0.15]))
        dr, dc = int(rng.integers(-1, 2)), int(rng.integers(-1, 2))
        if dr == 0 and dc == 0:
            dc = 1
        total = np.exp(rng.normal(np.log(2500.0), 0.6)) + 600.0
        pix = [(r0 + k * dr, c0 + k * dc) for k in range(kind + 1)]
        events.append((pix, total / (kind + 1) / GAIN))
    return events


def _cleaned(ccd, method):
    out, _ = remove_cosmic_rays(ccd, method, GAIN, RDNOISE)
    flagged = np.asarray(out.mask, bool)
    # as reduced_frame.load_reduced reads a reduced product: cleaned pixels unmasked, their bits
    # in flags (a branch that does not read flags uses the cleaned values)
    out.mask = None
    out.flags = np.where(flagged, COSMIC_RAY, 0).astype(np.uint8)
    return out, flagged


def run(seeds: int):
    stats = {}
    for cr_method in ("lacosmic", "dcr"):
        for method in ("fractional", "optimal"):
            stats[cr_method, method] = {
                "missed2d": 0,
                "survive": 0,
                "n": 0,
                "left": [],
                "rejected": 0,
                "bridged": 0,
            }
    line_bias = {"fractional": {"source": [], "sky": []}, "optimal": {"source": [], "sky": []}}
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        ccd, clean_ref, base_ref, true_trace, cols, kinds, counts = _frames(seed + 1, rng)
        (target,) = find_targets(ccd, max_targets=1)
        trace = trace_target(ccd, target)
        events = _rays(rng, true_trace, cols)
        hit = ccd.copy()
        for pix, adu in events:
            for r, c in pix:
                hit.data[r, c] += adu
        ref_line = extract_arrays(clean_ref, trace, "fractional").flux
        ref_base = extract_arrays(base_ref, trace, "fractional").flux
        for cr_method in ("lacosmic", "dcr"):
            with_rays, flagged = _cleaned(hit, cr_method)
            without, _ = _cleaned(ccd, cr_method)
            for method in ("fractional", "optimal"):
                a = extract_arrays(with_rays, trace, method)
                b = extract_arrays(without, trace, method)
                s = stats[cr_method, method]
                s["rejected"] += int(a.meta.get("rejected_pixels", 0) or 0)
                s["bridged"] += int(a.meta.get("cleaned_bridged", 0) or 0)
                for pix, adu in events:
                    s["n"] += 1
                    s["missed2d"] += not all(flagged[r, c] for r, c in pix)
                    cc = sorted({c for _, c in pix})
                    delta = (a.flux[cc] - b.flux[cc]).sum()
                    err = np.sqrt((b.std[cc] ** 2).sum())
                    s["survive"] += bool(abs(delta) > 3 * err)
                    s["left"].append(delta / (adu * len(pix)))
                if cr_method == "lacosmic":
                    for c, k, n in zip(cols, kinds, counts, strict=True):
                        w = slice(int(c) - 8, int(c) + 9)
                        truth = (ref_line[w] - ref_base[w]).sum()
                        got = (b.flux[w] - ref_base[w]).sum()
                        # a sky line is subtracted: its residual over its counts in the aperture
                        scale = truth if k == "source" else n * 2 * b.meta["aperture"]
                        line_bias[method][k].append((got - truth) / scale)
    print(
        f"{'rays on line cores':22s} {'method':10s} {'rays':>5s} {'2-D missed':>10s} {'1-D survive':>11s} "
        f"{'left med':>8s} {'left p90':>8s} {'rejected px':>11s} {'bridged 2-D':>11s}"
    )
    for (cr_method, method), s in stats.items():
        left = np.abs(np.array(s["left"]))
        print(
            f"{cr_method:22s} {method:10s} {s['n']:5d} {s['missed2d']:10d} "
            f"{s['survive']:5d} ({s['survive'] / s['n']:4.0%}) {np.median(left):8.3f} "
            f"{np.percentile(left, 90):8.3f} {s['rejected']:11d} {s['bridged']:11d}"
        )
    print(f"\n{'clean lines, flux-1':22s} {'method':10s} {'source lines':>16s} {'sky lines':>16s}")
    for method, by_kind in line_bias.items():
        cells = []
        for k in ("source", "sky"):
            x = np.array(by_kind[k])
            cells.append(f"{x.mean():+.4f}+-{x.std(ddof=1) / np.sqrt(x.size):.4f}")
        print(f"{'':22s} {method:10s} {cells[0]:>16s} {cells[1]:>16s}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=12)
    args = parser.parse_args()
    run(args.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
