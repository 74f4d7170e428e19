"""What jupyterhub_config.py calls: authenticator + templates, database, first superuser."""

from __future__ import annotations

import email
from email import policy

import pytest
from traitlets.config import Config

from gsp_extension.store.accounts import get_user_by_username
from hub.config_helpers import (
    TEMPLATES,
    bootstrap_superuser_from_env,
    configure_accounts,
    prepare_database,
)
from hub.passwords import PasswordHasher


def test_configure_accounts_keeps_existing_template_paths():
    c = Config()
    c.JupyterHub.template_paths = ["/elsewhere"]
    configure_accounts(c, database_url="sqlite:////tmp/x.sqlite")
    assert c.JupyterHub.authenticator_class == "hub.authenticator.ProposalAuthenticator"
    assert c.JupyterHub.template_paths == [str(TEMPLATES), "/elsewhere"]
    assert c.ProposalAuthenticator.database_url == "sqlite:////tmp/x.sqlite"
    assert (TEMPLATES / "login.html").exists() and (TEMPLATES / "page.html").exists()


def test_first_superuser_from_a_password(db_url, db):
    env = {"GSP_ADMIN_USERNAME": "root", "GSP_ADMIN_PASSWORD": "Kepler-1609-b!"}
    assert bootstrap_superuser_from_env(db_url, env) == "root"
    with db.session() as s:
        root = get_user_by_username(s, "root")
        assert root.is_superuser and root.is_staff
        assert PasswordHasher().verify(root.password_hash, "Kepler-1609-b!")
    # once a superuser exists, nothing more happens
    assert bootstrap_superuser_from_env(db_url, {**env, "GSP_ADMIN_USERNAME": "other"}) is None


def test_first_superuser_by_email(db_url, tmp_path, monkeypatch):
    monkeypatch.setenv("GSP_DATA_ROOT", str(tmp_path))
    monkeypatch.delenv("GSP_SMTP_HOST", raising=False)
    monkeypatch.delenv("GSP_LINK_SECRET_FILE", raising=False)
    monkeypatch.delenv("GSP_LINK_SECRET", raising=False)
    url = prepare_database(db_url)
    env = {"GSP_ADMIN_USERNAME": "root", "GSP_ADMIN_EMAIL": "root@example.org"}
    assert bootstrap_superuser_from_env(url, env) == "root"
    (path,) = (tmp_path / "outbox").glob("*.eml")
    msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert msg["To"] == "root@example.org" and "set-password?token=" in msg.get_content()


def test_bootstrap_refusals(db_url, db):
    assert bootstrap_superuser_from_env(db_url, {}) is None
    with pytest.raises(ValueError, match="neither GSP_ADMIN_PASSWORD nor GSP_ADMIN_EMAIL"):
        bootstrap_superuser_from_env(db_url, {"GSP_ADMIN_USERNAME": "root"})
    with pytest.raises(ValueError, match="Your password can't be entirely numeric"):
        bootstrap_superuser_from_env(
            db_url, {"GSP_ADMIN_USERNAME": "root", "GSP_ADMIN_PASSWORD": "90417736285"}
        )
    with db.session() as s:
        assert get_user_by_username(s, "root") is None
