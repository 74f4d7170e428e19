"""Product names, lineage header cards and atomic FITS writing.

Shared by every stage that writes a file (CCD reduction here, extraction and
wavelength calibration elsewhere), so that all products follow one convention:

- names use goodman_pipeline's prefixes (:func:`product_name`, :func:`master_bias_name`,
  :func:`master_flat_name`): one letter per step applied, newest first, so
  ``cfzst_x.fits`` was trimmed (t), slit-trimmed (s), bias-subtracted (z),
  flat-fielded (f) and cleaned of cosmic rays (c); ``o`` marks a prescan level
  subtracted instead of a master bias; ``e``/``w`` are extraction and wavelength
  calibration, and a leading ``f`` on a wavelength-calibrated spectrum
  (``fwecfzst_``) is flux calibration; sensitivity functions are masters named
  ``master_sens_<mode>[_<FILTER2>]_<CAMERA>_<bx>x<by>_<YYYYMMDD>_<star>.fits``
  (:func:`pipeline.fluxcal.sensitivity.sensitivity_name`);
- headers carry ``RLEVEL = 60 + data_type`` (61 masters, 62 reduced, ...), ``GSP_ONAM``
  (raw file), ``GSP_PNAM`` (parent), ``GSP_FNAM`` (this file), ``GSP_BIAS``, ``GSP_FLAT``,
  ``GSP_VERS`` and the settings used (:func:`lineage_cards`);
- files are written atomically (:func:`write_fits_atomic`): to a temporary file in the
  destination folder, then ``os.replace``, so a reader never sees half a file; a raw
  file is never overwritten.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import warnings
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from urllib.parse import quote, unquote

from astropy.io import fits

from pipeline.vocabulary import DataType, rlevel

#: RLEVEL of each data_type (DESIGN.md §4), from :func:`pipeline.vocabulary.rlevel`.
RLEVEL_MASTER = rlevel(DataType.MASTER_CALIBRATION)
RLEVEL_REDUCED = rlevel(DataType.REDUCED)
RLEVEL_EXTRACTED = rlevel(DataType.EXTRACTED)
RLEVEL_WAVELENGTH = rlevel(DataType.WAVELENGTH_CALIBRATED)
RLEVEL_FLUX = rlevel(DataType.FLUX_CALIBRATED)

#: Cards every product carries, in this order, with their comments.
GSP_CARDS = {
    "GSP_VERS": "Goodman Spectroscopic Pipeline version",
    "GSP_ONAM": "Original file name",
    "GSP_PNAM": "Parent file name",
    "GSP_FNAM": "Current file name",
    "GSP_TECH": "Observing technique",
    "GSP_DATE": "Processing date",
    "GSP_OVER": "Prescan level subtracted (ADU) or none",
    "GSP_TRIM": "Trim section from TRIMSEC",
    "GSP_SLIT": "Slit trim section, slit illuminated area only",
    "GSP_BIAS": "Master bias image",
    "GSP_FLAT": "Master flat image",
    "GSP_NORM": "Flat normalization method",
    "GSP_COSM": "Cosmic ray rejection method",
}


class ProtectedFileError(OSError):
    """Refused to write over a raw file."""


#: OS errors of the storage rather than of one product: permissions taken away, a full
#: or read-only disk, an I/O error, a stale network-file handle. Every other product of
#: the night would fail the same way, and the storage comes back (an operator fixes it):
#: a caller that runs again later (the live job engine) must see the error itself.
STORAGE_ERRNOS = frozenset(
    {errno.EPERM, errno.EACCES, errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ESTALE}
)


def raise_if_storage_error(exc: BaseException) -> None:
    """Re-raise ``exc`` when it (or an error it was raised from) is a storage error.

    For the ``except Exception`` blocks that record a failure on one frame or target
    and go on: a full or unwritable disk is not that frame's failure, and turned into a
    note it would fail the frame for good instead of being retried once the storage is
    back.

    Parameters
    ----------
    exc : BaseException
        The error caught; its ``__cause__``/``__context__`` chain is followed.

    Raises
    ------
    BaseException
        ``exc`` itself, when a storage errno (:data:`STORAGE_ERRNOS`) is in its chain.
    """
    seen: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in seen and len(seen) < 20:
        seen.append(cause)
        if isinstance(cause, OSError) and not isinstance(cause, ProtectedFileError):
            if cause.errno in STORAGE_ERRNOS:
                raise exc
        cause = cause.__cause__ or (None if cause.__suppress_context__ else cause.__context__)


@cache
def software_version() -> str:
    """Give the version of the installed ``gsp-live`` distribution.

    Returns
    -------
    str
        The version (recorded as ``GSP_VERS``), or ``"unknown"`` when not installed.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gsp-live")
    except PackageNotFoundError:
        return "unknown"


