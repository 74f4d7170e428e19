"""Functions ``jupyterhub_config.py`` calls to set up the account side of the hub.

::

    from hub.config_helpers import bootstrap_superuser_from_env, configure_accounts, prepare_database

    prepare_database()                  # alembic upgrade head of the app database
    bootstrap_superuser_from_env()      # GSP_ADMIN_* at first start
    configure_accounts(c)               # authenticator + templates
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import select

from gsp_extension import environment
from gsp_extension.accounts.invites import LinkMailer
from gsp_extension.store import Database, upgrade_database
from gsp_extension.store.accounts import create_user
from gsp_extension.store.models import User

#: Our templates: login.html (adds "Forgot your password?") and page.html (adds
#: "Change password" to the navigation bar), plus the password pages.
TEMPLATES = Path(__file__).with_name("templates")


def configure_accounts(c, database_url: str | None = None) -> None:
    """Use :class:`hub.authenticator.ProposalAuthenticator` and our templates.

    Parameters
    ----------
    c : traitlets.config.Config
        The hub's configuration object (``get_config()``).
    database_url : str, optional
        App database; by default the authenticator reads ``$GSP_DATABASE_URL``.
    """
    c.JupyterHub.authenticator_class = "hub.authenticator.ProposalAuthenticator"
    existing = list(c.JupyterHub.template_paths) if "template_paths" in c.JupyterHub else []
    if str(TEMPLATES) not in existing:
        c.JupyterHub.template_paths = [str(TEMPLATES), *existing]
    if database_url:
        c.ProposalAuthenticator.database_url = database_url


def prepare_database(database_url: str | None = None) -> str:
    """Bring the app database to the current schema; returns its URL."""
    url = database_url or environment.database_url()
    upgrade_database(url)
    return url


def bootstrap_superuser_from_env(
    database_url: str | None = None, environ: Mapping[str, str] | None = None
) -> str | None:
    """Create the first superuser from the environment, once.

    ``GSP_ADMIN_USERNAME`` names it; ``GSP_ADMIN_PASSWORD`` gives its password (checked
    against the password rules) and/or ``GSP_ADMIN_EMAIL`` its address, to which a
    set-password link is mailed when no password is given. Nothing happens when the
    username is unset or a superuser already exists.

    Returns
    -------
    str or None
        The username created, or ``None``.

    Raises
    ------
    ValueError
        When the password breaks a rule, or neither a password nor an address is given.
    """
    username = environment.text("GSP_ADMIN_USERNAME", environ=environ)
    if not username:
        return None
    password = environment.verbatim("GSP_ADMIN_PASSWORD", environ)
    address = environment.text("GSP_ADMIN_EMAIL", environ=environ) or None
    if not password and not address:
        raise ValueError(
            "GSP_ADMIN_USERNAME is set but neither GSP_ADMIN_PASSWORD nor GSP_ADMIN_EMAIL: "
            "give a password, or an address for a set-password link"
        )
    db = Database(database_url or environment.database_url())
    try:
        with db.transaction() as session:
            if session.scalar(select(User.id).where(User.is_superuser).limit(1)) is not None:
                return None
            password_hash = None
            if password:
                from .passwords import PasswordHasher, PasswordPolicy

                candidate = {"username": username, "email": address}
                problems = PasswordPolicy().problems(password, candidate)
                if problems:
                    raise ValueError("GSP_ADMIN_PASSWORD refused: " + " ".join(problems))
                password_hash = PasswordHasher().hash(password)
            user = create_user(
                session,
                username,
                email=address,
                is_superuser=True,
                password_hash=password_hash,
            )
        if password_hash is None:
            LinkMailer.from_environment().send(user, "invite")
        return user.username
    finally:
        db.dispose()
