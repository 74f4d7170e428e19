"""Job progress: jobs started from the page, followed until done, with a callback.

The page's event stream (:mod:`.live`) reports a job's end: :meth:`JobTracker.handle_event`
then reads that job once. ``tick()`` polls every active job (``GET api/jobs/<id>/``);
``start()`` runs it on a background thread while jobs are active: every ``interval``
seconds when there is no working event stream, else only every ``safety_interval``
seconds as a safety net.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from gsp_extension.client import JobKind, JobState

from .errors import GSPError, log

ACTIVE = (JobState.QUEUED, JobState.RUNNING)


def kind_label(kind: str | None) -> str:
    """How the page names a job kind (the kind itself when this version does not know it)."""
    try:
        return JobKind(kind).label
    except ValueError:
        return kind or "job"


def job_line(job: dict) -> str:
    """One line of HTML describing a job's state."""
    kind = kind_label(job.get("kind"))
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
        Seconds between polls while no event stream works.
    live : LiveFeed-like, optional
        The page's event feed; while ``live.healthy``, polls are the safety net only.
    safety_interval : float
        Seconds between polls while the event stream works.
    """

    def __init__(
        self,
        client: Any,
        on_finished: Callable[[dict], None],
        interval: float = 2.0,
        live: Any = None,
        safety_interval: float = 60.0,
    ) -> None:
        self.client = client
        self.on_finished = on_finished
        self.interval = interval
        self.live = live
        self.safety_interval = safety_interval
        self.polls = 0
        self.jobs: dict[int, dict] = {}
        self.lines = w.HTML()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        super().__init__([self.lines], _dom_classes=("gsp-jobs",))

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

    def handle_event(self, event: dict) -> dict | None:
        """An event of the stream: when it ends a job followed here, read that job.

        Returns the job's new record when it ended, else None.
        """
        job_id = event.get("job_id")
        if job_id is None or not str(event.get("event", "")).startswith("job."):
            return None
        with self._lock:
            job = self.jobs.get(int(job_id))
        if job is None or job.get("state") not in ACTIVE:
            return None
        finished = self._update([job])
        return finished[0] if finished else None

    def tick(self) -> list[dict]:
        """Poll active jobs once; returns those that finished in this poll."""
        self.polls += 1
        return self._update(self.active)

    def _update(self, jobs: list[dict]) -> list[dict]:
        finished = []
        for job in jobs:
            try:
                new = self.client.job(job["id"])
            except GSPError as exc:
                new = {**job, "state": "failed", "error": f"cannot read the job: {exc.detail}"}
            with self._lock:
                was = self.jobs.get(int(job["id"]), {}).get("state")
                self.jobs[int(job["id"])] = new
            # Reported once, whichever of the stream and the poller sees the end first.
            if new.get("state") not in ACTIVE and was in ACTIVE:
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
        last_poll = time.monotonic()
        while not self._stop.wait(self.interval):
            if not self.active:
                return
            live = self.live is not None and getattr(self.live, "healthy", False)
            if live and time.monotonic() - last_poll < self.safety_interval:
                continue
            last_poll = time.monotonic()
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - a broken callback must not kill the poller
                log.exception("job tracker: a finished job's callback failed")

    def _render(self) -> None:
        recent = sorted(self.jobs.values(), key=lambda j: -int(j["id"]))[:5]
        self.lines.value = "".join(job_line(j) for j in recent)
