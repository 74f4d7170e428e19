"""Restart to first job: how long a ``gsp live`` killed with SIGKILL takes to get going.

A small simulated night (2 bias, 2 flats, 1 arc, 2 science, 2x2) is dropped into
``raw/`` of a fresh data root while ``gsp live`` runs; as soon as a job runs, the whole
``gsp live`` process group is killed with SIGKILL (its LocalCluster workers with it, or
not the external scheduler's) and ``gsp live`` is started again. From the new process's
log (timestamps, milliseconds) it prints, per restart, the seconds from the launch to:

- ``log``: the first log line (Python start and imports);
- ``lock``: the engine lock taken;
- ``started``: "live ingest and job engine started" (in LocalCluster mode, after the
  cluster is up);
- ``requeued``: the previous run's jobs queued again (the first ``job.queued``);
- ``running``: the first job claimed;
- ``done``: the first job done.

``--rounds`` kills and restarts in a row (the night's remaining jobs keep it busy).
``--code DIR`` runs another checkout's ``gsp_extension`` and ``pipeline`` (put first on
``PYTHONPATH``, the workers inherit it): two runs side by side compare code versions on
the same machine under the same load.

Run: ``.venv/bin/python benchmarks/bench_restart.py [--db sqlite|postgresql]
[--scheduler-mode local|external] [--rounds 3] [--code DIR] [--keep-logs DIR]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
BIN = Path(sys.executable).parent

#: What marks each phase in the log of ``gsp live`` (the first line matching wins).
PHASES = {
    "lock": re.compile(r"engine lock taken|standby takes over"),
    "started": re.compile(r"live ingest and job engine started"),
    "requeued": re.compile(r" job\.queued \d+"),
    "running": re.compile(r" job\.running \d+"),
    "done": re.compile(r" job\.done \d+"),
}
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


def _frames() -> list[tuple[str, bytes]]:
    from pipeline.simulate import NightConfig, iter_night

    cfg = NightConfig(n_bias=2, n_flats=2, n_arcs=1, n_science=2, noise=False, seed=11)
    return [(frame.name, frame.fits_bytes()) for frame in iter_night(cfg)]


def _spawn(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(15)


def _phases(log: Path, launched: float) -> dict[str, float]:
    """Seconds from ``launched`` (epoch) to each phase's first log line."""
    out: dict[str, float] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = STAMP.match(line)
        if not match:
            continue
        stamp = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
        out.setdefault("log", stamp - launched)
        for name, pattern in PHASES.items():
            if name not in out and pattern.search(line):
                out[name] = stamp - launched
    return out


def _wait_for(log: Path, pattern: re.Pattern, timeout: float, proc: subprocess.Popen) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.exists() and pattern.search(log.read_text(errors="replace")):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def main(argv=None) -> int:
    args = parse(argv)
    env = {k: v for k, v in os.environ.items() if k != "GSP_DATABASE_URL"}
    code = str(Path(args.code).resolve()) if args.code else str(HERE.parent)
    env["PYTHONPATH"] = os.pathsep.join([code, env.get("PYTHONPATH", "")])
    frames = _frames()
    with tempfile.TemporaryDirectory(prefix="gsp-restart-") as tmp:
        root = Path(tmp)
        (root / "raw").mkdir()
        logs = root / "logs"
        logs.mkdir()
        if args.db == "postgresql":
            from sqlalchemy import create_engine, text

            base = os.environ.get(
                "GSP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
            )
            schema = f"bench_restart_{os.getpid()}"
            admin = create_engine(base, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {schema}"))
            url = base.rsplit("/", 1)[0] + f"/{schema}"
        else:
            url = f"sqlite:///{root / 'gsp.sqlite'}"
        extra: list[subprocess.Popen] = []
        address = None
        if args.scheduler_mode == "external":
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            address = f"tcp://127.0.0.1:{port}"
            extra.append(
                _spawn(
                    [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port)]
                    + ["--no-dashboard", "--no-show"],
                    logs / "scheduler.log",
                    env,
                )
            )
            extra.append(
                _spawn(
                    [str(BIN / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"],
                    logs / "worker.log",
                    env,
                )
            )
        command = [str(BIN / "gsp"), "live", "--data-root", str(root), "--db", url]
        command += ["--workers", "1", "--settle", "0.3"]
        if address:
            command += ["--scheduler", address]
        rows = []
        try:
            live = _spawn(command, logs / "live0.log", env)
            for name, data in frames:
                part = root / "raw" / f".{name}.partial"
                part.write_bytes(data)
                os.replace(part, root / "raw" / name)
            for n in range(1, args.rounds + 1):
                if not _wait_for(logs / f"live{n - 1}.log", PHASES["running"], 300, live):
                    print(f"round {n}: no job ran before the kill (see {logs})")
                    return 1
                _kill(live)
                launched = time.time()
                log = logs / f"live{n}.log"
                live = _spawn(command, log, env)
                if not _wait_for(log, PHASES["done"], 300, live):
                    print(f"round {n}: no job done after the restart:\n{log.read_text()[-3000:]}")
                    return 1
                rows.append(_phases(log, launched))
                # The next kill lands on a job of the restarted run (not on the first).
                _wait_for(log, re.compile(r"(?s)job\.done \d+.*job\.running \d+"), 60, live)
            _kill(live)
        finally:
            for proc in extra:
                _kill(proc)
            if args.keep_logs:
                import shutil

                shutil.copytree(logs, args.keep_logs, dirs_exist_ok=True)
            if args.db == "postgresql":
                with admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {schema} WITH (FORCE)"))
                admin.dispose()
    names = ["log", "lock", "started", "requeued", "running", "done"]
    print(f"restart to first job: {args.db}, {args.scheduler_mode} scheduler, code {code}")
    print("round " + "".join(f"{n:>10}" for n in names) + "   (s from the launch)")
    for i, row in enumerate(rows, 1):
        print(f"{i:>5} " + "".join(f"{row.get(n, float('nan')):10.2f}" for n in names))
    for name in names:
        values = sorted(r[name] for r in rows if name in r)
        if values:
            print(f"median {name:>8}: {values[len(values) // 2]:.2f} s")
    return 0


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--scheduler-mode", choices=["local", "external"], default="local")
    p.add_argument("--rounds", type=int, default=3, help="kills and restarts in a row")
    p.add_argument("--code", help="a checkout whose gsp_extension/pipeline to run")
    p.add_argument("--keep-logs", help="copy the processes' logs into this folder")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
