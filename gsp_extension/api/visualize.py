"""``GET api/files/visualize/``: a PNG of an image (display limits, colormap) or a spectrum.

Previews are cached on disk by file id, content checksum and parameters, so a file
rewritten in place (new checksum) never shows a stale picture. The cache is bounded
(:class:`PreviewCache`): past ``preview_cache_max_bytes`` the least recently used
previews are deleted, and rendered again when asked for.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from ..security import get_visible_file
from .base import APIError, GSPHandler
from .paths import resolve_under_root
from .schemas import VisualizeQuery


def cache_path(cache_dir: Path, file_id: int, checksum: str, q: VisualizeQuery) -> Path:
    """Where the preview of these parameters is kept."""
    params = json.dumps(q.model_dump(mode="json"), sort_keys=True)
    key = hashlib.sha256(f"{file_id}:{checksum}:{params}".encode()).hexdigest()[:32]
    return cache_dir / "visualize" / f"{file_id}-{key}.png"


def _limits(data: np.ndarray, q: VisualizeQuery) -> tuple[float, float]:
    finite = data[np.isfinite(data)]
    if finite.size == 0:
        return 0.0, 1.0
    if q.scale == "zscale":
        from astropy.visualization import ZScaleInterval

        low, high = ZScaleInterval().get_limits(finite)
    elif q.scale == "percentile":
        from astropy.visualization import PercentileInterval

        low, high = PercentileInterval(q.percentile).get_limits(finite)
    else:
        low, high = float(finite.min()), float(finite.max())
    if not high > low:
        high = low + 1.0
    return float(low), float(high)


def _spectral_axis(header, n: int) -> tuple[np.ndarray, str]:
    crval = header.get("CRVAL1")
    cdelt = header.get("CDELT1", header.get("CD1_1"))
    crpix = header.get("CRPIX1", 1.0)
    if isinstance(crval, int | float) and isinstance(cdelt, int | float):
        unit = str(header.get("CUNIT1", "Angstrom") or "Angstrom")
        return crval + (np.arange(n) + 1 - crpix) * cdelt, f"Wavelength ({unit})"
    return np.arange(n, dtype=float), "Pixel"


def _table_spectrum(hdu) -> tuple[np.ndarray, np.ndarray, str] | None:
    names = {n.lower(): n for n in hdu.columns.names}
    x_name = next(
        (names[n] for n in ("wavelength", "spectral_axis", "lambda", "wave") if n in names), None
    )
    y_name = next((names[n] for n in ("flux", "counts", "intensity") if n in names), None)
    if x_name is None or y_name is None:
        return None
    unit = hdu.columns[x_name].unit or "Angstrom"
    return (
        np.asarray(hdu.data[x_name], float),
        np.asarray(hdu.data[y_name], float),
        f"Wavelength ({unit})",
    )


def render_png(path: Path, q: VisualizeQuery, title: str) -> bytes:
    """Render the first HDU with data: 2D as an image, 1D (or a spectrum table) as a plot.

    Raises
    ------
    ValueError
        When the file holds no image or spectrum.
    """
    from astropy.io import fits
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(q.width / dpi, q.height / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    with fits.open(path, memmap=False) as hdul:
        for hdu in hdul:
            if isinstance(hdu, fits.BinTableHDU) and hdu.data is not None:
                spectrum = _table_spectrum(hdu)
                if spectrum is not None:
                    x, y, label = spectrum
                    ax.plot(x, y, lw=0.8)
                    ax.set_xlabel(label)
                    ax.set_ylabel("Flux")
                    break
            elif getattr(hdu, "data", None) is not None and hdu.data.ndim >= 1 and hdu.data.size:
                data = np.asarray(hdu.data, dtype=float)
                while data.ndim > 2:
                    data = data[0]
                if data.ndim == 1 or data.shape[0] == 1:
                    flux = data.reshape(-1)
                    x, label = _spectral_axis(hdu.header, flux.size)
                    ax.plot(x, flux, lw=0.8)
                    ax.set_xlabel(label)
                    ax.set_ylabel("Flux")
                else:
                    low, high = _limits(data, q)
                    image = ax.imshow(
                        data,
                        origin="lower",
                        cmap=q.cmap,
                        vmin=low,
                        vmax=high,
                        interpolation="nearest",
                        aspect="auto",
                    )
                    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
                    ax.set_xlabel("x (pixel)")
                    ax.set_ylabel("y (pixel)")
                break
        else:
            raise ValueError("no image or spectrum in the file")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


class PreviewCache:
    """PNG previews on disk, at most ``max_bytes`` in all, least recently used out first.

    A hit sets the file's mtime to now, so mtime is the time of last use (atime is not
    reliable: most file systems are mounted ``relatime`` or ``noatime``). Eviction runs
    after each new preview; several service processes may share the folder, so a file
    that vanished meanwhile is simply skipped.

    Parameters
    ----------
    folder : Path
        Where the previews are (created when needed).
    max_bytes : int
        Bound on the total size of the previews; ``0`` keeps none.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes

    def get(self, target: Path) -> bytes | None:
        """The cached preview, marked as just used; ``None`` when absent."""
        try:
            png = target.read_bytes()
            os.utime(target)
        except FileNotFoundError:
            return None
        return png

    def put(self, target: Path, png: bytes) -> None:
        """Store a preview atomically, then evict down to the bound."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.part")
        partial.write_bytes(png)
        os.replace(partial, target)
        self.evict()

    def entries(self) -> list[tuple[float, int, Path]]:
        """``(mtime, size, path)`` of every preview, oldest use first."""
        found = []
        try:
            scan = os.scandir(self.folder)
        except FileNotFoundError:
            return []
        with scan:
            for entry in scan:
                if not entry.name.endswith(".png"):
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                found.append((st.st_mtime, st.st_size, Path(entry.path)))
        found.sort()
        return found

    def evict(self) -> int:
        """Delete the least recently used previews until the total fits; how many went."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, path in entries:
            if total <= self.max_bytes:
                break
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            total -= size
            removed += 1
        return removed


def _render_cached(
    path: Path, target: Path, q: VisualizeQuery, title: str, cache: PreviewCache
) -> bytes:
    png = cache.get(target)
    if png is None:
        png = render_png(path, q, title)
        cache.put(target, png)
    return png


class VisualizeHandler(GSPHandler):
    async def get(self) -> None:
        q = self.query(VisualizeQuery)
        ctx = self.ctx

        def work(session, caller):
            file = get_visible_file(session, caller, q.id)
            return file.id, file.file_name, file.full_path, file.checksum

        fid, name, full_path, checksum = await self.db(work)
        path = resolve_under_root(ctx.data_root, full_path, what=f"file {fid}")
        target = cache_path(ctx.cache_dir, fid, checksum, q)
        cache = PreviewCache(target.parent, ctx.preview_cache_max_bytes)
        try:
            png = await asyncio.get_running_loop().run_in_executor(
                None, _render_cached, path, target, q, name, cache
            )
        except (OSError, ValueError, TypeError) as exc:
            raise APIError(409, f"file {fid} ({name}) cannot be shown: {exc}") from None
        self.set_header("Cache-Control", "private, max-age=3600")
        self.finish(png, set_content_type="image/png")
