"""deploy/: the Kubernetes files agree with the project's config and document every switch."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from traitlets.config.loader import PyFileConfigLoader

import hub.platform
from hub.platform import DEFAULT_URL, SINGLEUSER_CONFIG

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
IMAGE_ROOT = "/opt/gsp-live/"  # where the images copy the repository


@pytest.fixture(scope="module")
def values():
    return yaml.safe_load((DEPLOY / "z2jh-values.yaml").read_text())


@pytest.fixture(scope="module")
def service_manifests():
    return {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "gsp-service.yaml").read_text())}


@pytest.fixture
def hub_config(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("GSP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("GSP_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("GSP_INSTRUMENT_TOKEN", "instrument-" + "0" * 32)
    return PyFileConfigLoader("jupyterhub_config.py", path=str(REPO)).load_config()


def test_roles_match_the_project_config(values, hub_config):
    local = {r["name"]: r for r in hub_config.JupyterHub.load_roles}
    local.pop("idle-culler")  # the chart's cull section makes its own
    chart = values["hub"]["loadRoles"]
    assert set(chart) == set(local)
    for name, role in chart.items():
        assert sorted(role["scopes"]) == sorted(local[name]["scopes"]), name
        assert role.get("services", []) == local[name].get("services", []), name


def test_user_servers_like_the_local_spawner(values, hub_config):
    single = values["singleuser"]
    assert single["defaultUrl"] == DEFAULT_URL == hub_config.Spawner.default_url
    config_arg = single["cmd"][1]
    relative = SINGLEUSER_CONFIG.relative_to(REPO).as_posix()
    assert config_arg == f"--config={IMAGE_ROOT}{relative}"
    env = single["extraEnv"]
    assert env["GSP_API_URL"] == env["GSP_SERVICE_URL"] == "http://gsp:10101/services/gsp/"
    for name in hub.platform.USER_SERVER_SWITCHES:
        assert name in env, name


def test_gsp_service_pod_has_the_managed_service_environment(values, service_manifests):
    deployment = service_manifests["Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    for name in (
        "SERVICE_NAME",
        "API_TOKEN",
        "API_URL",
        "BASE_URL",
        "SERVICE_URL",
        "SERVICE_PREFIX",
        "CLIENT_ID",
        "OAUTH_CALLBACK_URL",
        "OAUTH_ACCESS_SCOPES",
    ):
        assert f"JUPYTERHUB_{name}" in env, name
    assert env["JUPYTERHUB_SERVICE_NAME"]["value"] == "gsp"
    token = env["JUPYTERHUB_API_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token == {"name": "hub", "key": "hub.services.gsp.apiToken"}
    assert {"gsp", "gsp-instrument"} <= set(values["hub"]["services"])
    port = int(values["hub"]["services"]["gsp"]["url"].rsplit(":", 1)[1])
    assert env["JUPYTERHUB_SERVICE_URL"]["value"] == f"http://0.0.0.0:{port}/services/gsp/"
    assert service_manifests["Service"]["spec"]["ports"][0]["port"] == port
    command = container["command"]
    relative = (REPO / "gsp_extension" / "service_config.py").relative_to(REPO).as_posix()
    assert command == ["jupyterhub-singleuser", f"--config={IMAGE_ROOT}{relative}"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["hub.jupyter.org/network-access-hub"] == "true"
    for rules in (
        values["singleuser"]["networkPolicy"]["egress"],
        values["proxy"]["chp"]["networkPolicy"]["egress"],
    ):
        assert rules[0]["to"][0]["podSelector"]["matchLabels"] == labels_of(service_manifests)
        assert rules[0]["ports"][0]["port"] == port


def labels_of(manifests):
    return manifests["Service"]["spec"]["selector"]


def test_every_switch_is_documented():
    documented = (DEPLOY / "README.md").read_text()
    sources = [REPO / "hub" / "platform.py", REPO / "hub" / "cli" / "up.py"]
    sources += [REPO / "hub" / "demo.py", REPO / "jupyterhub_config.py"]
    # where the environment is read (one module) and the configurables that use it
    sources += [REPO / "hub" / "deployment.py", REPO / "gsp_extension" / "environment.py"]
    sources += [REPO / "gsp_extension" / "app.py", REPO / "gsp_extension" / "service_config.py"]
    sources += [REPO / "gsp_extension" / "accounts" / "mail.py"]
    names = set()
    for path in sources:
        names |= set(re.findall(r"\bGSP_[A-Z_]*[A-Z]\b", path.read_text()))
    missing = sorted(n for n in names if n not in documented)
    assert not missing, f"add these switches to the table in deploy/README.md: {missing}"
