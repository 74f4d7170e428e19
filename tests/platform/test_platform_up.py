"""`gsp up --demo` as a user runs it: a real subprocess on free ports with a temporary data root.

One platform for the module: the demo credentials it prints log in, the PI's server spawns
and lands on the Voilà data browser, the gsp service answers a user's token, the simulated
night streams into raw/, and SIGTERM stops every process the command started.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from hub.cli.up import ProcessTree
from hub.demo import demo_proposal_ids
from tests.requirements import require

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CHP = REPO / "node_modules" / ".bin" / "configurable-http-proxy"
CREDENTIAL = re.compile(r"^\s+(demo-[a-z0-9]+)\s+(\S+)\s+(.+)$")
XSRF = re.compile(r'name="_xsrf" value="([^"]+)"')
#: Where a login goes by default here: a hub page. A login without ``next`` goes to the
#: spawn page, so it starts the user's server and waits for it (hub/login.py): four
#: servers starting on two cores took 25 s of this module, and only
#: test_pi_server_spawns_and_lands_on_the_data_browser is about that login.
HUB_PAGE = "/hub/home"
APP = REPO / "voila_apps" / "data_browser.ipynb"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Platform:
    def __init__(self, url, proc, root, lines, service_port, reader):
        self.url, self.proc, self.root, self.lines = url, proc, root, lines
        self.service_port = service_port
        self.reader = reader  # reads `gsp up`'s output until it closes
        self.started_after = None

    @property
    def hub_log(self) -> Path:
        return self.root / "logs" / "jupyterhub.log"

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def credentials(self) -> dict[str, str]:
        return {m[1]: m[2] for m in map(CREDENTIAL.match, self.lines) if m}

    def wait_for_line(self, text, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} within {timeout} s:\n{self.output}\n{self._tail()}")

    def _tail(self) -> str:
        return self.hub_log.read_text(errors="replace")[-3000:] if self.hub_log.exists() else ""

    def wait_for_hub_log(self, text, timeout):
        """Until the hub's log (where its services write too) holds ``text``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.hub_log.exists() and text in self.hub_log.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} in the hub's log within {timeout} s:\n{self._tail()}")


def user_server_environment(platform, name) -> dict[str, str]:
    """The environment a kernel of ``name``'s server runs with, asked of the kernel.

    Not read from /proc: a user's server is forked by :mod:`hub.forkserver` and its page
    kernels by :mod:`hub.kernel_template`, so their environment blocks there are the
    forkserver's; the variables a kernel was given are in its ``os.environ``. Each
    kernel's connection file is on its command line (``-f``).
    """
    tree = ProcessTree(platform.proc.pid)
    tree.refresh()
    for pid in tree.alive():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        # "-f" as an argument of its own: a connection file named kernel-f<uuid> holds one
        found = re.search(r"kernel\S*.*\s-f[= ]?(\S+\.json)", cmdline)
        if found is None:
            continue
        env = _kernel_environment(found.group(1))
        if env.get("JUPYTERHUB_USER") == name:
            return env
    raise AssertionError(f"no kernel of {name}'s server found")


def _kernel_environment(connection_file: str) -> dict[str, str]:
    """``os.environ`` of a running kernel, through its own channels (a user expression:
    nothing is printed on the page that owns the kernel)."""
    import ast

    from jupyter_client import BlockingKernelClient

    client = BlockingKernelClient(connection_file=connection_file)
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=30)
        expression = "__import__('json').dumps(dict(__import__('os').environ))"
        msg_id = client.execute("", silent=True, user_expressions={"env": expression})
        while True:
            reply = client.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        value = reply["content"]["user_expressions"]["env"]["data"]["text/plain"]
        return json.loads(ast.literal_eval(value))
    finally:
        client.stop_channels()


def _pid_of(platform, command: str, cwd: Path | None = None) -> int:
    """A process of the platform running ``command`` (in folder ``cwd``, when given: a
    user's server runs in the user's home; the logins start every user's server)."""
    tree = ProcessTree(platform.proc.pid)
    tree.refresh()
    for pid in tree.alive():
        try:
            if command in Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ") and (
                cwd is None or Path(f"/proc/{pid}/cwd").resolve() == cwd.resolve()
            ):
                return pid
        except OSError:
            continue
    raise AssertionError(f"no process {command!r} under the platform")


