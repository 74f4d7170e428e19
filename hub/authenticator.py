"""``ProposalAuthenticator``: JupyterHub accounts from the GSP Live app database.

- A login checks the argon2id hash stored for the account.
- The hub groups of a user are the SOAR ids of the proposals where they are PI or
  collaborator (``manage_groups``); ``admin`` is the staff flag. Both are re-read from
  the database every ``auth_refresh_age`` seconds (60 by default), so a collaborator
  added in the app gets the group within a minute.
- Inactive or deleted accounts are refused, and their sessions and tokens stop working
  at the next refresh (``auth_refresh_strict``).
- After ``lockout_max_failures`` failed logins in a row an account is locked for
  ``lockout_minutes``. An unknown user, a wrong password, a locked or an inactive
  account all get the same answer, after the same work (one argon2 verification).

Blocking work (database, argon2) runs in a small thread pool, off the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from jupyterhub.auth import Authenticator
from traitlets import Bool, Float, Instance, Integer, Unicode, default

from gsp_extension import environment
from gsp_extension.accounts.invites import LinkMailer
from gsp_extension.accounts.links import (
    LinkInvalid,
    LinkSigner,
    parse_token,
    public_base_url,
    secret_from_environment,
)
from gsp_extension.accounts.mail import Mailer
from gsp_extension.store import accounts as store_accounts
from gsp_extension.store.engine import Database
from gsp_extension.store.errors import InvalidValue
from gsp_extension.store.models import User

from . import accounts
from .lockout import LockoutPolicy
from .passwords import MISMATCH, PasswordHasher, PasswordPolicy

OLD_PASSWORD_WRONG = "Your old password was entered incorrectly. Please enter it again."
PASSWORD_CHANGED_MEANWHILE = (
    "Your password was changed by another request meanwhile; sign in again with it."
)


@dataclass(frozen=True)
class LinkTarget:
    """The account a valid set-password link is for."""

    user_id: int
    username: str
    purpose: str


class ProposalAuthenticator(Authenticator):
    """Log in with the GSP Live app database; groups are the user's proposals."""

    # --- JupyterHub behaviour ------------------------------------------------------------

    @default("allow_all")
    def _default_allow_all(self) -> bool:
        # Who may log in is decided by the app database (an active account with a
        # password), not by a hub allow list.
        return True

    @default("manage_groups")
    def _default_manage_groups(self) -> bool:
        return True

    @default("auth_refresh_age")
    def _default_refresh_age(self) -> int:
        return 60

    if "auth_refresh_strict" in Authenticator.class_trait_names():  # JupyterHub >= 6.1

        @default("auth_refresh_strict")
        def _default_refresh_strict(self) -> bool:
            # refresh_user() only answers False for deactivated or deleted accounts:
            # their tokens must stop working too, not only their browser sessions.
            return True

    # --- settings ------------------------------------------------------------------------

    database_url = Unicode(
        config=True,
        help="""URL of the app database
        (default $GSP_DATABASE_URL, else sqlite:///$GSP_DATA_ROOT/gsp.sqlite).""",
    )

    @default("database_url")
    def _default_database_url(self) -> str:
        return environment.database_url()

    lockout_max_failures = Integer(
        5,
        config=True,
        help="Failed logins in a row after which an account is locked for `lockout_minutes`.",
    )
    lockout_minutes = Float(
        15.0,
        config=True,
        help="How long (minutes) an account stays locked after too many failed logins.",
    )
    password_min_length = Integer(
        8, config=True, help="Minimum number of characters of a new password."
    )
    password_max_similarity = Float(
        0.7,
        config=True,
        help="""A new password is refused when its similarity (difflib quick ratio) to the
        username, names or email (or their parts) reaches this value (Django's 0.7).""",
    )
    spawn_wait_at_login = Float(
        0.0,
        config=True,
        help="""Seconds a login waits for the user's server, which it starts itself, before
        it redirects (hub/login.py): a cold login then goes straight to the server instead
        of through /hub/spawn and the progress page. A server still starting after them is
        shown by the progress page. 0: JupyterHub's own login, which redirects to
        /hub/spawn. hub.platform sets it for the project's spawners.""",
    )
    link_secret_file = Unicode(
        config=True,
        help="""File holding the secret that signs set-password links; created if missing.
        Every process that issues links (the `gsp` commands, the gsp service) must use the
        same file (default $GSP_LINK_SECRET_FILE or $GSP_DATA_ROOT/secrets/link-secret).
        $GSP_LINK_SECRET, when set, is used instead of any file.""",
    )

    @default("link_secret_file")
    def _default_link_secret_file(self) -> str:
        return str(environment.link_secret_file())

    public_url = Unicode(
        config=True,
        help="""The hub's public base address for links in emails, e.g.
        'https://gsp.example.org/' (default $GSP_PUBLIC_URL, else the hub's
        public_url). When empty, the hub's bind URL is used, and when that binds every
        interface, the address of the request; set it in production so that a forged
        Host header cannot put a foreign address into a reset email.""",
    )

    @default("public_url")
    def _default_public_url(self) -> str:
        configured = environment.public_url()
        if not configured and self.parent is not None:
            configured = getattr(self.parent, "public_url", "") or ""
        return configured

    invite_link_days = Float(
        7.0, config=True, help="Days an emailed invitation (first password) link stays valid."
    )
    reset_link_hours = Float(
        1.0, config=True, help="Hours an emailed 'forgot password' link stays valid."
    )
    reset_email_interval = Float(
        300.0,
        config=True,
        help="""Minimum seconds between two 'forgot password' emails to the same account,
        so the page cannot be used to flood someone's mailbox (0: no limit).""",
    )
    worker_threads = Integer(
        4,
        config=True,
        help="Threads for the blocking work (argon2, database) kept off the event loop.",
    )
    show_forgot_password = Bool(
        True,
        config=True,
        help="Offer the 'forgot password' page (needs working email).",
    )

    mailer = Instance(Mailer, help="Sends the set-password emails; configure as c.Mailer.")

    @default("mailer")
    def _default_mailer(self) -> Mailer:
        return Mailer(parent=self, log=self.log)

    # --- helpers -------------------------------------------------------------------------

    @cached_property
    def db(self) -> Database:
        """The app database handle (made on first use)."""
        return Database(self.database_url)

    @cached_property
    def executor(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(self.worker_threads, thread_name_prefix="gsp-auth")

    @cached_property
    def hasher(self) -> PasswordHasher:
        return PasswordHasher()

    @cached_property
    def policy(self) -> PasswordPolicy:
        return PasswordPolicy(self.password_min_length, self.password_max_similarity)

    @cached_property
    def lockout(self) -> LockoutPolicy:
        return LockoutPolicy(self.lockout_max_failures, dt.timedelta(minutes=self.lockout_minutes))

    @cached_property
    def signer(self) -> LinkSigner:
        return LinkSigner(secret_from_environment(self.link_secret_file))

    def link_mailer(self, request_url: str = "") -> LinkMailer:
        """Issues links to the public address (:func:`.links.public_base_url`: the
        :attr:`public_url`, else the hub's bind URL, else ``request_url``)."""
        bind_url = getattr(self.parent, "bind_url", "") if self.parent is not None else ""
        return LinkMailer(
            self.signer,
            self.mailer,
            public_base_url(self.public_url, bind_url, request_url),
            invite_max_age=self.invite_link_days * 86400,
            reset_max_age=self.reset_link_hours * 3600,
            min_length=self.password_min_length,
        )

    @cached_property
    def _reset_times(self) -> tuple[threading.Lock, dict[int, float]]:
        return threading.Lock(), {}

    def _reset_allowed(self, user_id: int) -> bool:
        lock, last = self._reset_times
        now = time.monotonic()
        with lock:
            if now - last.get(user_id, -math.inf) < self.reset_email_interval:
                return False
            last[user_id] = now
            return True

    async def _run(self, func, *args):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, func, *args)

    def normalize_username(self, username: str) -> str:
        # The app database's username is the hub's user name, exactly: JupyterHub's
        # default lower-casing would make "Ana" unfindable at refresh. Login names are
        # matched case-insensitively in authenticate(), which returns the stored name.
        return username.strip()

    # --- login and refresh ---------------------------------------------------------------

    async def authenticate(self, handler, data) -> dict[str, Any] | None:
        """Check a login form; the auth model (name, admin, groups) or ``None``."""
        username = str((data or {}).get("username") or "")
        password = str((data or {}).get("password") or "")
        if not username or not password:
            return None
        return await self._run(self._authenticate, username, password)

    def _authenticate(self, username: str, password: str) -> dict[str, Any] | None:
        with self.db.session() as session:
            user = accounts.find_user_for_login(session, username)
            if user is not None:
                user_id, stored_hash = user.id, user.password_hash
                active, locked = user.is_active, self.lockout.is_locked(user)
        # Always one verification, against a dummy hash when there is no account or no
        # password yet, so the answer time does not reveal which usernames exist.
        matches = self.hasher.verify(stored_hash if user is not None else None, password)
        if user is None:
            self.log.warning("Failed login for unknown user %r", username)
            return None
        if not active:
            self.log.warning("Refused login of inactive user %r", username)
            return None
        if locked:
            self.log.warning("Refused login of locked user %r", username)
            return None
        if not matches:
            until = self.lockout.record_failure(self.db, user_id)
            if until is not None:
                self.log.warning("Failed login for %r: account locked until %s", username, until)
            else:
                self.log.warning("Failed login for %r: wrong password", username)
            return None
        self.lockout.record_success(self.db, user_id)
        if self.hasher.needs_rehash(stored_hash):
            # Parameters were raised since this hash was made: upgrade it now that
            # the password is known.
            with self.db.transaction() as session:
                accounts.replace_password_hash(
                    session, user_id, stored_hash, self.hasher.hash(password)
                )
        with self.db.session() as session:
            return accounts.auth_model(session, session.get(User, user_id))

    async def refresh_user(self, user, handler=None) -> dict[str, Any] | bool:
        """Re-read admin and groups; ``False`` (log in again) for a gone or inactive account."""
        return await self._run(self._refresh, user.name)

    def _refresh(self, name: str) -> dict[str, Any] | bool:
        with self.db.session() as session:
            account = accounts.get_user_by_username(session, name)
            if account is None or not account.is_active:
                self.log.warning("User %r is no longer active in the app database", name)
                return False
            return accounts.auth_model(session, account)

    # --- pages ---------------------------------------------------------------------------

    def get_handlers(self, app) -> list[tuple[str, Any]]:
        """The login page plus the set-, change- and forgot-password pages."""
        from .handlers import ChangePasswordHandler, ForgotPasswordHandler, SetPasswordHandler
        from .login import SpawningLoginHandler

        # Called once as the hub starts: make the dummy hash now, so that the first
        # login of an unknown user does not take longer than the others.
        self.executor.submit(getattr, self.hasher, "dummy_hash")

        handlers = [
            ("/login", SpawningLoginHandler),
            ("/set-password", SetPasswordHandler),
            ("/change-password", ChangePasswordHandler),
        ]
        if self.show_forgot_password:
            handlers.append(("/forgot-password", ForgotPasswordHandler))
        return handlers

    # --- password operations used by the pages --------------------------------------------

    async def check_link(self, token: str) -> LinkTarget:
        """The account a set-password link is for; raises :class:`gsp_extension.accounts.links.LinkError`."""
        return await self._run(self._check_link, token)

    def _check_link(self, token: str) -> LinkTarget:
        claims = parse_token(token)
        with self.db.session() as session:
            user = session.get(User, claims.user_id)
            state = accounts.link_state(user) if user is not None and user.is_active else None
            self.signer.verify(token, state)
            return LinkTarget(user.id, user.username, claims.purpose)

    async def set_password_from_link(
        self, token: str, password: str, confirmation: str
    ) -> tuple[LinkTarget, list[str]]:
        """Use a link: the account and the problems with the password (none: it is set).

        Raises
        ------
        gsp_extension.accounts.links.LinkError
            When the link is invalid, expired or already used.
        """
        return await self._run(self._set_password_from_link, token, password, confirmation)

    def _set_password_from_link(
        self, token: str, password: str, confirmation: str
    ) -> tuple[LinkTarget, list[str]]:
        claims = parse_token(token)
        with self.db.session() as session:
            user = session.get(User, claims.user_id)
            state = accounts.link_state(user) if user is not None and user.is_active else None
            self.signer.verify(token, state)
            target = LinkTarget(user.id, user.username, claims.purpose)
            old_hash = user.password_hash
        if password != confirmation:
            return target, [MISMATCH]
        problems = self.policy.problems(password, user)
        if problems:
            return target, problems
        new_hash = self.hasher.hash(password)
        with self.db.transaction() as session:
            if not accounts.replace_password_hash(session, user.id, old_hash, new_hash):
                raise LinkInvalid("This link has just been used; it works only once.")
        self.log.info("Password of %r set through a %s link", user.username, claims.purpose)
        return target, []

    async def change_password(
        self, username: str, old: str, new: str, confirmation: str
    ) -> list[str]:
        """Change a logged-in user's password; the problems, empty when it is changed.

        A wrong old password counts as a failed login (lockout), so a stolen session
        cannot be used to guess the password.
        """
        return await self._run(self._change_password, username, old, new, confirmation)

    def _change_password(self, username: str, old: str, new: str, confirmation: str) -> list[str]:
        with self.db.session() as session:
            user = accounts.get_user_by_username(session, username)
        matches = self.hasher.verify(user.password_hash if user else None, old)
        if user is None or not user.is_active:
            return [OLD_PASSWORD_WRONG]
        if self.lockout.is_locked(user):
            left = user.locked_until - dt.datetime.now(dt.UTC)
            minutes = max(1, round(left.total_seconds() / 60))
            return [
                f"Your account is locked after too many failed attempts; "
                f"try again in {minutes} minute{'s' if minutes != 1 else ''}."
            ]
        if not matches:
            self.lockout.record_failure(self.db, user.id)
            return [OLD_PASSWORD_WRONG]
        if new != confirmation:
            return [MISMATCH]
        problems = self.policy.problems(new, user)
        if problems:
            return problems
        with self.db.transaction() as session:
            if not accounts.replace_password_hash(
                session, user.id, user.password_hash, self.hasher.hash(new)
            ):
                return [PASSWORD_CHANGED_MEANWHILE]
        self.log.info("Password of %r changed", username)
        return []

    def send_reset_link(self, email: str, request_url: str = "") -> bool:
        """Mail a reset link to the active account with this address (blocking).

        Returns
        -------
        bool
            Whether a message was sent. Callers must not show it to the visitor.
        """
        try:
            with self.db.session() as session:
                user = store_accounts.get_user_by_email(session, email)
        except InvalidValue:
            return False
        if user is None or not user.is_active:
            self.log.info("Password reset asked for %r: no active account", email)
            return False
        if not self._reset_allowed(user.id):
            self.log.warning("Password reset for %r asked again too soon: no email", email)
            return False
        self.link_mailer(request_url).send(user, "reset")
        self.log.info("Password reset link sent to %r (user %r)", email, user.username)
        return True
