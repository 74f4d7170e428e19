"""Background work of the gsp service: the dask workers below the web's CPU priority, in a
scheduling group of their own, and the service's warm-up (what its first requests would
import) in a thread as it starts. Real processes, each in a subprocess of its own
(a session change or a niceness must not touch the test run)."""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gsp_extension.engine.executors import SERVICE_WARM_UP

AUTOGROUPS = Path("/proc/self/autogroup").exists()


def _run(code: str) -> dict:
    """Run ``code`` in a new Python (a child in this run's session); the JSON it prints
    last."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not AUTOGROUPS, reason="no Linux autogroups here (/proc/self/autogroup)")
def test_a_dask_worker_leaves_the_services_scheduling_group_for_a_nicer_one():
    """Under autogroups the CPU is shared between sessions first: a worker left in the
    service's session, however nice, weighed as much as a user's server or its page
    kernel. The plugin each LocalCluster worker runs at start moves it to a session and
    group of its own, niced by the increment; its parent's group is untouched."""
    out = _run(
        """
        import asyncio, json, os
        from pathlib import Path
        from gsp_extension.engine.worker_start import WorkerStart
        # The root group (init's session, where a CI runner may start us) reads empty
        before = (Path("/proc/self/autogroup").read_text().split() or ["root"])[0]
        assert os.getsid(0) != os.getpid()  # in its parent's session, as a dask worker
        asyncio.run(WorkerStart((), 10).setup())  # nothing to preload: lowered at once
        group, _, nice = Path("/proc/self/autogroup").read_text().split()
        print(json.dumps({
            "leader": os.getsid(0) == os.getpid(), "moved": group != before,
            "group_nice": int(nice), "thread_nice": os.getpriority(os.PRIO_PROCESS, 0),
        }))
        """
    )
    mine = Path("/proc/self/autogroup").read_text().split()
    assert out["leader"] and out["moved"], out
    assert out["group_nice"] == min(19, 10), out
    assert out["thread_nice"] == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)
    assert Path("/proc/self/autogroup").read_text().split() == mine  # this run: unchanged


def _lazy_imports(*functions) -> set[str]:
    """Modules imported inside the bodies of ``functions`` (absolute names)."""
    names = set()
    for function in functions:
        module = inspect.getmodule(function).__name__
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(function)))):
            if isinstance(node, ast.ImportFrom):
                if node.level:  # relative to the function's package
                    base = module.rsplit(".", node.level)[0]
                    names.add(f"{base}.{node.module}" if node.module else base)
                else:
                    names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
    return names


def _chooser_lazy_imports() -> set[str]:
    """What the standard chooser's request imports lazily: the engine's automatic choice
    and the stored sensitivities it ranks."""
    from gsp_extension.api.standards import standard_choices
    from gsp_extension.engine import flux

    return _lazy_imports(
        standard_choices,
        flux.automatic_standards,
        flux._stored_sensitivity,
        flux.usable_sensitivities,
        flux.sensitivity_used,
        flux.reduced_frame_of,
        flux.calibrated_spectra,
    )


@pytest.fixture(scope="module")
def service_start(tmp_path_factory):
    """One new Python that starts the service's extension as the service does (its
    warm-up thread joined), then imports what the standard chooser imports lazily.

    Both tests below read it: a Python that loads the service's stack costs seconds (two
    of them were most of this module's time), and each test asks its own question of the
    same start.
    """
    root = tmp_path_factory.mktemp("service-start")
    lazy = _chooser_lazy_imports()
    out = _run(
        f"""
        import importlib, json, os, sys, threading, types
        probe = types.ModuleType("gsp_warm_probe")
        seen = {{}}
        def record():
            seen["nice"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        probe.record = record
        sys.modules["gsp_warm_probe"] = probe
        from gsp_extension.app import GSPExtensionApp
        from gsp_extension.engine.executors import SERVICE_WARM_UP, warm_up
        root = {str(root)!r}
        app = GSPExtensionApp(
            data_root=root, database_url="sqlite:///" + root + "/gsp.sqlite", live=False,
        )
        app.warm_up = [*app.warm_up, "gsp_warm_probe:record"]
        before = [m for m in SERVICE_WARM_UP if m in sys.modules]
        app.initialize_settings()
        app._warming.join(120)
        after = [m for m in SERVICE_WARM_UP if m in sys.modules]
        # The standard chooser's first request, once the service has started and warmed.
        import gsp_extension.api.routes  # the service as it starts
        warm_failed = warm_up(SERVICE_WARM_UP)
        known = set(sys.modules)
        for name in {sorted(lazy)!r}:
            importlib.import_module(name)
        print(json.dumps({{
            "before": before, "after": after,
            "thread_nice": seen.get("nice"), "main_nice": os.getpriority(os.PRIO_PROCESS, 0),
            "thread": app._warming.name, "main": threading.current_thread().name,
            "default": list(GSPExtensionApp().warm_up),
            "warm_failed": warm_failed,
            "chooser_new": sorted(set(sys.modules) - known),
        }}))
        """
    )
    return lazy, out


def test_the_service_loads_the_standard_choosers_imports_in_a_thread_as_it_starts(
    service_start,
):
    """The service's first ``standards`` request (a spectrum's first click) imported the
    flux-calibration stack on the event loop. The service now loads it as it starts, in
    a thread of its own at the serving thread's priority (a nicer one held the GIL and
    the import locks with the serving thread waiting behind it)."""
    _, out = service_start
    assert out["default"] == list(SERVICE_WARM_UP)
    assert out["before"] == [] and out["after"] == list(SERVICE_WARM_UP), out
    assert out["thread"] != out["main"]  # off the thread that serves
    assert out["thread_nice"] == out["main_nice"] == os.getpriority(os.PRIO_PROCESS, 0), out


def test_the_service_warm_up_covers_what_the_standard_chooser_imports_on_first_use(
    service_start,
):
    """What the chooser's request imports lazily (the engine's automatic choice and the
    stored sensitivities it ranks) adds no module once the warm-up has run: a lazy import
    added there later must join SERVICE_WARM_UP, or the first click pays it again."""
    lazy, out = service_start
    assert "pipeline.fluxcal.apply" in lazy  # the stack the first click paid for
    assert out["warm_failed"] == [], out["warm_failed"]
    new = out["chooser_new"]
    assert new == [], f"the standard chooser's first request still imports {new}"
