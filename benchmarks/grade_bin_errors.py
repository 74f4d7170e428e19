"""Per-bin errors of both extractions: scatter over noise realisations against the quoted STD.

A faint source (40 ADU per column on a sky of 80, 600 columns, the trace of a bright
twin, as :mod:`benchmarks.grade_error_of_sums`) in +-1 and +-2.5 FWHM apertures is
extracted from ``--n`` noise realisations (seeds 1..n) with both methods. Per column,
the variance of the flux over the realisations is compared with the mean quoted
``std**2``; the table gives the ratio of their means over the columns (1.00 honest),
its standard error (bootstrap over the realisations, seed 0), with and without the
diagonal of the profile's error covariance (``profile_covariance``; its share of the
variance without it), and the mean flux over fractional's (the faint-source bias). Run::

    .venv/bin/python benchmarks/grade_bin_errors.py [--n 200]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from pipeline.spectroscopy import find_targets, trace_target  # noqa: E402
from pipeline.spectroscopy.extract import extract_arrays  # noqa: E402
from pipeline.spectroscopy.profile_covariance import ColumnCovariance  # noqa: E402
from tests.spectroscopy.synthetic import frame  # noqa: E402

SHAPE = (90, 600)
KW = {"sky": 80, "curvature": (0, 0.01, 0)}
ROW = SHAPE[0] / 2
#: Whether optimal's STD holds the profile error's diagonal (this branch or a later one).
IN_STD = hasattr(ColumnCovariance, "diagonal")


def _diagonal(cov) -> np.ndarray:
    """Per column, the profile covariance's own part ``g^T M g + 2 h.g``."""
    g, h, m = cov.factors()
    return ((m @ g) * g).sum(axis=0) + 2.0 * (h * g).sum(axis=0)


def _ratio(flux, var, rng, n_boot=400):
    """Mean over columns of the scatter's variance over the mean quoted variance, and
    its bootstrap standard error over the realisations."""

    def one(idx):
        return np.var(flux[idx], axis=0, ddof=1).mean() / var[idx].mean()

    n = flux.shape[0]
    boot = [one(rng.integers(0, n, n)) for _ in range(n_boot)]
    return one(np.arange(n)), float(np.std(boot, ddof=1))


def run(n: int) -> None:
    bright, _, _ = frame(SHAPE, sources=((ROW, 5, 3000),), **KW)
    (target,) = find_targets(bright, max_targets=1)
    trace = trace_target(bright, target)
    print(f"{n} realisations (seeds 1..{n}); var ratio = scatter^2 / mean STD^2 (1.00 honest)")
    print(f"STD quotes the diagonal: {IN_STD}")
    print(
        f"{'aperture':10s} {'method':10s} {'without diag':>14s} {'diag share':>10s} "
        f"{'with diag':>14s} {'flux/frac':>14s}"
    )
    for k in (1.0, 2.5):
        hw = k * trace.fwhm
        out = {m: {"f": [], "v": [], "d": []} for m in ("fractional", "optimal")}
        for seed in range(1, n + 1):
            ccd, _, _ = frame(SHAPE, sources=((ROW, 5, 40),), seed=seed, **KW)
            for method, row in out.items():
                res = extract_arrays(ccd, trace, method, half_width=hw)
                row["f"].append(np.asarray(res.flux, float))
                row["v"].append(np.asarray(res.std, float) ** 2)
                cov = res.meta.get("profile_covariance")
                # the share the STD holds (its positive part, where the branch has it)
                share = getattr(cov, "in_std", None) if cov is not None else None
                if share is None:
                    share = np.zeros(SHAPE[1]) if cov is None else _diagonal(cov)
                row["d"].append(share)
        good = np.ones(SHAPE[1], bool)
        for row in out.values():
            for key in row:
                row[key] = np.array(row[key])
            good &= np.isfinite(row["f"]).all(axis=0) & np.isfinite(row["v"]).all(axis=0)
        frac_sum = out["fractional"]["f"][:, good].sum(axis=1)
        for method, row in out.items():
            f, v, d = row["f"][:, good], row["v"][:, good], row["d"][:, good]
            # Where the diagonal is in STD already (ColumnCovariance.in_std), the
            # STD without it is sqrt(std^2 - in_std); else with it, sqrt(std^2 + it).
            without, with_ = (v - d, v) if IN_STD else (v, v + d)
            r, se = _ratio(f, without, np.random.default_rng(0))
            share = d.mean() / without.mean()
            r2, se2 = _ratio(f, with_, np.random.default_rng(0))
            rel = f.sum(axis=1) / frac_sum
            print(
                f"{'+-' + str(k) + ' FWHM':10s} {method:10s} {r:7.3f}+-{se:.3f} {share:10.3f} "
                f"{r2:7.3f}+-{se2:.3f} {rel.mean():7.4f}+-{rel.std(ddof=1) / np.sqrt(n):.4f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    run(parser.parse_args().n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
