"""The ``gsp`` console script lists and dispatches its subcommands."""

import subprocess
import sys
from pathlib import Path

GSP = Path(sys.executable).parent / "gsp"


def test_help_lists_subcommands():
    out = subprocess.run([GSP, "--help"], capture_output=True, text=True, check=True).stdout
    assert "simulate" in out


def test_no_command_prints_help_and_fails():
    res = subprocess.run([GSP], capture_output=True, text=True)
    assert res.returncode == 2
    assert "COMMAND" in res.stdout


def test_unknown_command_is_refused():
    res = subprocess.run([GSP, "no-such-thing"], capture_output=True, text=True)
    assert res.returncode != 0
    assert "invalid choice" in res.stderr
