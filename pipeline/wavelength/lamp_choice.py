"""Choosing the library lamp for an arc, tolerant of how headers spell things.

Real headers write the mode as ``400_M2``, ``400 M2``, ``400M2`` or ``400_m2``, and
lamp names as ``HgArNe``, ``HGARNE`` or ``Hg Ar Ne``; old arcs have no ``LAMP_*``
keywords at all (goodman_pipeline then does nothing). Every spelling maps to the same
template here, and an arc without lamp keywords falls back to its OBJECT name, then
to the mode's richest template.
"""

from __future__ import annotations

import csv
import re
from functools import cache

import numpy as np

from pipeline.lamps import (
    LampTemplate,
    find_template,
    lamp_dir,
    modes,
    normalize_mode,
)

#: Elements of the Goodman comparison lamps.
KNOWN_ELEMENTS = ("Hg", "Ar", "Ne", "Cu", "He", "Fe")
_ELEMENT_RE = re.compile("|".join(KNOWN_ELEMENTS), re.IGNORECASE)


class NoLampTemplateError(LookupError):
    """The lamp library has no template for this mode (or these lamps)."""


def _squash(mode: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", normalize_mode(mode))


def canonical_mode(mode: str | None) -> str | None:
    """The library's spelling of a WAVMODE, or ``None`` when the library lacks it.

    ``"400 M2"``, ``"400m2"`` and ``"400_M2"`` all give ``"400_M2"``.

    Parameters
    ----------
    mode : str or None
        A WAVMODE in any usual spelling.

    Returns
    -------
    str or None
        The library's spelling; ``None`` for an empty mode or one the library lacks.
    """
    if not mode:
        return None
    wanted = _squash(mode)
    for known in modes():
        if _squash(known) == wanted:
            return known
    return None


def parse_elements(text: str | None) -> frozenset[str]:
    """Find the lamp elements named in free text, any case: ``"HGARNE"`` -> ``{Hg, Ar, Ne}``.

    Parameters
    ----------
    text : str or None
        A lamp name or OBJECT text.

    Returns
    -------
    frozenset of str
        Capitalised element symbols; empty for empty text.
    """
    if not text:
        return frozenset()
    found = {m.group(0).capitalize() for m in _ELEMENT_RE.finditer(str(text))}
    return frozenset(found)


def arc_elements(header) -> frozenset[str]:
    """Read the elements of an arc's lamps: its ``LAMP_*`` cards, else its OBJECT.

    ``Fe`` in OBJECT is the FeHeAr lamp; the rule is the one of
    :func:`pipeline.header_normalization.normalize_lamps`.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        The arc's header (read as an arc, whatever its OBSTYPE spelling says).

    Returns
    -------
    frozenset of str
        Element symbols (``{"Hg", "Ar", "Ne"}``); empty when neither names a lamp.
    """
    from pipeline.header_normalization import normalize_lamps

    # the frame is calibrated as an arc, whatever its OBSTYPE spelling says
    return normalize_lamps(header, "arc")[0]


def select_template(mode: str | None, lamp_elements=None) -> LampTemplate:
    """The library template for a mode and lamp elements.

    Parameters
    ----------
    mode : str
        WAVMODE in any usual spelling.
    lamp_elements : iterable of str or str, optional
        Elements of the lamps that were on (``{"Hg", "Ar", "Ne"}``) or a lamp name
        (``"HgArNe"``). When none of the mode's templates shares an element, or no
        element is known, the mode's template with the most catalogued lines is used.

    Returns
    -------
    LampTemplate
        The best-matching template of the mode.

    Raises
    ------
    NoLampTemplateError
        The mode is not in the library; the message lists the modes that are.
    """
    canonical = canonical_mode(mode)
    if canonical is None:
        raise NoLampTemplateError(
            f"no reference lamp in the library for WAVMODE {mode!r}; the library covers "
            f"{', '.join(modes())}"
        )
    if isinstance(lamp_elements, str):
        lamp_elements = parse_elements(lamp_elements)
    wanted = frozenset(lamp_elements or ())
    template = find_template(canonical, wanted) if wanted else None
    if template is None:
        template = find_template(canonical, None)
    return template


@cache
def nist_lines(element: str) -> tuple[np.ndarray, np.ndarray]:
    """Read the NIST strong air lines of one element.

    Parameters
    ----------
    element : str
        Element symbol as the file names spell it (``"Hg"``, ``"Ar"``).

    Returns
    -------
    wavelength : numpy.ndarray
        Air wavelengths in Å, increasing (empty when the library has no table for the
        element).
    intensity : numpy.ndarray
        NIST relative intensity of each line (flags dropped; NaN without a number).
    """
    path = lamp_dir() / "nist_lines" / f"nist_air_strong_lines_{element}.txt"
    if not path.exists():
        return np.empty(0), np.empty(0)
    waves, intens = [], []
    with open(path, encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if not row or row[0].strip().startswith("#"):
                continue
            try:
                intensity = float(re.sub(r"[^0-9.]", "", row[0]) or "nan")
                wave = float(row[1])
            except (ValueError, IndexError):
                continue
            waves.append(wave)
            intens.append(intensity)
    order = np.argsort(waves)
    return np.asarray(waves)[order], np.asarray(intens)[order]
