"""The service's own module loggers write to the service's log.

jupyter_server logs through its application logger (``ServerApp``), which does not
propagate and whose handler is the only one in the process: the root logger has none.
The modules of the service (``gsp_extension.engine.*``, ``gsp_extension.ingest.*``, the
pipeline steps the engine runs itself) log through ``logging.getLogger(__name__)``,
which reached no handler: their warnings went to Python's last-resort stderr writer
without a time, and their information lines (a job claimed, the dask cluster up, the
watcher started) nowhere. An operator could not tell why a frame waited.
"""

from __future__ import annotations

import logging

#: The loggers (and their children) that the service's log receives.
SERVICE_LOGGERS = ("gsp_extension", "pipeline")


class ForwardHandler(logging.Handler):
    """Hands each record to another logger's handlers, keeping its name and time.

    Parameters
    ----------
    target : logging.Logger
        The application's logger (its handlers format and filter by level).
    """

    def __init__(self, target: logging.Logger) -> None:
        super().__init__()
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        """Pass ``record`` to the target logger's handlers."""
        self.target.handle(record)


def route_to_app_log(
    app_log: logging.Logger, level: int | str, names: tuple[str, ...] = SERVICE_LOGGERS
) -> list[logging.Logger]:
    """Make the loggers ``names`` write their records at ``level`` and above to ``app_log``.

    Called again (a second link of the extension), it replaces its earlier handler
    rather than adding a second one, so no line is written twice.

    Parameters
    ----------
    app_log : logging.Logger
        The server's logger (``serverapp.log``).
    level : int or str
        The lowest level passed on: the server's ``log_level``, so that ``--debug``
        shows the service's debug lines too.
    names : tuple of str
        Logger names; their children follow them.

    Returns
    -------
    list of logging.Logger
        The loggers routed.
    """
    if isinstance(level, str):
        number = logging.getLevelName(level.upper())
        if not isinstance(number, int):
            raise ValueError(
                f"log level {level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
            )
        level = number
    routed = []
    for name in names:
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if isinstance(h, ForwardHandler)]:
            logger.removeHandler(old)
        logger.addHandler(ForwardHandler(app_log))
        logger.setLevel(level)
        routed.append(logger)
    return routed
