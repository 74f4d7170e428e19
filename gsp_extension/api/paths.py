"""Paths the service may read: only files under the data root, symlinks resolved."""

from __future__ import annotations

import os
from pathlib import Path

from .base import APIError


def resolve_under_root(root: Path, path: str | os.PathLike[str], *, what: str) -> Path:
    """The real path of an existing regular file under ``root``.

    Symlinks and ``..`` are resolved first, so a path that leaves the data root in any
    way is refused.

    Raises
    ------
    APIError
        400 for a relative path, 403 for a path outside the data root, 404 when no
        regular file is there.
    """
    text = os.fspath(path)
    if "\x00" in text:
        raise APIError(400, f"{what} contains a NUL character")
    candidate = Path(text)
    if not candidate.is_absolute():
        raise APIError(400, f"{what} {text!r} is not an absolute path")
    try:
        resolved = candidate.resolve(strict=False)
    except (OSError, RuntimeError) as exc:
        raise APIError(400, f"{what} {text!r} cannot be resolved: {exc}") from None
    root = root.resolve()
    if resolved != root and root not in resolved.parents:
        raise APIError(403, f"{what} {text!r} is outside the data root; it is not served")
    if not resolved.is_file():
        raise APIError(404, f"{what} {text!r}: no such file on disk")
    return resolved


def require_raw_under_raw(root: Path, path: Path, data_type: int) -> None:
    """Refuse to register a raw file (data type 0) from anywhere but ``raw/``.

    Raw data arrive in ``raw/`` only; a FITS file elsewhere under the data root (the
    mail outbox, caches, products) is not an exposure, whatever its header says.

    Raises
    ------
    APIError
        400 naming the folder raw files are registered from.
    """
    raw = root.resolve() / "raw"
    if data_type == 0 and raw not in path.parents:
        raise APIError(
            400,
            f"full_path {str(path)!r} is a raw file outside {raw}/: raw files are "
            "registered from the raw folder of the data root only",
        )
