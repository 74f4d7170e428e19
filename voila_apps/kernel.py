"""The kernel of the Voilà apps: ipykernel, plus the app's imports while the page loads.

    python -m voila_apps.kernel -f <connection file>     (kernelspec ``gsp-app``)

Voilà's front end runs the notebook only once its own scripts are loaded and connected,
~0.5-1 s after the kernel has started; the app's imports then came first in the
notebook's run. Here a thread makes them in that gap, after the kernel is initialized
(so that the kernel answers as soon as before), and calls the API once so that the
service has checked the server's token before the app's first request. The notebook's
``from voila_apps.app import main`` then finds the module imported (or waits for the
thread to finish importing it). The kernelspec lives in ``voila_apps/jupyter/kernels``
(on ``JUPYTER_PATH`` of the users' servers, see :mod:`voila_apps.config`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

#: What the thread imports: the app and everything its first page needs.
WARM_MODULES = ("voila_apps.app", "gsp_extension.client")


def warm_up() -> None:
    """Import the app's modules and make one API call; failures are the notebook's to see."""
    import importlib

    try:
        for name in WARM_MODULES:
            importlib.import_module(name)
        from gsp_extension.client import GSPClient, GSPError

        try:
            GSPClient().status()
        except (GSPError, ValueError) as exc:  # ValueError: no API URL or token here
            logging.getLogger("voila_apps").info("kernel warm-up: no API call: %s", exc)
    except ImportError as exc:  # the notebook's own import says it to the user
        logging.getLogger("voila_apps").warning("kernel warm-up: %s", exc)


def main() -> None:
    """Start an IPython kernel as ``ipykernel_launcher`` does, warming up on a thread."""
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize()
    threading.Thread(target=warm_up, name="gsp-warm-up", daemon=True).start()
    app.start()


if __name__ == "__main__":
    # As ipykernel_launcher: the working folder leaves sys.path while the kernel loads
    # (InteractiveShellApp puts it back), so a user's file cannot shadow a module.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    main()