def product_name(prefix: str, raw_name: str) -> str:
    """Name a product from its prefix letters and its parent's name.

    ``product_name("cfzst", "0304_x.fits")`` gives ``"cfzst_0304_x.fits"``. An existing
    goodman prefix on ``raw_name`` is kept behind the new letters, so
    ``product_name("e", "cfzst_x.fits")`` gives ``"ecfzst_x.fits"``.

    Parameters
    ----------
    prefix : str
        The new letters (a trailing ``_`` is ignored; empty keeps the name).
    raw_name : str
        The parent's file name (raw or product; masters keep no prefix letters).

    Returns
    -------
    str
        The product's file name.
    """
    prefix = prefix.rstrip("_")
    if not prefix:
        return raw_name
    match = re.match(r"^([a-z]+)_(.+)$", raw_name)
    if match and set(match.group(1)) <= set("otszfcew") and not raw_name.startswith("master"):
        return f"{prefix}{match.group(1)}_{match.group(2)}"
    return f"{prefix}_{raw_name}"


def _num(value: float | None) -> str:
    return "NA" if value is None else f"{value:05.2f}"


def roi_tag(classification) -> str:
    """Tag a master's name with its ROI when the frame is not of the standard ROI of its binning.

    Real nights use ROIs of any height (``user-defined`` 400 or 500 rows, ``Spectroscopic
    ZZ Ceti``...); masters of two sizes in one night must not share a name.

    Parameters
    ----------
    classification : Classification
        The frame (binning, technique, raw shape).

    Returns
    -------
    str
        ``""`` for the standard ROI (or an unknown shape), else ``"_<rows>x<columns>"``
        of the raw frame.
    """
    from pipeline.instrument import BINNINGS, frame_geometry

    c = classification
    if c.shape is None:
        return ""
    bx, by = c.binning
    if bx == by and bx in BINNINGS:
        standard = frame_geometry(bx, imaging=c.technique == "Imaging").shape
        if tuple(c.shape) == standard:
            return ""
    return f"_{c.shape[0]}x{c.shape[1]}"


