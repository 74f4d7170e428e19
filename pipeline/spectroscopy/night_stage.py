"""The night's last stage: extraction and wavelength calibration after CCD reduction.

:func:`calibrate_night` runs once every frame of a night is reduced (so an arc taken
after a science frame still calibrates it), reading the reduced science, standard and
arc products named in the :class:`~pipeline.night.NightReport`. Arcs are read once and
shared by all science frames. :func:`write_products_json` writes the night's
``products.json`` (one entry per product: file, data_type, raw parent, quality);
:func:`products_table` is the table ``gsp reduce`` prints.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from pipeline.products import raise_if_storage_error
from pipeline.spectroscopy.chain import process_science
from pipeline.spectroscopy.product_result import ProductResult
from pipeline.spectroscopy.reduced_frame import load_reduced
from pipeline.vocabulary import DataType, FrameRole, StepOutcome, Technique

SPECTRUM_ROLES = ("science", "standard")


def _reduced_product(result) -> str | None:
    """The reduced 2-D product (``*fzst_*``) of a frame's result, if any."""
    for p in result.products:
        name = Path(p).name
        if "_" in name and name.split("_", 1)[0].endswith("st"):
            return p
    return result.products[0] if result.products else None


def _night_arcs(reduced) -> list:
    """The night's reduced arcs, read once (an unreadable one is noted on its result)."""
    arcs = []
    for r in reduced:
        if r.role == FrameRole.ARC and _reduced_product(r):
            try:
                arcs.append(load_reduced(_reduced_product(r))[0])
            except Exception as exc:  # noqa: BLE001 - this arc only
                r.reason = f"{r.reason}; arc unreadable for calibration: {exc}".lstrip("; ")
    return arcs


def _spectra_of(r, arcs, settings, out_dir, raw_dirs, arcs_written) -> list[ProductResult]:
    """The chain for one reduced frame; an unexpected error fails this frame only."""
    try:
        return process_science(_reduced_product(r), arcs, settings, out_dir, raw_dirs, arcs_written)
    except Exception as exc:  # noqa: BLE001 - reported on this frame, night goes on
        raise_if_storage_error(exc)
        return [
            ProductResult(
                None,
                DataType.EXTRACTED,
                r.file_name,
                Path(_reduced_product(r)).name,
                StepOutcome.FAILED,
                f"{exc.__class__.__name__}: {exc}",
            )
        ]


def _note(p: ProductResult) -> str:
    """How a frame's result tells what became of one of its products."""
    label = f"target {p.target}: " if p.target else ""
    if p.status == StepOutcome.WRITTEN:
        return f"{label}{p.reason}"
    step = "wavelength" if p.data_type == DataType.WAVELENGTH_CALIBRATED else "extraction"
    return f"{label}{step} {p.status}: {p.reason}"


def _record(report, r, results: list[ProductResult]) -> None:
    """Add a frame's spectra to its result (products, notes, failure) and the night's."""
    for p in results:
        if p.file:
            r.products.append(p.file)
            report.products.append(Path(p.file))
        if p.status != StepOutcome.WRITTEN or p.reason:
            r.reason = f"{r.reason}; {_note(p)}" if r.reason else _note(p)
        if p.status == StepOutcome.FAILED:
            r.status = StepOutcome.FAILED


def calibrate_night(
    report, out_dir, settings=None, raw_dirs=(), progress=None
) -> list[ProductResult]:
    """Extract and wavelength-calibrate every reduced spectroscopic science frame.

    Parameters
    ----------
    report : pipeline.night.NightReport
        The night after CCD reduction; each science result gets the products made
        (``products``) and any reason a product was not made (``reason``).
    out_dir : path
    settings : ReductionSettings, optional
    raw_dirs : iterable of paths
    progress : callable, optional
        ``progress("extract", file_name)`` after each science frame.

    Returns
    -------
    list of ProductResult
    """
    out_dir = Path(out_dir)
    reduced = [
        r
        for r in report.results
        if r.status == StepOutcome.REDUCED and r.technique == Technique.SPECTROSCOPY
    ]
    arcs = _night_arcs(reduced)
    arcs_written: set[str] = set()  # each arc's calibrated product is written once
    out: list[ProductResult] = []
    for r in reduced:
        if r.role not in SPECTRUM_ROLES or not _reduced_product(r):
            continue
        t0 = time.perf_counter()
        results = _spectra_of(r, arcs, settings, out_dir, raw_dirs, arcs_written)
        _record(report, r, results)
        r.seconds += time.perf_counter() - t0
        out.extend(results)
        if progress:
            progress("extract", r.file_name)
    return out


