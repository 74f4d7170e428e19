"""FITS section strings (``[x1:x2,y1:y2]``, 1-based inclusive) as numpy slices."""

from __future__ import annotations

import re

_SECTION = re.compile(r"^\[\s*(\d+)\s*:\s*(\d+)\s*,\s*(\d+)\s*:\s*(\d+)\s*\]$")


def parse_section(section: str) -> tuple[slice, slice]:
    """``"[26:2055,2:948]"`` -> ``(slice(1, 948), slice(25, 2055))`` (rows, columns).

    Parameters
    ----------
    section : str
        A FITS section: ``[x1:x2,y1:y2]``, 1-based and inclusive, columns first.

    Returns
    -------
    rows, cols : slice
        0-based, stop-exclusive slices for numpy indexing ``data[rows, cols]``.

    Raises
    ------
    ValueError
        When the text is not a FITS section with increasing bounds.
    """
    match = _SECTION.match(str(section).strip())
    if not match:
        raise ValueError(f"{section!r} is not a FITS section like '[26:2055,2:948]'")
    x1, x2, y1, y2 = (int(g) for g in match.groups())
    if x1 < 1 or y1 < 1 or x2 < x1 or y2 < y1:
        raise ValueError(f"{section!r} is not a valid section (1-based, increasing bounds)")
    return slice(y1 - 1, y2), slice(x1 - 1, x2)


def format_section(rows: slice, cols: slice) -> str:
    """Write slices as a FITS section: the inverse of :func:`parse_section`.

    Parameters
    ----------
    rows, cols : slice
        0-based, stop-exclusive slices with explicit ``start`` and ``stop``.

    Returns
    -------
    str
        The section, 1-based and inclusive, columns first: ``"[26:2055,2:948]"``.
    """
    return f"[{cols.start + 1}:{cols.stop},{rows.start + 1}:{rows.stop}]"


def section_shape(section: str) -> tuple[int, int]:
    """Give the numpy shape of a FITS section.

    Parameters
    ----------
    section : str
        A FITS section (``"[26:2055,2:948]"``).

    Returns
    -------
    tuple of (int, int)
        (rows, columns) it covers.

    Raises
    ------
    ValueError
        ``section`` is not a FITS section (:func:`parse_section`).
    """
    rows, cols = parse_section(section)
    return rows.stop - rows.start, cols.stop - cols.start


def fits_within(section: str, shape: tuple[int, int]) -> bool:
    """Tell whether a FITS section lies inside an image.

    Parameters
    ----------
    section : str
        A FITS section, 1-based and inclusive (``"[26:2055,2:948]"``).
    shape : tuple of (int, int)
        (rows, columns) of the image.

    Returns
    -------
    bool
        True when the section's last row and column are inside ``shape``.

    Raises
    ------
    ValueError
        ``section`` is not a FITS section (:func:`parse_section`).
    """
    rows, cols = parse_section(section)
    return rows.stop <= shape[0] and cols.stop <= shape[1]
