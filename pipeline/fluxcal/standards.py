"""The spectrophotometric standard stars of the flux library, and recognising them.

The bundled tables are ESO's copies of Hamuy et al. (1992, 1994) in
``pipeline/data/fluxcal/esofil/``: ``f<star>.dat`` files of wavelength (Å), flux
(1e-16 erg/s/cm²/Å), flux (mJy) and bin width (Å); ``esofil_info.txt`` gives each
file's star name and J2000 coordinates. More stars are added by dropping a file of the
same layout into a folder of more standards, with a line in an ``esofil_info.txt``
beside it for its coordinates (a table without coordinates is still recognised by
name). Those folders are the deployment's (:func:`use_library_dirs`: the gsp service's
``GSPExtensionApp.standards_dirs``, ``gsp reduce --standards-dir``), searched by every
recognition in the process, or given to one call (``extra_dirs``). A table dropped
into a folder while the service runs is seen at the next frame: the folder's listing
is read again whenever it changes.

Names are compared folded (:func:`pipeline.header_normalization.standard_key`), so
``LTT 3218``, ``LTT3218`` and ``ltt3218`` are one star; coordinates match within
:data:`MATCH_RADIUS_ARCSEC`. This module stays light (no astropy.coordinates): the
classifier calls it for every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from pipeline.header_normalization import standard_key

#: A frame pointed this close (arcsec) to a standard of the library is that standard.
MATCH_RADIUS_ARCSEC = 30.0
#: Flux unit of the tables' second column, in erg/s/cm²/Å.
TABLE_FLUX_SCALE = 1e-16


@dataclass(frozen=True)
class StandardStar:
    """One star of the flux library.

    Attributes
    ----------
    name : str
        Name as written in ``esofil_info.txt`` (``LTT3218``), else the file's stem.
    path : str
        Its flux table.
    ra_deg, dec_deg : float or None
        J2000 coordinates (degrees), ``None`` when the info file does not list it.
    """

    name: str
    path: str
    ra_deg: float | None = None
    dec_deg: float | None = None

    @property
    def key(self) -> str:
        return standard_key(self.name)

    @property
    def file_name(self) -> str:
        return Path(self.path).name


def bundled_dir() -> Path:
    """Locate the bundled ``esofil`` folder of standard-star tables.

    Returns
    -------
    pathlib.Path
        ``pipeline/data/fluxcal/esofil`` of the installed package.
    """
    return Path(str(resources.files("pipeline") / "data" / "fluxcal" / "esofil"))


def parse_sexagesimal(text, hours: bool) -> float | None:
    """Convert ``hh:mm:ss.s`` or ``±dd:mm:ss`` text, or a number, to degrees.

    Parameters
    ----------
    text : str or float or None
        Sexagesimal text (colons or spaces; one to three fields) or a plain number
        already in degrees.
    hours : bool
        True when sexagesimal text is in hours (right ascension: times 15), False when
        in degrees (declination).

    Returns
    -------
    float or None
        Degrees; ``None`` when ``text`` is empty or neither a number nor sexagesimal.
    """
    text = str(text or "").strip()
    if not text:
        return None
    try:
        if ":" not in text and " " not in text:
            return float(text)
        sign = -1.0 if text.startswith("-") else 1.0
        parts = [abs(float(p)) for p in text.lstrip("+-").replace(":", " ").split()]
    except ValueError:
        return None
    if not 1 <= len(parts) <= 3:
        return None
    parts += [0.0] * (3 - len(parts))
    deg = sign * (parts[0] + parts[1] / 60.0 + parts[2] / 3600.0)
    return deg * 15.0 if hours else deg


def _info(folder: Path) -> dict[str, tuple[str, float | None, float | None]]:
    info = folder / "esofil_info.txt"
    out = {}
    if not info.is_file():
        return out
    for line in info.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("#", 1)[0].split()
        if len(parts) >= 4 and parts[0].endswith(".dat"):
            out[parts[0]] = (
                parts[1],
                parse_sexagesimal(parts[2], True),
                parse_sexagesimal(parts[3], False),
            )
    return out


#: Folders of more standards every recognition in this process searches after the
#: bundled library (set by :func:`use_library_dirs`).
_library_dirs: tuple[str, ...] = ()


def use_library_dirs(folders) -> tuple[str, ...]:
    """Set the folders of more standard-star tables this process searches.

    The deployment's switch (the gsp service sets it at start from its
    ``standards_dirs`` trait, ``gsp reduce`` from ``--standards-dir``): the classifier,
    the sensitivity step and :func:`find_standard` search them after the bundled
    library, a star of the same name in a later folder replacing the earlier one.

    Parameters
    ----------
    folders : iterable of str or pathlib.Path
        Folders of ``f<star>.dat`` tables (optionally with an ``esofil_info.txt`` of
        their coordinates); empty for the bundled library alone.

    Returns
    -------
    tuple of str
        The folders now searched (as given, in order).

    Raises
    ------
    ValueError
        A folder does not exist or is not a folder; the message names it.
    """
    global _library_dirs
    dirs = tuple(str(Path(f)) for f in folders)
    for folder in dirs:
        if not Path(folder).is_dir():
            raise ValueError(
                f"standards folder {folder!r} is not a folder; expected a folder of "
                "f<star>.dat flux tables (wavelength in Å, flux in 1e-16 erg/s/cm²/Å)"
            )
    _library_dirs = dirs
    return dirs


def library_dirs() -> tuple[str, ...]:
    """Give the folders of more standards set by :func:`use_library_dirs`.

    Returns
    -------
    tuple of str
        The folders (empty when only the bundled library is used).
    """
    return _library_dirs


def _file_stamp(path: Path) -> tuple[int, int]:
    """A file's change stamp: its modification time (ns) and size; ``(0, 0)`` when it is
    missing (a file made there later has another stamp)."""
    try:
        stat = path.stat()
    except OSError:
        return (0, 0)
    return (stat.st_mtime_ns, stat.st_size)


def _stamp(folder: Path) -> tuple[int, int, int]:
    """A folder's change stamp: its listing's modification time (a table added, removed
    or renamed) and its info file's stamp (coordinates edited in place)."""
    return (_file_stamp(folder)[0], *_file_stamp(folder / "esofil_info.txt"))


