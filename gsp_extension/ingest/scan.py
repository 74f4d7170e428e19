"""Read one raw file: checksum, primary header, classification, record fields.

:func:`scan_file` reads each byte once (hashing as it reads and parsing the header from
the first blocks) and returns a plain, picklable :class:`ScannedFile`, so backfills can
run it in worker processes. It never raises for a bad file: the problem is in
``status_reason``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: File names taken as raw data (as ``pipeline.night.RAW_SUFFIXES``).
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fz")

_BLOCK = 2880
_CHUNK = 1 << 20


class NotFits(ValueError):
    """The bytes are not (yet) a complete FITS primary HDU."""


def is_fits_name(path: str | os.PathLike[str]) -> bool:
    """Whether a path looks like a raw FITS file (by suffix, hidden files excluded)."""
    name = os.path.basename(os.fspath(path))
    return not name.startswith(".") and name.lower().endswith(FITS_SUFFIXES)


def refusal(path: str | os.PathLike[str], data_root: str | os.PathLike[str]) -> str | None:
    """Why ``path`` (named like a FITS file) is not taken as a raw file, or ``None``.

    Refused, with a reason people can act on: a symbolic link that leads out of the data
    root (ingest never reads or registers a file outside it), a dangling link, a
    directory or anything else that is not a regular file.
    """
    path = os.path.abspath(os.fspath(path))
    root = os.path.realpath(os.fspath(data_root))
    real = os.path.realpath(path)
    if os.path.islink(path):
        target = os.readlink(path)
        if not os.path.exists(path):
            return f"a dangling symbolic link (to {target}): nothing to read"
        if os.path.commonpath([root, real]) != root:
            return (
                f"a symbolic link to {real}, outside the data root {root}: copy or move "
                "the file into the data root instead"
            )
    elif os.path.commonpath([root, real]) != root:
        return f"resolves to {real}, outside the data root {root}"
    if os.path.isdir(path):
        return "a directory named like a FITS file, not a file"
    if os.path.exists(path) and not os.path.isfile(path):
        return "not a regular file"
    return None


def implausible(header: Any) -> str | None:
    """Why a header's values cannot describe a real frame, naming the key and the value.

    The classifier reads a zero GAIN as missing and takes a binning of ``'0 0'``; both
    would make every number derived from them wrong, so ingest refuses them first.
    """
    gain = header.get("GAIN")
    if isinstance(gain, int | float) and not isinstance(gain, bool) and gain <= 0:
        return f"refused: GAIN={gain!r}: the gain must be a positive number of e-/ADU"
    rdnoise = header.get("RDNOISE")
    if isinstance(rdnoise, int | float) and not isinstance(rdnoise, bool) and rdnoise < 0:
        return f"refused: RDNOISE={rdnoise!r}: the read noise cannot be negative"
    ccdsum = header.get("CCDSUM")
    if ccdsum is not None:
        parts = str(ccdsum).split()
        if len(parts) == 2 and all(x.isdigit() for x in parts) and 0 in map(int, parts):
            return (
                f"refused: CCDSUM={ccdsum!r}: binning factors must be positive integers "
                "(e.g. '2 2')"
            )
    return None


@dataclass(frozen=True)
class ScannedFile:
    """What :func:`scan_file` learned about one file.

    ``usable`` is ``False`` when the file cannot be processed; ``status_reason`` says why
    (unreadable, truncated, cannot classify).
    """

    path: str
    size: int
    mtime_ns: int
    checksum: str
    cards: list[list[Any]] | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    role: str = ""
    technique: str = ""
    usable: bool = False
    status_reason: str | None = None
    warnings: tuple[str, ...] = ()


def _header_end(buffer: bytes) -> int | None:
    """Offset just past the header's END block, or ``None`` if not read yet."""
    for start in range(0, len(buffer) - _BLOCK + 1, _BLOCK):
        block = buffer[start : start + _BLOCK]
        for card in range(0, _BLOCK, 80):
            if block[card : card + 8] == b"END     ":
                return start + _BLOCK
    return None


