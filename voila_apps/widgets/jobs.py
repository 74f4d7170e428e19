"""Job progress: jobs started from the page, polled until done, with a callback.

``tick()`` polls every active job once (``GET api/jobs/<id>/``) and is what tests call;
``start()`` runs it on a background thread every ``interval`` seconds while jobs are
active, so a product appears without reloading the page.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

ACTIVE = ("queued", "running")
KIND_LABELS = {
    "reduce": "Reduce",
    "extract": "Extract",
    "wavelength": "Calibrate wavelength",
    "calibrate_wavelength": "Calibrate wavelength",
    "reclassify": "Reclassify",
}


def job_line(job: dict) -> str:
    """One line of HTML describing a job's state."""
    kind = KIND_LABELS.get(job.get("kind", ""), job.get("kind", "job"))
    state = job.get("state", "?")
    css = {"done": "gsp-ok", "failed": "gsp-error"}.get(state, "gsp-muted")
    icon = {"queued": "⏳", "running": "⚙️", "done": "✔", "failed": "✖"}.get(state, "")
    extra = ""
    if state == "failed" and job.get("error"):
        extra = f": {html.escape(str(job['error'])[:300])}"
    return f"<div class='gsp-job {css}' data-state='{state}'>{icon} {html.escape(kind)} (job {job.get('id')}) — {state}{extra}</div>"


class JobTracker(w.VBox):
    """Shows the jobs started here and reports when each one ends.

    Parameters
    ----------
    client : GSPClient-like
        For ``job(id)``.
    on_finished : callable
        Called with the final job record (state ``done`` or ``failed``).
    interval : float
        Seconds between polls of the background thread.
    """

    def __init__(
        self, client: Any, on_finished: Callable[[dict], None], interval: float = 1.0
    ) -> None:
        self.client = client
        self.on_finished = on_finished
        self.interval = interval
        self.jobs: dict[int, dict] = {}
        self.lines = w.HTML()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        super().__init__([self.lines])
        self.add_class("gsp-jobs")

    @property
    def active(self) -> list[dict]:
        return [j for j in self.jobs.values() if j.get("state") in ACTIVE]

    def watch(self, job: dict, background: bool = True) -> None:
        """Follow ``job`` (as returned by an action)."""
        with self._lock:
            self.jobs[int(job["id"])] = dict(job)
        self._render()
        if job.get("state") not in ACTIVE:
            self.on_finished(dict(job))
        elif background:
            self.start()

    def tick(self) -> list[dict]:
        """Poll active jobs once; returns those that finished in this poll."""
        finished = []
        for job in self.active:
            try:
                new = self.client.job(job["id"])
            except Exception as exc:
                new = {**job, "state": "failed", "error": f"cannot read the job: {exc}"}
            with self._lock:
                self.jobs[int(job["id"])] = new
            if new.get("state") not in ACTIVE:
                finished.append(new)
        self._render()
        for job in finished:
            self.on_finished(job)
        return finished

    def start(self) -> None:
        """Poll in the background while jobs are active."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gsp-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if not self.active:
                return
            try:
                self.tick()
            except Exception:  # a broken callback must not kill the poller silently
                import traceback

                traceback.print_exc()

    def _render(self) -> None:
        recent = sorted(self.jobs.values(), key=lambda j: -int(j["id"]))[:5]
        self.lines.value = "".join(job_line(j) for j in recent)
