"""Backfill speed of ``gsp ingest``: files/s for checksum + header + classify + register.

    .venv/bin/python benchmarks/ingest_backfill.py --files 400 --workers 2

Writes ``--files`` raw frames of the real size (Red camera, Spectroscopic 2x2:
2071 x 948 16-bit pixels, 3.9 MB) with the raw cards of the real reference header into a
temporary folder, then registers them into a fresh SQLite database (and PostgreSQL with
``--url``). Files just written sit in the page cache, as live files do; a cold archive
on disk is bounded by the disk instead. Prints the CPU cost of each stage measured in
one process (what 2 idle cores would reach), then wall-clock figures of a full run and
a re-run (everything already registered) with the machine's load average, since other
work on a shared machine takes cores away.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from astropy.io import fits

from gsp_extension.ingest.backfill import backfill
from gsp_extension.ingest.register import register_batch
from gsp_extension.ingest.scan import scan_file
from gsp_extension.store import Database, upgrade_database

REFERENCE = (
    Path(__file__).resolve().parents[2]
    / "shared/reference/real_headers/wecfzst_0304_FRB20240312A_19-03-2024_target_1.fits"
)
SHAPE = (948, 2071)  # rows x columns of a Red 2x2 raw frame
PRODUCT_PREFIXES = (
    "GSP_",
    "BANDID",
    "APNUM",
    "WCSDIM",
    "CTYPE",
    "CRVAL",
    "CRPIX",
    "CDELT",
    "CD1_",
    "LTM",
    "WAT",
    "DC-FLAG",
    "DCLOG",
)


def raw_header() -> fits.Header:
    """The reference header without the cards the pipeline added."""
    header = fits.getheader(REFERENCE)
    raw = fits.Header()
    for card in header.cards:
        if card.keyword in ("", "SIMPLE", "BITPIX", "NAXIS", "EXTEND") or card.keyword.startswith(
            PRODUCT_PREFIXES
        ):
            continue
        raw.append(card)
    raw["OBSTYPE"] = "OBJECT"
    raw["RLEVEL"] = 0
    return raw


def write_files(folder: Path, count: int) -> None:
    header = raw_header()
    data = np.random.default_rng(0).integers(900, 1200, size=SHAPE).astype(np.uint16)
    for i in range(count):
        header["IMAGEID"] = str(50000 + i)
        header["PROPID"] = f"SOAR2024A-{i % 7:03d}"
        data[0, 0] = i  # a different checksum per file
        fits.PrimaryHDU(data=data, header=header).writeto(
            folder / f"{i:04d}_FRB20240312A_19-03-2024.fits"
        )


def _cpu() -> float:
    self, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return self.ru_utime + self.ru_stime + children.ru_utime + children.ru_stime


def stage_costs(folder: Path, url: str, count: int = 60) -> None:
    """CPU milliseconds per file of each stage, in this process (no contention effects)."""
    files = sorted(folder.iterdir())[:count]
    scan_file(files[0])
    t = time.process_time()
    for f in files:
        hashlib.sha256(f.read_bytes()).hexdigest()
    read_hash = (time.process_time() - t) / len(files) * 1000
    t = time.process_time()
    scanned = [scan_file(f) for f in files]
    scan = (time.process_time() - t) / len(files) * 1000
    upgrade_database(url)
    db = Database(url)
    t = time.process_time()
    register_batch(db, scanned)
    register = (time.process_time() - t) / len(files) * 1000
    db.dispose()
    total = scan + register
    print(
        f"CPU per file: read+sha256 {read_hash:.1f} ms, scan (incl. that) {scan:.1f} ms, "
        f"register {register:.1f} ms; header work without the checksum "
        f"{total - read_hash:.1f} ms -> {2000 / (total - read_hash):.0f} files/s on 2 idle "
        f"cores; with the checksum {total:.1f} ms -> {2000 / total:.0f} files/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--url", action="append", default=[])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gsp_ingest_bench_") as tmp:
        tmp = Path(tmp)
        raw = tmp / "raw" / "20240319"
        raw.mkdir(parents=True)
        t = time.perf_counter()
        write_files(raw, args.files)
        size_mb = sum(p.stat().st_size for p in raw.iterdir()) / 1e6
        # Flush the files to disk first (they stay in the page cache): otherwise the
        # write-back of gigabytes just written stalls the database's fsyncs mid-run,
        # which says nothing about ingesting an archive or a night.
        os.sync()
        print(f"wrote {args.files} files ({size_mb:.0f} MB) in {time.perf_counter() - t:.1f} s")
        stage_costs(raw, f"sqlite:///{tmp / 'stages.sqlite'}")
        for url in [f"sqlite:///{tmp / 'gsp.sqlite'}", *args.url]:
            upgrade_database(url)
            db = Database(url)
            name = url.split(":", 1)[0]
            for label in ("first run", "re-run   "):
                cpu = _cpu()
                report = backfill(db, [tmp / "raw"], workers=args.workers)
                cpu = _cpu() - cpu
                load = os.getloadavg()[0]
                print(
                    f"{name}, {args.workers} workers, {label}: {report.summary()}; "
                    f"main-process CPU {cpu / report.files * 1000:.1f} ms/file; "
                    f"load average {load:.1f}"
                )
            db.dispose()


if __name__ == "__main__":
    main()