@lru_cache(maxsize=32)
def _catalogue(folders: tuple[tuple[str, tuple[int, int, int]], ...]) -> tuple[StandardStar, ...]:
    # ``folders`` holds each folder with its change stamp: a new stamp reads it again.
    stars: dict[str, StandardStar] = {}
    for folder in (Path(f) for f, _changed in folders):
        if not folder.is_dir():
            continue
        info = _info(folder)
        for path in sorted(folder.glob("f*.dat")):
            # 'm' files hold AB magnitudes, not fluxes: only 'f' tables are used.
            name, ra, dec = info.get(path.name, (path.stem[1:], None, None))
            star = StandardStar(name, str(path), ra, dec)
            stars[star.key] = star  # a later folder's table replaces a bundled one
    return tuple(stars.values())


def catalogue(extra_dirs=()) -> tuple[StandardStar, ...]:
    """List every star of the bundled library, the configured folders and ``extra_dirs``.

    Parameters
    ----------
    extra_dirs : iterable of str or pathlib.Path
        Folders of more ``f<star>.dat`` tables (with an optional ``esofil_info.txt``), read
        after the bundled one and those of :func:`use_library_dirs`: a star of the same
        name in a later folder replaces the earlier one.

    Returns
    -------
    tuple of StandardStar
        The stars (cached per folders and their change stamps: a table dropped into a
        folder is seen at the next call).
    """
    folders = (str(bundled_dir()), *_library_dirs, *(str(Path(d)) for d in extra_dirs))
    return _catalogue(tuple((f, _stamp(Path(f))) for f in folders))


def separation_arcsec(ra1, dec1, ra2, dec2) -> float:
    """Compute the great-circle separation of two positions (haversine).

    Parameters
    ----------
    ra1, dec1 : float
        First position, right ascension and declination in degrees.
    ra2, dec2 : float
        Second position, in degrees.

    Returns
    -------
    float
        The separation in arcseconds.
    """
    r1, d1, r2, d2 = (math.radians(v) for v in (ra1, dec1, ra2, dec2))
    h = math.sin((d2 - d1) / 2) ** 2 + math.cos(d1) * math.cos(d2) * math.sin((r2 - r1) / 2) ** 2
    return math.degrees(2 * math.asin(min(1.0, math.sqrt(h)))) * 3600.0


