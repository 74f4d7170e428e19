"""Voilà's own config file, read by its server extension from ``JUPYTER_CONFIG_PATH``.

Voilà 0.5.8 (pinned: its widget manager is built against the JupyterLab core it ships,
so the page logs no "Unsatisfied version" of a shared module) builds the server
extension's ``VoilaConfiguration`` from ``voila.py``/``voila.json`` files only, not from
the server's configuration (fixed in 0.5.9, voila#1535): the settings of
``hub/singleuser_config.py`` would not reach it. Later releases merge this file over the
server's configuration, so the same settings apply with either.
"""

# ruff: noqa: F821 - `c` is provided by the traitlets config loader
from hub.platform import configure_voila
from voila_apps.config import configure_voila_template

c = get_config()  # noqa: F821

configure_voila(c)
configure_voila_template(c)
