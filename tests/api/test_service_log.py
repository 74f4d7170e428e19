"""The service's log carries what its own modules say (the engine, ingest, the pipeline).

jupyter_server writes its log through its application logger only; the service's
modules log through their own loggers, which reached no handler: an operator could not
see why a frame waited (which timer, which step). Each check runs a real server app in
a subprocess (logging is configured per process).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest


def _server_log(code: str) -> str:
    """The stderr of a new Python that links the extension to a ServerApp, then runs ``code``."""
    prelude = """
        import logging
        from jupyter_server.serverapp import ServerApp
        from gsp_extension.app import GSPExtensionApp
        server = ServerApp(log_level="INFO")
        GSPExtensionApp()._link_jupyter_server_extension(server)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(prelude) + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_the_engines_and_the_pipelines_lines_reach_the_server_log_with_their_module():
    err = _server_log(
        """
        logging.getLogger("gsp_extension.engine.runner").info("reduce job 7 claimed")
        logging.getLogger("gsp_extension.ingest.watcher").warning("cannot read x.fits now")
        logging.getLogger("pipeline.reduction.frame").info("overscan fitted")
        logging.getLogger("gsp_extension.engine.runner").debug("not at INFO")
        server.log_level = "DEBUG"  # --debug: the service's debug lines too
        GSPExtensionApp()._link_jupyter_server_extension(server)  # linked again
        logging.getLogger("gsp_extension.engine.executors").debug("worker 0 away 3 s")
        """
    )
    lines = err.splitlines()
    claimed = [ln for ln in lines if "reduce job 7 claimed" in ln]
    assert len(claimed) == 1, err  # once: not also by a root or last-resort handler
    assert claimed[0].startswith("[I ") and "gsp_extension.engine.runner]" in claimed[0]
    assert any("[W " in ln and "cannot read x.fits now" in ln for ln in lines), err
    assert any("pipeline.reduction.frame]" in ln and "overscan fitted" in ln for ln in lines)
    assert "not at INFO" not in err
    assert err.count("worker 0 away 3 s") == 1, err  # a second link adds no second handler


@pytest.fixture
def scratch_logger():
    name = "gsp_extension_service_log_test"
    yield name
    logger = logging.getLogger(name)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


def test_a_level_that_is_not_one_is_refused_naming_the_choices(scratch_logger):
    from gsp_extension.service_log import ForwardHandler, route_to_app_log

    with pytest.raises(ValueError, match="'LOUD' is not one of DEBUG, INFO, WARNING"):
        route_to_app_log(logging.getLogger("app"), "LOUD", names=(scratch_logger,))
    assert not logging.getLogger(scratch_logger).handlers  # nothing half-done
    (logger,) = route_to_app_log(logging.getLogger("app"), "warning", names=(scratch_logger,))
    assert logger.level == logging.WARNING
    assert [type(h) for h in logger.handlers] == [ForwardHandler]
