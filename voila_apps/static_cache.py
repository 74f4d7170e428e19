"""Voilà's front-end scripts at an address that names their version, kept by browsers.

Voilà serves its front end (``voila.js`` and its ~80 webpack chunks, ``<n>.voila.js``)
from ``voila/static/`` with no ``Cache-Control``: names without a content hash, which
cannot be marked immutable there. A browser then revalidates them or guesses a freshness
from their ``Last-Modified`` (a tenth of the files' age: seconds after an install, hours
later on). An astronomer who logs in again the next night has them in the browser's
cache, but it asked the user's server (just spawned, on a busy machine) for each again.

Here the same folders are served under ``voila/static-v/<tag>/``, where ``<tag>`` is a
digest of the files' names, sizes and modification times, with
``Cache-Control: public, max-age=31536000, immutable``: another Voilà (or any changed
file) gives another tag and so other addresses. The page's ``fullStaticUrl`` (the
address ``voila.js`` and webpack's chunks are loaded from, :func:`versioned_static_url`)
points there; :mod:`voila_apps.config` registers the handler and rewrites the page
configuration.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path

from voila.static_file_handler import MultiStaticFileHandler

#: One year, as JupyterLab serves its hashed bundles.
MAX_AGE = 31_536_000
#: The path under the server's base URL (the tag follows).
PREFIX = "voila/static-v"


@functools.cache
def static_tag(paths: tuple[str, ...]) -> str:
    """A short digest of what ``paths`` (Voilà's static folders) serve.

    Every file's relative name, size and modification time (nanoseconds), walked in
    order: any file added, removed, rewritten or replaced by an upgrade changes it.
    Computed once per process (~1 ms for Voilà's ~300 files).

    Parameters
    ----------
    paths : tuple of str
        The folders, in Voilà's lookup order.

    Returns
    -------
    str
        16 hexadecimal digits.
    """
    digest = hashlib.sha256()
    for index, root in enumerate(paths):
        top = Path(root)
        if not top.is_dir():
            continue
        for folder, dirs, files in os.walk(top):
            dirs.sort()
            for name in sorted(files):
                path = Path(folder, name)
                try:
                    st = path.stat()
                except OSError:
                    continue
                relative = path.relative_to(top).as_posix()
                digest.update(f"{index}\0{relative}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def versioned_static_url(base_url: str, paths: tuple[str, ...]) -> str:
    """The address of Voilà's static files that names their version (no trailing ``/``).

    Parameters
    ----------
    base_url : str
        The server's base URL (``/user/<name>/``).
    paths : tuple of str
        Voilà's static folders (:func:`static_tag`).
    """
    return base_url.rstrip("/") + f"/{PREFIX}/{static_tag(paths)}"


class ImmutableStaticHandler(MultiStaticFileHandler):
    """Voilà's static file handler whose answers browsers keep without asking again."""

    def get_cache_time(self, path: str, modified, mime_type: str) -> int:
        """Cache for :data:`MAX_AGE` seconds (also writes ``Expires``)."""
        return MAX_AGE

    def set_extra_headers(self, path: str) -> None:
        """``immutable``: not even revalidated on a reload."""
        self.set_header("Cache-Control", f"public, max-age={MAX_AGE}, immutable")


def versioned_static_handler(base_url: str, paths: tuple[str, ...]) -> tuple:
    """The tornado handler spec serving ``paths`` at :func:`versioned_static_url`.

    Only the current tag is routed: a page rendered before an upgrade, asking for the
    old files, gets 404 rather than other files under its old address.
    """
    pattern = re.escape(versioned_static_url(base_url, paths)) + "/(.*)"
    return (pattern, ImmutableStaticHandler, {"paths": list(paths)})
