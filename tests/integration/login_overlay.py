"""Hub config that makes two test users' logins slow or failing (tests/integration).

The session's hub (conftest.py) runs with it, so that test_login_spawn.py needs no hub
of its own: only the spawns of ``lslow`` (it sleeps in the hub before its server
starts, longer than the login waits) and ``lfail`` (its server command does not exist)
differ from production; every other user's spawn is the project's.
(Imported by name: tests/ is not a package.)
"""

from __future__ import annotations

#: What the login waits for the server (spawn_wait_at_login), set by the overlay.
WAIT_S = 4.0
#: How long lslow's spawn sleeps before its server starts: longer than the login waits.
SLOW_S = WAIT_S + 5
MISSING_CMD = "/nonexistent/gsp-login-test/jupyterhub-singleuser"

LOGIN_OVERLAY = f"""
import asyncio as _asyncio

c.ProposalAuthenticator.spawn_wait_at_login = {WAIT_S!r}

async def _slow_or_failing_server(spawner):
    # Only these two users' spawns differ from production. lslow's sleeps in the hub's
    # spawn (pending, as a slow start is) and then forks as usual: a slow Popen start
    # would cost this loaded machine ten seconds more for the same pending state.
    if spawner.user.name == "lslow":
        await _asyncio.sleep({SLOW_S!r})
    elif spawner.user.name == "lfail":
        spawner.cmd = [{MISSING_CMD!r}]

c.Spawner.pre_spawn_hook = _slow_or_failing_server
"""