def master_bias_name(classification) -> str:
    """Name a master bias in goodman_pipeline's pattern, with its readout mode.

    For example ``master_bias_RED_SP_2x2_R03.89_G01.48.fits`` (with :func:`roi_tag` for a
    non-standard ROI).

    Parameters
    ----------
    classification : Classification
        A frame of the group (camera, technique, binning, RDNOISE, GAIN, shape).

    Returns
    -------
    str
        The file name.
    """
    c = classification
    tech = "SP" if c.technique == "Spectroscopy" else "IM"
    bx, by = c.binning
    return (
        f"master_bias_{c.camera.upper()}_{tech}_{bx}x{by}_R{_num(c.rdnoise)}_G{_num(c.gain)}"
        f"{roi_tag(c)}.fits"
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")


def master_flat_name(classification, kind: str = "dome") -> str:
    """A master flat name in goodman_pipeline's pattern, made unique per readout mode.

    Spectroscopy: ``master_flat_<grating digits><mode>[_<FILTER2>]_<slit>_<kind>``
    (``master_flat_400m2_GG455_1.0_dome``); imaging: ``master_flat_<FILTER>_<kind>``.
    goodman's name omits the camera and readout, so two cameras in one folder would
    collide; a ``_<CAMERA>_<bx>x<by>_R.._G..`` tail keeps them apart.

    Parameters
    ----------
    classification : Classification
        A frame of the group (technique, grating, mode, filters, slit, camera, binning,
        readout, shape).
    kind : str
        The flat's kind (``"dome"``, ``"sky"``).

    Returns
    -------
    str
        The file name.
    """
    c = classification
    if c.technique == "Spectroscopy":
        grating = re.sub(r"[A-Za-z_ ]", "", c.grating) or "no_grating"
        mode = re.sub(r"^\d+_?", "", c.wavmode).lower()
        filter2 = "" if c.filter2.upper() in {"", "NO_FILTER"} else f"_{_slug(c.filter2)}"
        # Digits only: a real SLIT like 1.03" long slit must not put a quote in a name.
        slit = re.sub(r"[^0-9.]", "", c.slit).strip(".") or _slug(c.slit)
        base = f"master_flat_{grating}{mode}{filter2}_{slit}_{kind}"
    else:
        filters = [f for f in (c.filter, c.filter2) if f.upper() not in {"", "NO_FILTER"}]
        base = f"master_flat_{_slug('_'.join(filters) or 'NO_FILTER')}_{kind}"
    bx, by = c.binning
    return (
        f"{base}_{c.camera.upper()}_{bx}x{by}_R{_num(c.rdnoise)}_G{_num(c.gain)}{roi_tag(c)}.fits"
    )


def normalized_flat_name(master_name: str) -> str:
    """Name the normalized version of a master flat (goodman's ``norm_`` prefix).

    Parameters
    ----------
    master_name : str
        The master flat's file name (a path: only its name is used).

    Returns
    -------
    str
        ``"norm_<name>"``.
    """
    return f"norm_{Path(master_name).name}"


def lineage_cards(
    *,
    original: str,
    parent: str,
    file_name: str,
    rlevel: int,
    technique: str = "",
    bias: str | None = None,
    flat: str | None = None,
    extra: dict | None = None,
    settings=None,
) -> list[tuple[str, object, str]]:
    """Header cards that say where a product comes from.

    Parameters
    ----------
    original, parent, file_name : str
        Raw file name (``GSP_ONAM``), the file this one was made from (``GSP_PNAM``)
        and this file's name (``GSP_FNAM``); names only, no folders.
    rlevel : int
        :func:`pipeline.vocabulary.rlevel` of the product's data type.
    technique : str
        ``"Spectroscopy"`` or ``"Imaging"`` (``GSP_TECH``; ``"none"`` when empty).
    bias, flat : str, optional
        Master calibrations used (``"none"`` when not given).
    extra : dict, optional
        More ``GSP_*`` values (``GSP_TRIM``, ``GSP_SLIT``, ``GSP_COSM``, ``GSP_LAMP``...);
        a value may be a ``(value, comment)`` pair.
    settings : ReductionSettings, optional
        Recorded with :meth:`ReductionSettings.to_header_cards`.

    Returns
    -------
    list of tuple of (str, object, str)
        ``(key, value, comment)`` cards, ``RLEVEL`` first, then ``GSP_VERS``, the names,
        technique, date of reduction, masters, ``extra`` and the settings; for
        :func:`apply_cards`.
    """
    values = {
        "GSP_VERS": software_version(),
        "GSP_ONAM": Path(original).name,
        "GSP_PNAM": Path(parent).name,
        "GSP_FNAM": Path(file_name).name,
        "GSP_TECH": technique or "none",
        "GSP_DATE": datetime.now(UTC).strftime("%Y-%m-%d"),
        "GSP_BIAS": Path(bias).name if bias else "none",
        "GSP_FLAT": Path(flat).name if flat else "none",
    }
    cards: list[tuple[str, object, str]] = [("RLEVEL", int(rlevel), "Reduction level")]
    cards += [(k, v, GSP_CARDS[k]) for k, v in values.items()]
    for key, value in (extra or {}).items():
        comment = GSP_CARDS.get(key, "")
        if isinstance(value, tuple):
            value, comment = value
        cards.append((key, value, comment))
    if settings is not None:
        cards += settings.to_header_cards()
    return cards


def lineage_cards_after(header, **kwargs) -> list[tuple[str, object, str]]:
    """Lineage cards of a product made from the one whose header is ``header``.

    As :func:`lineage_cards`, with the parent's technique and masters (``GSP_TECH``,
    ``GSP_BIAS``, ``GSP_FLAT``) carried over.

    Parameters
    ----------
    header : Mapping
        The parent product's header.
    **kwargs
        The other arguments of :func:`lineage_cards` (``original``, ``parent``,
        ``file_name``, ``rlevel``, ``extra``, ``settings``).

    Returns
    -------
    list of tuple of (str, object, str)
        As :func:`lineage_cards` returns them.
    """

    def master(key: str) -> str | None:
        value = header.get(key)
        return value if value not in (None, "none") else None

    return lineage_cards(
        technique=str(header.get("GSP_TECH", "Spectroscopy")),
        bias=master("GSP_BIAS"),
        flat=master("GSP_FLAT"),
        **kwargs,
    )


#: Printable ASCII but ``%`` (the escape character itself): what a FITS card holds as is.
_FITS_SAFE = "".join(chr(c) for c in range(32, 127) if chr(c) != "%")


def fits_text(value: str) -> str:
    """Escape a text so that a FITS header can hold it: non-ASCII characters percent-escaped.

    FITS cards hold printable ASCII only, but raw files may have any name
    (``ñandú_0001.fits``). The escape is reversible with :func:`urllib.parse.unquote`,
    and leaves every ASCII name unchanged (but ``%``, escaped as ``%25``).

    Parameters
    ----------
    value : str
        Any text (a file name).

    Returns
    -------
    str
        Printable ASCII.
    """
    return quote(value, safe=_FITS_SAFE)


def header_name(header, key: str, fallback: str = "") -> str:
    """Read a file name recorded in ``header[key]`` by :func:`apply_cards`, unescaped.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A product header.
    key : str
        The card (``GSP_ONAM``, ``GSP_PNAM``, ``GSP_FNAM``...).
    fallback : str
        What to return when the card is missing or empty.

    Returns
    -------
    str
        The name as it was before :func:`fits_text`, or ``fallback``.
    """
    return unquote(str(header.get(key, "") or "")) or fallback


def apply_cards(header: fits.Header, cards: Iterable[tuple[str, object, str]]) -> fits.Header:
    """Set ``(key, value, comment)`` cards on a header (in place) and return it.

    Text values are passed through :func:`fits_text`, so a file name of any spelling is
    recorded.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header to change.
    cards : iterable of tuple of (str, object, str)
        Key, value and comment of each card (as :func:`lineage_cards` makes them).

    Returns
    -------
    astropy.io.fits.Header
        ``header`` itself, changed.
    """
    with warnings.catch_warnings():
        # A long value (a master's name) leaves no room for the whole comment: astropy
        # truncates the comment, which is all we want.
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        for key, value, comment in cards:
            header[key] = (fits_text(value) if isinstance(value, str) else value, comment)
    return header


def _is_raw(path: Path, raw_dirs: Iterable[Path]) -> bool:
    resolved = path.resolve()
    for folder in raw_dirs:
        folder = Path(folder).resolve()
        if resolved == folder or folder in resolved.parents:
            return True
    if resolved.exists():
        # A file we did not write (no GSP_FNAM card) is somebody's data: keep it.
        try:
            header = fits.getheader(resolved)
        except Exception:  # noqa: BLE001 - unreadable: certainly not ours, keep it
            return True
        return "GSP_FNAM" not in header
    return False


def write_fits_atomic(hdul: fits.HDUList, path: str | Path, raw_dirs: Iterable = ()) -> Path:
    """Write ``hdul`` to ``path`` atomically; never over a raw file.

    The file is written to a temporary name in the same folder and renamed over
    ``path`` (``os.replace``, atomic on POSIX), so readers see the old file or the new
    one, never a partial one.

    Parameters
    ----------
    hdul : astropy.io.fits.HDUList
        What to write.
    path : str or pathlib.Path
        The product's file (its folder is created if needed).
    raw_dirs : iterable of str or pathlib.Path
        Folders holding raw data; writing inside them is refused.

    Returns
    -------
    pathlib.Path
        ``path``, written (mode 0644).

    Raises
    ------
    ProtectedFileError
        ``path`` is inside a raw folder, or is an existing file that is not one of our
        products (it has no ``GSP_FNAM`` card).
    """
    path = Path(path)
    if _is_raw(path, raw_dirs):
        raise ProtectedFileError(
            f"refusing to write {path}: it is a raw file or inside a raw folder; "
            "write products to a separate output folder"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh, warnings.catch_warnings():
            # Long values (master names) truncate their comments; that is fine.
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            hdul.writeto(fh, output_verify="silentfix")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_ccd_atomic(ccd, path: str | Path, raw_dirs: Iterable = (), flags=None) -> Path:
    """Write a CCDData with its ``UNCERT`` and ``MASK`` extensions atomically.

    The layout is ``CCDData.write``'s; the writing is :func:`write_fits_atomic`'s.

    Parameters
    ----------
    ccd : astropy.nddata.CCDData
        The frame.
    path : str or pathlib.Path
        The product's file.
    raw_dirs : iterable of str or pathlib.Path
        Folders holding raw data; writing inside them is refused.
    flags : numpy.ndarray or None
        uint8 bits of :mod:`pipeline.reduction.masks`, of the frame's shape: replaces the
        boolean mask in the ``MASK`` extension, so the product says why each pixel is
        masked. ``None`` keeps the boolean mask.

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    ProtectedFileError
        As :func:`write_fits_atomic`.
    """
    hdul = ccd.to_hdu(hdu_mask="MASK", hdu_uncertainty="UNCERT", as_image_hdu=False)
    if flags is not None and "MASK" in hdul:
        hdul["MASK"].data = flags.astype("uint8")
    return write_fits_atomic(hdul, path, raw_dirs=raw_dirs)