def _data_type(name: str) -> int:
    if name.startswith(("master_", "norm_master_")):
        return 1
    prefix = name.split("_", 1)[0] if "_" in name else ""
    if prefix.startswith("fw"):
        return 5
    if prefix.startswith("w"):
        return 4
    if prefix.startswith("e"):
        return 3
    return 2


def products_entries(report, spectra: list[ProductResult]) -> list[dict]:
    """One entry per product of the night (masters, reduced frames, spectra).

    Parameters
    ----------
    report : pipeline.night.NightReport
    spectra : list of ProductResult

    Returns
    -------
    list of dict
    """
    by_file = {Path(p.file).name: p for p in spectra if p.file}
    raw_of: dict[str, str] = {}
    for r in report.results:
        for p in r.products:
            raw_of.setdefault(Path(p).name, r.file_name)
    entries, seen = [], set()
    for path in report.products:
        name = Path(path).name
        if name in seen:
            continue
        seen.add(name)
        if name in by_file:
            p = by_file[name]
            entries.append(
                {
                    "file": name,
                    "data_type": p.data_type,
                    "raw_parent": p.raw_parent,
                    "parent": p.parent,
                    "target": p.target,
                    "status": p.status,
                    "notes": p.reason,
                    "quality": p.quality,
                }
            )
        else:
            entries.append(
                {
                    "file": name,
                    "data_type": _data_type(name),
                    "raw_parent": raw_of.get(name, ""),
                    "parent": raw_of.get(name, ""),
                    "quality": {},
                }
            )
    for p in spectra:
        if not p.file:
            entries.append(
                {
                    "file": None,
                    "data_type": p.data_type,
                    "raw_parent": p.raw_parent,
                    "parent": p.parent,
                    "target": p.target,
                    "status": p.status,
                    "notes": p.reason,
                    "quality": p.quality,
                }
            )
    return entries


def write_products_json(out_dir, report, spectra: list[ProductResult]) -> Path:
    """Write ``OUT_DIR/products.json`` atomically and return its path.

    Parameters
    ----------
    out_dir : path
    report : pipeline.night.NightReport
    spectra : list of ProductResult

    Returns
    -------
    Path
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {"products": products_entries(report, spectra)}
    fd, tmp = tempfile.mkstemp(prefix=".products.", suffix=".json", dir=out_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1, default=str)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out_dir / "products.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out_dir / "products.json"


#: What a 1-D result without a file would have been, by data_type.
_LETTER = {1: "sensitivity", 3: "e", 4: "w", 5: "f"}


def _arcs_and_reason(p: ProductResult) -> str:
    """The table's last column: a calibrated spectrum's arcs, then any reason.

    A written spectrum's reason is a warning (lines covering little of the detector...):
    the arcs alone would hide it. Only the arcs are shortened to fit the column.
    """
    if p.status == "written" and p.data_type == 4:
        arcs = ",".join(p.quality.get("arcs", []))[:90]
        return f"{arcs}; {p.reason}" if p.reason else arcs
    return p.reason


def products_table(spectra: list[ProductResult]) -> str:
    """Plain-text table of the 1-D products with their quality figures.

    Parameters
    ----------
    spectra : list of ProductResult

    Returns
    -------
    str
    """
    rows = [
        (
            "product",
            "status",
            "S/N",
            "trace rms",
            "wave rms Å",
            "px",
            "lines",
            "rej",
            "arcs / reason",
        )
    ]
    for p in spectra:
        q = p.quality
        rows.append(
            (
                Path(p.file).name
                if p.file
                else f"({_LETTER.get(p.data_type, 'e')} of {p.parent}"
                + (f", target {p.target})" if p.target is not None else ", arc)"),
                p.status,
                f"{q.get('snr_median_per_pixel', '')}",
                f"{q.get('trace_rms', '')}",
                f"{q.get('wavelength_rms_angstrom', '')}" if p.data_type == 4 else "",
                f"{q.get('wavelength_rms_pixel', '')}" if p.data_type == 4 else "",
                f"{q.get('lines_used', '')}" if p.data_type == 4 else "",
                f"{q.get('lines_rejected', '')}" if p.data_type == 4 else "",
                _arcs_and_reason(p),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(r[i].ljust(widths[i]) for i in range(len(widths))) + "  " + r[-1] for r in rows
    ]
    lines.insert(1, "-" * min(140, max(len(x) for x in lines)))
    return "\n".join(lines)
