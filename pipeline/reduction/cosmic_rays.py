"""Cosmic-ray removal with astroscrappy (van Dokkum's L.A.Cosmic).

Methods (the ``cosmic_ray_rejection`` setting):

``lacosmic``
    astroscrappy with the frame's GAIN and RDNOISE, ``sigclip=4.5``, ``sigfrac=0.3``,
    ``objlim=5`` (protects the target trace: a pixel is a cosmic ray only if its
    Laplacian contrast exceeds 5x the fine-structure contrast), separable median
    filters and one iteration: the neighbour-growth step already takes in the 1-3
    pixel events of binned frames, and on simulated 2x2 nights a second iteration
    flagged no further cosmic-ray pixel (99.3 % either way) for ~40 % more time.
``dcr``
    A dcr-equivalent. goodman_pipeline runs Pych's (2004) external ``dcr`` program on
    1x1 data; that binary is not available here, so ``dcr`` means astroscrappy tuned the
    way dcr works on unbinned frames: one higher threshold on the pixel's excess over
    its surroundings (``sigclip=5``), hits grown into neighbours down to half of it
    (``sigfrac=0.5``: unbinned events span more pixels), up to three passes
    (``niter=3``, as dcr iterates), the same target protection as ``lacosmic``
    (``objlim=5``), and cleaning with the mean of the unflagged neighbours, as dcr
    replaces a hit by its surroundings' mean (a median clean fed back into three
    passes flagged trace pixels next to a hit).
``default``
    ``dcr`` for 1x1 binning and ``lacosmic`` otherwise, as goodman_pipeline chooses.
``none``
    Nothing is done.

Flagged pixels are masked (``COSMIC_RAY`` flag) and get their cleaned value in the
data; their variance is kept (they are masked anyway).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import astroscrappy
import numpy as np
from astropy.nddata import CCDData
from scipy import ndimage

from pipeline.reduction import masks

PARAMETERS: dict[str, dict] = {
    "lacosmic": dict(
        sigclip=4.5,
        sigfrac=0.3,
        objlim=5.0,
        niter=1,
        sepmed=True,
        cleantype="meanmask",
        fsmode="median",
    ),
    "dcr": dict(
        sigclip=5.0,
        sigfrac=0.5,
        objlim=5.0,
        niter=3,
        sepmed=True,
        cleantype="meanmask",
        fsmode="median",
    ),
}
#: Candidate threshold (sigma above the mean of the 8 neighbours).
CANDIDATE_SIGMA = 4.0
#: Pixels around a candidate that must be in a tile too (detections grow into them).
GROW = 1
#: Side of the tiles candidates are looked for in.
TILE = 4
#: Margin around a tile: covers astroscrappy's 7x7 fine-structure median of a 3x3
#: median, its 5x5 noise median and the neighbour growth step.
BOX_PAD = 6
#: Beyond this fraction of the frame in padded tiles, one full-frame call is cheaper.
MAX_TILE_FRACTION = 0.6
#: Threads running astroscrappy on the candidate tiles (it releases the GIL).
THREADS = 2
#: Names written to ``GSP_COSM``.
HEADER_NAMES = {"lacosmic": "LACosmic", "dcr": "DCR-equivalent", "none": "none"}


def resolve_method(setting: str, binning: tuple[int, int] | int) -> str:
    """Tell the cosmic-ray method actually run for a setting and a binning.

    ``default`` is ``dcr`` at 1x1 and ``lacosmic`` otherwise (``1 2`` included).

    Parameters
    ----------
    setting : str
        The proposal's setting: ``default``, ``lacosmic``, ``dcr`` or ``none`` (any case).
    binning : tuple of (int, int) or int
        The frame's binning, per axis or one number for both.

    Returns
    -------
    str
        ``"dcr"``, ``"lacosmic"`` or ``"none"``.

    Raises
    ------
    ValueError
        An unknown setting.
    """
    setting = setting.lower()
    if setting != "default":
        if setting not in (*PARAMETERS, "none"):
            raise ValueError(f"cosmic-ray method {setting!r}; use default, lacosmic, dcr or none")
        return setting
    # Per axis: a '1 2' frame is binned (its events span fewer rows), so not dcr's case.
    unbinned = all(b == 1 for b in binning) if isinstance(binning, tuple) else binning == 1
    return "dcr" if unbinned else "lacosmic"


def candidate_tiles(
    data: np.ndarray, gain: float, rdnoise: float, threshold: float | None = None
) -> np.ndarray:
    """Map the ``TILE`` x ``TILE`` tiles that hold a cosmic-ray candidate.

    A candidate is sharp along both axes: it stands above the mean of its left and
    right neighbours *and* above the mean of the pixels above and below by
    ``threshold`` times its noise (Poisson + read noise). Sky lines (extended along
    the slit) and traces (extended along the dispersion) are smooth along one axis and
    are not candidates; a cosmic ray of 1-3 pixels, even on top of them, is (a short
    streak's ends are). The threshold is below L.A.Cosmic's own so that astroscrappy,
    which then decides, is shown every pixel it would flag.

    Parameters
    ----------
    data : numpy.ndarray
        The bias-subtracted frame in ADU, shape ``(ny, nx)``.
    gain : float
        GAIN in e-/ADU (1 when 0 or missing).
    rdnoise : float
        RDNOISE in e-.
    threshold : float or None
        Sigmas above both neighbour means; ``None`` takes ``CANDIDATE_SIGMA``.

    Returns
    -------
    numpy.ndarray of bool
        Shape ``(ceil(ny / TILE), ceil(nx / TILE))``: true for a tile with a candidate
        (grown by ``GROW`` pixels, as astroscrappy grows its detections).
    """
    threshold = CANDIDATE_SIGMA if threshold is None else threshold
    gain = gain or 1.0
    sigma = np.sqrt(np.maximum(data, 0) / gain + (rdnoise / gain) ** 2, dtype=np.float32)
    padded = np.pad(data, 1, mode="edge")
    along_x = data - 0.5 * (padded[1:-1, :-2] + padded[1:-1, 2:])
    along_y = data - 0.5 * (padded[:-2, 1:-1] + padded[2:, 1:-1])
    candidates = np.minimum(along_x, along_y) > threshold * sigma
    # astroscrappy grows detections into neighbours (sigfrac): keep them in a tile.
    candidates = ndimage.maximum_filter(candidates, size=2 * GROW + 1)
    ny, nx = data.shape
    ty, tx = -(-ny // TILE), -(-nx // TILE)
    grid = np.zeros((ty * TILE, tx * TILE), bool)
    grid[:ny, :nx] = candidates
    return grid.reshape(ty, TILE, tx, TILE).any(axis=(1, 3))


def _run_mosaic(windows, wmask, params):
    """astroscrappy on padded windows laid side by side; per-window results back.

    Each window's own padding keeps its neighbours out of its inner decisions
    (astroscrappy's filters reach at most ``BOX_PAD - 1`` pixels).
    """
    n, size, _ = windows.shape
    per_row = int(np.ceil(np.sqrt(n)))
    rows = -(-n // per_row)
    mosaic = np.zeros((rows * per_row, size, size), np.float32)
    mosaic_mask = np.ones((rows * per_row, size, size), bool)
    mosaic[:n], mosaic_mask[:n] = windows, wmask

    def assemble(a):
        return (
            a.reshape(rows, per_row, size, size)
            .transpose(0, 2, 1, 3)
            .reshape(rows * size, per_row * size)
        )

    def split(a):
        return (
            a.reshape(rows, size, per_row, size)
            .transpose(0, 2, 1, 3)
            .reshape(rows * per_row, size, size)[:n]
        )

    found, cleaned = astroscrappy.detect_cosmics(
        np.ascontiguousarray(assemble(mosaic)),
        inmask=np.ascontiguousarray(assemble(mosaic_mask)),
        **params,
    )
    return split(found), split(cleaned)


def _detect_on_tiles(data, inmask, tiles, params):
    """Run astroscrappy once on a mosaic of the padded candidate tiles."""
    ny, nx = data.shape
    ty, tx = tiles.shape
    size = TILE + 2 * BOX_PAD
    # Pad the frame so every tile has its full neighbourhood (reflected at the edges).
    big = np.pad(
        data,
        ((BOX_PAD, ty * TILE - ny + BOX_PAD), (BOX_PAD, tx * TILE - nx + BOX_PAD)),
        mode="reflect",
    )
    bigmask = np.pad(
        inmask,
        ((BOX_PAD, ty * TILE - ny + BOX_PAD), (BOX_PAD, tx * TILE - nx + BOX_PAD)),
        mode="constant",
    )
    iy, ix = np.nonzero(tiles)
    windows = np.lib.stride_tricks.sliding_window_view(big, (size, size))[iy * TILE, ix * TILE]
    wmask = np.lib.stride_tricks.sliding_window_view(bigmask, (size, size))[iy * TILE, ix * TILE]
    n = len(iy)
    # astroscrappy releases the GIL: half the tiles on each core.
    workers = max(1, min(THREADS, os.cpu_count() or 1, n // 64))
    chunks = np.array_split(np.arange(n), workers)
    if workers == 1:
        parts = [_run_mosaic(windows, wmask, params)]
    else:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(
                pool.map(lambda idx: _run_mosaic(windows[idx], wmask[idx], params), chunks)
            )
    found_all = np.concatenate([p[0] for p in parts])
    clean_all = np.concatenate([p[1] for p in parts])
    inner = slice(BOX_PAD, BOX_PAD + TILE)
    found_tiles = found_all[:, inner, inner]
    clean_tiles = clean_all[:, inner, inner]
    crmask = np.zeros((ty, TILE, tx, TILE), bool)
    clean = np.zeros((ty, TILE, tx, TILE), np.float32)
    crmask[iy, :, ix, :] = found_tiles
    clean[iy, :, ix, :] = clean_tiles
    crmask = crmask.reshape(ty * TILE, tx * TILE)[:ny, :nx]
    clean = clean.reshape(ty * TILE, tx * TILE)[:ny, :nx]
    return crmask, clean


def remove_cosmic_rays(
    ccd: CCDData, method: str, gain: float, rdnoise: float, saturation: float = 65535.0
) -> tuple[CCDData, np.ndarray]:
    """Detect and clean cosmic rays.

    astroscrappy runs on mosaics of the tiles holding candidates
    (:func:`candidate_tiles`), each padded by ``BOX_PAD`` pixels so its median filters
    see the same neighbourhood as on the full frame, one mosaic per thread
    (``THREADS``); or on the full frame when more than ``MAX_TILE_FRACTION`` of the
    frame would be in padded tiles. On a sky-dominated 2x2
    frame that is a tenth of the pixels, and the same cosmic rays.

    Parameters
    ----------
    ccd : CCDData
        Bias-subtracted (and flat-fielded) frame in ADU; masked pixels are ignored.
    method : str
        ``"lacosmic"``, ``"dcr"`` or ``"none"`` (resolve ``"default"`` first).
    gain, rdnoise : float
        GAIN (e-/ADU) and RDNOISE (e-) of the frame.
    saturation : float
        Level above which pixels are treated as saturated stars, not cosmic rays.

    Returns
    -------
    cleaned : CCDData
    crmask : ndarray of bool
        Pixels flagged as cosmic rays.
    """
    if method == "none":
        return ccd, np.zeros(ccd.shape, bool)
    params = dict(
        PARAMETERS[method],
        gain=float(gain) if gain else 1.0,
        readnoise=float(rdnoise) if rdnoise else 0.0,
        satlevel=float(saturation),
    )
    data = np.ascontiguousarray(ccd.data, dtype=np.float32)
    inmask = np.zeros(data.shape, bool) if ccd.mask is None else ccd.mask.astype(bool)
    tiles = candidate_tiles(data, params["gain"], params["readnoise"])
    if not tiles.any():
        crmask, clean = np.zeros(data.shape, bool), data
    elif tiles.mean() * ((TILE + 2 * BOX_PAD) / TILE) ** 2 > MAX_TILE_FRACTION:
        crmask, clean = astroscrappy.detect_cosmics(data, inmask=inmask, **params)
    else:
        crmask, found_clean = _detect_on_tiles(data, inmask, tiles, params)
        clean = np.where(crmask, found_clean, data)
    clean = np.asarray(clean, dtype=np.float32)
    mask = crmask if ccd.mask is None else (ccd.mask | crmask)
    return (
        CCDData(clean, unit=ccd.unit, mask=mask, uncertainty=ccd.uncertainty, meta=ccd.meta),
        crmask,
    )


class CosmicRayStage:
    """Runs the method the settings ask for (``default`` chosen by binning)."""

    name = "cosmic rays"
    letter = "c"

    def __call__(self, state, context):
        c = state.classification
        method = resolve_method(context.settings.cosmic_ray_rejection, c.binning)
        state.cards["GSP_COSM"] = HEADER_NAMES[method]
        if method == "none":
            return state
        state.ccd, crmask = remove_cosmic_rays(state.ccd, method, c.gain, c.rdnoise, c.saturation)
        state.flag(crmask, masks.COSMIC_RAY)
        state.cards["GSP_NCRP"] = (int(crmask.sum()), "Pixels flagged as cosmic rays")
        state.add_step(self.letter)
        return state
