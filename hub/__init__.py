"""Hub-side code of GSP Live: accounts from the app database for JupyterHub.

=====================  ==============================================================
``authenticator``      :class:`ProposalAuthenticator` (login, groups = proposals, admin
                       = staff, refresh, lockout) and the password operations
``passwords``          the seed's password rules; argon2id hashing
``links``              signed, expiring, single-use set-password links
``invites``            the set-password emails (invitation, reset)
``email``              :class:`~hub.email.Mailer`: SMTP or an outbox of .eml files
``lockout``            brute-force lockout policy
``accounts``           the hub's queries on top of :mod:`gsp_extension.store`
``handlers``           set-, change- and forgot-password pages (``templates/``)
``semesters``          SOAR semesters, default SOAR ids
``config_helpers``     what ``jupyterhub_config.py`` calls
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
