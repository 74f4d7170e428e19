"""Helpers for the store tests (a module name of its own: every test folder has a conftest)."""

from __future__ import annotations

import hashlib


def digest(text: str) -> str:
    """A SHA-256 hex digest standing for a file's content."""
    return hashlib.sha256(text.encode()).hexdigest()
