"""Time the API's hot query on a large files table: p50/p95 per backend.

    .venv/bin/python benchmarks/store_hot_query.py --rows 1000000 \
        --url sqlite:////tmp/gsp_bench.sqlite \
        --url postgresql+psycopg://postgres@127.0.0.1:5432/gsp_bench

The query is ``?data_type=0&proposal_id=X&page_size=100`` as a non-staff member of X
sees it (visibility rule, current versions, not deleted, newest first), plus the
``count`` the seed's answer carries. The databases given are wiped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time

from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from gsp_extension.security import AccessPolicy, Caller
from gsp_extension.store import Database, upgrade_database
from gsp_extension.store.accounts import create_user
from gsp_extension.store.files import list_files_query
from gsp_extension.store.models import Base, File, Proposal
from gsp_extension.store.proposals import create_proposal
from gsp_extension.store.serialize import file_records_query, record_from_row

N_PROPOSALS = 200
DATA_TYPE_WEIGHTS = {0: 50, 1: 5, 2: 25, 3: 10, 4: 10}


def _reset(url: str) -> None:
    from sqlalchemy import create_engine

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        from pathlib import Path

        for suffix in ("", "-wal", "-shm"):
            Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def fill(db: Database, rows: int, seed: int = 1) -> tuple[int, str]:
    """Insert ``rows`` files; return the id of a member user and the big proposal."""
    rng = random.Random(seed)
    with db.transaction() as s:
        member = create_user(s, "member", email="member@example.org")
        soar_ids = [f"SOAR20{20 + i // 40}{'AB'[i % 2]}-{i:03d}" for i in range(N_PROPOSALS)]
        for i, soar in enumerate(soar_ids):
            create_proposal(s, soar, pi=member if i in (0, 1) else None)
        member_id = member.id
    big = soar_ids[0]
    weights_p = [20.0 if i == 0 else 1.0 for i in range(N_PROPOSALS)]  # X holds ~9 %
    types, type_w = list(DATA_TYPE_WEIGHTS), list(DATA_TYPE_WEIGHTS.values())
    start = dt.date(2019, 1, 1)
    now = dt.datetime.now(dt.UTC)
    chunk = 20_000
    t0 = time.perf_counter()
    with db.engine.begin() as conn:
        for offset in range(0, rows, chunk):
            batch = []
            for i in range(offset, min(rows, offset + chunk)):
                day = start + dt.timedelta(days=rng.randrange(5 * 365))
                path = f"/data/raw/{day:%Y%m%d}/{i:07d}_obj.fits"
                batch.append(
                    {
                        "created": now,
                        "last_modified": now,
                        "file_name": path.rsplit("/", 1)[1],
                        "directory_name": path.rsplit("/", 1)[0],
                        "full_path": path,
                        "obstype": rng.choice(["OBJECT", "ARC", "FLAT", "BIAS"]),
                        "object": "target",
                        "gain": "1.48",
                        "rdnoise": "3.89",
                        "proposal_id": rng.choices(soar_ids, weights_p)[0],
                        "image_id": i,
                        "date": day,
                        "data_type": rng.choices(types, type_w)[0],
                        "normalized": False,
                        "checksum": f"{i:064x}",
                        "size": 8_000_000,
                        "version": 1,
                        "status": "registered",
                    }
                )
            conn.execute(insert(File), batch)
    print(f"inserted {rows} rows in {time.perf_counter() - t0:.1f} s")
    # What autovacuum does to an insert-only table soon after a bulk load: statistics,
    # and the visibility map that lets counts use index-only scans.
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE files"))
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return member_id, big


def time_query(db: Database, member_id: int, soar: str, repeats: int) -> None:
    from gsp_extension.store.models import User

    with db.session() as s:
        member = s.get(User, member_id)
        access = AccessPolicy(s, Caller(name=member.username, kind="user", user=member))
        base = list_files_query(s, data_type=0, proposal_id=soar).where(access.files())
        pages_ms, counts_ms = [], []
        dialect = s.get_bind().dialect.name
        total = s.scalar(select(func.count()).select_from(base.order_by(None).subquery()))
        for i in range(repeats):
            page = i % 20
            t = time.perf_counter()
            page_query = file_records_query(base.limit(100).offset(page * 100), dialect)
            [record_from_row(r) for r in s.connection().execute(page_query)]
            pages_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            s.scalar(select(func.count()).select_from(base.order_by(None).subquery()))
            counts_ms.append((time.perf_counter() - t) * 1000)
            s.expunge_all()
    q = statistics.quantiles
    print(
        f"  matching rows {total}; page of 100 + records: p50 {statistics.median(pages_ms):.1f} ms, "
        f"p95 {q(pages_ms, n=20)[18]:.1f} ms; count: p50 {statistics.median(counts_ms):.1f} ms, "
        f"p95 {q(counts_ms, n=20)[18]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--url", action="append", required=True)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    assert Base  # the schema comes from the migrations, not create_all
    for url in args.url:
        print(make_url(url).get_backend_name(), f"{args.rows} files")
        _reset(url)
        upgrade_database(url)
        db = Database(url)
        member_id, soar = fill(db, args.rows)
        time_query(db, member_id, soar, args.repeats)
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(Proposal)) == N_PROPOSALS
        db.dispose()


if __name__ == "__main__":
    main()
