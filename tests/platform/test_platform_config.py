"""jupyterhub_config.py under different switches: the configuration it produces.

The project's config is loaded with traitlets' own loader into a ``Config`` object, as
``jupyterhub -f`` would, with nothing started (it only migrates the app database of a
temporary data root).
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

from hub.platform import (
    CULLER_SCOPES,
    DEFAULT_URL,
    SINGLEUSER_CONFIG,
    SPAWN_WAIT_AT_LOGIN,
    PlatformConfigError,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("platform-config") / "data"


@pytest.fixture
def load(monkeypatch, data_root):
    """Load the project's hub config with only the given GSP_* switches set."""

    def _load(**env):
        for name in list(os.environ):
            if name.startswith(("GSP_", "DASK_")):
                monkeypatch.delenv(name)
        monkeypatch.setenv("GSP_DATA_ROOT", str(data_root))
        monkeypatch.setenv("GSP_SERVICE_PORT", "10555")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return PyFileConfigLoader("jupyterhub_config.py", path=str(REPO)).load_config()

    return _load


def service(c, name):
    matches = [s for s in c.JupyterHub.services if s["name"] == name]
    return matches[0] if matches else None


def test_defaults_embedded_platform(load, data_root):
    c = load()
    assert c.JupyterHub.spawner_class == "hub.spawners.ReadySimpleLocalProcessSpawner"
    assert c.SimpleLocalProcessSpawner.home_dir_template == str(
        data_root.resolve() / "homes" / "{username}"
    )
    assert c.Spawner.default_url == DEFAULT_URL == "/voila/render/data_browser.ipynb"
    assert c.Spawner.notebook_dir == "~"
    # the login starts the (fast) local server itself and waits for it
    assert c.ProposalAuthenticator.spawn_wait_at_login == SPAWN_WAIT_AT_LOGIN > 0
    assert f"--config={SINGLEUSER_CONFIG}" in c.Spawner.args
    # root is never allowed by default, even when the hub runs as root
    assert "--allow-root" not in c.Spawner.args
    assert c.Spawner.cmd[1:] == ["-m", "hub.singleuser"]
    assert Path(c.Spawner.cmd[0]).is_file()
    # kernels reach the service directly, not through the public proxy
    api = "http://127.0.0.1:10555/services/gsp/"
    assert c.Spawner.environment["GSP_API_URL"] == api
    assert c.Spawner.environment["GSP_SERVICE_URL"] == api
    # the gsp service is still there, next to the idle culler with its role
    assert service(c, "gsp") is not None
    culler = service(c, "idle-culler")
    assert culler["command"][1:3] == ["-m", "jupyterhub_idle_culler"]
    assert "--timeout=3600" in culler["command"] and "--cull-every=300" in culler["command"]
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["idle-culler"]["services"] == ["idle-culler"]
    assert sorted(roles["idle-culler"]["scopes"]) == sorted(CULLER_SCOPES)
    assert "access:services!service=gsp" in roles["server"]["scopes"]
    # unset switches leave the hub's own defaults alone
    assert "public_url" not in c.JupyterHub
    assert "ssl_cert" not in c.JupyterHub
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000"
    assert c.JupyterHub.db_url.startswith("sqlite:///")
    assert "GSP_DASK_SCHEDULER" not in service(c, "gsp")["environment"]


def test_root_is_allowed_only_when_asked(load, monkeypatch):
    c = load(GSP_ALLOW_ROOT="1")
    assert "--allow-root" in c.Spawner.args
    assert service(c, "gsp")["environment"]["GSP_ALLOW_ROOT"] == "1"
    with pytest.raises(PlatformConfigError, match="GSP_ALLOW_ROOT='sure'"):
        load(GSP_ALLOW_ROOT="sure")
    # the service's own config follows the same switch
    for value, expected in (("", False), ("1", True), ("0", False)):
        monkeypatch.setenv("GSP_ALLOW_ROOT", value)
        service_config = PyFileConfigLoader(
            "service_config.py", path=str(REPO / "gsp_extension")
        ).load_config()
        assert service_config.ServerApp.allow_root is expected


