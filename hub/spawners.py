"""Spawners that tell the hub a user's server is up as soon as it answers.

After ``Spawner.start()`` returns, JupyterHub polls the new server with an exponential
backoff (0.2 s, doubling, up to 5 s between tries). A server that takes ~2.5 s to
start is then seen up only at the next try, ~3 s later: a cold login waited ~5.5 s for
a server that answered after ~2.6 s. :class:`ReadyWhenUp` polls the server's API
every ``ready_poll_interval`` seconds inside ``start()`` and returns when it answers,
so that the hub's first try succeeds.
"""

from __future__ import annotations

import asyncio
import time

from jupyterhub.httpclient import fetch
from jupyterhub.spawner import SimpleLocalProcessSpawner
from jupyterhub.utils import url_path_join
from traitlets import Float, HasTraits


class ReadyWhenUp(HasTraits):
    """Mixin for a spawner whose ``start()`` returns ``(ip, port)`` or a URL."""

    ready_poll_interval = Float(
        0.05,
        config=True,
        help="""Seconds between two tries to reach a starting user server from
        Spawner.start() (0 turns the polling off and leaves it to the hub's backoff).""",
    )

    async def start(self):
        """Start the server, then wait until its API answers (bounded by ``http_timeout``)."""
        where = await super().start()
        # With internal TLS the hub's own backoff (with its certificates) does the waiting.
        if self.ready_poll_interval > 0 and not self.internal_ssl:
            await self._wait_answering(where)
        return where

    async def _wait_answering(self, where) -> None:
        if isinstance(where, str):
            root = where
        else:
            ip, port = where
            ip = f"[{ip}]" if ":" in ip else ip
            root = f"http://{ip}:{int(port)}"
        url = url_path_join(root, self.server.base_url, "api")
        deadline = time.monotonic() + self.http_timeout
        while time.monotonic() < deadline:
            # A server that died is the hub's business (it reports the exit status).
            if await self.poll() is not None:
                return
            try:
                response = await fetch(url, raise_for_status=False, allow_redirects=False)
            except Exception:
                # Not listening yet (refused), or TLS the hub sets up itself: try again.
                pass
            else:
                if response.status < 500:
                    return
            await asyncio.sleep(self.ready_poll_interval)
        self.log.warning("%s's server did not answer at %s from start()", self.user.name, url)


class ReadySimpleLocalProcessSpawner(ReadyWhenUp, SimpleLocalProcessSpawner):
    """``SimpleLocalProcessSpawner`` (config section ``SimpleLocalProcessSpawner``
    applies) that returns from ``start()`` once the server answers."""
