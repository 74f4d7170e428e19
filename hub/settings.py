"""Defaults shared by the hub and the ``gsp`` account commands, read from the environment.

==========================  ===========================================================
``GSP_DATA_ROOT``           data root (default ``./gsp-data``)
``GSP_DATABASE_URL``        app database (default ``sqlite:///$GSP_DATA_ROOT/gsp.sqlite``)
``GSP_PUBLIC_URL``          the hub's public address, used in emailed links
                            (default ``http://localhost:8000/``)
``GSP_LINK_SECRET_FILE``    secret that signs set-password links
                            (default ``$GSP_DATA_ROOT/secrets/link-secret``)
``GSP_LINK_SECRET``         the secret itself (>= 32 characters), instead of the file
``GSP_SMTP_*``              see :class:`hub.email.Mailer`
==========================  ===========================================================
"""

from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path:
    """The data root: ``$GSP_DATA_ROOT`` or ``./gsp-data``, absolute."""
    return Path(os.environ.get("GSP_DATA_ROOT", "gsp-data")).resolve()


def database_url() -> str:
    """``$GSP_DATABASE_URL`` or the SQLite file in the data root."""
    return os.environ.get("GSP_DATABASE_URL") or f"sqlite:///{data_root() / 'gsp.sqlite'}"


def public_url() -> str:
    """The hub's public base address, ending with ``/``."""
    url = os.environ.get("GSP_PUBLIC_URL") or "http://localhost:8000/"
    return url if url.endswith("/") else url + "/"


def link_secret_file() -> Path:
    """Where the link-signing secret is kept."""
    env = os.environ.get("GSP_LINK_SECRET_FILE")
    return Path(env) if env else data_root() / "secrets" / "link-secret"


def outbox_dir() -> Path:
    """Folder of the embedded email outbox (``.eml`` files)."""
    return data_root() / "outbox"
