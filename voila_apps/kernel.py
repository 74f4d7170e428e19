"""The kernel of the Voilà apps: ipykernel, plus the app's imports while the page loads.

    python -m voila_apps.kernel -f <connection file>     (kernelspec ``gsp-app``)

Voilà's front end runs the notebook only once its own scripts are loaded and connected,
~0.5-1 s after the kernel has started; the app's imports then came first in the
notebook's run. Here a thread makes them in that gap, after the kernel is initialized
(so that the kernel answers as soon as before), and calls the API once so that the
service has checked the server's token before the app's first request. The notebook's
``from voila_apps.app import main`` then finds the module imported (or waits for the
thread to finish importing it), and the app takes the status the warm-up got instead of
asking again (:func:`warm_status`). For the data browser's page, which draws a plot as
soon as its file list is shown, the thread then imports the plotting stack (matplotlib,
astropy's FITS reader: ~0.7 s of CPU), which the first plot would otherwise import while
the user waits; it stops as soon as the notebook has started the app. The kernelspec lives in ``voila_apps/jupyter/kernels``
(on ``JUPYTER_PATH`` of the users' servers, see :mod:`voila_apps.config`).
"""

from __future__ import annotations

import logging
import os
import sys
import threading

#: What the thread imports: the app and everything its first page needs.
WARM_MODULES = ("voila_apps.app", "gsp_extension.client")
#: What the first plot imports (viewer, FITS reader, PNG drawing): imported by the
#: thread after the app and the API call, for the pages that plot at once.
PLOT_MODULES = (
    "voila_apps.widgets.viewer",
    "astropy.io.fits",
    "astropy.visualization",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
)
#: The notebooks whose page draws a plot as soon as it opens.
PLOTTING_NOTEBOOKS = ("data_browser.ipynb",)

_status: dict | None = None  # the API's status as the warm-up got it


def warm_status() -> dict | None:
    """The API's status answer of the warm-up (``GSPClient().status()``), or None when
    it has not (yet) got one: the app's default client then need not ask again."""
    return _status


def plots_at_once(environ=os.environ) -> bool:
    """Whether this kernel serves a page that plots as soon as it opens (Voilà puts the
    page's path in ``SCRIPT_NAME`` of the kernel's environment)."""
    return environ.get("SCRIPT_NAME", "").endswith(PLOTTING_NOTEBOOKS)


def warm_up() -> None:
    """Import the app's modules and make one API call; failures are the notebook's to see."""
    global _status
    import importlib

    try:
        for name in WARM_MODULES:
            importlib.import_module(name)
        from gsp_extension.client import GSPClient, GSPError

        try:
            _status = GSPClient().status()
        except (GSPError, ValueError) as exc:  # ValueError: no API URL or token here
            logging.getLogger("voila_apps").info("kernel warm-up: no API call: %s", exc)
        if plots_at_once():
            app = importlib.import_module("voila_apps.app")
            for name in PLOT_MODULES:
                # Only while the notebook has not started the app: the page's first
                # file list must not share the interpreter with these imports (the
                # first plot imports what is left, after the list).
                if app.STARTED.is_set():
                    break
                importlib.import_module(name)
    except ImportError as exc:  # the notebook's own import says it to the user
        logging.getLogger("voila_apps").warning("kernel warm-up: %s", exc)


def main() -> None:
    """Start an IPython kernel as ``ipykernel_launcher`` does, warming up on a thread."""
    from ipykernel.kernelapp import IPKernelApp

    # Run as ``python -m``, this file is ``__main__``: the warm-up must keep its answer
    # in the importable module, where the app looks for it (warm_status).
    from voila_apps import kernel

    app = IPKernelApp.instance()
    app.initialize()
    threading.Thread(target=kernel.warm_up, name="gsp-warm-up", daemon=True).start()
    app.start()


if __name__ == "__main__":
    # As ipykernel_launcher: the working folder leaves sys.path while the kernel loads
    # (InteractiveShellApp puts it back), so a user's file cannot shadow a module.
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]
    main()