def login(url, username, password, next_url=HUB_PAGE):
    """Log in through the hub's form; ``next_url=""``: to the spawn page, as a cold login."""
    s = requests.Session()
    page = s.get(f"{url}hub/login", timeout=30)
    r = s.post(
        f"{url}hub/login" + (f"?next={next_url}" if next_url else ""),
        data={"username": username, "password": password, "_xsrf": XSRF.search(page.text)[1]},
        allow_redirects=False,
        timeout=30,
    )
    return s, r


def stop_server(platform, admin, name):
    """Stop ``name``'s server through the hub API (as staff, a hub admin) and wait."""
    url = f"{platform.url}hub/api/users/{name}/server"
    r = admin.delete(url, headers=xsrf_headers(admin), timeout=30)
    # 404: not a hub user yet (never logged in), so no server either
    assert r.status_code in (202, 204, 400, 404), r.text
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = admin.get(f"{platform.url}hub/api/users/{name}", timeout=30)
        if r.status_code == 404:  # not a hub user yet: no server (the test run alone)
            return
        model = r.json()
        if not model["servers"] and not model.get("pending"):
            return
        time.sleep(0.2)
    raise AssertionError(f"the server of {name} did not stop in 60 s: {model}")


def xsrf_headers(session):
    return {"X-XSRFToken": session.cookies.get("_xsrf", path="/hub/")}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    require(CHP.exists(), f"configurable-http-proxy missing at {CHP} (run `npm ci`)")
    root = tmp_path_factory.mktemp("gsp-up") / "data"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GSP_", "JUPYTERHUB_"))}
    env.update(
        GSP_HUB_API_PORT=str(free_port()),
        GSP_PROXY_API_PORT=str(free_port()),
        GSP_SERVICE_PORT=str(free_port()),
        GSP_DEMO_INTERVAL="0.3",
    )
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gsp"),
            "up",
            "--demo",
            "--data-root",
            str(root),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    # extend() over the pipe appends line by line as they arrive
    reader.start()
    handle = Platform(
        f"http://127.0.0.1:{port}/", proc, root, lines, env["GSP_SERVICE_PORT"], reader
    )
    try:
        handle.wait_for_line("GSP Live is running", timeout=120)
        handle.started_after = time.monotonic() - started
        yield handle
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)


def test_credentials_are_printed_once_and_log_in(platform):
    creds = platform.credentials()
    assert sorted(creds) == ["demo-collab", "demo-pi", "demo-pi2", "demo-staff"]
    p1, p2 = demo_proposal_ids()
    groups = {}
    for name, password in creds.items():
        session, r = login(platform.url, name, password)
        assert r.status_code == 302, (name, r.status_code, r.text[-300:])
        assert r.headers["Location"].endswith(HUB_PAGE), r.headers
        me = session.get(f"{platform.url}hub/api/user", timeout=30).json()
        groups[name] = me["groups"]
    assert groups == {"demo-pi": [p1], "demo-collab": [p1], "demo-pi2": [p2], "demo-staff": []}
    _, r = login(platform.url, "demo-pi", "not-" + creds["demo-pi"])
    assert r.status_code == 403
    # a password appears in the output exactly once
    for password in creds.values():
        assert platform.output.count(password) == 1


