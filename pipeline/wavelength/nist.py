"""NIST air wavelengths of the Goodman comparison-lamp elements.

The catalogues are ``pipeline/data/lamps/nist_lines/nist_air_strong_lines_<El>.txt``
(columns: relative intensity with NIST flags, air wavelength Å, ion, NIST reference
code), the NIST Atomic Spectra Database strong-line lists of each element. They are
the physical truth the wavelength solutions are fitted to; the library's stored
models only serve as first guesses.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache

import numpy as np

from pipeline.lamps import lamp_dir

#: Elements with a NIST strong-line catalogue in the package.
CATALOGUED_ELEMENTS = ("Ar", "Cu", "Fe", "He", "Hg", "Ne")


@dataclass(frozen=True)
class LineCatalogue:
    """NIST lines of one or more elements, sorted by wavelength.

    Attributes
    ----------
    wavelength : ndarray
        Air wavelength, Å.
    intensity : ndarray
        NIST relative intensity (comparable within one element's list only).
    ion : ndarray of str
        Spectrum, e.g. ``"Ne I"``.
    source : ndarray of str
        NIST bibliographic reference code of the wavelength.
    """

    wavelength: np.ndarray
    intensity: np.ndarray
    ion: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return int(self.wavelength.size)

    def select(self, keep) -> LineCatalogue:
        return LineCatalogue(
            self.wavelength[keep], self.intensity[keep], self.ion[keep], self.source[keep]
        )

    def within(self, lo: float, hi: float) -> LineCatalogue:
        """Lines between ``lo`` and ``hi`` Å."""
        return self.select((self.wavelength >= lo) & (self.wavelength <= hi))


def catalogue_path(element: str):
    """Locate one element's NIST strong-line file.

    Parameters
    ----------
    element : str
        Element symbol (``"Ar"``).

    Returns
    -------
    pathlib.Path
        ``pipeline/data/lamps/nist_lines/nist_air_strong_lines_<element>.txt`` (it may not
        exist).
    """
    return lamp_dir() / "nist_lines" / f"nist_air_strong_lines_{element}.txt"


def extra_catalogue_path(element: str):
    """Locate one element's file of extra lines (bright in real lamps, not in the strong list).

    Parameters
    ----------
    element : str
        Element symbol (``"Ar"``).

    Returns
    -------
    pathlib.Path
        ``pipeline/data/lamps/nist_lines/nist_air_extra_lines_<element>.txt`` (it may not
        exist).
    """
    return lamp_dir() / "nist_lines" / f"nist_air_extra_lines_{element}.txt"


def displaced_path():
    """Locate the list of NIST lines real lamps show displaced (see :func:`displaced_lines`).

    Returns
    -------
    pathlib.Path
        ``pipeline/data/lamps/nist_lines/lamp_displaced_lines.txt``.
    """
    return lamp_dir() / "nist_lines" / "lamp_displaced_lines.txt"


@cache
def displaced_lines() -> np.ndarray:
    """Air wavelengths of NIST lines that real Goodman lamps show displaced.

    An unlisted neighbour blends with each in every real lamp and mode measured (the
    file states the measured offsets, the lamps and the reason): its centre is no
    measure of its NIST wavelength, and an arc line named after it is set aside as a
    blend. Ar II 4439.46 lies 0.05-0.09 A red of its NIST place in all eight
    hollow-cathode library lamps that show it, over four gratings (0.08-0.31 px).

    Returns
    -------
    numpy.ndarray
        Air wavelengths (A), increasing; empty without the file.
    """
    path = displaced_path()
    waves = []
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            for row in csv.reader(fh):
                if row and not row[0].strip().startswith("#"):
                    waves.append(float(row[0]))
    return np.sort(np.asarray(waves, float))


#: A NIST wavelength within this (A) of a listed displaced line is that line.
DISPLACED_MATCH_A = 0.005


def displaced(wavelength) -> np.ndarray:
    """Which of ``wavelength`` (A) are lines real lamps show displaced (:func:`displaced_lines`).

    Parameters
    ----------
    wavelength : array_like
        NIST air wavelengths, A.

    Returns
    -------
    numpy.ndarray of bool
        True where a listed displaced line is within :data:`DISPLACED_MATCH_A`.
    """
    return _listed(wavelength, displaced_lines())


def _listed(wavelength, known) -> np.ndarray:
    """True where ``wavelength`` is within :data:`DISPLACED_MATCH_A` of a ``known`` line."""
    wave = np.asarray(wavelength, float)
    if not known.size or not wave.size:
        return np.zeros(wave.shape, bool)
    return np.abs(wave[..., None] - known).min(axis=-1) < DISPLACED_MATCH_A


def element_blends_path():
    """Locate the list of lines blended by another element's line (:func:`element_blends`).

    Returns
    -------
    pathlib.Path
        ``pipeline/data/lamps/nist_lines/lamp_element_blends.txt``.
    """
    return lamp_dir() / "nist_lines" / "lamp_element_blends.txt"


@cache
def element_blends() -> tuple[np.ndarray, np.ndarray]:
    """NIST lines real lamps show displaced when the lamp holds another element.

    A line of that element, absent from the strong lists, lies unresolved beside each
    (the file states the transition, the source and the lamps measured): Ne I 7472.439
    is pulled 0.04-0.08 A blue by Ar I 7471.163 in HgArNe lamps, clean in Ne lamps.

    Returns
    -------
    wavelength : numpy.ndarray
        Air wavelengths (A) of the blended lines.
    neighbour : numpy.ndarray of str
        The spectrum of each one's unlisted neighbour (``"Ar I"``).
    """
    path = element_blends_path()
    waves, spectra = [], []
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            for row in csv.reader(fh):
                if row and not row[0].strip().startswith("#") and len(row) >= 4:
                    waves.append(float(row[0]))
                    spectra.append(row[3].strip())
    return np.asarray(waves, float), np.asarray(spectra, str)


def blended_in_lamp(wavelength, spectra) -> np.ndarray:
    """Which of ``wavelength`` a lamp holding ``spectra`` blends (:func:`element_blends`).

    Parameters
    ----------
    wavelength : array_like
        NIST air wavelengths, A.
    spectra : iterable of str
        The spectra of the lamp's catalogue (``"Ar I"``, ``"Ne I"``...).

    Returns
    -------
    numpy.ndarray of bool
        True where a listed line is within :data:`DISPLACED_MATCH_A` and the lamp holds
        its neighbour's spectrum.
    """
    known, neighbour = element_blends()
    return _listed(wavelength, known[np.isin(neighbour, list(set(spectra)))])


def _read_catalogue(path) -> LineCatalogue:
    """Lines of one catalogue file (``intensity, air wavelength, ion, source``), sorted."""
    waves, intens, ions, refs = [], [], [], []
    if path.exists():
        with open(path, encoding="utf-8") as fh:
            for row in csv.reader(fh):
                if not row or row[0].strip().startswith("#") or len(row) < 2:
                    continue
                try:
                    wave = float(row[1])
                except ValueError:
                    continue
                digits = re.sub(r"[^0-9.]", "", row[0])
                intens.append(float(digits) if digits else 1.0)
                waves.append(wave)
                ions.append(row[2].strip() if len(row) > 2 else "")
                refs.append(row[3].strip() if len(row) > 3 else "")
    order = np.argsort(waves, kind="stable")
    return LineCatalogue(
        np.asarray(waves, float)[order],
        np.asarray(intens, float)[order],
        np.asarray(ions, dtype=object)[order].astype(str),
        np.asarray(refs, dtype=object)[order].astype(str),
    )


@cache
def element_lines(element: str) -> LineCatalogue:
    """Read the NIST strong air lines of one element (empty when the package has no list).

    Parameters
    ----------
    element : str
        Element symbol (``"Ar"``).

    Returns
    -------
    LineCatalogue
        Air wavelength (Å), NIST relative intensity (1 without a number), ion and source
        of each line, by wavelength (cached per element).
    """
    return _named(_read_catalogue(catalogue_path(element)), element)


def _named(cat: LineCatalogue, element: str) -> LineCatalogue:
    """The catalogue with the element's symbol as the ion where a row names none."""
    ion = np.array([i or element for i in cat.ion.tolist()], dtype=object).astype(str)
    return LineCatalogue(cat.wavelength, cat.intensity, ion, cat.source)


@cache
def extra_element_lines(element: str) -> LineCatalogue:
    """Read one element's extra air lines: bright in real lamps, absent from the strong list.

    They come from NIST-derived lists of lines measured in real lamps (PypeIt's, see
    ``benchmarks/make_extra_lines.py``); their ``source`` names where each came from.
    They check a solution between its lines and are not fitted.

    Parameters
    ----------
    element : str
        Element symbol (``"Ar"``).

    Returns
    -------
    LineCatalogue
        By wavelength; empty when the package has no extra list of the element.
    """
    return _named(_read_catalogue(extra_catalogue_path(element)), element)


def extra_lamp_lines(elements) -> LineCatalogue:
    """Extra lines (:func:`extra_element_lines`) of every element of a lamp, by wavelength.

    Parameters
    ----------
    elements : iterable of str
        Element symbols (fill gas included by the caller).

    Returns
    -------
    LineCatalogue
        Their intensities are not comparable (none is stated).
    """
    return _concatenated([extra_element_lines(el) for el in sorted(elements)])


def _concatenated(parts) -> LineCatalogue:
    """Several catalogues in one, by wavelength (empty without parts)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        empty = np.empty(0)
        return LineCatalogue(empty, empty, empty.astype(str), empty.astype(str))
    cat = LineCatalogue(
        np.concatenate([p.wavelength for p in parts]),
        np.concatenate([p.intensity for p in parts]),
        np.concatenate([p.ion for p in parts]),
        np.concatenate([p.source for p in parts]),
    )
    return cat.select(np.argsort(cat.wavelength, kind="stable"))


@cache
def lamp_lines(elements: frozenset[str]) -> LineCatalogue:
    """NIST lines of every element of a lamp (e.g. ``{"Hg", "Ar", "Ne"}``).

    Relative intensities are rescaled per spectrum (``Ar I``, ``Ar II``...) so that
    each one's brightest line is 1000: NIST intensities are on a different scale in
    every spectrum (they come from different sources and references; in the Ar list
    the Ar I lines top out at a few units where Ar II lines reach hundreds), and the
    rescaling only serves to render lines for the first alignment, to prefer the
    brighter of two candidates and to decide which of two blended lines dominates.

    Parameters
    ----------
    elements : frozenset of str
        Element symbols of the lamp's lines (with :func:`with_fill_gas` applied by the
        caller when it should be).

    Returns
    -------
    LineCatalogue
        Every element's lines with rescaled intensities, by wavelength; empty when no
        element has a list.
    """
    parts = []
    for el in sorted(elements):
        cat = element_lines(el)
        if not len(cat):
            continue
        scaled = cat.intensity.copy()
        ions = np.char.strip(cat.ion.astype(str))
        for ion in np.unique(ions):
            sel = ions == ion
            scaled[sel] *= 1000.0 / max(float(np.max(cat.intensity[sel])), 1e-9)
        parts.append(LineCatalogue(cat.wavelength, scaled, cat.ion, cat.source))
    return _concatenated(parts)


#: Fill gases of the Goodman hollow-cathode lamps: a "Cu" or "Fe" lamp (``LAMP_CU``,
#: ``LAMP_FE``, or OBJECT ``Cu``/``Fe`` in older files) shows He and Ar lines too.
FILL_GAS = {"Cu": frozenset({"He", "Ar"}), "Fe": frozenset({"He", "Ar"})}


def with_fill_gas(elements) -> frozenset[str]:
    """Give the elements whose lines a lamp shows: its own plus a hollow cathode's fill gas.

    Parameters
    ----------
    elements : iterable of str
        Element symbols (``{"Hg", "Ar", "Ne"}``).

    Returns
    -------
    frozenset of str
        ``elements`` plus He and Ar for a Cu or Fe lamp (:data:`FILL_GAS`).
    """
    out = set(elements)
    for el in elements:
        out |= FILL_GAS.get(el, frozenset())
    return frozenset(out)


def catalogue_files(elements) -> list[str]:
    """List the file names of the catalogues used for a set of elements (for provenance).

    Parameters
    ----------
    elements : iterable of str
        Element symbols (``{"Hg", "Ar", "Ne"}``).

    Returns
    -------
    list of str
        Names of the existing ``nist_air_strong_lines_<element>.txt`` files, by element.
    """
    return [catalogue_path(e).name for e in sorted(elements) if catalogue_path(e).exists()]
