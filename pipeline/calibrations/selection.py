"""Which frames combine into which master, and which master a frame uses.

See :mod:`pipeline.calibrations` for the rules in words.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from pipeline.calibrations.masters import MasterInfo
from pipeline.classify import Classification

_EPOCH = datetime(1970, 1, 1)


def _time(c) -> datetime:
    return c.date_obs or _EPOCH


def bias_groups(frames: Iterable[Classification]) -> dict[tuple, list[Classification]]:
    """Group usable bias frames by readout key and raw shape, each group in time order.

    The shape keeps ROIs of different heights under one ``ROI`` label (``user-defined``)
    in groups of their own.

    Parameters
    ----------
    frames : iterable of Classification
        Classified frames of a night; frames that are not usable bias frames are ignored.

    Returns
    -------
    dict of tuple to list of Classification
        ``(*readout_key, shape)`` to the group's frames, sorted by ``DATE-OBS`` then name
        (frames without a date first).
    """
    groups: dict[tuple, list[Classification]] = defaultdict(list)
    for c in frames:
        if c.ok and c.role == "bias":
            groups[(*c.readout_key, c.shape)].append(c)
    return {k: sorted(v, key=lambda c: (_time(c), c.file_name)) for k, v in groups.items()}


def flat_groups(frames: Iterable[Classification]) -> dict[tuple, list[Classification]]:
    """Group usable flats by readout + optics key and raw shape, each group in time order.

    Parameters
    ----------
    frames : iterable of Classification
        Classified frames of a night; frames that are not usable flats are ignored.

    Returns
    -------
    dict of tuple to list of Classification
        ``(*flat_key, shape)`` to the group's frames, sorted by ``DATE-OBS`` then name.
    """
    groups: dict[tuple, list[Classification]] = defaultdict(list)
    for c in frames:
        if c.ok and c.role == "flat":
            groups[(*c.flat_key, c.shape)].append(c)
    return {k: sorted(v, key=lambda c: (_time(c), c.file_name)) for k, v in groups.items()}


def is_compatible(frame: Classification, master: MasterInfo, trim_section: str | None) -> bool:
    """Tell whether a master fits a frame.

    It fits when the readout (and, for flats, optics) keys match and it was trimmed with
    the frame's trim section (so the pixels line up).

    Parameters
    ----------
    frame : Classification
        The frame to calibrate.
    master : MasterInfo
        A candidate master.
    trim_section : str or None
        The frame's trim section in FITS notation; ``None`` skips the trim comparison.

    Returns
    -------
    bool
        True when ``master`` can be applied to ``frame``.
    """
    if master.readout_key != frame.readout_key:
        return False
    if trim_section is not None and master.trim_section != trim_section:
        return False
    if master.kind == "flat":
        return master.optics_key == frame.optics_key
    return True


def select_master(
    frame: Classification,
    candidates: Iterable[MasterInfo],
    kind: str,
    trim_section: str | None = None,
) -> MasterInfo | None:
    """Choose the compatible master of ``kind`` nearest in time to ``frame``.

    Ties (equal time distance) go to the master built from more frames. Masters of
    earlier nights are candidates like this night's; being further in time, they are
    only chosen when this night has no compatible one.

    Parameters
    ----------
    frame : Classification
        The frame to calibrate.
    candidates : iterable of MasterInfo
        Masters of any kind; those of another kind or not compatible are skipped.
    kind : {"bias", "flat"}
        The kind of master wanted.
    trim_section : str or None
        The frame's trim section; ``None`` accepts any (see :func:`is_compatible`).

    Returns
    -------
    MasterInfo or None
        The chosen master, or ``None`` when no candidate fits.
    """
    t = _time(frame)
    best = None
    best_score = None
    for m in candidates:
        if m.kind != kind or not is_compatible(frame, m, trim_section):
            continue
        dt = abs(((m.date_obs or _EPOCH) - t).total_seconds())
        score = (dt, -m.n_frames, m.name)
        if best_score is None or score < best_score:
            best, best_score = m, score
    return best