def test_pi_server_spawns_and_lands_on_the_data_browser(platform):
    creds = platform.credentials()
    # The spawner falls back to Popen, as designed, while the forkserver (a hub-managed
    # service started beside the hub) is still importing; what is tested here is the
    # forkserver's start, so the spawn waits for its own "ready" line.
    platform.wait_for_hub_log("gsp forkserver: ready on", timeout=180)
    # An earlier login may have started the server already (the login starts it):
    # stopped first, so that this login finds none.
    admin, _ = login(platform.url, "demo-staff", creds["demo-staff"])
    stop_server(platform, admin, "demo-pi")
    t0 = time.monotonic()
    session, r = login(platform.url, "demo-pi", creds["demo-pi"], next_url="")
    spawn_s = time.monotonic() - t0
    # The login started the server and answered once it was up (hub/login.py): the
    # redirect goes straight to it, not through /hub/spawn and the progress page.
    assert r.status_code == 302 and r.headers["Location"].endswith("/user/demo-pi/"), (
        r.status_code,
        r.headers.get("Location"),
    )
    model = session.get(f"{platform.url}hub/api/user", timeout=30).json()
    assert model["servers"].get("", {}).get("ready"), model
    print(f"hub start {platform.started_after:.1f} s, login with server spawn {spawn_s:.1f} s")
    # started by the hub's forkserver (hub/forkserver.py), not by a new Python
    server = _pid_of(platform, "-m hub.singleuser", cwd=platform.root / "homes" / "demo-pi")
    parent = int(Path(f"/proc/{server}/stat").read_text().rsplit(")", 1)[1].split()[1])
    title = Path(f"/proc/{parent}/cmdline").read_text().replace("\0", " ")
    assert "-m hub.forkserver" in title, title

    # the server's landing page is the data browser; its home is in the data root
    # (a browser page first: it runs the OAuth dance and sets the server's _xsrf cookie,
    # which cookie-authenticated API calls must echo)
    r = session.get(f"{platform.url}user/demo-pi/", timeout=60)
    assert r.status_code in (200, 404), r.status_code
    xsrf = {"X-XSRFToken": session.cookies.get("_xsrf", path="/user/demo-pi/")}
    r = session.get(f"{platform.url}user/demo-pi/api/status", headers=xsrf, timeout=30)
    assert r.status_code == 200 and "started" in r.json(), r.text[:300]
    r = session.get(f"{platform.url}user/demo-pi/", allow_redirects=False, timeout=30)
    assert r.status_code == 302
    location = r.headers["Location"].rstrip("?")
    assert location.endswith("/user/demo-pi/voila/render/data_browser.ipynb"), location
    home = platform.root / "homes" / "demo-pi"
    assert home.is_dir()
    if APP.exists():
        assert (home / APP.name).read_bytes() == APP.read_bytes()
        r = session.get(f"{platform.url}user/demo-pi/voila/render/data_browser.ipynb", timeout=60)
        assert r.status_code == 200, r.text[-500:]
    # what the PI's kernels inherit reaches the gsp API with the PI's rights: the
    # address and the server's own token, read from the data browser's kernel
    env = user_server_environment(platform, "demo-pi")
    assert env["GSP_API_URL"] == f"http://127.0.0.1:{platform.service_port}/services/gsp/"
    kernel = {"Authorization": f"Token {env['JUPYTERHUB_API_TOKEN']}"}
    r = requests.get(f"{env['GSP_API_URL']}api/proposals/", headers=kernel, timeout=30)
    assert r.status_code == 200, r.text
    assert [p["soar_id"] for p in r.json()["results"]] == [demo_proposal_ids()[0]]
    # another user cannot reach the PI's server
    other, _ = login(platform.url, "demo-pi2", creds["demo-pi2"])
    r = other.get(f"{platform.url}user/demo-pi/api/status", timeout=30)
    assert r.status_code in (403, 404) or "/hub/login" in r.url


def test_a_login_to_a_hub_page_starts_no_server(platform):
    creds = platform.credentials()
    admin, _ = login(platform.url, "demo-staff", creds["demo-staff"])
    stop_server(platform, admin, "demo-pi2")
    session, r = login(platform.url, "demo-pi2", creds["demo-pi2"], next_url="/hub/token")
    assert r.status_code == 302 and r.headers["Location"].endswith("/hub/token"), r.headers
    model = session.get(f"{platform.url}hub/api/user", timeout=30).json()
    assert not model["servers"] and not model.get("pending"), model


def test_gsp_service_answers_a_users_token(platform):
    _, auth = user_token(platform, "demo-collab")
    api = f"{platform.url}services/gsp/api/"
    assert requests.get(api, headers=auth, timeout=30).ok
    r = requests.get(api, timeout=30)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Token"