def _data_size(header: Any) -> int:
    naxis = int(header.get("NAXIS", 0))
    if naxis == 0:
        return 0
    count = 1
    for axis in range(1, naxis + 1):
        count *= int(header.get(f"NAXIS{axis}", 0))
    return abs(int(header.get("BITPIX", 8))) // 8 * count


def read_and_hash(path: str | os.PathLike[str]) -> tuple[Any, list[list[Any]], str, int]:
    """Primary header, its cards, SHA-256 and size of an uncompressed FITS file, in one read.

    Parameters
    ----------
    path : path-like
        An uncompressed FITS file.

    Returns
    -------
    header : astropy.io.fits.Header
    cards : list
        ``[[keyword, value, comment], ...]`` as the app database stores them.
    checksum : str
        SHA-256 of the whole file, hex.
    size : int
        Bytes read.

    Raises
    ------
    NotFits
        When the file does not start like FITS, has no END card, has a header astropy
        cannot parse, or is shorter than its header says (still being written, or
        truncated).
    """
    from astropy.io import fits

    from gsp_extension.store.files import header_to_json

    head, end, checksum, size = _read_head_and_hash(path)
    try:
        header = fits.Header.fromstring(head[:end])
    except Exception as exc:  # noqa: BLE001 - any parse failure is this file's problem
        raise NotFits(f"unreadable header: {exc}") from None
    try:
        expected = end + _data_size(header)
    except (TypeError, ValueError):
        raise NotFits("BITPIX/NAXISn are not integers") from None
    if size < expected:
        raise NotFits(f"truncated FITS file: {size} bytes, header needs {expected}")
    return header, header_to_json(header), checksum, size


def _read_head_and_hash(path: str | os.PathLike[str]) -> tuple[bytes, int, str, int]:
    """The bytes up to the header's end (and that offset), SHA-256 and size of a file,
    reading each byte once."""
    digest = hashlib.sha256()
    head = b""
    end: int | None = None
    size = 0
    searching = True
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if end is None and searching:
                head += chunk
                end = _header_end(head)
                # Stop looking for END in what is not FITS, or in a runaway header.
                searching = head.startswith(b"SIMPLE  =") and len(head) < 64 * _CHUNK
    if not head.startswith(b"SIMPLE  ="):
        raise NotFits("not a FITS file (no SIMPLE card at the start)")
    if end is None:
        raise NotFits("no END card in the header (file incomplete or not FITS)")
    return head[:end], end, digest.hexdigest(), size


