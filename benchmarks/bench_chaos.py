"""Chaos: a night streamed into a live service that is killed, starved and doubled.

Real processes: ``gsp live`` (its own session), a ``dask scheduler`` and ``dask worker``
processes (``--scheduler-mode external``, the default) or ``gsp live``'s LocalCluster
(``local``), SQLite or PostgreSQL. A simulated night is dropped into ``raw/`` one frame
every ``--interval`` seconds while faults are injected at random moments:

- ``gsp live`` killed with SIGKILL (``--kills``) and started again;
- a dask worker killed (``--worker-kills``, external mode) and started again;
- the scheduler killed (``--scheduler-kills``, external mode), down ``--down`` seconds;
- ``products/`` made unwritable for ``--unwritable`` seconds (chmod; as root this
  cannot bind, and the benchmark says so);
- a second ``gsp live`` started once (it must wait as a standby and take over).

At the end it waits for every job to be final and prints: the counts (raw files
registered once, products made once with their checksum equal to their row's,
temporary files and orphans left, jobs by state, failures, science frames with a
wavelength-calibrated product), the fault timeline, and for each fault the longest gap
between its end and the next completed job.

Run: ``.venv/bin/python benchmarks/bench_chaos.py [--db sqlite|postgresql]
[--scheduler-mode external|local] [--science 4] [--interval 1] [--kills 2]
[--worker-kills 1] [--scheduler-kills 1] [--down 10] [--unwritable 10] [--seed 5]``.
The default run is short (a few minutes on 2 cores); the issue's full run is
``--science 20 --kills 10 --worker-kills 5 --scheduler-kills 3 --down 60 --unwritable 60``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
BIN = Path(sys.executable).parent


def _night(n_science: int, seed: int) -> list[tuple[str, bytes, str]]:
    from pipeline.simulate import NightConfig, iter_night

    cfg = NightConfig(n_bias=2, n_flats=2, n_arcs=1, n_science=n_science, noise=False, seed=seed)
    out = []
    for frame in iter_night(cfg):
        buffer = io.BytesIO()
        frame.hdul.writeto(buffer)
        out.append((frame.name, buffer.getvalue(), frame.hdul[0].header["OBSTYPE"]))
    return out


def _spawn(args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env or dict(os.environ),
            start_new_session=True,
        )


def _kill(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(15)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class World:
    def __init__(self, args, root: Path, url: str) -> None:
        self.args = args
        self.root = root
        self.url = url
        self.logs = root / "logs"
        self.logs.mkdir(parents=True)
        self.external = args.scheduler_mode == "external"
        self.address = f"tcp://127.0.0.1:{_free_port()}" if self.external else None
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.lives: list[subprocess.Popen] = []
        self.timeline: list[tuple[float, float, str]] = []  # (start, end, what)
        self.t0 = time.time()
        self.lock = threading.RLock()
        self.timers: list[threading.Timer] = []

    def timer(self, seconds: float, action) -> None:
        timer = threading.Timer(seconds, action)
        timer.start()
        self.timers.append(timer)

    def settle(self) -> None:
        """Wait for the faults still under way to end."""
        for timer in self.timers:
            timer.join()

    def start_scheduler(self) -> None:
        port = self.address.rsplit(":", 1)[1]
        self.scheduler = _spawn(
            [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", port]
            + ["--no-dashboard", "--no-show"],
            self.logs / "scheduler.log",
        )

    def start_worker(self) -> None:
        env = dict(os.environ, PYTHONPATH=str(HERE.parent))
        self.workers.append(
            _spawn(
                [str(BIN / "dask"), "worker", self.address, "--nthreads", "1"]
                + ["--no-dashboard", "--death-timeout", "600"],
                self.logs / f"worker{len(self.workers)}.log",
                env,
            )
        )

    def start_live(self) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items() if k != "GSP_DATABASE_URL"}
        args = [str(BIN / "gsp"), "live", "--data-root", str(self.root), "--db", self.url]
        args += ["--workers", "1", "--settle", "0.3", "--give-up", "30"]
        if self.address:
            args += ["--scheduler", self.address]
        proc = _spawn(args, self.logs / f"live{len(self.lives)}.log", env)
        self.lives.append(proc)
        return proc

    def note(self, start: float, end: float, what: str) -> None:
        self.timeline.append((start - self.t0, end - self.t0, what))
        print(f"  [{start - self.t0:7.1f} s -> {end - self.t0:7.1f} s] {what}", flush=True)
        self.timeline.sort()

    def stop(self) -> None:
        for timer in self.timers:
            timer.cancel()
        for proc in self.lives + self.workers + [self.scheduler]:
            _kill(proc)


def _faults(args, duration: float, rng: random.Random) -> list[tuple[float, str]]:
    plan = ["kill live"] * args.kills + ["second live"]
    if args.scheduler_mode == "external":
        plan += ["kill worker"] * args.worker_kills + ["kill scheduler"] * args.scheduler_kills
    if args.unwritable > 0:
        plan.append("unwritable")
    times = sorted(rng.uniform(0.1 * duration, 0.9 * duration) for _ in plan)
    rng.shuffle(plan)
    return list(zip(times, plan, strict=True))


def _inject(world: World, what: str, rng: random.Random) -> None:
    """One fault; those that last (scheduler down, products/ read-only) end on a timer,
    so the next fault comes at its time."""
    args = world.args
    start = time.time()
    with world.lock:
        if what == "kill live":
            alive = [p for p in world.lives if p.poll() is None]
            victim = rng.choice(alive)
            _kill(victim)
            world.lives.remove(victim)
            if not [p for p in world.lives if p.poll() is None]:
                world.start_live()  # a supervisor restarts it
            world.note(start, time.time(), "gsp live killed (SIGKILL), restarted")
        elif what == "second live":
            world.start_live()
            world.note(start, time.time(), "second gsp live started")
        elif what == "kill worker":
            alive = [w for w in world.workers if w.poll() is None]
            if not alive:
                world.note(start, start, "no dask worker to kill (scheduler down)")
                return
            victim = rng.choice(alive)
            _kill(victim)
            world.workers.remove(victim)
            world.start_worker()
            world.note(start, time.time(), "dask worker killed, another started")
        elif what == "kill scheduler":
            _kill(world.scheduler)
            for worker in world.workers:
                _kill(worker)
            world.workers = []

            def back() -> None:
                with world.lock:
                    world.start_scheduler()
                    for _ in range(args.dask_workers):
                        world.start_worker()
                    world.note(start, time.time(), f"scheduler (and workers) down {args.down:g} s")

            world.timer(args.down, back)
        elif what == "unwritable":
            products = world.root / "products"
            products.mkdir(exist_ok=True)
            mode = products.stat().st_mode
            products.chmod(0o555)

            def writable() -> None:
                products.chmod(mode)
                note = " (as root: chmod does not bind, no fault)" if os.geteuid() == 0 else ""
                world.note(start, time.time(), f"products/ unwritable {args.unwritable:g} s{note}")

            world.timer(args.unwritable, writable)


def _wait_final(db, timeout: float) -> bool:
    from sqlalchemy import func, select

    from gsp_extension.store.models import Job

    deadline = time.time() + timeout
    quiet_since = None
    while time.time() < deadline:
        with db.session() as s:
            active = s.scalar(select(func.count()).where(Job.state.in_(["queued", "running"])))
        if active == 0:
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since > 5:  # nothing new planned for 5 s
                return True
        else:
            quiet_since = None
        time.sleep(1)
    return False


def _report(world: World, db, frames) -> None:
    from sqlalchemy import select

    from gsp_extension.store.models import File, Job

    root = world.root
    with db.session() as s:
        files = s.scalars(select(File)).all()
        jobs = s.scalars(select(Job)).all()
    raw = [f for f in files if f.data_type == 0]
    products = [f for f in files if f.data_type != 0]
    names = Counter(f.file_name for f in raw)
    mismatched = []
    for f in products:
        if f.superseded_at is None and f.deleted_at is None:
            path = Path(f.full_path)
            if not path.exists() or hashlib.sha256(path.read_bytes()).hexdigest() != f.checksum:
                mismatched.append(f.file_name)
    current = Counter(
        (f.parent_file_id, f.file_name)
        for f in products
        if f.superseded_at is None and f.deleted_at is None
    )
    temporary = [
        p
        for p in (root / "products").rglob("*")
        if p.is_file() and (p.name.startswith(".") or ".attempts" in p.parts)
    ]
    orphans = [p for p in (root / "orphans").rglob("*") if p.is_file()]
    science = {n for n, _data, obstype in frames if obstype == "OBJECT"}
    calibrated_parents = set()
    by_id = {f.id: f for f in files}
    for f in products:
        if f.data_type == 4:  # wavelength calibrated
            node = f
            while node is not None and node.data_type != 0:
                node = by_id.get(node.parent_file_id)
            if node is not None:
                calibrated_parents.add(node.file_name)
    states = Counter(j.state for j in jobs)
    failed = [(j.kind, (j.error or "")[:120]) for j in jobs if j.state == "failed"]
    print("\ncounts")
    print(
        f"  raw files on disk {len(frames)}, registered {len(raw)}, registered twice "
        f"{sum(1 for c in names.values() if c > 1)}"
    )
    print(
        f"  current products {sum(current.values())}, made twice "
        f"{sum(1 for c in current.values() if c > 1)}, checksum != row {len(mismatched)}"
    )
    print(f"  temporary files left {len(temporary)}, orphans {len(orphans)}")
    print(f"  jobs {dict(states)}; interruptions {sum(j.interruptions for j in jobs)}")
    for kind, error in failed:
        print(f"    failed {kind}: {error}")
    with_wec = sorted(calibrated_parents & science)
    print(f"  science frames {len(science)}, with a wavelength-calibrated product {len(with_wec)}")
    done = sorted(j.finished_at.timestamp() for j in jobs if j.state == "done" and j.finished_at)
    print("\nfault timeline (s from start) and longest gap without a completed job after it")
    for start, end, what in world.timeline:
        after = [t - world.t0 for t in done if t - world.t0 >= end]
        if after:
            points = [end] + after
            gap = max(b - a for a, b in zip(points, points[1:], strict=False))
            first = after[0] - end
            text = f"next job done {first:.1f} s later, longest gap {gap:.1f} s"
        else:
            text = "no job completed after it"
        print(f"  {start:7.1f} -> {end:7.1f}  {what}: {text}")


def main(argv=None) -> int:
    args = parse(argv)
    rng = random.Random(args.seed)
    frames = _night(args.science, args.seed)
    with tempfile.TemporaryDirectory(prefix="gsp-chaos-") as tmp:
        root = Path(tmp)
        if args.db == "postgresql":
            from tests.postgres import throwaway_database

            context = throwaway_database("gsp_chaos")
            url = context.__enter__()
        else:
            context, url = None, f"sqlite:///{root / 'gsp.sqlite'}"
        from gsp_extension.store import Database, upgrade_database

        upgrade_database(url)
        db = Database(url)
        world = World(args, root, url)
        raw = root / "raw" / "20261121"
        raw.mkdir(parents=True)
        try:
            if world.external:
                world.start_scheduler()
                for _ in range(args.dask_workers):
                    world.start_worker()
            world.start_live()
            duration = len(frames) * args.interval
            faults = _faults(args, duration, rng)
            print(
                f"{len(frames)} frames over {duration:.0f} s; faults: "
                f"{', '.join(f'{what} at {t:.0f} s' for t, what in faults)}",
                flush=True,
            )
            start = time.time()

            def inject_all() -> None:  # faults at their times, while frames stream
                for at, what in faults:
                    time.sleep(max(0.0, start + at - time.time()))
                    _inject(world, what, rng)

            injector = threading.Thread(target=inject_all, daemon=True)
            injector.start()
            for n, (name, data, _obstype) in enumerate(frames):
                tmp_path = raw / f".{name}.partial"
                tmp_path.write_bytes(data)
                os.replace(tmp_path, raw / name)
                time.sleep(max(0.0, start + (n + 1) * args.interval - time.time()))
            injector.join()
            world.settle()
            finished = _wait_final(db, args.timeout)
            print(f"\nall jobs final: {finished} ({time.time() - world.t0:.0f} s in all)")
            _report(world, db, frames)
        finally:
            world.stop()
            db.dispose()
            if context is not None:
                context.__exit__(None, None, None)
    return 0


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--scheduler-mode", choices=["external", "local"], default="external")
    p.add_argument("--dask-workers", type=int, default=2, help="worker processes (external)")
    p.add_argument("--science", type=int, default=4, help="science frames in the night")
    p.add_argument("--interval", type=float, default=3.0, help="seconds between frames")
    p.add_argument("--kills", type=int, default=2, help="gsp live SIGKILLs")
    p.add_argument("--worker-kills", type=int, default=1)
    p.add_argument("--scheduler-kills", type=int, default=1)
    p.add_argument("--down", type=float, default=10.0, help="seconds the scheduler stays down")
    p.add_argument("--unwritable", type=float, default=10.0, help="seconds products/ is read-only")
    p.add_argument("--timeout", type=float, default=300.0, help="wait for final jobs, seconds")
    p.add_argument("--seed", type=int, default=5)
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
