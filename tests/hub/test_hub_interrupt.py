"""A hub started with SIGINT ignored (``nohup gsp up &``) still starts its services with
SIGINT heard: the hub stops them with it (:func:`hub.deployment.restore_interrupt`)."""

from __future__ import annotations

import signal
import subprocess
import sys

CHILD_IGNORES_SIGINT = """
import subprocess, sys
{restore}
out = subprocess.run(
    ["grep", "SigIgn", "/proc/self/status"], capture_output=True, text=True, check=True
).stdout
print(int(out.split()[1], 16) >> (2 - 1) & 1)
"""


def _child_ignores_sigint(restore: bool) -> bool:
    """Whether a process started by a process that began with SIGINT ignored ignores it."""
    code = CHILD_IGNORES_SIGINT.format(
        restore="from hub.deployment import restore_interrupt; restore_interrupt()"
        if restore
        else ""
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    ).stdout
    return out.strip() == "1"


def test_a_hub_started_with_sigint_ignored_starts_services_that_hear_it():
    assert _child_ignores_sigint(restore=False)  # what a background start hands down
    assert not _child_ignores_sigint(restore=True)
