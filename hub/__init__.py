"""Hub-side code of GSP Live: accounts from the app database for JupyterHub.

Mail, set-password links and invitations are the domain's
(:mod:`gsp_extension.accounts`), shared with the gsp service; the environment is read
by :mod:`gsp_extension.environment` only.

=====================  ==============================================================
``authenticator``      :class:`ProposalAuthenticator` (login, groups = proposals, admin
                       = staff, refresh, lockout) and the password operations
``passwords``          the seed's password rules; argon2id hashing
``lockout``            brute-force lockout policy
``accounts``           the hub's queries on top of :mod:`gsp_extension.store`
``handlers``           set-, change- and forgot-password pages (``templates/``)
``semesters``          SOAR semesters, default SOAR ids
``config_helpers``     what ``jupyterhub_config.py`` calls for accounts
``deployment``         addresses, proxy, the gsp service and roles of the hub
``platform``           spawner, culling, public URL and TLS, production switches
``cli``                ``gsp user`` and ``gsp proposal``
=====================  ==============================================================
"""

from __future__ import annotations

from typing import Any

__all__ = ["ProposalAuthenticator"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `gsp user ...` does not import JupyterHub.
    if name == "ProposalAuthenticator":
        from .authenticator import ProposalAuthenticator

        return ProposalAuthenticator
    raise AttributeError(f"module 'hub' has no attribute {name!r}")
