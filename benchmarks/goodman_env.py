"""Set up goodman_pipeline (the reference pipeline) in its own virtual environment.

``python benchmarks/goodman_env.py`` creates ``benchmarks/.goodman-venv/`` (gitignored)
and installs ``goodman-pipeline`` from PyPI into it, so its pinned dependencies never
touch the project's environment and both pipelines run side by side. Run again, it
only checks that ``redccd`` is there. Other scripts call :func:`ensure` and
:func:`redccd_command`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".goodman-venv"
#: The version measured in PLATFORM_NOTES.md.
GOODMAN_REQUIREMENT = "goodman-pipeline==3.1.0"


def _bin(name: str) -> Path:
    return VENV / ("Scripts" if os.name == "nt" else "bin") / name


def redccd_command() -> list[str]:
    """The command that runs goodman's ``redccd`` from its environment."""
    return [str(_bin("redccd"))]


def is_ready() -> bool:
    return _bin("redccd").exists() and _bin("python").exists()


def ensure(quiet: bool = False) -> Path:
    """Create the environment and install goodman-pipeline if needed; return the venv."""
    if is_ready():
        return VENV
    out = subprocess.DEVNULL if quiet else None
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if Path(uv).exists():
        # uv is the fastest ordinary client; it resolves from PyPI like pip.
        subprocess.run([uv, "venv", "--python", sys.executable, str(VENV)], check=True, stdout=out)
        subprocess.run(
            [uv, "pip", "install", "--python", str(_bin("python")), GOODMAN_REQUIREMENT],
            check=True,
            stdout=out,
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, stdout=out)
        subprocess.run(
            [str(_bin("python")), "-m", "pip", "install", GOODMAN_REQUIREMENT],
            check=True,
            stdout=out,
        )
    if not is_ready():
        raise RuntimeError(f"{GOODMAN_REQUIREMENT} installed but {_bin('redccd')} is missing")
    return VENV


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recreate", action="store_true", help="delete and rebuild the venv")
    args = parser.parse_args(argv)
    if args.recreate and VENV.exists():
        shutil.rmtree(VENV)
    ensure()
    version = subprocess.run(
        [str(_bin("python")), "-c", "import goodman_pipeline; print(goodman_pipeline.__version__)"],
        capture_output=True,
        text=True,
    )
    print(f"goodman-pipeline {version.stdout.strip() or '?'} ready in {VENV}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
