"""Skips for things the README's test command installs.

On a developer's partial setup a missing piece skips with its reason; under CI
(``CI=true``), where ``make test`` has installed everything, it fails instead, so a
broken install step can never hide behind a skip.
"""

from __future__ import annotations

import os

import pytest


def require(present: bool, what: str) -> None:
    """Skip (or fail under CI) unless ``present``; ``what`` says what is missing and the fix."""
    if present:
        return
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{what} (CI=true: make test installs it, so this is an install bug)")
    pytest.skip(what)