def test_the_service_gets_the_switches_but_not_the_hub_secrets(load, data_root):
    c = load(
        GSP_SMTP_HOST="smtp.example.org",
        GSP_LINK_SECRET="s" * 40,
        GSP_ADMIN_PASSWORD="not-for-the-service",
        GSP_INSTRUMENT_TOKEN="t" * 32,
        GSP_HUB_BIND_URL="http://127.0.0.1:8100",
    )
    env = service(c, "gsp")["environment"]
    assert env["GSP_SMTP_HOST"] == "smtp.example.org"
    assert env["GSP_LINK_SECRET"] == "s" * 40
    assert env["GSP_HUB_BIND_URL"] == "http://127.0.0.1:8100"  # for its mailed links
    assert env["GSP_DATA_ROOT"] == str(data_root.resolve())
    assert "GSP_ADMIN_PASSWORD" not in env and "GSP_INSTRUMENT_TOKEN" not in env
    assert service(c, "gsp-instrument")["api_token"] == "t" * 32


def test_culling_switches(load):
    c = load(GSP_CULL_IDLE_TIMEOUT="600", GSP_CULL_EVERY="60")
    command = service(c, "idle-culler")["command"]
    assert "--timeout=600" in command and "--cull-every=60" in command
    c = load(GSP_CULL_IDLE_TIMEOUT="120")  # rounds at least twice per timeout
    assert "--cull-every=60" in service(c, "idle-culler")["command"]
    c = load(GSP_CULL_IDLE_TIMEOUT="0")
    assert service(c, "idle-culler") is None
    assert "idle-culler" not in {r["name"] for r in c.JupyterHub.load_roles}
    with pytest.raises(PlatformConfigError, match="GSP_CULL_IDLE_TIMEOUT='soon'"):
        load(GSP_CULL_IDLE_TIMEOUT="soon")


def test_forkserver_switch(load, data_root, monkeypatch):
    from hub.platform import forkserver_socket
    from hub.spawners import FORKABLE_CMD

    c = load()
    path = str(forkserver_socket(data_root))
    assert c.ReadySimpleLocalProcessSpawner.forkserver_socket == path
    assert len(path.encode()) < 100  # within a Unix socket path's limit
    assert service(c, "forkserver")["command"][1:] == ["-m", "hub.forkserver", f"--socket={path}"]
    assert service(c, "forkserver")["display"] is False
    assert c.Spawner.cmd == FORKABLE_CMD  # the command the forkserver can take over
    # another data root (another hub on this machine) gets its own
    assert forkserver_socket(data_root / "other") != forkserver_socket(data_root)
    c = load(GSP_SPAWN_FORKSERVER="0")
    assert service(c, "forkserver") is None
    assert "forkserver_socket" not in c.ReadySimpleLocalProcessSpawner
    with pytest.raises(PlatformConfigError, match="GSP_SPAWN_FORKSERVER='fast'"):
        load(GSP_SPAWN_FORKSERVER="fast")
    # only the local spawner forks: a systemd unit or a pod starts its own server
    monkeypatch.setitem(sys.modules, "systemdspawner", types.ModuleType("systemdspawner"))
    assert service(load(GSP_SPAWNER="systemd"), "forkserver") is None


def test_kernel_and_voila_switches_reach_user_servers(load):
    c = load(
        GSP_KERNEL_CULL_IDLE_TIMEOUT="300",
        GSP_KERNEL_CULL_CONNECTED="1",
        GSP_VOILA_SHOW_TRACEBACKS="yes",
    )
    env = c.Spawner.environment
    assert env["GSP_KERNEL_CULL_IDLE_TIMEOUT"] == "300"
    assert env["GSP_KERNEL_CULL_CONNECTED"] == "1"
    assert env["GSP_VOILA_SHOW_TRACEBACKS"] == "yes"
    assert "GSP_KERNEL_CULL_INTERVAL" not in env


