"""What every handler needs, built once by the extension app."""

from __future__ import annotations

import datetime as dt
import logging
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..store import Database
from .hub import HubClient
from .queries import CountCache


@dataclass(frozen=True)
class GSPContext:
    """Shared, read-only state of the service (``handler.settings["gsp"]``).

    Attributes
    ----------
    db : Database
        The app database.
    data_root : Path
        Resolved data root; files outside it are never served.
    cache_dir : Path
        Preview cache.
    default_page_size, max_page_size, count_bound : int
        Listing limits (see the traits of :class:`gsp_extension.app.GSPExtensionApp`).
    tz : tzinfo
        Zone of timestamps in records.
    instrument_names : frozenset of str
        Hub users/services that may register files.
    hub : HubClient or None
        The hub's API, to mirror users and groups; ``None`` outside a hub.
    mailer : object
        Has ``asend(to, subject, body)`` (see :mod:`gsp_extension.api.mail`).
    query_executor : Executor or None
        Thread pool for database work; ``None`` runs it on the event loop.
    counts : CountCache or None
        Recent listing counts (see ``count_cache_seconds``).
    preview_cache_max_bytes : int
        Bound on the preview cache (see ``preview_cache_max_bytes``).
    """

    db: Database
    data_root: Path
    cache_dir: Path
    default_page_size: int
    max_page_size: int
    count_bound: int
    tz: dt.tzinfo
    instrument_names: frozenset[str]
    hub: HubClient | None
    mailer: Any
    events_poll_interval: float
    events_keepalive: float
    log: logging.Logger | Any
    query_executor: Executor | None = None
    counts: CountCache | None = None
    preview_cache_max_bytes: int = 256 * 2**20
