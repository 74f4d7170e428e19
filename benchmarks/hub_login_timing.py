"""Time ProposalAuthenticator answers with production argon2id costs (SQLite, temp dir).

Every refusal (wrong password, unknown user, inactive, locked, no password yet) should
take about as long as a good login: each does exactly one argon2 verification.

    .venv/bin/python benchmarks/hub_login_timing.py [rounds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from gsp_extension.store import Database, upgrade_database
from gsp_extension.store.accounts import create_user
from hub.authenticator import ProposalAuthenticator
from hub.passwords import PasswordHasher

GOOD = "vermilion-Otter-42"


async def main(rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'gsp.sqlite'}"
        upgrade_database(url)
        db = Database(url)
        hashed = PasswordHasher().hash(GOOD)
        with db.transaction() as s:
            create_user(s, "ana", password_hash=hashed)
            create_user(s, "ivy", password_hash=hashed, is_active=False)
            create_user(s, "nina")
            create_user(s, "lou", password_hash=hashed)
        auth = ProposalAuthenticator(
            database_url=url, link_secret_file=str(Path(tmp) / "s"), lockout_max_failures=1
        )
        await auth.authenticate(None, {"username": "lou", "password": "wrong"})  # locks lou
        cases = {
            "good login": ("ana", GOOD),
            "wrong password": ("ana", "wrong-password"),
            "unknown user": ("nobody", GOOD),
            "inactive user": ("ivy", GOOD),
            "no password yet": ("nina", GOOD),
            "locked user": ("lou", GOOD),
        }
        auth.hasher.dummy_hash  # noqa: B018 - made once at hub start
        print(f"argon2id {hashed.split('$')[3]}; {rounds} rounds each; seconds")
        print(f"{'case':18s} {'median':>7s} {'min':>7s} {'max':>7s}")
        # Rounds interleave the cases, so that load from other processes hits all alike.
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(rounds):
            for name, (username, password) in cases.items():
                if name == "wrong password":
                    # keep ana unlocked: clear the counter the failure set
                    with db.transaction() as s:
                        s.execute(
                            text(
                                "UPDATE users SET failed_logins=0, locked_until=NULL "
                                "WHERE username='ana'"
                            )
                        )
                t0 = time.perf_counter()
                await auth.authenticate(None, {"username": username, "password": password})
                times[name].append(time.perf_counter() - t0)
        for name, t in times.items():
            print(f"{name:18s} {statistics.median(t):7.3f} {min(t):7.3f} {max(t):7.3f}")
        auth.executor.shutdown()
        auth.db.dispose()
        db.dispose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5))
