"""The data browser's banner when live processing has stopped or lags (staff only)."""

from __future__ import annotations

from gsp_extension.client import GSPAPIError
from voila_apps.widgets.data_view import DataView
from voila_apps.widgets.preferences import Preferences

DEGRADED = {
    "status": "degraded",
    "problems": ["storage unavailable since 2026-12-04T20:00:00: jobs are retried <soon>"],
}


class HealthClient:
    """The client's ``health()`` as the service answers it: a report, or a refusal."""

    def __init__(self, client, answers):
        self._client = client
        self.answers = list(answers)
        self.asked = 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def health(self):
        self.asked += 1
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_staff_see_a_banner_while_processing_is_degraded_and_none_once_ok(client):
    health = HealthClient(client, [DEGRADED, {"status": "ok", "problems": []}])
    view = DataView(health, Preferences(), live_interval=0)
    view.refresh_health()
    banner = view.live_status.value
    assert "Processing is degraded" in banner and "gsp-health-degraded" in banner
    assert "&lt;soon&gt;" in banner  # problems are escaped
    view.refresh_health()
    assert "gsp-health-banner" not in view.live_status.value
    assert "gsp-live" in view.live_status.value  # the feed's indicator stays


def test_a_stopped_engine_says_so(client):
    report = {"status": "stopped", "problems": ["no job engine is running"]}
    view = DataView(HealthClient(client, [report]), Preferences(), live_interval=0)
    view.refresh_health()
    assert "Processing has stopped" in view.live_status.value


def test_others_are_refused_once_and_never_asked_again(client):
    refused = GSPAPIError(403, "only staff may see the processing health")
    health = HealthClient(client, [refused, DEGRADED])
    view = DataView(health, Preferences(), live_interval=0)
    view.refresh_health()
    view.refresh_health()
    assert health.asked == 1 and view.health_banner == ""