def test_public_url_and_tls(load, tmp_path):
    cert, key = tmp_path / "hub.crt", tmp_path / "hub.key"
    cert.write_text("cert")
    key.write_text("key")
    c = load(
        GSP_PUBLIC_URL="https://gsp.example.org",
        GSP_SSL_CERT=str(cert),
        GSP_SSL_KEY=str(key),
        GSP_HUB_BIND_URL="http://0.0.0.0:443",
    )
    assert c.JupyterHub.public_url == "https://gsp.example.org/"
    assert c.JupyterHub.ssl_cert == str(cert)
    assert c.JupyterHub.ssl_key == str(key)
    assert c.JupyterHub.bind_url == "https://0.0.0.0:443"
    assert service(c, "gsp")["environment"]["GSP_HUB_BIND_URL"] == "https://0.0.0.0:443"
    with pytest.raises(PlatformConfigError, match="GSP_SSL_KEY is unset"):
        load(GSP_SSL_CERT=str(cert))
    with pytest.raises(PlatformConfigError, match="GSP_SSL_KEY=.*no such file"):
        load(GSP_SSL_CERT=str(cert), GSP_SSL_KEY=str(tmp_path / "missing.key"))
    with pytest.raises(PlatformConfigError, match="full URL"):
        load(GSP_PUBLIC_URL="gsp.example.org")


def test_postgres_hub_db_and_dask_scheduler(load, monkeypatch):
    # The config migrates the app database at load; record it instead of touching a server.
    import hub.config_helpers

    migrated = []
    monkeypatch.setattr(hub.config_helpers, "prepare_database", migrated.append)
    app_db = "postgresql+psycopg://gsp@db.example.org/gsp"
    c = load(
        GSP_DATABASE_URL=app_db,
        GSP_HUB_DB_URL="postgresql+psycopg://hub@db/jupyterhub",
        GSP_DASK_SCHEDULER="tcp://dask-scheduler:8786",
    )
    assert c.JupyterHub.db_url == "postgresql+psycopg://hub@db/jupyterhub"
    gsp = service(c, "gsp")["environment"]
    assert gsp["GSP_DASK_SCHEDULER"] == "tcp://dask-scheduler:8786"
    assert gsp["GSP_DATABASE_URL"] == app_db
    assert c.ProposalAuthenticator.database_url == app_db
    assert migrated == [app_db]
    with pytest.raises(PlatformConfigError, match="tcp://dask-scheduler:8786"):
        load(GSP_DASK_SCHEDULER="dask-scheduler:8786")


@pytest.mark.parametrize(
    ("choice", "package"),
    [("systemd", "jupyterhub-systemdspawner"), ("kube", "jupyterhub-kubespawner")],
)
def test_missing_spawner_package_is_named(load, monkeypatch, choice, package):
    module = {"systemd": "systemdspawner", "kube": "kubespawner"}[choice]
    monkeypatch.setitem(sys.modules, module, None)  # None: "import fails" for this test
    with pytest.raises(PlatformConfigError, match=f"pip install {package}"):
        load(GSP_SPAWNER=choice, GSP_PUBLIC_URL="https://gsp.example.org/")


def test_unknown_spawner(load):
    with pytest.raises(PlatformConfigError, match="simple, systemd, kube"):
        load(GSP_SPAWNER="docker")


def test_systemd_spawner_when_installed(load, monkeypatch):
    monkeypatch.setitem(sys.modules, "systemdspawner", types.ModuleType("systemdspawner"))
    c = load(GSP_SPAWNER="systemd")
    assert c.JupyterHub.spawner_class == "systemdspawner.SystemdSpawner"
    assert c.SystemdSpawner.dynamic_users is True
    assert Path(c.Spawner.cmd[0]).is_absolute()
    assert "--allow-root" not in c.Spawner.args
    assert c.Spawner.default_url == DEFAULT_URL
    assert c.ProposalAuthenticator.spawn_wait_at_login == SPAWN_WAIT_AT_LOGIN


def test_kube_spawner_when_installed(load, monkeypatch):
    monkeypatch.setitem(sys.modules, "kubespawner", types.ModuleType("kubespawner"))
    c = load(GSP_SPAWNER="kube", GSP_PUBLIC_URL="https://gsp.example.org/")
    assert c.JupyterHub.spawner_class == "kubespawner.KubeSpawner"
    # pods reach the service through the public proxy; the image brings its own command
    assert c.Spawner.environment["GSP_API_URL"] == "https://gsp.example.org/services/gsp/"
    assert "cmd" not in c.Spawner and c.Spawner.args == []
    # a pod may take minutes: the login leaves the wait to JupyterHub's progress page
    assert "spawn_wait_at_login" not in c.ProposalAuthenticator
    with pytest.raises(PlatformConfigError, match="GSP_PUBLIC_URL"):
        load(GSP_SPAWNER="kube")
