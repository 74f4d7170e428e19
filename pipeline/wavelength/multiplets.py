"""Fine-structure multiplets no Goodman mode resolves: one line at the blend's centre.

The He I triplets' strong-list components (``fine_structure_multiplets.txt`` beside the
NIST lists) lie 0.003-0.49 A apart, under a tenth to a half of the narrowest He lamp's
FWHM (0.76 A, 1200 l/mm): an arc shows each multiplet as one line, whose centre is
that of its components' light. Their relative strengths are fixed by the atom, not the
lamp (LS coupling's sum rule: 5 : 3 : 1 for the inverted 2p 3P term's J = 2, 1, 0), so
the centre is a prediction, and it depends on the resolution: at 0.8 A FWHM the blend
5875.61 + 5875.64 + 5875.97 is fitted 6 mA short of its intensity centroid, at 2 A 1 mA.

Named after a component's NIST wavelength, such a line was either a blend (set aside:
4471.48 with 4471.68 at 8 : 1, within NIST's dominance) or fitted 0.02-0.03 px off
(4026.19 with 4026.36 at 10 : 1): the 80 real library lamps show each multiplet
0.017-0.041 A red of its first component, as the centres predict (+0.019-0.026 A;
``benchmarks/line_systematics.py``). Replaced by one line at the centre the arc's own
line finder (:func:`~pipeline.wavelength.lines.fit_centres`) takes on the blend drawn
at the arc's width and dispersion, the line is a clean line with a known place.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import special

from pipeline.lamps import lamp_dir
from pipeline.wavelength.lines import fit_centres
from pipeline.wavelength.nist import LineCatalogue

#: Sub-pixel phases over which a blend's fitted centre is averaged (the pixel-integrated
#: fit of an undersampled blend moves with its phase by a few mA at most).
PHASES = (0.0, 0.25, 0.5, 0.75)


@dataclass(frozen=True)
class Multiplet:
    """One fine-structure multiplet of the strong lists.

    Attributes
    ----------
    ion : str
        Spectrum (``"He I"``).
    wavelength : ndarray
        Its components' NIST air wavelengths (A), as the strong list spells them.
    strength : ndarray
        Their relative line strengths.
    transition : str
        The transition (for the record).
    """

    ion: str
    wavelength: np.ndarray
    strength: np.ndarray
    transition: str


def multiplets_path():
    """Locate the list of unresolved fine-structure multiplets.

    Returns
    -------
    pathlib.Path
        ``pipeline/data/lamps/nist_lines/fine_structure_multiplets.txt``.
    """
    return lamp_dir() / "nist_lines" / "fine_structure_multiplets.txt"


@cache
def multiplets() -> tuple[Multiplet, ...]:
    """The fine-structure multiplets of :func:`multiplets_path` (empty without the file).

    Returns
    -------
    tuple of Multiplet
    """
    path = multiplets_path()
    out = []
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            for row in csv.reader(fh):
                if not row or row[0].strip().startswith("#") or len(row) < 3:
                    continue
                waves = np.array(row[1].split(), float)
                strength = np.array(row[2].split(), float)
                if waves.size < 2 or waves.size != strength.size:
                    raise ValueError(f"{path.name}: components and strengths differ: {row}")
                out.append(Multiplet(row[0].strip(), waves, strength, ",".join(row[3:]).strip()))
    return tuple(out)


def _blend(x, centres, strength, sigma):
    """Pixel-integrated Gaussians of one ``sigma`` at ``centres`` (px), summed."""
    a = (x[:, None] + 0.5 - centres[None, :]) / (np.sqrt(2.0) * sigma)
    b = (x[:, None] - 0.5 - centres[None, :]) / (np.sqrt(2.0) * sigma)
    return (0.5 * (special.erf(a) - special.erf(b))) @ strength


def multiplet_centre(wavelength, strength, sigma_px: float, dispersion: float) -> float:
    """Where the arc's line finder centres a blend of components at the arc's resolution.

    Parameters
    ----------
    wavelength : array_like
        Components' air wavelengths, A.
    strength : array_like
        Their relative strengths.
    sigma_px : float
        The arc's line sigma, binned px.
    dispersion : float
        A per binned px there.

    Returns
    -------
    float
        The blend's fitted centre, A: the components drawn as pixel-integrated
        Gaussians of the arc's width and fitted as an arc line is
        (:func:`~pipeline.wavelength.lines.fit_centres`, its window), averaged over
        :data:`PHASES`. The strength-weighted centroid where the fit fails.
    """
    w = np.asarray(wavelength, float)
    s = np.asarray(strength, float) / np.sum(strength)
    centroid = float(np.sum(w * s))
    sigma = max(float(sigma_px), 0.3)
    half = int(np.clip(np.ceil(2.5 * sigma), 3, 12))
    reach = int(np.ceil(np.ptp(w) / abs(dispersion) + 6.0 * sigma)) + half
    x = np.arange(-reach, reach + 1, dtype=float)
    found = []
    for phase in PHASES:
        centres = (w - centroid) / abs(dispersion) + phase
        fit = fit_centres(
            _blend(x, centres, s, sigma), np.array([float(reach) + phase]), sigma, half
        )
        if len(fit) == 1:
            found.append((float(fit.centre[0]) - reach - phase) * abs(dispersion))
    return centroid + float(np.mean(found)) if found else centroid


def with_multiplets(catalogue: LineCatalogue, sigma_px: float, dispersion_at) -> LineCatalogue:
    """The catalogue with each unresolved multiplet one line at its blend's centre.

    A multiplet counts where all its components are in ``catalogue`` (of its
    spectrum, to 1 mA); they are replaced by one line at :func:`multiplet_centre`, of
    their summed intensity, its source naming the components.

    Parameters
    ----------
    catalogue : LineCatalogue
        NIST lines of the arc's lamp.
    sigma_px : float
        The arc's line sigma, binned px.
    dispersion_at : callable
        A per binned px at a wavelength (A).

    Returns
    -------
    LineCatalogue
        By wavelength.
    """
    keep = np.ones(len(catalogue), bool)
    waves, inten, ions, refs = [], [], [], []
    for m in multiplets():
        at = [
            np.nonzero((np.abs(catalogue.wavelength - w) < 1e-3) & (catalogue.ion == m.ion))[0]
            for w in m.wavelength
        ]
        if not all(a.size for a in at):
            continue
        idx = np.array([a[0] for a in at])
        keep[idx] = False
        centre = multiplet_centre(
            m.wavelength, m.strength, sigma_px, dispersion_at(float(np.mean(m.wavelength)))
        )
        waves.append(centre)
        inten.append(float(np.sum(catalogue.intensity[idx])))
        ions.append(m.ion)
        refs.append(
            "blend centre of "
            + "+".join(str(w) for w in m.wavelength.tolist())
            + " ("
            + ":".join(f"{s:g}" for s in m.strength)
            + ")"
        )
    if not waves:
        return catalogue
    kept = catalogue.select(keep)
    merged = LineCatalogue(
        np.r_[kept.wavelength, waves],
        np.r_[kept.intensity, inten],
        np.concatenate([kept.ion.astype(object), np.array(ions, dtype=object)]).astype(str),
        np.concatenate([kept.source.astype(object), np.array(refs, dtype=object)]).astype(str),
    )
    return merged.select(np.argsort(merged.wavelength, kind="stable"))
