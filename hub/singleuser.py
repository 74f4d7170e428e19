"""``jupyterhub-singleuser`` for the users' servers: ``python -m hub.singleuser``.

    python -m hub.singleuser --config=hub/singleuser_config.py

The command :class:`hub.spawners.ForkserverStart` recognises and :mod:`hub.forkserver`
takes over (it has imported the server once, so a start is a fork); run by ``Popen`` it
is ``jupyterhub.singleuser.main``, nothing more.
"""

import sys

if __name__ == "__main__":
    from jupyterhub.singleuser import main

    sys.exit(main())
