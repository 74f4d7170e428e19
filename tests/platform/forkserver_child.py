"""What a child of the forkserver runs in tests: reports what it was given, then exits.

argv: <report path> <exit code | "sleep">
"""

import atexit
import gc
import json
import os
import signal
import sys
import time

#: The pids of the processes that ran warm() (the forkserver's --warm, before forking).
WARMED: list[int] = []


def warm():
    WARMED.append(os.getpid())


def die_after_fork():
    """--warm of a forkserver killed between a fork and its answer (the OOM killer)."""
    os.register_at_fork(after_in_parent=lambda: os.kill(os.getpid(), signal.SIGKILL))


def main():
    report, action = sys.argv[1], sys.argv[2]
    open_fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))  # before any of ours
    with open(report + ".tmp", "w") as f:
        json.dump(
            {
                "argv": sys.argv[1:],
                "env": dict(os.environ),
                "cwd": os.getcwd(),
                "session_leader": os.getsid(0) == os.getpid(),
                "ppid": os.getppid(),
                "open_fds": open_fds,
                "warmed_in": WARMED,
                "frozen_objects": gc.get_freeze_count(),
            },
            f,
        )
    os.replace(report + ".tmp", report)
    # As a server's cleanup (kernels, files) does: it must run when the server returns.
    atexit.register(lambda: open(report + ".atexit", "w").close())
    if action == "sleep":
        time.sleep(600)
    return int(action)
