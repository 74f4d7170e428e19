"""What hiding raw calibrations costs the files listing, on a large files table.

    .venv/bin/python benchmarks/bench_file_filters.py --rows 1000000 \
        --url sqlite:////tmp/gsp_bench_filters.sqlite \
        --url postgresql+psycopg://postgres@127.0.0.1:5432/gsp_bench_filters

Fills each database with ``store_hot_query.py``'s generator (200 proposals, proposal X
holds ~9 % of the rows, OBSTYPE uniformly OBJECT/ARC/FLAT/BIAS, so three raw files in
four are calibrations), then times the API's own listing function
(:func:`gsp_extension.api.queries.list_files`: one page of 100 records and the bounded
count) as a member of X, with and without ``hide_raw_calibrations`` /
``exclude_obstype``. Prints p50/p95 in ms per variant. The databases given are wiped.

With ``--against-revision 0001`` each database is also timed with its schema downgraded
to that revision (the listing indexes before they covered OBSTYPE), in the same run, and
upgraded back: the figures side by side show what the newer indexes buy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from store_hot_query import _reset, fill  # noqa: E402

from gsp_extension.api.queries import list_files  # noqa: E402
from gsp_extension.api.schemas import FileListQuery  # noqa: E402
from gsp_extension.security import resolve_caller  # noqa: E402
from gsp_extension.store import Database, upgrade_database  # noqa: E402
from gsp_extension.store.migrate import alembic_config  # noqa: E402

VARIANTS = {
    "data_type=0&proposal_id=X": {"data_type": 0},
    "+ hide_raw_calibrations=true": {"data_type": 0, "hide_raw_calibrations": True},
    "+ exclude_obstype=BIAS,FLAT": {"data_type": 0, "exclude_obstype": "BIAS,FLAT"},
    "proposal_id=X (all types)": {},
    "proposal_id=X + hide_raw_calibrations": {"hide_raw_calibrations": True},
}


def time_variants(db: Database, soar: str, repeats: int, bound: int) -> None:
    with db.session() as s:
        caller = resolve_caller(s, {"name": "member", "kind": "user"}, ())
        for label, params in VARIANTS.items():
            times = []
            for i in range(repeats):
                q = FileListQuery.model_validate(
                    {**params, "proposal_id": soar, "page": 1 + i % 20, "page_size": 100}
                )
                t = time.perf_counter()
                page = list_files(s, caller, q, page_size=100, bound=bound)
                times.append((time.perf_counter() - t) * 1000)
            p95 = statistics.quantiles(times, n=20)[18]
            print(
                f"  {label:40s} count {page.count:>7}{'+' if page.estimated else ' '} "
                f"p50 {statistics.median(times):6.1f} ms  p95 {p95:6.1f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--repeats", type=int, default=60)
    parser.add_argument("--bound", type=int, default=10_000, help="the app's count_bound")
    parser.add_argument(
        "--against-revision",
        help="also time each database downgraded to this schema revision (e.g. 0001)",
    )
    args = parser.parse_args()
    for url in args.url:
        print(url)
        _reset(url)
        upgrade_database(url)
        db = Database(url)
        try:
            _, soar = fill(db, args.rows)
            print(" schema at head")
            time_variants(db, soar, args.repeats, args.bound)
            if args.against_revision:
                from alembic import command

                command.downgrade(alembic_config(url), args.against_revision)
                print(f" schema at revision {args.against_revision}")
                time_variants(db, soar, args.repeats, args.bound)
                upgrade_database(url)
        finally:
            db.dispose()


if __name__ == "__main__":
    main()
