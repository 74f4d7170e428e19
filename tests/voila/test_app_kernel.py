"""The apps' kernel (kernelspec ``gsp-app``): an IPython kernel that imports the app early.

A real kernel started by jupyter_client from the kernelspec shipped in
``voila_apps/jupyter/kernels`` (the folder the users' servers put on JUPYTER_PATH).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import start_new_kernel

import voila_apps
from voila_apps.config import template_root

APPS = sorted(Path(voila_apps.__file__).parent.glob("*.ipynb"))


@pytest.fixture()
def app_kernel(monkeypatch):
    monkeypatch.setenv("JUPYTER_PATH", str(template_root()))
    # No hub here: the warm-up's API call fails, which must not show or stop anything.
    monkeypatch.delenv("GSP_API_URL", raising=False)
    km, kc = start_new_kernel(kernel_name="gsp-app")
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def run(kc, code: str) -> str:
    """Execute ``code``; its stdout (errors fail the test)."""
    out = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            pytest.fail("\n".join(msg["content"]["traceback"]))

    kc.execute_interactive(code, timeout=60, output_hook=hook)
    return "".join(out)


def test_every_app_notebook_runs_on_the_app_kernel():
    spec = KernelSpecManager(kernel_dirs=[str(template_root() / "kernels")]).get_kernel_spec(
        "gsp-app"
    )
    assert spec.argv[:3] == ["python", "-m", "voila_apps.kernel"]
    assert spec.language == "python"
    for path in APPS:
        nb = nbformat.read(path, as_version=4)
        assert nb.metadata.kernelspec.name == "gsp-app", path.name
        json.loads(path.read_text())


def test_the_kernel_imports_the_app_before_the_notebook_asks(app_kernel):
    # Nothing is executed that imports the app: only the warm-up thread can have done it.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if run(app_kernel, "import sys; print('voila_apps.app' in sys.modules)").strip() == "True":
            break
        time.sleep(0.2)
    else:
        pytest.fail("voila_apps.app was not imported by the kernel's warm-up")
    # ...and the notebook's code runs as in any IPython kernel.
    assert run(
        app_kernel, "from voila_apps.app import main, parse_query\nprint(parse_query('file=7'))"
    )
    assert run(app_kernel, "print(6 * 7)").strip() == "42"


def test_the_working_folder_cannot_shadow_modules(app_kernel):
    # As ipykernel_launcher: the folder the kernel starts in is not at the head of
    # sys.path while the kernel loads.
    path0 = run(app_kernel, "import os, sys; print(sys.path[0] == os.getcwd())").strip()
    assert path0 == "False"


def test_the_data_browsers_kernel_imports_the_plotting_stack_early(monkeypatch):
    # Voilà names the page in the kernel's SCRIPT_NAME; the data browser plots at once,
    # so its kernel imports what the first plot needs before the notebook asks.
    from voila_apps.kernel import PLOT_MODULES, plots_at_once, warm_status

    assert plots_at_once({"SCRIPT_NAME": "/user/a/voila/render/data_browser.ipynb"})
    assert not plots_at_once({"SCRIPT_NAME": "/user/a/voila/render/logs.ipynb"})
    assert not plots_at_once({})
    assert warm_status() is None, "no warm-up ran in this process"
    monkeypatch.setenv("JUPYTER_PATH", str(template_root()))
    monkeypatch.setenv("SCRIPT_NAME", "/user/a/voila/render/data_browser.ipynb")
    monkeypatch.delenv("GSP_API_URL", raising=False)
    km, kc = start_new_kernel(kernel_name="gsp-app")
    try:
        check = f"import sys; print(all(m in sys.modules for m in {list(PLOT_MODULES)!r}))"
        deadline = time.monotonic() + 60
        while run(kc, check).strip() != "True":
            if time.monotonic() > deadline:
                pytest.fail(f"the warm-up did not import {PLOT_MODULES}")
            time.sleep(0.2)
        # No API here: the app gets no status from the warm-up, and asks itself.
        assert run(kc, "from voila_apps.kernel import warm_status; print(warm_status())") == (
            "None\n"
        )
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_warm_up_stops_importing_ahead_once_the_app_is_started(monkeypatch, tmp_path):
    import sys
    import threading

    import voila_apps.app
    from voila_apps import kernel

    (tmp_path / "gsp_probe_ahead.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SCRIPT_NAME", "/user/a/voila/render/data_browser.ipynb")
    monkeypatch.delenv("GSP_API_URL", raising=False)
    monkeypatch.setattr(kernel, "PLOT_MODULES", ("gsp_probe_ahead",))
    monkeypatch.setattr(voila_apps.app, "STARTED", threading.Event())
    monkeypatch.delitem(sys.modules, "gsp_probe_ahead", raising=False)
    voila_apps.app.STARTED.set()  # the notebook built the app already
    kernel.warm_up()
    assert "gsp_probe_ahead" not in sys.modules
    voila_apps.app.STARTED.clear()  # not yet: the warm-up imports ahead
    kernel.warm_up()
    assert "gsp_probe_ahead" in sys.modules
    monkeypatch.delitem(sys.modules, "gsp_probe_ahead")