def _hash_only(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text.splitlines()[0][:300]


def scan_file(path: str | os.PathLike[str]) -> ScannedFile:
    """Checksum, header, classification and record fields of one file.

    Parameters
    ----------
    path : path-like
        An absolute path (made absolute if not).

    Returns
    -------
    ScannedFile
        Never raises for the file's content; ``OSError`` (file vanished, no permission)
        propagates so the caller can retry later.
    """
    from gsp_extension.store.files import header_to_json
    from pipeline.classify import classify

    from .compressed import is_compressed, read_header
    from .fields import record_fields

    path = os.path.abspath(os.fspath(path))
    stat = os.stat(path)
    compressed = is_compressed(path)
    try:
        if compressed:
            header = read_header(path)
            cards = header_to_json(header)
            checksum, size = _hash_only(path)
        else:
            header, cards, checksum, size = read_and_hash(path)
    except (NotFits, ValueError) as exc:
        return _unreadable(path, stat, exc)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - e.g. astropy's own errors on odd files
        return _unreadable(path, stat, exc)
    result = classify(header, path=Path(path))
    absurd = implausible(header)
    return ScannedFile(
        path=path,
        size=size,
        mtime_ns=stat.st_mtime_ns,
        checksum=checksum,
        cards=cards,
        fields=record_fields(header, result),
        role=result.role,
        technique=result.technique,
        usable=result.ok and absurd is None,
        status_reason=absurd or (None if result.ok else result.status),
        warnings=tuple(result.warnings),
    )


def _header_alone(path: str) -> Any | None:
    """The primary header of a file whose data cannot be read (truncated, corrupt), or
    ``None`` when even the header cannot be parsed."""
    from astropy.io import fits

    try:
        with open(path, "rb") as fh:
            return fits.Header.fromfile(fh, padding=False)
    except Exception:  # noqa: BLE001 - any parse failure means "no header"
        return None


def _unreadable(path: str, stat: os.stat_result, exc: BaseException) -> ScannedFile:
    """A file that cannot be used, with what its header still tells (the proposal, so
    its PI sees the problem in Logs; the night and object, so people recognise it)."""
    from gsp_extension.store.files import header_to_json
    from pipeline.classify import classify

    from .compressed import is_compressed
    from .fields import record_fields

    checksum, size = _hash_only(path)
    # A compressed file's header is inside the compressed stream: not read twice.
    header = None if is_compressed(path) else _header_alone(path)
    cards: list[list[Any]] | None = None
    fields: dict[str, Any] = {}
    if header is not None:
        try:
            fields = record_fields(header, classify(header, path=Path(path)))
            cards = header_to_json(header)
        except Exception:  # noqa: BLE001 - a header odd enough to break these says nothing
            fields, cards = {}, None
    return ScannedFile(
        path=path,
        size=size,
        mtime_ns=stat.st_mtime_ns,
        checksum=checksum,
        cards=cards,
        fields=fields,
        status_reason=f"cannot read: {_reason(exc)}",
    )


def _compressed_incomplete(path: str) -> str | None:
    from .compressed import read_header

    try:
        read_header(path)
    except ValueError as exc:
        # gzip cannot tell "still being written" from "cut short": wait, and give up
        # after give_up_seconds, as for a plain file without its END card.
        return f"no complete compressed FITS file yet ({_reason(exc)})"
    return None


def _read_head(path: str) -> tuple[bytes, int | None] | str:
    """The first header bytes and the offset of the header's end (``None``: no END card
    yet), or why the file is not FITS."""
    head = bytearray()
    end = None
    with open(path, "rb") as fh:
        while end is None and len(head) < 64 * _CHUNK:
            chunk = fh.read(16 * _BLOCK)
            if not chunk:
                break
            head.extend(chunk)
            if not head.startswith(b"SIMPLE  ="[: len(head)]):
                return "not a FITS file (no SIMPLE card at the start)"
            end = _header_end(bytes(head))
    return bytes(head), end


def _plain_incomplete(path: str) -> str | None:
    size = os.path.getsize(path)
    read = _read_head(path)
    if isinstance(read, str):
        return read
    head, end = read
    if len(head) < 9 and b"SIMPLE  =".startswith(head):
        return "no END card in the header yet"  # the first card is being written
    if not head.startswith(b"SIMPLE  ="):
        return "not a FITS file (no SIMPLE card at the start)"
    if end is None:
        return "no END card in the header yet"
    from astropy.io import fits

    expected = end + _data_size(fits.Header.fromstring(head[:end]))
    if size < expected:
        return f"{size} bytes of {expected} written"
    return None


def check_complete(path: str | os.PathLike[str]) -> str | None:
    """Whether a file is a complete FITS file, reading only its header.

    Returns
    -------
    str or None
        ``None`` when the file is complete; otherwise why not (still being written,
        truncated, not FITS).
    """
    from .compressed import is_compressed

    path = os.fspath(path)
    try:
        if is_compressed(path):
            return _compressed_incomplete(path)
        return _plain_incomplete(path)
    except OSError as exc:
        return f"cannot open: {exc.strerror or exc}"
    except Exception as exc:  # noqa: BLE001 - a malformed header is a reason, not a crash
        return f"unreadable header: {_reason(exc)}"
