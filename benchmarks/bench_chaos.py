"""Chaos: a night streamed into a live service that is killed, starved and doubled.

Real processes: ``gsp live`` (its own session), a ``dask scheduler`` and ``dask worker``
processes (``--scheduler-mode external``, the default) or ``gsp live``'s LocalCluster
(``local``), SQLite or PostgreSQL. A simulated night is dropped into ``raw/`` one frame
every ``--interval`` seconds while faults are injected at random moments:

- ``gsp live`` killed with SIGKILL (``--kills``) and started again;
- a dask worker killed (``--worker-kills``), only while the scheduler is up, and
  preferably one that is busy (it uses CPU: a job runs on it). External mode: the
  ``dask worker`` process and its nanny, and another is started. Local mode: one
  LocalCluster worker process of the engine (its nanny, inside ``gsp live``, starts
  another);
- the scheduler killed (``--scheduler-kills``), only while it is up. External mode: the
  ``dask scheduler`` process and its workers, down ``--down`` seconds. Local mode: the
  scheduler lives inside ``gsp live`` (killing it is a ``gsp live`` kill, counted there),
  so this fault is the loss of the whole cluster's worker processes at once (an OOM
  killer's sweep): every job in flight is lost together;
- ``products/`` made unwritable for ``--unwritable`` seconds: ``chattr +i`` on every
  directory under it when run as root (root ignores permission bits, so ``chmod`` does
  not bind; writes then fail with EPERM), ``chmod 0555`` otherwise (EACCES);
- a second ``gsp live`` started once (it must wait as a standby and take over).

Faults come at random moments of the stream (give ``--interval`` so that the stream
outlasts the scheduler's outages one after the other: faults after the last frame's
work is done test nothing; the full run below streams for 350 s); one that cannot bind
at its moment (a worker or scheduler kill while the scheduler is down) waits until it
can, and the timeline says so.

At the end it waits for every job to be final and prints: the counts (raw files
registered once, products made once with their checksum equal to their row's,
temporary files and orphans left, jobs by state, failures, science frames with a
wavelength-calibrated product), the fault timeline, and for each fault the longest gap
between its end and the next completed job.

Run: ``.venv/bin/python benchmarks/bench_chaos.py [--db sqlite|postgresql]
[--scheduler-mode external|local] [--science 4] [--interval 1] [--kills 2]
[--worker-kills 1] [--scheduler-kills 1] [--down 10] [--unwritable 10] [--seed 5]
[--keep-logs DIR]``.
The default run is short (a few minutes on 2 cores); the issue's full run is
``--science 20 --interval 14 --kills 10 --worker-kills 5 --scheduler-kills 3 --down 60
--unwritable 60 --timeout 900``.
"""

from __future__ import annotations

import argparse
import hashlib
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
    return [(f.name, f.fits_bytes(), f.hdul[0].header["OBSTYPE"]) for f in iter_night(cfg)]


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


def _local_workers(live: subprocess.Popen) -> list[int]:
    """PIDs of the LocalCluster worker processes of a ``gsp live`` (its spawned
    ``multiprocessing`` children, which rename themselves ``dask worker [...]``; not its
    resource tracker)."""
    import psutil

    try:
        children = psutil.Process(live.pid).children(recursive=True)
    except psutil.Error:
        return []
    out = []
    for child in children:
        try:
            line = " ".join(child.cmdline())
            if "dask worker" in line or "spawn_main" in line:
                out.append(child.pid)
        except psutil.Error:
            continue
    return out


def _cpu_seconds(pid: int) -> float:
    """CPU time of a process and its descendants (0 when gone)."""
    import psutil

    total = 0.0
    try:
        proc = psutil.Process(pid)
        for p in [proc, *proc.children(recursive=True)]:
            try:
                times = p.cpu_times()
                total += times.user + times.system
            except psutil.Error:
                continue
    except psutil.Error:
        return 0.0
    return total


