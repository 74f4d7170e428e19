"""Fencing: a job attempt writes only into its own folder; the engine publishes it.

Each claim gives the job a new attempt token. The worker writes its products under
``products/.attempts/<token>/`` (the same sub-path they will have in ``products/``);
when that attempt completes and is still the one that owns the job (same token, under
the job row's lock), the engine moves the files to their published paths (an atomic
rename on one file system) and registers them in the same transaction. An attempt that
was abandoned (a killed ``gsp live`` whose task went on running on a shared scheduler, a
job taken back) can only ever write into its own folder, which is never published and is
removed at the next start.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

from .work import WorkResult

log = logging.getLogger(__name__)

#: The folder under ``products/`` that holds attempts' private folders.
ATTEMPTS = ".attempts"


def new_token() -> str:
    """Make a fresh attempt token.

    Returns
    -------
    str
        32 hexadecimal characters (a random UUID), the name of the attempt's folder.
    """
    return uuid.uuid4().hex


def attempts_root(data_root: str | os.PathLike[str]) -> Path:
    """Locate the folder of the attempts' private folders.

    Parameters
    ----------
    data_root : str or os.PathLike
        The data root (``GSP_DATA_ROOT``).

    Returns
    -------
    pathlib.Path
        ``<data_root>/products/<ATTEMPTS>``.
    """
    return Path(data_root) / "products" / ATTEMPTS


def private_inputs(data_root: str, token: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """``inputs`` with ``out_dir`` moved into the attempt's private folder.

    ``published_dir`` keeps where the products go once published. Inputs without an
    ``out_dir`` (a handler that writes no file) are returned as they are.

    Parameters
    ----------
    data_root : str or os.PathLike
        The data root (``GSP_DATA_ROOT``).
    token : str
        The attempt's token (:func:`new_token`).
    inputs : dict of str to object
        The job's inputs for its handler.

    Returns
    -------
    dict of str to object
        A new dict with ``out_dir`` under the attempt's folder and ``published_dir`` set;
        ``inputs`` itself when it has no ``out_dir`` under ``products/``.
    """
    out_dir = inputs.get("out_dir")
    if not out_dir:
        return inputs
    products = Path(data_root) / "products"
    try:
        relative = Path(out_dir).relative_to(products)
    except ValueError:
        return inputs  # not under products/: nothing this engine publishes
    private = attempts_root(data_root) / token / relative
    return {**inputs, "out_dir": str(private), "published_dir": str(out_dir)}


def publish(data_root: str, token: str, result: WorkResult) -> WorkResult:
    """Move the attempt's products to their published paths; the result names them there.

    Products outside the attempt's folder are left where they are (handlers that write
    elsewhere, tests).

    Parameters
    ----------
    data_root : str or os.PathLike
        The data root (``GSP_DATA_ROOT``).
    token : str
        The attempt's token (:func:`new_token`).
    result : WorkResult
        The handler's result, naming its products at their private paths.

    Returns
    -------
    WorkResult
        The result with product (and parent) paths at their published places; ``result``
        itself when nothing was moved.
    """
    private = attempts_root(data_root) / token
    products = Path(data_root) / "products"
    moved: dict[str, str] = {}
    for product in result.products:
        path = Path(product.path)
        try:
            relative = path.relative_to(private)
        except ValueError:
            continue
        target = products / relative
        if path.exists() or not target.exists():
            # (Not there but published: moved by this same completion, tried again
            # after the database refused it for a lock conflict.)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        moved[product.path] = str(target)
    if not moved:
        return result
    out = [
        replace(
            p,
            path=moved.get(p.path, p.path),
            parent_path=moved.get(p.parent_path, p.parent_path) if p.parent_path else None,
        )
        for p in result.products
    ]
    return replace(result, products=out)


def discard(data_root: str, token: str) -> None:
    """Remove an attempt's folder (done, failed, or stale).

    Parameters
    ----------
    data_root : str or os.PathLike
        The data root (``GSP_DATA_ROOT``).
    token : str
        The attempt's token; an empty token removes nothing.
    """
    if token:
        shutil.rmtree(attempts_root(data_root) / token, ignore_errors=True)


def discard_all(data_root: str) -> None:
    """Remove every attempt folder (at start: no attempt of this engine runs yet).

    Parameters
    ----------
    data_root : str or os.PathLike
        The data root (``GSP_DATA_ROOT``).
    """
    shutil.rmtree(attempts_root(data_root), ignore_errors=True)


def sweep_attempts(data_root: str, keep: set[str]) -> list[str]:
    """Remove the attempt folders whose token is not in ``keep``.

    Call only from the engine that holds the engine lock, with the tokens of its attempts
    in flight: any other folder is nobody's. The start's :func:`discard_all` is not
    enough: cancelling an abandoned attempt (a killed ``gsp live``'s task on a shared
    scheduler) cannot stop a task already running, which may still write into its folder
    after the new engine started.

    Parameters
    ----------
    data_root : str
        The data root whose attempts folder is swept.
    keep : set of str
        The tokens of the attempts in flight.

    Returns
    -------
    list of str
        The tokens whose folders were removed.
    """
    try:
        entries = list(os.scandir(attempts_root(data_root)))
    except OSError:
        return []  # none yet, or the storage is away (swept next time)
    removed = []
    for entry in entries:
        if entry.name in keep:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError as exc:
            log.debug("attempt folder %s not removed yet: %s", entry.path, exc)
            continue
        removed.append(entry.name)
    return removed


def writable(path: str | os.PathLike[str]) -> bool:
    """Tell whether a folder can be made in ``path``'s nearest existing folder.

    The storage probe of a fault: permissions back, room again, file system writable.

    Parameters
    ----------
    path : str or os.PathLike
        A folder, or a path below one, that failed to be written.

    Returns
    -------
    bool
        True when a probe folder could be made (and removed) there.
    """
    import tempfile

    folder = Path(path)
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".gsp-probe-", dir=folder))
    except OSError:
        return False
    return True


__all__ = [
    "ATTEMPTS",
    "attempts_root",
    "discard",
    "discard_all",
    "new_token",
    "private_inputs",
    "publish",
    "sweep_attempts",
    "writable",
]