def user_token(platform, name):
    session, r = login(platform.url, name, platform.credentials()[name])
    assert r.status_code == 302
    r = session.post(
        f"{platform.url}hub/api/users/{name}/tokens",
        json={"note": "gsp up test"},
        headers=xsrf_headers(session),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return session, {"Authorization": f"Token {r.json()['token']}"}


def test_pi_adds_a_collaborator_who_appears_in_the_hub_group(platform):
    p1, _ = demo_proposal_ids()
    api = f"{platform.url}services/gsp/api/"
    pi_session, pi = user_token(platform, "demo-pi")
    _, collab = user_token(platform, "demo-collab")
    staff_session, _ = login(platform.url, "demo-staff", platform.credentials()["demo-staff"])
    proposals = requests.get(f"{api}proposals/", headers=pi, timeout=30).json()["results"]
    pid = next(p["id"] for p in proposals if p["soar_id"] == p1)
    change = {"email": "demo-pi2@example.org", "action": "add"}
    url = f"{api}proposals/collaborators/{pid}/"
    # only the PI (or staff) adds collaborators; nothing changes on a refusal
    r = requests.post(url, json=change, headers=collab, timeout=30)
    assert r.status_code == 403 and "detail" in r.json()
    group = f"{platform.url}hub/api/groups/{p1}"
    assert "demo-pi2" not in staff_session.get(group, timeout=30).json()["users"]
    r = requests.post(url, json=change, headers=pi, timeout=30)
    assert r.status_code in (200, 201), r.text
    assert "demo-pi2" in staff_session.get(group, timeout=30).json()["users"]
    # hub admin actions are staff-only
    assert pi_session.get(f"{platform.url}hub/api/users", timeout=30).status_code == 403
    assert staff_session.get(f"{platform.url}hub/api/users", timeout=30).status_code == 200


def test_password_pages_and_lockout(platform):
    creds = platform.credentials()
    session, _ = login(platform.url, "demo-collab", creds["demo-collab"])
    page = session.get(f"{platform.url}hub/change-password", timeout=30)
    assert page.status_code == 200 and 'name="_xsrf"' in page.text
    assert requests.get(f"{platform.url}hub/forgot-password", timeout=30).status_code == 200
    # five failures in a row lock the account, even against the right password
    for _ in range(5):
        assert login(platform.url, "demo-pi2", "wrong-password")[1].status_code == 403
    assert login(platform.url, "demo-pi2", creds["demo-pi2"])[1].status_code == 403
    assert login(platform.url, "demo-collab", creds["demo-collab"])[1].status_code == 302


def test_the_night_streams_into_raw(platform):
    night = platform.root / "raw"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        frames = sorted(night.glob("*/*.fits"))
        if len(frames) >= 3:
            break
        time.sleep(0.3)
    assert len(frames) >= 3, platform.output
    assert "bias" in frames[0].name  # calibrations come first


def test_sigterm_stops_every_process(platform):
    tree = ProcessTree(platform.proc.pid)
    tree.refresh()
    running = tree.alive()
    commands = " ".join(
        Path(f"/proc/{pid}/cmdline").read_text(errors="replace").replace("\0", " ")
        for pid in running
        if Path(f"/proc/{pid}/cmdline").exists()
    )
    # the hub, the proxy, the gsp service, the culler and the PI's server were running
    for part in (
        "jupyterhub",
        "configurable-http-proxy",
        "service_config.py",
        "jupyterhub_idle_culler",
        "hub.forkserver",
        "singleuser_config.py",
    ):
        assert part in commands, (part, commands)
    t0 = time.monotonic()
    platform.proc.send_signal(signal.SIGTERM)
    assert platform.proc.wait(60) == 0
    print(f"stopped in {time.monotonic() - t0:.1f} s")
    assert tree.alive() == []
    with pytest.raises(ProcessLookupError):
        os.killpg(platform.proc.pid, 0)
    platform.reader.join(30)  # `gsp up` has exited: its output ends, the reader with it
    assert "gsp up: stopped" in platform.output
