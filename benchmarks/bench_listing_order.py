"""The cost of listing a night in observation order (issue 15, item 4).

    .venv/bin/python benchmarks/bench_listing_order.py --rows 200000 \
        --url sqlite:////tmp/gsp_bench_order.sqlite \
        --url postgresql+psycopg://postgres@127.0.0.1:5432/gsp_bench_order

The API's default ordering became ``-date,-date_obs,-frame_number,-id`` (was
``-date,-id``). The listing indexes end in ``date, id``: the databases walk them by
night and sort each night's rows (PostgreSQL's incremental sort, SQLite's sort of the
right part of the ORDER BY). For each database: fill it (``store_hot_query.py``'s
generator, then a DATE-OBS and frame number on every row), and time
``GET api/files/?data_type=0&proposal_id=X`` (``list_files``, page 1 and page 20 of
100) as a member of X, with the new default and with the old ordering. Prints p50/p95
in ms, and PostgreSQL's plan of the default. The databases given are wiped.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_hot_query import fill  # noqa: E402

from gsp_extension.api.queries import _listing_statements, list_files  # noqa: E402
from gsp_extension.api.schemas import FileListQuery  # noqa: E402
from gsp_extension.security import resolve_caller  # noqa: E402
from gsp_extension.security.access import AccessPolicy  # noqa: E402
from gsp_extension.store import Database, upgrade_database  # noqa: E402
from gsp_extension.store.models import Base  # noqa: E402

ORDERINGS = {"new default": None, "old -date,-id": "-date,-id"}


def _wipe(url: str) -> None:
    db = Database(url)
    try:
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        else:
            Base.metadata.drop_all(db.engine)
            with db.engine.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        db.dispose()


def _observation_times(db: Database) -> None:
    """Every row gets a DATE-OBS in its night and a frame number, as registration sets."""
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "UPDATE files SET frame_number = image_id % 1000, date_obs = "
                    "(date + time '21:00' + (image_id % 600) * interval '1 minute') "
                    "AT TIME ZONE 'UTC'"
                )
            )
        else:
            conn.execute(
                text(
                    "UPDATE files SET frame_number = image_id % 1000, date_obs = "
                    "datetime(date, '+21 hours', '+' || (image_id % 600) || ' minutes')"
                )
            )
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE files"))


def _time(db: Database, soar: str, ordering: str | None, page: int, repeats: int) -> list[float]:
    out = []
    with db.session() as s:
        caller = resolve_caller(s, {"name": "member", "kind": "user"}, ())
        q = FileListQuery(data_type=0, proposal_id=soar, ordering=ordering, page=page)
        for _ in range(repeats):
            t = time.perf_counter()
            list_files(s, caller, q, page_size=100, bound=1000)
            out.append((time.perf_counter() - t) * 1000)
    return out


def _plan(db: Database, soar: str) -> str:
    with db.session() as s:
        caller = resolve_caller(s, {"name": "member", "kind": "user"}, ())
        visibility, mine = AccessPolicy(s, caller).file_listing(0, soar)
        stmt, _ids = _listing_statements("postgresql", None, visibility, True, True)
        params = {"data_type": 0, "proposal_id": soar, "limit": 101, "offset": 0}
        if mine:
            params["mine"] = mine
        compiled = stmt.params(params).compile(
            dialect=s.get_bind().dialect, compile_kwargs={"literal_binds": True}
        )
        rows = s.execute(text(f"EXPLAIN (ANALYZE, COSTS OFF) {compiled}")).all()
    return "\n".join("    " + r[0] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    print("command: " + " ".join(sys.argv))
    for url in args.url:
        _wipe(url)
        upgrade_database(url)
        db = Database(url)
        try:
            print(make_url(url).get_backend_name(), f"{args.rows} files")
            _member, soar = fill(db, args.rows)
            _observation_times(db)
            for label, ordering in ORDERINGS.items():
                for page in (1, 20):
                    ms = _time(db, soar, ordering, page, args.repeats)
                    p95 = statistics.quantiles(ms, n=20)[18]
                    print(
                        f"  {label:15s} page {page:2d}: p50 {statistics.median(ms):6.1f} ms, "
                        f"p95 {p95:6.1f} ms"
                    )
            if db.engine.dialect.name == "postgresql":
                print("  plan of the default (page 1):\n" + _plan(db, soar))
        finally:
            db.dispose()


if __name__ == "__main__":
    main()
