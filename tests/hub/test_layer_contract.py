"""The layer contract of pyproject.toml (import-linter, run by `make test`) holds, and
fails on an arrow that points back up (here: gsp_extension importing hub)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.requirements import require

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
PACKAGES = ("hub", "voila_apps", "gsp_extension", "pipeline")


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_hold_and_a_wrong_arrow_fails(tmp_path):
    require(
        LINT_IMPORTS.exists(), f"import-linter missing at {LINT_IMPORTS} (run `make setup-test`)"
    )
    skip = shutil.ignore_patterns("__pycache__", "static", "data", "*.ipynb", "*.fits")
    for package in PACKAGES:
        shutil.copytree(REPO / package, tmp_path / package, ignore=skip)
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    kept = _lint(tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0 broken" in kept.stdout
    with open(tmp_path / "gsp_extension" / "environment.py", "a") as fh:
        fh.write("\nimport hub.accounts  # noqa: E402, F401 - an arrow pointing back up\n")
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert "gsp_extension is not allowed to import hub" in broken.stdout, broken.stdout
