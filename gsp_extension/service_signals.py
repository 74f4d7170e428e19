"""SIGINT stops the service cleanly, as SIGTERM does.

JupyterHub stops a managed service (and a spawned server) with SIGINT, then SIGTERM
after ``interrupt_timeout`` (30 s), then SIGKILL after ``term_timeout`` (30 s).
jupyter_server installs its SIGINT handler only when stdin is a terminal, which a
service started by a hub under systemd, Kubernetes or a test has not: SIGINT then
raised ``KeyboardInterrupt`` in the event loop, which ended with nothing stopped
(``stop_extension`` never ran). The interpreter then waited at exit for the threads
still running (the watcher's, the dask nanny's) while the worker processes lived on; the
SIGTERM that followed found no event loop to stop the server on, and only SIGKILL
ended it, a minute after the hub asked. Jobs in flight were cut, not drained.
"""

from __future__ import annotations

import signal
import threading


def stop_on_interrupt(serverapp) -> bool:
    """Make SIGINT stop ``serverapp`` as its SIGTERM handler does (``stop(from_signal=True)``).

    Parameters
    ----------
    serverapp : jupyter_server.serverapp.ServerApp
        The running server; its ``stop`` runs the extensions' ``stop_extension`` (the job
        engine's drain, the dask cluster's close) and then stops the event loop.

    Returns
    -------
    bool
        Whether the handler was installed: only the main thread may install one.
    """
    if threading.current_thread() is not threading.main_thread():
        return False

    def handler(signum, frame) -> None:
        serverapp.log.info("gsp: received SIGINT, stopping")
        serverapp.stop(from_signal=True)

    signal.signal(signal.SIGINT, handler)
    return True