def _age(pid: int) -> float:
    """Seconds since the worker process under ``pid`` (itself or its nanny's child) started."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return time.time() - max(p.create_time() for p in [proc, *proc.children(recursive=True)])
    except (psutil.Error, ValueError):
        return 0.0


#: A worker younger than this may be busy loading the science stack (warm-up), not a job.
WARM_UP_SECONDS = 20.0

#: CPU share over a quarter of a second that means a job runs on the worker (most jobs
#: last about a second; an idle worker uses a few per cent, a busy one gets a third of a
#: core when the 2 cores are shared with a load of 10).
BUSY = 0.2


def _busy(pids: list[int], sample: float = 0.25) -> list[tuple[float, int]]:
    """``(cpu share, pid)`` over ``sample`` seconds, busiest first (warming workers 0)."""
    warming = {pid for pid in pids if _age(pid) < WARM_UP_SECONDS}
    before = {pid: _cpu_seconds(pid) for pid in pids}
    time.sleep(sample)
    shares = [
        (0.0 if pid in warming else (_cpu_seconds(pid) - before[pid]) / sample, pid) for pid in pids
    ]
    return sorted(shares)[::-1]


def _directories(top: Path) -> list[Path]:
    """``top`` and every directory under it, parents first."""
    out = [top]
    for dirpath, dirnames, _files in os.walk(top):
        out += [Path(dirpath) / d for d in sorted(dirnames)]
    return out


def _unwritable(world: World, products: Path) -> str:
    """Make ``products/`` refuse writes; returns how."""
    if os.geteuid() != 0:
        products.chmod(0o555)
        return "chmod 0555"
    # Parents first, then again until no directory appeared meanwhile (a new one made
    # in a directory not yet immutable).
    done: set[Path] = set()
    while True:
        todo = [d for d in _directories(products) if d not in done]
        if not todo:
            return "chattr +i on every directory (root: permission bits do not bind)"
        for d in todo:
            if subprocess.run(["chattr", "+i", str(d)], capture_output=True).returncode == 0:
                done.add(d)
                world.immutable.append(d)
            else:
                done.add(d)  # vanished meanwhile


def _writable(world: World) -> None:
    """Undo :func:`_unwritable`."""
    products = world.root / "products"
    if os.geteuid() != 0:
        if products.exists():
            products.chmod(0o755)
        return
    for d in world.immutable:
        subprocess.run(["chattr", "-i", str(d)], capture_output=True)
    world.immutable = []


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
        #: Worker and scheduler kills waiting for the scheduler, one of each kind at a time.
        self.waiting: list[threading.Thread] = []
        self.kill_locks = {"kill worker": threading.Lock(), "kill scheduler": threading.Lock()}
        #: Set while the (external) scheduler runs: worker and scheduler kills wait for it.
        self.scheduler_up = threading.Event()
        self.scheduler_up.set()
        self.scheduler_since = time.time()
        self.immutable: list[Path] = []

    def timer(self, seconds: float, action) -> None:
        timer = threading.Timer(seconds, action)
        timer.start()
        self.timers.append(timer)

    def settle(self) -> None:
        """Wait for the faults still under way (or waiting for their moment) to end."""
        for thread in list(self.waiting):
            thread.join()
        for timer in list(self.timers):
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
        # Local mode: a LocalCluster of --dask-workers processes, so that a worker kill
        # can leave it short of some (not all) of its workers.
        workers = 1 if self.external else self.args.dask_workers
        args += ["--workers", str(workers), "--settle", "0.3", "--give-up", "30"]
        if self.address:
            args += ["--scheduler", self.address]
        proc = _spawn(args, self.logs / f"live{len(self.lives)}.log", env)
        self.lives.append(proc)
        return proc

    def note(self, start: float, end: float, what: str) -> None:
        self.timeline.append((start - self.t0, end - self.t0, what))
        print(f"  [{start - self.t0:7.1f} s -> {end - self.t0:7.1f} s] {what}", flush=True)
        self.timeline.sort()

    def current_live(self) -> subprocess.Popen | None:
        alive = [p for p in self.lives if p.poll() is None]
        return alive[0] if alive else None

    def worker_pids(self) -> list[int]:
        """Worker processes to kill: the ``dask worker`` process groups (external), or
        the LocalCluster worker processes of the running ``gsp live``s (local)."""
        if self.external:
            return [w.pid for w in self.workers if w.poll() is None]
        return [pid for live in self.lives if live.poll() is None for pid in _local_workers(live)]

    def stop(self) -> None:
        for timer in self.timers:
            timer.cancel()
        _writable(self)
        for proc in self.lives + self.workers + [self.scheduler]:
            _kill(proc)


def _faults(args, duration: float, rng: random.Random) -> list[tuple[float, str]]:
    plan = ["kill live"] * args.kills + ["second live"]
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
    # These two may wait for the scheduler (which comes back under the world's lock): in a
    # thread of their own, so the other faults keep their moments.
    if what in world.kill_locks:
        kill = _kill_worker if what == "kill worker" else _kill_scheduler

        def wait_and_kill() -> None:
            with world.kill_locks[what]:
                kill(world, rng, time.time())

        thread = threading.Thread(target=wait_and_kill, daemon=True)
        thread.start()
        world.waiting.append(thread)
        return
    with world.lock:
        if what == "kill live":
            alive = [p for p in world.lives if p.poll() is None]
            victim = rng.choice(alive)
            _kill(victim)
            world.lives.remove(victim)
            if [p for p in world.lives if p.poll() is None]:
                world.note(start, time.time(), "gsp live killed (SIGKILL), another runs")
            else:
                world.start_live()  # a supervisor restarts it
                world.note(start, time.time(), "gsp live killed (SIGKILL), restarted")
        elif what == "second live":
            world.start_live()
            world.note(start, time.time(), "second gsp live started")
        elif what == "unwritable":
            products = world.root / "products"
            products.mkdir(exist_ok=True)
            how = _unwritable(world, products)

            def writable() -> None:
                _writable(world)
                world.note(
                    start, time.time(), f"products/ unwritable {args.unwritable:g} s ({how})"
                )

            world.timer(args.unwritable, writable)


def _wait_scheduler(world: World, start: float, up: float) -> float:
    """Wait (outside the world's lock) until the scheduler has run for ``up`` seconds
    (its workers registered, jobs started again); returns how long was waited."""
    world.scheduler_up.wait()
    time.sleep(max(0.0, world.scheduler_since + up - time.time()))
    return time.time() - start if time.time() - start > 1.0 else 0.0


def _kill_worker(world: World, rng: random.Random, start: float) -> None:
    """Kill a busy worker (else any) while the scheduler is up."""
    waited = _wait_scheduler(world, start, 5.0)
    deadline = time.time() + 20.0
    busy: list[tuple[float, int]] = []
    while time.time() < deadline:
        pids = world.worker_pids()
        if pids:
            busy = _busy(pids)
            if busy and busy[0][0] > BUSY:
                break
        else:
            time.sleep(1.0)
    with world.lock:
        if not busy:
            world.note(start, time.time(), "no dask worker to kill")
            return
        share, pid = busy[0] if busy[0][0] > BUSY else (busy[0][0], rng.choice(busy)[1])
        state = f"busy, {share:.0%} CPU" if share > BUSY else "idle: no worker was busy for 20 s"
        if world.external:
            victim = next((w for w in world.workers if w.pid == pid), None)
            if victim is None:  # replaced meanwhile (a scheduler outage began)
                world.note(start, time.time(), "no dask worker to kill (replaced meanwhile)")
                return
            _kill(victim)
            world.workers.remove(victim)
            world.start_worker()
            what = f"dask worker killed ({state}), another started"
        else:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            what = f"LocalCluster worker process killed ({state}); its nanny starts another"
        if waited:
            what += f" [waited {waited:.0f} s for the scheduler]"
        world.note(start, time.time(), what)


def _kill_scheduler(world: World, rng: random.Random, start: float) -> None:
    args = world.args
    if not world.external:
        # The cluster's worker processes, once they run (past their warm-up): a gsp live
        # just restarted has none yet.
        deadline = time.time() + 60.0
        while time.time() < deadline:
            pids = world.worker_pids()
            if pids and min(_age(pid) for pid in pids) >= WARM_UP_SECONDS:
                break
            time.sleep(0.5)
        waited = time.time() - start
        suffix = f" [waited {waited:.0f} s for running workers]" if waited > 1 else ""
    else:
        # Up for a while between outages: back-to-back outages would be one long outage.
        waited = _wait_scheduler(world, start, max(10.0, args.down / 2))
        suffix = f" [waited {waited:.0f} s: the scheduler was down or just back]" if waited else ""
    with world.lock:
        if not world.external:
            pids = world.worker_pids()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            world.note(
                start, time.time(), f"all {len(pids)} LocalCluster worker processes killed{suffix}"
            )
            return
        world.scheduler_up.clear()
        _kill(world.scheduler)
        for worker in world.workers:
            _kill(worker)
        world.workers = []

    def back() -> None:
        with world.lock:
            world.start_scheduler()
            for _ in range(args.dask_workers):
                world.start_worker()
            world.scheduler_since = time.time()
            world.scheduler_up.set()
            world.note(start, time.time(), f"scheduler (and workers) down {args.down:g} s{suffix}")

    world.timer(args.down, back)


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
    retired = Counter(f.file_name.split("_", 1)[0] for f in products if f.superseded_at is not None)
    print(
        "  products replaced by a newer version (made again with a calibration that came "
        f"later) {sum(retired.values())}" + (f" {dict(retired)}" if retired else "")
    )
    print(f"  temporary files left {len(temporary)}, orphans {len(orphans)}")
    for path in temporary + orphans:
        print(f"    {path.relative_to(root)}")
    kinds = Counter(j.kind for j in jobs)
    print(f"  jobs {dict(states)}; by kind {dict(kinds)}")
    print(f"  interruptions (crashes lived through) {sum(j.interruptions for j in jobs)}")
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


def _alerts(world: World) -> None:
    """What the engines said about the faults (their logs' alert and take-over lines)."""
    said: Counter = Counter()
    for log in sorted(world.logs.glob("live*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if "ALERT:" in line:
                said["alert: " + line.split("ALERT:", 1)[1].split(" unavailable")[0].strip()] += 1
            elif "takes over" in line:
                said["standby took over"] += 1
            elif "waiting as a hot standby" in line:
                said["waited as a standby"] += 1
            elif "stale" in line and "attempt" in line:
                said["stale attempt dropped"] += 1
            elif "Traceback" in line:
                said["tracebacks"] += 1
    print("\nengine logs: " + (", ".join(f"{k} x{v}" for k, v in sorted(said.items())) or "-"))


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
            _alerts(world)
        finally:
            if args.keep_logs:
                import shutil

                shutil.copytree(world.logs, args.keep_logs, dirs_exist_ok=True)
            world.stop()
            db.dispose()
            if context is not None:
                context.__exit__(None, None, None)
    return 0


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--scheduler-mode", choices=["external", "local"], default="external")
    p.add_argument(
        "--dask-workers",
        type=int,
        default=2,
        help="worker processes: dask worker processes (external), the LocalCluster's (local)",
    )
    p.add_argument("--science", type=int, default=4, help="science frames in the night")
    p.add_argument("--interval", type=float, default=3.0, help="seconds between frames")
    p.add_argument("--kills", type=int, default=2, help="gsp live SIGKILLs")
    p.add_argument("--worker-kills", type=int, default=1)
    p.add_argument("--scheduler-kills", type=int, default=1)
    p.add_argument("--down", type=float, default=10.0, help="seconds the scheduler stays down")
    p.add_argument("--unwritable", type=float, default=10.0, help="seconds products/ is read-only")
    p.add_argument("--timeout", type=float, default=300.0, help="wait for final jobs, seconds")
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--keep-logs", type=Path, help="copy the processes' logs here at the end")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(main())