def find_standard(
    object_name: str = "",
    ra=None,
    dec=None,
    radius_arcsec: float = MATCH_RADIUS_ARCSEC,
    extra_dirs=(),
) -> tuple[StandardStar | None, str]:
    """The library star a frame observed, and how it was recognised.

    Parameters
    ----------
    object_name : str
        The frame's OBJECT (any spelling: ``LTT 3218``, ``ltt3218``).
    ra, dec : str or float, optional
        OBSRA (``hh:mm:ss``) and OBSDEC (``±dd:mm:ss``), or degrees.
    radius_arcsec : float
        Largest pointing offset (arcsec) for a match by coordinates.
    extra_dirs : iterable of str or pathlib.Path
        More folders of tables searched besides the bundled library (see
        :func:`catalogue`).

    Returns
    -------
    (StandardStar or None, str)
        The star and ``"OBJECT"`` (matched by name) or ``'coordinates (12.3" from
        <name>)'`` (the nearest star within the radius); ``(None, "")`` when neither
        matches.
    """
    stars = catalogue(extra_dirs)
    key = standard_key(object_name)
    if key:
        for star in stars:
            if star.key == key:
                return star, "OBJECT"
    ra_deg = ra if isinstance(ra, int | float) else parse_sexagesimal(ra, True)
    dec_deg = dec if isinstance(dec, int | float) else parse_sexagesimal(dec, False)
    if ra_deg is None or dec_deg is None:
        return None, ""
    best, best_sep = None, radius_arcsec
    for star in stars:
        if star.ra_deg is None or star.dec_deg is None:
            continue
        sep = separation_arcsec(ra_deg, dec_deg, star.ra_deg, star.dec_deg)
        if sep <= best_sep:
            best, best_sep = star, sep
    if best is None:
        return None, ""
    return best, f'coordinates ({best_sep:.1f}" from {best.name})'


def standard_flux(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Wavelength (Å), flux (erg/s/cm²/Å) and bin width (Å) of a star's table.

    Parameters
    ----------
    path : str
        A table of columns wavelength (Å), flux (1e-16 erg/s/cm²/Å), optionally flux
        (mJy) and bin width (Å); at least 5 rows of increasing wavelength. Cached per
        path, modification time and size: a table edited in place (a deployer correcting
        a star's fluxes while the service runs) is read again at the next call.

    Returns
    -------
    wavelength : numpy.ndarray
        In Å, increasing.
    flux : numpy.ndarray
        In erg/s/cm²/Å (the table's second column times 1e-16).
    width : numpy.ndarray
        Bin width in Å: the fourth column, or the spacing of the wavelengths without it.

    Raises
    ------
    ValueError
        The file is not a flux table of that layout (it names the file and the layout).
    """
    return _read_table(str(path), *_file_stamp(Path(path)))


@lru_cache(maxsize=128)
def _read_table(path: str, _mtime_ns: int, _size: int):
    # The stamp is only the cache key: a changed file is a new key, so it is read again
    # (the library holds 36 tables; 128 leaves room for added and edited ones).
    try:
        data = np.loadtxt(path, ndmin=2)
    except (OSError, ValueError) as exc:
        raise ValueError(
            f"{Path(path).name}: not a flux table ({exc}); expected columns wavelength (Å), "
            "flux (1e-16 erg/s/cm²/Å)[, mJy, bin width (Å)]"
        ) from None
    if data.shape[1] < 2 or data.shape[0] < 5 or np.any(np.diff(data[:, 0]) <= 0):
        raise ValueError(
            f"{Path(path).name}: expected at least 5 rows of increasing wavelength (Å) and "
            "flux (1e-16 erg/s/cm²/Å)"
        )
    width = data[:, 3] if data.shape[1] >= 4 else np.gradient(data[:, 0])
    return data[:, 0].copy(), data[:, 1] * TABLE_FLUX_SCALE, width.copy()
